# costkit on Azure: a Linux Function App running the Rust custom handler (functions/azure-handler),
# a storage account holding the Table store, the queues and the data container, a Key Vault for the
# report API keys and the notification secrets, and a user-assigned managed identity that reads Cost Management at var.cost_scope
# and reaches storage and Key Vault with Entra ID (no keys anywhere). Runbook: docs/azure-deploy.md.

locals {
  storage_name = "${var.name}costkit"
  queues       = ["costkit-normalize", "costkit-budget", "costkit-anomaly", "costkit-findings", "costkit-alerts", "costkit-exports"]
  # The Functions host moves a message to <queue>-poison after maxDequeueCount; costkit moves
  # permanent failures there at once. Created here so access and monitoring cover them from day one.
  poison_queues = [for q in local.queues : "${q}-poison"]
  # Notifications that gave up (docs/notifications.md): written by costkit, read by people.
  notify_dead_letter_queue = "costkit-notify-dead-letter"
  # Where signed report links point: the report-link function (signed links only, no function
  # key). The app's default host name follows from its name, so no self-reference is needed.
  function_app_name = "${var.name}-costkit-func"
  report_base_url   = coalesce(var.report_base_url, "https://${local.function_app_name}.azurewebsites.net/api/link")
}

data "azurerm_client_config" "current" {}

data "azurerm_resource_group" "rg" {
  name = var.resource_group_name
}

resource "azurerm_user_assigned_identity" "costkit" {
  name                = "${var.name}-costkit-id"
  location            = var.location
  resource_group_name = data.azurerm_resource_group.rg.name
  tags                = var.tags
}

# ---------------------------------------------------------------------------------------------
# Network: the Function App's outbound traffic goes through a delegated subnet with service
# endpoints, so storage and Key Vault can deny the internet and still admit the app (App Service is
# not one of the "trusted Azure services" a firewall bypass lets in).

resource "azurerm_virtual_network" "costkit" {
  name                = "${var.name}-costkit-vnet"
  location            = var.location
  resource_group_name = data.azurerm_resource_group.rg.name
  address_space       = [var.vnet_cidr]
  tags                = var.tags
}

resource "azurerm_subnet" "functions" {
  name                 = "functions"
  resource_group_name  = data.azurerm_resource_group.rg.name
  virtual_network_name = azurerm_virtual_network.costkit.name
  address_prefixes     = [cidrsubnet(var.vnet_cidr, 2, 0)]
  service_endpoints    = ["Microsoft.Storage", "Microsoft.KeyVault"]

  delegation {
    name = "functions"
    service_delegation {
      name    = "Microsoft.Web/serverFarms"
      actions = ["Microsoft.Network/virtualNetworks/subnets/action"]
    }
  }

  #checkov:skip=CKV2_AZURE_31:The subnet only carries the Function App's outbound traffic (VNet integration, delegated to Microsoft.Web/serverFarms); nothing listens in it, so an NSG has no inbound rule to enforce.
}

# ---------------------------------------------------------------------------------------------
# Storage: Table store + state, queues, data container (raw pages, staging, FOCUS Parquet, config,
# reports), and the Functions host's own blobs. Entra ID only.

resource "azurerm_storage_account" "costkit" {
  name                            = local.storage_name
  resource_group_name             = data.azurerm_resource_group.rg.name
  location                        = var.location
  account_tier                    = "Standard"
  account_kind                    = "StorageV2"
  account_replication_type        = "GRS"
  min_tls_version                 = "TLS1_2"
  https_traffic_only_enabled      = true
  shared_access_key_enabled       = false
  default_to_oauth_authentication = true
  allow_nested_items_to_be_public = false
  local_user_enabled              = false
  public_network_access_enabled   = true
  tags                            = var.tags

  blob_properties {
    versioning_enabled = true
    delete_retention_policy {
      days = 14
    }
    container_delete_retention_policy {
      days = 14
    }
  }

  queue_properties {
    logging {
      delete                = true
      read                  = true
      write                 = true
      version               = "1.0"
      retention_policy_days = 30
    }
  }

  sas_policy {
    expiration_period = "01.00:00:00"
  }

  network_rules {
    default_action = "Deny"
    # The Function App comes in through its subnet's service endpoint; operators from their ranges.
    bypass                     = ["AzureServices", "Logging", "Metrics"]
    ip_rules                   = [for r in var.allowed_ip_ranges : replace(r, "/32", "")]
    virtual_network_subnet_ids = [azurerm_subnet.functions.id]
  }

  #checkov:skip=CKV2_AZURE_1:Microsoft-managed keys; the data is billing aggregates, and a customer-managed key adds a Key Vault key dependency on every read. Enable with a CMK if policy requires.
  #checkov:skip=CKV2_AZURE_33:Service endpoints instead of a private endpoint (no private DNS zone to run); network rules deny by default and admit only the app's subnet and var.allowed_ip_ranges.
  #checkov:skip=CKV_AZURE_59:The public endpoint stays on for the operators' ranges (uploading budgets, reading reports) but denies everything else by default; the app comes through its subnet.
}

