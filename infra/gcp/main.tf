# costkit on Google Cloud: one Cloud Run service (functions/gcp-handler) that Cloud Scheduler calls
# for the daily ingest and the weekly and monthly reports and Pub/Sub pushes to for the queue-driven steps;
# Firestore (native mode) for the store and state, a bucket for raw pages, staging, FOCUS files,
# config and reports, Secret Manager for report API keys and notification secrets, and a runtime service
# account that reads the billing export in BigQuery. Runbook: docs/gcp-deploy.md.
#
# Two identities:
#   runtime  - what the service runs as: BigQuery (job user here, data viewer on the export
#              dataset), Firestore, the bucket, publishing to the topics, reading its secrets.
#   invoker  - what Cloud Scheduler and the push subscriptions sign their OIDC tokens as; the only
#              identity (besides report_viewers) allowed to invoke the service.

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  apis = [
    "bigquery.googleapis.com",
    "cloudscheduler.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ]
  # Cloud Run's deterministic URL (https://SERVICE-PROJECT_NUMBER.REGION.run.app): known before the
  # service exists, so it can be the OIDC audience of the subscriptions and of the service's own
  # push check without a dependency cycle. Also declared as the service's custom audience.
  service_url      = "https://${var.name}-${data.google_project.this.number}.${var.region}.run.app"
  pubsub_agent     = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  runtime_member   = "serviceAccount:${google_service_account.runtime.email}"
  invoker_member   = "serviceAccount:${google_service_account.invoker.email}"
  topic_names      = ["normalize", "data-updated", "findings", "alerts", "budget-notifications", "dead-letter", "notify-dead-letter"]
  billing_table_id = "${var.billing_export_project}.${var.billing_export_dataset}.${var.billing_export_table}"

  # Push subscriptions: topic -> route of the service (functions/gcp-handler). data-updated fans out
  # to two subscriptions, one per step. Ack deadline = the longest a step may run (normalize reads a
  # month of billing data), within Pub/Sub's 600 s limit.
  pushes = {
    normalize           = { topic = "normalize", route = "/pubsub/normalize", ack = 600 }
    budget-check        = { topic = "data-updated", route = "/pubsub/budget-check", ack = 300 }
    anomaly             = { topic = "data-updated", route = "/pubsub/anomaly", ack = 300 }
    notify              = { topic = "findings", route = "/pubsub/notify", ack = 120 }
    budget-notification = { topic = "budget-notifications", route = "/pubsub/budget-notification", ack = 60 }
  }

  plain_env = merge(
    {
      GOOGLE_CLOUD_PROJECT       = var.project_id
      COSTKIT_GCP_PROJECT        = var.project_id
      COSTKIT_FIRESTORE_DATABASE = google_firestore_database.costkit.name
      COSTKIT_BUCKET             = google_storage_bucket.data.name
      COSTKIT_NORMALIZE_TOPIC    = google_pubsub_topic.topic["normalize"].name
      COSTKIT_DATA_UPDATED_TOPIC = google_pubsub_topic.topic["data-updated"].name
      COSTKIT_FINDINGS_TOPIC     = google_pubsub_topic.topic["findings"].name
      COSTKIT_ALERTS_TOPIC       = google_pubsub_topic.topic["alerts"].name
      COSTKIT_DEAD_LETTER_TOPIC  = google_pubsub_topic.topic["dead-letter"].name
      # Notifications that gave up (docs/notifications.md); the routing file is
      # config/notify.yaml in the bucket (COSTKIT_NOTIFY_ROUTES_KEY).
      COSTKIT_NOTIFY_DEAD_LETTER_TOPIC = google_pubsub_topic.topic["notify-dead-letter"].name
      COSTKIT_BILLING_TABLE            = local.billing_table_id
      COSTKIT_BILLING_TABLE_KIND       = var.billing_export_kind
      COSTKIT_BIGQUERY_LOCATION        = var.billing_export_location
      COSTKIT_REPORT_AUTH              = var.report_auth
      # Scheduled reports link to the service itself, signed with the report-signing-key secret.
      COSTKIT_REPORT_BASE_URL      = local.service_url
      COSTKIT_PUSH_AUDIENCE        = local.service_url
      COSTKIT_PUSH_SERVICE_ACCOUNT = google_service_account.invoker.email
      RUST_LOG                     = "info"
    },
    var.partition_lookback_days == null ? {} : {
      COSTKIT_BIGQUERY_PARTITION_LOOKBACK_DAYS = tostring(var.partition_lookback_days)
    },
  )
  secret_env = {
    COSTKIT_REPORT_API_KEYS = google_secret_manager_secret.secret["report-api-keys"].secret_id
    # A JSON object of notification secrets (webhook URLs, signing secrets, SMTP password), read
    # by the routing file as {secret: COSTKIT_NOTIFY_SECRETS, key: <field>}.
    COSTKIT_NOTIFY_SECRETS = google_secret_manager_secret.secret["notify"].secret_id
    # Signs the report links of scheduled reports and notifications (7-day HMAC links).
    COSTKIT_REPORT_SIGNING_KEY = google_secret_manager_secret.secret["report-signing-key"].secret_id
  }
  # Placeholder first versions (the service cannot start on a secret without a version); the
  # real values are added outside Terraform (gcloud secrets versions add) and never enter state.
  # The report signing key is the exception: generated (random_password below), so the first
  # scheduled report works; its first version is therefore in the Terraform state (keep the state
  # encrypted). Rotate it by adding a version (at least 32 characters); links signed with the old
  # key stop opening.
  secrets = {
    report-api-keys    = jsonencode({ keys = [] })
    notify             = jsonencode({})
    report-signing-key = random_password.report_signing_key.result
  }
}

