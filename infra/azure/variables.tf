variable "name" {
  description = "Prefix of every resource name (3-11 lower-case letters and digits; storage and Key Vault names are derived from it)."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9]{2,10}$", var.name))
    error_message = "name: 3-11 lower-case letters and digits, starting with a letter."
  }
}

variable "location" {
  description = "Azure region (e.g. westeurope)."
  type        = string
}

variable "resource_group_name" {
  description = "Existing resource group to deploy into."
  type        = string
}

variable "cost_scope" {
  description = "Cost Management scope the ingest function queries and the identity may read: /subscriptions/<id>, /providers/Microsoft.Billing/billingAccounts/<id>, or a management group."
  type        = string
}

variable "plan_sku" {
  description = "App Service plan SKU for the Linux Function App (B1 or higher: a dedicated plan needs no shared-key content share, so the storage account can refuse shared keys)."
  type        = string
  default     = "B1"
}

variable "ingest_schedule" {
  description = "NCRONTAB of the daily ingest (UTC)."
  type        = string
  default     = "0 0 6 * * *"
}

variable "report_weekly_schedule" {
  description = "NCRONTAB (UTC) of the weekly report: the month to date (the whole last month on the 1st), sent to the routed channels with a signed link."
  type        = string
  default     = "0 0 8 * * Mon"
}

variable "report_monthly_schedule" {
  description = "NCRONTAB (UTC) of the monthly report: last month, on the 1st."
  type        = string
  default     = "0 0 8 1 * *"
}

variable "report_base_url" {
  description = "Base URL of signed report links (null: https://<name>-costkit-func.azurewebsites.net/api/link, the report-link function). Set it when the app has a custom domain or a unique default host name."
  type        = string
  default     = null
}

variable "notify_digest_schedule" {
  description = "NCRONTAB of the notification digest run (UTC): sends daily and weekly digests whose period ended at least an hour before."
  type        = string
  default     = "0 0 7 * * *"
}

variable "allowed_ip_ranges" {
  description = "CIDR ranges allowed to call the report endpoint and reach Key Vault (your office/VPN egress)."
  type        = list(string)
  default     = []
}

variable "log_retention_days" {
  description = "Retention of the Log Analytics workspace behind Application Insights."
  type        = number
  default     = 90
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}

variable "vnet_cidr" {
  description = "Address space of the small VNet the Function App's outbound traffic uses (a /24 is plenty)."
  type        = string
  default     = "10.42.0.0/24"
}