# Read/write/delete logs of the Blob, Queue and Table services go to Log Analytics. Classic Storage
# Analytics logging of Blob and Table and Storage Insights need the account key, which this account
# refuses.
resource "azurerm_monitor_diagnostic_setting" "storage" {
  for_each                   = toset(["blobServices", "tableServices", "queueServices"])
  name                       = "costkit-${each.value}"
  target_resource_id         = "${azurerm_storage_account.costkit.id}/${each.value}/default"
  log_analytics_workspace_id = azurerm_log_analytics_workspace.costkit.id

  enabled_log {
    category = "StorageRead"
  }
  enabled_log {
    category = "StorageWrite"
  }
  enabled_log {
    category = "StorageDelete"
  }
}

resource "azurerm_storage_table" "costkit" {
  name                 = "costkit"
  storage_account_name = azurerm_storage_account.costkit.name

  #checkov:skip=CKV2_AZURE_20:Table reads are logged by azurerm_monitor_diagnostic_setting.storage (tableServices, StorageRead); the check only knows Storage Insights, which needs the disabled account key.
}

resource "azurerm_storage_container" "costkit" {
  name                  = "costkit"
  storage_account_id    = azurerm_storage_account.costkit.id
  container_access_type = "private"

  #checkov:skip=CKV2_AZURE_21:Blob reads are logged by azurerm_monitor_diagnostic_setting.storage (blobServices, StorageRead); the check only knows Storage Insights, which needs the disabled account key.
}

resource "azurerm_storage_queue" "costkit" {
  for_each             = toset(concat(local.queues, local.poison_queues, [local.notify_dead_letter_queue]))
  name                 = each.value
  storage_account_name = azurerm_storage_account.costkit.name
}

# Data-plane roles of the identity on the account: the store and state (Table), the queues, the
# container, and the host's leases and timer state (Blob Data Owner, as the Functions host needs).
resource "azurerm_role_assignment" "storage" {
  for_each = toset([
    "Storage Blob Data Owner",
    "Storage Queue Data Contributor",
    "Storage Queue Data Message Processor",
    "Storage Queue Data Message Sender",
    "Storage Table Data Contributor",
  ])
  scope                = azurerm_storage_account.costkit.id
  role_definition_name = each.value
  principal_id         = azurerm_user_assigned_identity.costkit.principal_id
}

# Read-only access to cost data at the chosen scope: all the Query API needs.
resource "azurerm_role_assignment" "cost_reader" {
  scope                = var.cost_scope
  role_definition_name = "Cost Management Reader"
  principal_id         = azurerm_user_assigned_identity.costkit.principal_id
}

# Cost exports written to the container under exports/ announce themselves: Event Grid puts the
# BlobCreated event of each run's manifest.json on the exports queue (delivered with the identity,
# through the firewall's trusted-services bypass), where the `export` function picks it up.
resource "azurerm_eventgrid_system_topic" "storage" {
  name                = "${var.name}-costkit-storage-events"
  location            = var.location
  resource_group_name = data.azurerm_resource_group.rg.name
  source_resource_id  = azurerm_storage_account.costkit.id
  topic_type          = "Microsoft.Storage.StorageAccounts"
  tags                = var.tags

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.costkit.id]
  }
}

resource "azurerm_eventgrid_system_topic_event_subscription" "export_manifests" {
  name                 = "costkit-export-manifests"
  system_topic         = azurerm_eventgrid_system_topic.storage.name
  resource_group_name  = data.azurerm_resource_group.rg.name
  included_event_types = ["Microsoft.Storage.BlobCreated"]

  subject_filter {
    subject_begins_with = "/blobServices/default/containers/${azurerm_storage_container.costkit.name}/blobs/exports/"
    subject_ends_with   = "manifest.json"
  }

  delivery_identity {
    type                   = "UserAssigned"
    user_assigned_identity = azurerm_user_assigned_identity.costkit.id
  }

  storage_queue_endpoint {
    storage_account_id                    = azurerm_storage_account.costkit.id
    queue_name                            = azurerm_storage_queue.costkit["costkit-exports"].name
    queue_message_time_to_live_in_seconds = 604800
  }
}

# ---------------------------------------------------------------------------------------------
# Key Vault: the report API keys document ({"keys":[{"id","sha256"}]}), read by the app through a
# Key Vault reference with the managed identity.