resource "random_password" "report_signing_key" {
  length  = 64
  special = false
}

resource "google_project_service" "api" {
  for_each           = toset(local.apis)
  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

# ---------------------------------------------------------------------------------------------
# Identities

resource "google_service_account" "runtime" {
  project      = var.project_id
  account_id   = "${var.name}-run"
  display_name = "costkit Cloud Run runtime"
}

resource "google_service_account" "invoker" {
  project      = var.project_id
  account_id   = "${var.name}-invoker"
  display_name = "costkit Cloud Scheduler and Pub/Sub push invoker"
}

# Query jobs run (and are billed) in this project.
resource "google_project_iam_member" "bq_job_user" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = local.runtime_member
}

# Read access to the billing export dataset only, wherever it lives.
resource "google_bigquery_dataset_iam_member" "billing_viewer" {
  project    = var.billing_export_project
  dataset_id = var.billing_export_dataset
  role       = "roles/bigquery.dataViewer"
  member     = local.runtime_member
}

# Firestore: read and write documents (the database-level role has no narrower scope).
resource "google_project_iam_member" "firestore_user" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = local.runtime_member
  condition {
    title      = "costkit database only"
    expression = "resource.name.startsWith(\"projects/${var.project_id}/databases/${var.firestore_database}\")"
  }
}

# Pub/Sub signs push OIDC tokens as the invoker (needed by projects created before April 2021).
resource "google_service_account_iam_member" "pubsub_token_creator" {
  service_account_id = google_service_account.invoker.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

# ---------------------------------------------------------------------------------------------
# Firestore (native mode): the store (daily aggregates), flow state, delivery receipts.

resource "google_firestore_database" "costkit" {
  project                           = var.project_id
  name                              = var.firestore_database
  location_id                       = var.firestore_location
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "OPTIMISTIC"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  deletion_policy                   = "ABANDON"
  depends_on                        = [google_project_service.api]
}

# ---------------------------------------------------------------------------------------------
# Bucket: raw/ BigQuery pages, staging/, focus/ Parquet, config/ (budgets, monitors), reports/.

resource "google_storage_bucket" "data" {
  project                     = var.project_id
  name                        = "${var.project_id}-${var.name}"
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  labels                      = var.labels

  versioning {
    enabled = true
  }

  # Raw pages and staged aggregates are re-created by the next ingest; keep them for audits only.
  lifecycle_rule {
    condition {
      age            = var.raw_retention_days
      matches_prefix = ["raw/", "staging/"]
    }
    action {
      type = "Delete"
    }
  }

  # Overwritten or deleted versions (a month's FOCUS files are rewritten daily).
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_retention_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  dynamic "encryption" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      default_kms_key_name = encryption.value
    }
  }

  #checkov:skip=CKV_GCP_62:Access is audited with Cloud Audit Logs (Data Access logs for storage.googleapis.com, see docs/gcp-deploy.md); usage-log buckets would need a second bucket that itself cannot log.
  depends_on = [google_project_service.api]
}

