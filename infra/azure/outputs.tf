output "function_app_name" {
  description = "The Function App to publish the package to."
  value       = azurerm_linux_function_app.costkit.name
}

output "function_app_hostname" {
  description = "Host of the report endpoint: https://<host>/api/reports/<YYYY-MM>.csv"
  value       = azurerm_linux_function_app.costkit.default_hostname
}

output "report_base_url" {
  description = "Where signed report links in scheduled reports and notifications point (COSTKIT_REPORT_BASE_URL)."
  value       = local.report_base_url
}

output "storage_account_name" {
  description = "Storage account holding the table, queues and the data container."
  value       = azurerm_storage_account.costkit.name
}

output "key_vault_name" {
  description = "Key Vault holding the report API keys secret."
  value       = azurerm_key_vault.costkit.name
}

output "identity_principal_id" {
  description = "Principal id of the managed identity (Cost Management Reader at cost_scope)."
  value       = azurerm_user_assigned_identity.costkit.principal_id
}