resource "azurerm_key_vault" "costkit" {
  name                          = "${var.name}-costkit-kv"
  location                      = var.location
  resource_group_name           = data.azurerm_resource_group.rg.name
  tenant_id                     = data.azurerm_client_config.current.tenant_id
  sku_name                      = "standard"
  enable_rbac_authorization     = true
  purge_protection_enabled      = true
  soft_delete_retention_days    = 90
  public_network_access_enabled = true
  tags                          = var.tags

  network_acls {
    default_action             = "Deny"
    bypass                     = "AzureServices"
    ip_rules                   = var.allowed_ip_ranges
    virtual_network_subnet_ids = [azurerm_subnet.functions.id]
  }

  #checkov:skip=CKV2_AZURE_32:Service endpoint instead of a private endpoint; the vault denies by default and admits only the app's subnet and var.allowed_ip_ranges.
  #checkov:skip=CKV_AZURE_189:The public endpoint stays on (default Deny) so operators in var.allowed_ip_ranges can set the report keys secret.
}

resource "azurerm_role_assignment" "kv_secrets_user" {
  scope                = azurerm_key_vault.costkit.id
  role_definition_name = "Key Vault Secrets User"
  principal_id         = azurerm_user_assigned_identity.costkit.principal_id
}

# The secret's value is set by the operator after deployment (docs/azure-deploy.md); Terraform only
# creates it empty so the app setting's reference resolves, and never overwrites it.
resource "azurerm_key_vault_secret" "report_api_keys" {
  name            = "costkit-report-api-keys"
  value           = jsonencode({ keys = [] })
  key_vault_id    = azurerm_key_vault.costkit.id
  content_type    = "application/json"
  expiration_date = timeadd(plantimestamp(), "8760h")

  lifecycle {
    ignore_changes = [value, expiration_date]
  }
}

# Notification secrets (webhook URLs, signing secrets, SMTP password) as one JSON object, read by
# the routing file as {secret: COSTKIT_NOTIFY_SECRETS, key: <field>}; set by the operator like the
# report API keys.
resource "azurerm_key_vault_secret" "notify" {
  name            = "costkit-notify"
  value           = jsonencode({})
  key_vault_id    = azurerm_key_vault.costkit.id
  content_type    = "application/json"
  expiration_date = timeadd(plantimestamp(), "8760h")

  lifecycle {
    ignore_changes = [value, expiration_date]
  }
}

# The key that signs the report links in scheduled reports and notifications (HMAC-SHA256, 7-day
# links; docs/reports.md). Generated once, so the first scheduled report works; it is therefore in
# the Terraform state (keep the state encrypted). Rotate it in Key Vault (`az keyvault secret set`,
# at least 32 characters): Terraform ignores later values, and links signed with the old key stop
# opening.
resource "random_password" "report_signing_key" {
  length  = 64
  special = false
}

resource "azurerm_key_vault_secret" "report_signing_key" {
  name            = "costkit-report-signing-key"
  value           = random_password.report_signing_key.result
  key_vault_id    = azurerm_key_vault.costkit.id
  content_type    = "text/plain"
  expiration_date = timeadd(plantimestamp(), "8760h")

  lifecycle {
    ignore_changes = [value, expiration_date]
  }
}

# ---------------------------------------------------------------------------------------------
# Monitoring.

resource "azurerm_log_analytics_workspace" "costkit" {
  name                = "${var.name}-costkit-logs"
  location            = var.location
  resource_group_name = data.azurerm_resource_group.rg.name
  sku                 = "PerGB2018"
  retention_in_days   = var.log_retention_days
  tags                = var.tags
}

resource "azurerm_application_insights" "costkit" {
  name                = "${var.name}-costkit-ai"
  location            = var.location
  resource_group_name = data.azurerm_resource_group.rg.name
  workspace_id        = azurerm_log_analytics_workspace.costkit.id
  application_type    = "other"
  tags                = var.tags
}

# ---------------------------------------------------------------------------------------------
# The Function App: Linux, custom handler (FUNCTIONS_WORKER_RUNTIME=custom), the package built by
# scripts/package-azure.sh (host.json, one folder per function, the `handler` binary).

resource "azurerm_service_plan" "costkit" {
  name                = "${var.name}-costkit-plan"
  location            = var.location
  resource_group_name = data.azurerm_resource_group.rg.name
  os_type             = "Linux"
  sku_name            = var.plan_sku
  tags                = var.tags

  #checkov:skip=CKV_AZURE_211:B1 by default: a daily batch pipeline for one organization; set plan_sku (e.g. P1v3) for more headroom.
  #checkov:skip=CKV_AZURE_212:One instance suffices: the functions are idempotent and queue-driven; a failed instance only delays work.
  #checkov:skip=CKV_AZURE_225:Zone redundancy needs Premium v3; the pipeline tolerates an outage (messages wait in the queues).
}