resource "google_storage_bucket_iam_member" "runtime_objects" {
  bucket = google_storage_bucket.data.name
  role   = "roles/storage.objectAdmin"
  member = local.runtime_member
}

# ---------------------------------------------------------------------------------------------
# Pub/Sub

resource "google_pubsub_topic" "topic" {
  for_each                   = toset(local.topic_names)
  project                    = var.project_id
  name                       = "${var.name}-${each.value}"
  kms_key_name               = var.kms_key_name
  message_retention_duration = "604800s"
  labels                     = var.labels
  #checkov:skip=CKV_GCP_83:CMEK is opt-in through var.kms_key_name; the messages hold job ids, aggregates' keys and findings, the billing data itself stays in the bucket and BigQuery.
  depends_on = [google_project_service.api]
}

resource "google_pubsub_topic_iam_member" "runtime_publisher" {
  for_each = toset(["normalize", "data-updated", "findings", "alerts", "dead-letter"])
  project  = var.project_id
  topic    = google_pubsub_topic.topic[each.value].name
  role     = "roles/pubsub.publisher"
  member   = local.runtime_member
}

# Cloud Billing publishes budget notifications as this Google-owned account.
resource "google_pubsub_topic_iam_member" "budget_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.topic["budget-notifications"].name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:billing-budget-alert@system.gserviceaccount.com"
}

# Pub/Sub forwards undeliverable messages to the dead-letter topic as its service agent.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.topic["dead-letter"].name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_agent
}

resource "google_pubsub_subscription" "push" {
  for_each                   = local.pushes
  project                    = var.project_id
  name                       = "${var.name}-${each.key}"
  topic                      = google_pubsub_topic.topic[each.value.topic].id
  ack_deadline_seconds       = each.value.ack
  message_retention_duration = "604800s"
  labels                     = var.labels

  push_config {
    push_endpoint = "${local.service_url}${each.value.route}"
    oidc_token {
      service_account_email = google_service_account.invoker.email
      audience              = local.service_url
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.topic["dead-letter"].id
    max_delivery_attempts = 5
  }

  expiration_policy {
    ttl = ""
  }
}

# The agent acknowledges messages it moves to the dead-letter topic.
resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each     = local.pushes
  project      = var.project_id
  subscription = google_pubsub_subscription.push[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

# A topic without a subscription drops its messages: these keep dead letters (of messages and of
# notifications) and alerts for a week
# (inspect with gcloud pubsub subscriptions pull; people add their own subscriptions to alerts).
resource "google_pubsub_subscription" "hold" {
  for_each                   = toset(["dead-letter", "notify-dead-letter", "alerts"])
  project                    = var.project_id
  name                       = "${var.name}-${each.value}-hold"
  topic                      = google_pubsub_topic.topic[each.value].id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  retain_acked_messages      = true
  labels                     = var.labels
  expiration_policy {
    ttl = ""
  }
}

# ---------------------------------------------------------------------------------------------
# Secret Manager

resource "google_secret_manager_secret" "secret" {
  for_each  = local.secrets
  project   = var.project_id
  secret_id = "${var.name}-${each.key}"
  labels    = var.labels
  replication {
    auto {}
  }
  depends_on = [google_project_service.api]
}

resource "google_secret_manager_secret_version" "initial" {
  for_each    = local.secrets
  secret      = google_secret_manager_secret.secret[each.key].id
  secret_data = each.value
  lifecycle {
    ignore_changes = [secret_data, enabled]
  }
}

resource "google_secret_manager_secret_iam_member" "runtime_accessor" {
  for_each  = local.secrets
  project   = var.project_id
  secret_id = google_secret_manager_secret.secret[each.key].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = local.runtime_member
}

# ---------------------------------------------------------------------------------------------
# Cloud Run

resource "google_cloud_run_v2_service" "costkit" {
  project          = var.project_id
  name             = var.name
  location         = var.region
  ingress          = "INGRESS_TRAFFIC_ALL"
  custom_audiences = [local.service_url]
  labels           = var.labels

  template {
    service_account                  = google_service_account.runtime.email
    timeout                          = "900s"
    max_instance_request_concurrency = 4

    scaling {
      min_instance_count = 0
      max_instance_count = var.max_instances
    }

    containers {
      image = var.image

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = "1"
          memory = "1Gi"
        }
        cpu_idle = true
      }

      dynamic "env" {
        for_each = local.plain_env
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = local.secret_env
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = env.value
              version = "latest"
            }
          }
        }
      }

      startup_probe {
        http_get {
          path = "/healthz"
        }
      }
    }
  }

  depends_on = [
    google_project_service.api,
    google_secret_manager_secret_version.initial,
    google_secret_manager_secret_iam_member.runtime_accessor,
  ]
}

