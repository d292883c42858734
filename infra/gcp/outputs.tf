output "service_url" {
  description = "The service's deterministic URL (also the OIDC audience of pushes and scheduler calls)."
  value       = local.service_url
}

output "service_uri" {
  description = "The URL Cloud Run reports for the service (both URLs reach it)."
  value       = google_cloud_run_v2_service.costkit.uri
}

output "runtime_service_account" {
  description = "The identity the service runs as (BigQuery job user, export data viewer, Firestore, bucket)."
  value       = google_service_account.runtime.email
}

output "invoker_service_account" {
  description = "The identity Cloud Scheduler and the push subscriptions call the service as."
  value       = google_service_account.invoker.email
}

output "bucket" {
  description = "Data bucket (raw/, staging/, focus/, config/, reports/)."
  value       = google_storage_bucket.data.name
}

output "budget_notifications_topic" {
  description = "Connect Cloud Billing budgets to this topic (programmatic notifications)."
  value       = google_pubsub_topic.topic["budget-notifications"].id
}

output "dead_letter_subscription" {
  description = "Pull subscription holding messages no step could process."
  value       = google_pubsub_subscription.hold["dead-letter"].name
}

output "secrets" {
  description = "Secret Manager secrets to fill (gcloud secrets versions add NAME --data-file=-)."
  value       = { for k, s in google_secret_manager_secret.secret : k => s.secret_id }
}
