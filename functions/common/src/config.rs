//! The functions' settings, read once from the environment (`template.yaml` sets them).

use costkit_core::flow::FlowError;

/// `COSTKIT_TABLE`.
pub const TABLE: &str = "COSTKIT_TABLE";
/// `COSTKIT_BUCKET`.
pub const BUCKET: &str = "COSTKIT_BUCKET";
/// `COSTKIT_NORMALIZE_QUEUE_URL`.
pub const NORMALIZE_QUEUE_URL: &str = "COSTKIT_NORMALIZE_QUEUE_URL";
/// `COSTKIT_ANALYSIS_TOPIC_ARN`.
pub const ANALYSIS_TOPIC_ARN: &str = "COSTKIT_ANALYSIS_TOPIC_ARN";
/// `COSTKIT_FINDINGS_QUEUE_URL`.
pub const FINDINGS_QUEUE_URL: &str = "COSTKIT_FINDINGS_QUEUE_URL";
/// `COSTKIT_TOPIC_ARN`.
pub const TOPIC_ARN: &str = "COSTKIT_TOPIC_ARN";
/// `COSTKIT_NOTIFY_DLQ_URL`.
pub const NOTIFY_DLQ_URL: &str = "COSTKIT_NOTIFY_DLQ_URL";
/// `COSTKIT_SIGNING_KEY_SECRET_ARN`.
pub const SIGNING_KEY_SECRET_ARN: &str = "COSTKIT_SIGNING_KEY_SECRET_ARN";
/// `COSTKIT_API_KEYS_SECRET_ARN`.
pub const API_KEYS_SECRET_ARN: &str = "COSTKIT_API_KEYS_SECRET_ARN";

/// Every setting a function may read. Each function checks the ones it needs when it uses them,
/// so one function is not refused for another's missing variable.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// DynamoDB table (store and state items).
    pub table: Option<String>,
    /// Data bucket (raw payloads, staged aggregates, FOCUS files, config files).
    pub bucket: Option<String>,
    /// Queue of normalize jobs (ingest sends, normalize consumes).
    pub normalize_queue_url: Option<String>,
    /// Topic `data_updated` is published to (budget and anomaly queues subscribe, raw delivery).
    pub analysis_topic_arn: Option<String>,
    /// Queue of findings (budget check and anomaly send, notify consumes).
    pub findings_queue_url: Option<String>,
    /// Topic people subscribe to for alerts.
    pub topic_arn: Option<String>,
    /// Key of the budgets YAML in the bucket.
    pub budgets_key: String,
    /// Key of the anomaly monitors YAML in the bucket.
    pub monitors_key: String,
    /// The report's rules, teams and actions files in the bucket (`COSTKIT_RULES_S3_KEY`,
    /// `COSTKIT_TEAMS_S3_KEY`, `COSTKIT_ACTIONS_S3_KEY`) and `COSTKIT_REPORT_IDLE`.
    pub report_files: costkit_shell::report::ReportFiles,
    /// Months of history Cost Explorer keeps (13, or 38 with multi-year data).
    pub ce_history_months: u32,
    /// Prefix Data Exports deliver under.
    pub export_prefix: String,
    /// Report authentication: `AWS_IAM`, `API_KEY` or unset (closed).
    pub report_auth: Option<String>,
    /// Secret holding the report API key hashes.
    pub api_keys_secret_arn: Option<String>,
    /// Key of the notification routing YAML in the bucket (`docs/notifications.md`).
    pub notify_routes_key: String,
    /// Queue dead-lettered notifications are copied to (besides their state record).
    pub notify_dlq_url: Option<String>,
    /// Public base URL of the report function, for links in notifications.
    pub report_base_url: Option<String>,
    /// Secret holding the key report links are signed with.
    pub signing_key_secret_arn: Option<String>,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

impl Config {
    /// Reads the environment. Only malformed values fail here; missing ones fail where needed.
    pub fn from_env() -> anyhow::Result<Config> {
        let ce_history_months = match var("COSTKIT_CE_HISTORY_MONTHS") {
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|m| (1..=38).contains(m))
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "COSTKIT_CE_HISTORY_MONTHS: `{v}` is not a number of months from 1 to 38"
                    )
                })?,
            None => 13,
        };
        Ok(Config {
            table: var(TABLE),
            bucket: var(BUCKET),
            normalize_queue_url: var(NORMALIZE_QUEUE_URL),
            analysis_topic_arn: var(ANALYSIS_TOPIC_ARN),
            findings_queue_url: var(FINDINGS_QUEUE_URL),
            topic_arn: var(TOPIC_ARN),
            budgets_key: var("COSTKIT_BUDGETS_S3_KEY")
                .unwrap_or_else(|| "config/budgets.yaml".into()),
            monitors_key: var("COSTKIT_MONITORS_S3_KEY")
                .unwrap_or_else(|| "config/monitors.yaml".into()),
            report_files: costkit_shell::report::ReportFiles::from_env("_S3_KEY")
                .map_err(|e| FlowError::Invalid(e.to_string()))?,
            ce_history_months,
            export_prefix: var("COSTKIT_EXPORT_PREFIX").unwrap_or_else(|| "exports/".into()),
            report_auth: var("COSTKIT_REPORT_AUTH"),
            api_keys_secret_arn: var(API_KEYS_SECRET_ARN),
            notify_routes_key: var("COSTKIT_NOTIFY_ROUTES_S3_KEY")
                .unwrap_or_else(|| "config/notify.yaml".into()),
            notify_dlq_url: var(NOTIFY_DLQ_URL),
            report_base_url: var("COSTKIT_REPORT_BASE_URL"),
            signing_key_secret_arn: var(SIGNING_KEY_SECRET_ARN),
        })
    }

    /// The value of a setting the caller needs, or an error naming the variable.
    pub fn require<'a>(&self, value: &'a Option<String>, name: &str) -> Result<&'a str, FlowError> {
        value
            .as_deref()
            .ok_or_else(|| FlowError::Invalid(format!("{name} is not set")))
    }
}
