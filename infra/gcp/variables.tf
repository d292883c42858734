variable "project_id" {
  description = "Project that runs costkit (Cloud Run, Pub/Sub, Firestore, the bucket, the query jobs)."
  type        = string
}

variable "region" {
  description = "Region of Cloud Run, Cloud Scheduler, the bucket and Firestore (e.g. europe-west1)."
  type        = string
}

variable "name" {
  description = "Prefix of every resource name (lower-case letters, digits, hyphens)."
  type        = string
  default     = "costkit"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name must be 2-21 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "image" {
  description = "The costkit Cloud Run image (functions/gcp-handler), e.g. europe-west1-docker.pkg.dev/PROJECT/costkit/costkit-gcp:0.1.0."
  type        = string
}

variable "billing_export_project" {
  description = "Project holding the Cloud Billing export dataset (often a dedicated billing project)."
  type        = string
}

variable "billing_export_dataset" {
  description = "Dataset of the Cloud Billing export to BigQuery."
  type        = string
}

variable "billing_export_table" {
  description = "Table or view costkit reads: gcp_billing_export_v1_<ACCOUNT> (standard), gcp_billing_export_resource_v1_<ACCOUNT> (detailed) or a FOCUS view."
  type        = string
}

variable "billing_export_kind" {
  description = "What the table holds: standard, detailed or focus."
  type        = string
  default     = "detailed"
  validation {
    condition     = contains(["standard", "detailed", "focus"], var.billing_export_kind)
    error_message = "billing_export_kind must be standard, detailed or focus."
  }
}

variable "billing_export_location" {
  description = "Location of the billing export dataset (US, EU, or a region)."
  type        = string
  default     = "US"
}

variable "partition_lookback_days" {
  description = "Turns on _PARTITIONTIME pruning of the export table (days before the invoice month). null scans every partition (always correct; see docs/gcp-deploy.md, Costs)."
  type        = number
  default     = null
}

variable "firestore_location" {
  description = "Firestore location (a region such as europe-west1, or nam5/eur3)."
  type        = string
}

variable "firestore_database" {
  description = "Firestore database id (native mode). '(default)' uses the project's default database."
  type        = string
  default     = "costkit"
}

variable "max_instances" {
  description = "Most Cloud Run instances at once (the steps are short; pushes are retried when all are busy)."
  type        = number
  default     = 3
}

variable "report_auth" {
  description = "How report downloads are authorized: PLATFORM (callers need roles/run.invoker) or API_KEY (the service is public; keys in the report-api-keys secret; pushes and scheduler calls are checked by OIDC token)."
  type        = string
  default     = "PLATFORM"
  validation {
    condition     = contains(["PLATFORM", "API_KEY"], var.report_auth)
    error_message = "report_auth must be PLATFORM or API_KEY."
  }
}

variable "report_viewers" {
  description = "Members allowed to call the service with report_auth = PLATFORM (e.g. group:finops@example.com)."
  type        = list(string)
  default     = []
}

variable "ingest_schedule" {
  description = "Cron (UTC) of the daily ingest. The billing export lands several times a day; once a day after midnight Pacific is enough."
  type        = string
  default     = "30 9 * * *"
}

variable "report_weekly_schedule" {
  description = "Cron (UTC) of the weekly report: the month to date (the whole last month on the 1st), sent to the routed channels with a signed link."
  type        = string
  default     = "0 8 * * 1"
}

variable "report_monthly_schedule" {
  description = "Cron (UTC) of the monthly report: last month, on the 1st. Rows the billing export adds to the month later show in the month's report downloaded afterwards."
  type        = string
  default     = "0 8 1 * *"
}

variable "notify_digest_schedule" {
  description = "Cron (UTC) of the notification digest run: sends daily and weekly digests whose period ended at least an hour before."
  type        = string
  default     = "0 7 * * *"
}

variable "raw_retention_days" {
  description = "Days the raw BigQuery pages (raw/) and staged aggregates (staging/) are kept."
  type        = number
  default     = 90
}

variable "noncurrent_retention_days" {
  description = "Days overwritten or deleted object versions are kept (versioning)."
  type        = number
  default     = 30
}

variable "kms_key_name" {
  description = "Optional Cloud KMS key for the bucket and topics (CMEK); null uses Google-managed keys."
  type        = string
  default     = null
}

variable "labels" {
  description = "Labels on every resource that takes them (they show up in the billing export)."
  type        = map(string)
  default     = { app = "costkit" }
}