resource "google_cloud_run_v2_service_iam_member" "invoker" {
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.costkit.name
  role     = "roles/run.invoker"
  member   = local.invoker_member
}

resource "google_cloud_run_v2_service_iam_member" "report_viewers" {
  for_each = toset(var.report_viewers)
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.costkit.name
  role     = "roles/run.invoker"
  member   = each.value
}

# report_auth = API_KEY: the service takes unauthenticated requests; report routes then require an
# API key (hashes in the report-api-keys secret) and every /scheduler and /pubsub route a
# Google-signed OIDC token for local.service_url from the invoker (COSTKIT_PUSH_*).
resource "google_cloud_run_v2_service_iam_member" "public" {
  count    = var.report_auth == "API_KEY" ? 1 : 0
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.costkit.name
  role     = "roles/run.invoker"
  member   = "allUsers"
  #checkov:skip=CKV_GCP_102:Opt-in (report_auth = API_KEY) for report downloads outside Google identities; the application checks API keys on report routes and OIDC tokens on every other route.
}

# ---------------------------------------------------------------------------------------------
# Cloud Scheduler

resource "google_cloud_scheduler_job" "job" {
  for_each = {
    ingest = { schedule = var.ingest_schedule, route = "/scheduler/ingest", deadline = "1800s" }
    # Weekly (month to date) and monthly (last month) reports: stored in the bucket and sent to the
    # routed channels with a signed link, once per run and channel (a retry sends nothing new).
    report-weekly  = { schedule = var.report_weekly_schedule, route = "/scheduler/report/weekly", deadline = "900s" }
    report-monthly = { schedule = var.report_monthly_schedule, route = "/scheduler/report/monthly", deadline = "900s" }
    # Daily and weekly notification digests whose period ended (retries included, well under 300 s).
    notify-digest = { schedule = var.notify_digest_schedule, route = "/scheduler/notify-digest", deadline = "300s" }
  }
  project          = var.project_id
  region           = var.region
  name             = "${var.name}-${each.key}"
  schedule         = each.value.schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = each.value.deadline

  retry_config {
    retry_count          = 3
    min_backoff_duration = "60s"
    max_backoff_duration = "900s"
    max_doublings        = 2
  }

  http_target {
    http_method = "POST"
    uri         = "${local.service_url}${each.value.route}"
    oidc_token {
      service_account_email = google_service_account.invoker.email
      audience              = local.service_url
    }
  }

  depends_on = [google_project_service.api]
}