resource "azurerm_linux_function_app" "costkit" {
  name                            = local.function_app_name
  location                        = var.location
  resource_group_name             = data.azurerm_resource_group.rg.name
  service_plan_id                 = azurerm_service_plan.costkit.id
  virtual_network_subnet_id       = azurerm_subnet.functions.id
  storage_account_name            = azurerm_storage_account.costkit.name
  storage_uses_managed_identity   = true
  https_only                      = true
  public_network_access_enabled   = true
  client_certificate_enabled      = true
  client_certificate_mode         = "OptionalInteractiveUser"
  key_vault_reference_identity_id = azurerm_user_assigned_identity.costkit.id
  functions_extension_version     = "~4"
  tags                            = var.tags

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.costkit.id]
  }

  site_config {
    always_on                              = true
    vnet_route_all_enabled                 = true
    http2_enabled                          = true
    ftps_state                             = "Disabled"
    minimum_tls_version                    = "1.2"
    application_insights_connection_string = azurerm_application_insights.costkit.connection_string

    dynamic "ip_restriction" {
      for_each = var.allowed_ip_ranges
      content {
        ip_address = ip_restriction.value
        action     = "Allow"
        priority   = 100 + ip_restriction.key
        name       = "allowed-${ip_restriction.key}"
      }
    }
  }

  app_settings = {
    FUNCTIONS_WORKER_RUNTIME = "custom"
    # Identity-based connection for the host (triggers, timers, leases) and for costkit itself.
    AzureWebJobsStorage__accountName = azurerm_storage_account.costkit.name
    AzureWebJobsStorage__credential  = "managedidentity"
    AzureWebJobsStorage__clientId    = azurerm_user_assigned_identity.costkit.client_id
    AZURE_CLIENT_ID                  = azurerm_user_assigned_identity.costkit.client_id
    COSTKIT_STORAGE_ACCOUNT          = azurerm_storage_account.costkit.name
    COSTKIT_TABLE                    = azurerm_storage_table.costkit.name
    COSTKIT_CONTAINER                = azurerm_storage_container.costkit.name
    COSTKIT_NORMALIZE_QUEUE          = "costkit-normalize"
    COSTKIT_BUDGET_QUEUE             = "costkit-budget"
    COSTKIT_ANOMALY_QUEUE            = "costkit-anomaly"
    COSTKIT_FINDINGS_QUEUE           = "costkit-findings"
    COSTKIT_ALERTS_QUEUE             = "costkit-alerts"
    COSTKIT_EXPORTS_QUEUE            = "costkit-exports"
    COSTKIT_COST_SCOPE               = var.cost_scope
    COSTKIT_INGEST_SCHEDULE          = var.ingest_schedule
    COSTKIT_REPORT_AUTH              = "API_KEY"
    COSTKIT_REPORT_API_KEYS          = "@Microsoft.KeyVault(SecretUri=${azurerm_key_vault_secret.report_api_keys.versionless_id})"
    # Scheduled reports (report-weekly, report-monthly timers): HTML and CSV under reports/ in the
    # container, sent to the routed channels with a link signed by this key, valid 7 days.
    COSTKIT_REPORT_WEEKLY_SCHEDULE  = var.report_weekly_schedule
    COSTKIT_REPORT_MONTHLY_SCHEDULE = var.report_monthly_schedule
    COSTKIT_REPORT_BASE_URL         = local.report_base_url
    COSTKIT_REPORT_SIGNING_KEY      = "@Microsoft.KeyVault(SecretUri=${azurerm_key_vault_secret.report_signing_key.versionless_id})"
    # Notifications: routing file config/notify.yaml in the container (COSTKIT_NOTIFY_ROUTES_KEY),
    # its secrets, where deliveries that gave up go, and the digest timer.
    COSTKIT_NOTIFY_SECRETS           = "@Microsoft.KeyVault(SecretUri=${azurerm_key_vault_secret.notify.versionless_id})"
    COSTKIT_NOTIFY_DEAD_LETTER_QUEUE = local.notify_dead_letter_queue
    COSTKIT_NOTIFY_DIGEST_SCHEDULE   = var.notify_digest_schedule
    COSTKIT_LOG_FORMAT               = "json"
  }

  #checkov:skip=CKV_AZURE_56:Easy Auth is not used: the report endpoint needs a function key (authLevel function) and a costkit API key from Key Vault; the report-link endpoint (no function key) serves only links signed with the Key Vault signing key, 7 days at most; the other functions have no HTTP trigger.
  #checkov:skip=CKV_AZURE_221:Public endpoint restricted by ip_restriction to var.allowed_ip_ranges when set; a private endpoint needs a VNet this minimal deployment does not create.
}
