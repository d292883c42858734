//! The report side every shell shares: the authentication its settings ask for and the
//! scheduled report written to the blob store.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Utc};
use costkit_core::analysis::anomaly::monitor::MonitorFile;
use costkit_core::flow::FlowError;
use costkit_core::leaderboard::{ActionsFile, TeamsFile};
use costkit_core::optimize::idle::IdleOptions;
use costkit_core::ports::{BlobStore, PortError, StateStore};
use costkit_core::report::{
    BlobFocusSource, EngineConfig, LeaderboardConfig, Report, ReportOptions, ReportPeriod,
    ReportScope,
};
use costkit_core::rules::RulesFile;
use costkit_http::{Auth, SigningKey, StoreAccess};
use serde_json::{json, Value};

/// The report authentication for `COSTKIT_REPORT_AUTH` = `mode`: `PLATFORM` trusts the platform
/// (the function key or Easy Auth on Azure, Cloud Run's IAM invoker check on Google Cloud),
/// `API_KEY` checks `x-api-key` against the hashes in `keys` (`COSTKIT_REPORT_API_KEYS`, a Key
/// Vault reference or a Secret Manager secret mounted as a variable); anything else leaves the
/// API closed.
pub fn report_auth(mode: Option<&str>, keys: Option<&str>) -> anyhow::Result<Auth> {
    match mode {
        Some("PLATFORM") => Ok(Auth::platform_authenticated()),
        Some("API_KEY") => {
            let text = keys.ok_or_else(|| {
                anyhow::anyhow!("COSTKIT_REPORT_AUTH=API_KEY needs COSTKIT_REPORT_API_KEYS")
            })?;
            Ok(Auth::api_keys(crate::parse_keys(
                "COSTKIT_REPORT_API_KEYS",
                text,
            )?))
        }
        other => {
            tracing::warn!(
                COSTKIT_REPORT_AUTH = other.unwrap_or(""),
                "no report authentication configured (PLATFORM or API_KEY): every request is refused"
            );
            Ok(Auth::api_keys([]))
        }
    }
}

/// The report's settings files in the blob store, besides the monitors file, and the idle
/// switch. Each shell reads them from its environment ([`ReportFiles::from_env`]); a file that
/// does not exist leaves its section out ("not configured").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportFiles {
    /// User rules (`docs/rules.schema.json`): their findings join the recommendations
    /// (default `config/rules.yaml`).
    pub rules_key: String,
    /// Teams for the leaderboard (default `config/teams.yaml`).
    pub teams_key: String,
    /// Actions marked done for the leaderboard (default `config/actions.yaml`).
    pub actions_key: String,
    /// Run the idle-resource rules with their default thresholds (`COSTKIT_REPORT_IDLE`).
    pub idle: bool,
}

impl Default for ReportFiles {
    fn default() -> Self {
        ReportFiles {
            rules_key: "config/rules.yaml".into(),
            teams_key: "config/teams.yaml".into(),
            actions_key: "config/actions.yaml".into(),
            idle: false,
        }
    }
}

impl ReportFiles {
    /// Reads `COSTKIT_RULES<suffix>`, `COSTKIT_TEAMS<suffix>`, `COSTKIT_ACTIONS<suffix>` (the
    /// Lambda functions use the suffix `_S3_KEY` like their other files, Azure and Google Cloud
    /// `_KEY`) and `COSTKIT_REPORT_IDLE` (`true`/`1` or `false`/`0`).
    pub fn from_env(suffix: &str) -> anyhow::Result<ReportFiles> {
        let d = ReportFiles::default();
        let key = |name: &str, default: String| {
            crate::env_var(&format!("COSTKIT_{name}{suffix}")).unwrap_or(default)
        };
        let idle = match crate::env_var("COSTKIT_REPORT_IDLE").as_deref() {
            None => d.idle,
            Some("true" | "1") => true,
            Some("false" | "0") => false,
            Some(other) => {
                anyhow::bail!("COSTKIT_REPORT_IDLE: `{other}`: use true or false")
            }
        };
        Ok(ReportFiles {
            rules_key: key("RULES", d.rules_key),
            teams_key: key("TEAMS", d.teams_key),
            actions_key: key("ACTIONS", d.actions_key),
            idle,
        })
    }
}

/// The text of `key`, `None` when it does not exist.
async fn read_optional(blobs: &Arc<dyn BlobStore>, key: &str) -> anyhow::Result<Option<String>> {
    let b = blobs.clone();
    let k = key.to_string();
    match tokio::task::spawn_blocking(move || b.get_bytes(&k)).await? {
        Ok(bytes) => Ok(Some(
            String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{key}: not UTF-8 text"))?,
        )),
        Err(PortError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The report engines, read once when the router is built: the forecast always; anomalies when
/// the monitors file `monitors_key` exists in `blobs` (the anomaly step's file); rule findings,
/// idle recommendations and the leaderboard when [`ReportFiles`] asks for them, over the current
/// FOCUS records of the bucket (`state` holds each slice's current delivery, so re-deliveries
/// are not counted twice). An invalid file does not take the reports down: it is logged, and
/// every report carries a note saying why its section is missing (the step that owns the file
/// fails on it loudly).
pub async fn engines(
    blobs: Arc<dyn BlobStore>,
    state: Option<Arc<dyn StateStore>>,
    monitors_key: &str,
    files: &ReportFiles,
) -> anyhow::Result<EngineConfig> {
    let mut engines = EngineConfig::default();
    match read_optional(&blobs, monitors_key).await? {
        Some(text) => match MonitorFile::parse(&text, monitors_key) {
            Ok(file) => engines.monitors = Some(file),
            Err(e) => {
                tracing::error!(error = %e, "invalid monitors file: reports carry no anomalies section");
                engines
                    .problems
                    .push(format!("anomalies not computed: {e}"));
            }
        },
        None => {
            tracing::info!(key = %monitors_key, "no monitors file: reports carry no anomalies section");
        }
    }
    if let Some(text) = read_optional(&blobs, &files.rules_key).await? {
        match RulesFile::parse(&text, &files.rules_key) {
            Ok(r) => engines.rules = Some(r),
            Err(e) => {
                tracing::error!(error = %e, "invalid rules file: reports carry no rule findings");
                engines
                    .problems
                    .push(format!("rule findings not computed: {e}"));
            }
        }
    }
    if files.idle {
        engines.idle = Some(IdleOptions::default());
    }
    let teams = read_optional(&blobs, &files.teams_key).await?;
    let actions = read_optional(&blobs, &files.actions_key).await?;
    match (teams, actions) {
        (Some(t), Some(a)) => {
            let parsed = TeamsFile::parse(&t, &files.teams_key).and_then(|teams| {
                ActionsFile::parse(&a, &files.actions_key, &teams)
                    .map(|actions| LeaderboardConfig { teams, actions })
            });
            match parsed {
                Ok(l) => engines.leaderboard = Some(l),
                Err(e) => {
                    tracing::error!(error = %e, "invalid teams or actions file: reports carry no leaderboard");
                    engines
                        .problems
                        .push(format!("leaderboard not computed: {e}"));
                }
            }
        }
        (Some(_), None) | (None, Some(_)) => {
            let msg = format!(
                "leaderboard not computed: it needs both {} and {}",
                files.teams_key, files.actions_key
            );
            tracing::error!("{msg}");
            engines.problems.push(msg);
        }
        (None, None) => {}
    }
    if engines.needs_focus() {
        engines.focus = Some(Arc::new(BlobFocusSource::new(blobs, state)));
    }
    Ok(engines)
}

/// The variable the Azure and Google Cloud shells read the report signing key from (a Key Vault
/// reference / a Secret Manager secret exposed as a variable). Never logged.
pub const SIGNING_KEY_VAR: &str = "COSTKIT_REPORT_SIGNING_KEY";

/// The variable holding the report API's public base URL, which signed links start with.
pub const BASE_URL_VAR: &str = "COSTKIT_REPORT_BASE_URL";

/// The shortest signing key accepted, in bytes (HMAC-SHA256 wants at least its output size).
pub const MIN_SIGNING_KEY_BYTES: usize = 32;

/// The report signing key held in the setting `setting` (`value`, trimmed): `None` when unset.
/// A key shorter than [`MIN_SIGNING_KEY_BYTES`] or an unresolved Key Vault reference (Azure
/// leaves `@Microsoft.KeyVault(...)` in the setting when it cannot read the secret) is an error
/// naming the setting; the error never contains the value.
pub fn signing_key(setting: &str, value: Option<&str>) -> anyhow::Result<Option<SigningKey>> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if v.starts_with("@Microsoft.KeyVault(") {
        anyhow::bail!("{setting}: the Key Vault reference did not resolve (check the app's identity has `Key Vault Secrets User` and the secret exists)");
    }
    if v.len() < MIN_SIGNING_KEY_BYTES {
        anyhow::bail!(
            "{setting}: the key has {} bytes; use at least {MIN_SIGNING_KEY_BYTES} random bytes (e.g. `openssl rand -hex 32`)",
            v.len()
        );
    }
    Ok(Some(SigningKey::new(v.as_bytes().to_vec())))
}

/// The report signing key as the Azure and Google Cloud shells keep it: the key, none, or why the
/// setting's value is unusable. An unusable key does not stop the process (ingest, budgets and
/// alerts go on without it): it is logged at start, messages carry no link, the report routes
/// accept no links, and the scheduled reports fail with the reason.
pub type LinkKey = Result<Option<SigningKey>, String>;

/// [`signing_key`] as a [`LinkKey`], logging an unusable value (the error, never the value).
pub fn link_key(setting: &str, value: Option<&str>) -> LinkKey {
    signing_key(setting, value).map_err(|e| {
        tracing::error!(error = %e, "report links disabled: messages carry no link, scheduled reports fail");
        e.to_string()
    })
}

/// The report base URL in the setting `setting`: `None` when unset; anything but an absolute
/// `http(s)://` URL is an error naming the setting.
pub fn base_url(setting: &str, value: Option<&str>) -> anyhow::Result<Option<String>> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if !(v.starts_with("https://") || v.starts_with("http://")) || v.contains('?') {
        anyhow::bail!("{setting}: `{v}` is not an absolute http(s) URL without a query");
    }
    Ok(Some(v.to_string()))
}

/// Which scheduled report: the weekly one (Mondays) or the monthly one (the 1st).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportCadence {
    /// Month to date, every week.
    Weekly,
    /// The last full month, on the 1st.
    Monthly,
}

impl ReportCadence {
    /// `weekly` or `monthly`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportCadence::Weekly => "weekly",
            ReportCadence::Monthly => "monthly",
        }
    }

    /// Parses `weekly` or `monthly`; the error names the accepted values.
    pub fn parse(s: &str) -> Result<ReportCadence, FlowError> {
        match s {
            "weekly" => Ok(ReportCadence::Weekly),
            "monthly" => Ok(ReportCadence::Monthly),
            other => Err(FlowError::Invalid(format!(
                "report cadence `{other}`: expected `weekly` or `monthly`"
            ))),
        }
    }
}

/// What one scheduled run covers and how it is named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduledPlan {
    /// The cadence.
    pub cadence: ReportCadence,
    /// The report's billing month (the router only serves whole months).
    pub period: ReportPeriod,
    /// The id receipts are keyed by: one send per (id, channel).
    pub id: String,
    /// Where the HTML and CSV are stored: `<prefix>.html`, `<prefix>.csv`.
    pub key_prefix: String,
}

/// The plan of a scheduled run at `now`. Both cadences report the month holding yesterday (the
/// last complete day of data): on the 1st that is the whole previous month, on other days the
/// month to date. The weekly id is the run's ISO week (its Monday), the monthly id the month, so
/// a retried or repeated run in the same week (month) sends nothing new.
pub fn scheduled_plan(cadence: ReportCadence, now: DateTime<Utc>) -> ScheduledPlan {
    let today = now.date_naive();
    let yesterday = today.pred_opt().unwrap_or(today);
    let period = ReportPeriod::month_of(yesterday);
    let run = match cadence {
        ReportCadence::Weekly => {
            let monday =
                today - chrono::Duration::days(i64::from(today.weekday().num_days_from_monday()));
            monday.to_string()
        }
        ReportCadence::Monthly => period.label.clone(),
    };
    ScheduledPlan {
        cadence,
        id: format!("report-{}-{run}", cadence.as_str()),
        key_prefix: format!("reports/{}/{run}/{}", cadence.as_str(), period.label),
        period,
    }
}

/// What a scheduled report run needs from its shell.
pub struct ScheduledReportEnv {
    /// The cost store (the report is rendered over it).
    pub store: Arc<dyn StoreAccess>,
    /// Where the report files go.
    pub blobs: Arc<dyn BlobStore>,
    /// Delivery receipts and dead letters.
    pub state: Arc<dyn costkit_core::ports::StateStore>,
    /// The alerts publisher (`sns` channels without a topic ARN).
    pub alerts: Option<Arc<dyn costkit_core::ports::Publisher>>,
    /// Routing, secrets, the report base URL and signing key.
    pub settings: crate::notify::NotifySettings,
    /// The report engines ([`engines`]).
    pub engines: EngineConfig,
}

/// The scheduled weekly or monthly report: the period's report rendered once (HTML and CSV),
/// both stored under [`ScheduledPlan::key_prefix`], a link to the HTML signed for 7 days, and a
/// report notice sent to the routed channels (email: the HTML report as body, the CSV attached,
/// the link; Slack, Teams, webhooks, SNS: the totals and the link), once per channel.
/// A missing base URL or signing key is a permanent error naming the setting, checked before
/// anything is rendered.
pub async fn scheduled_report_run(
    env: ScheduledReportEnv,
    cadence: ReportCadence,
    now: DateTime<Utc>,
) -> Result<Value, FlowError> {
    let plan = scheduled_plan(cadence, now);
    crate::blocking(move || {
        let routes = crate::notify::load_routes(&*env.blobs, env.alerts.clone(), &env.settings)?;
        let link = crate::notify::required_link(
            &routes,
            &env.settings,
            &format!("/reports/{}.html", plan.period.label),
            now,
        )?;
        let (report, html, csv) = render_period(&*env.store, &plan.period, &env.engines, now)?;
        let html_key = format!("{}.html", plan.key_prefix);
        let csv_key = format!("{}.csv", plan.key_prefix);
        env.blobs
            .put_bytes(&html_key, &html, "text/html; charset=utf-8")?;
        env.blobs.put_bytes(&csv_key, &csv, "text/csv")?;
        let mut totals = std::collections::BTreeMap::new();
        for t in &report.totals {
            *totals.entry(t.currency.clone()).or_default() += t.billed;
        }
        let title = match cadence {
            ReportCadence::Monthly => format!("costkit monthly report {}", plan.period.label),
            ReportCadence::Weekly => format!(
                "costkit weekly report {} (month to date, data through {})",
                plan.period.label, report.data_through
            ),
        };
        let notice = costkit_core::notify::ReportNotice {
            id: plan.id.clone(),
            title,
            totals,
            html: String::from_utf8_lossy(&html).into_owned(),
            csv_name: format!("{}.csv", report.file_stem()),
            csv,
        };
        let done = crate::notify::route_report(&routes, &notice, &link, &*env.state, now)?;
        tracing::info!(report = %plan.id, html = %html_key, csv = %csv_key, "scheduled report done");
        let mut summary = crate::notify::deliveries_summary(&done);
        summary["report"] = json!(plan.id);
        summary["period"] = json!(plan.period.label);
        summary["html"] = json!(html_key);
        summary["csv"] = json!(csv_key);
        Ok(summary)
    })
    .await
}

/// A report and its HTML and CSV renderings.
type Rendered = (Report, Vec<u8>, Vec<u8>);

/// Renders the report of `period` once, as HTML and CSV. Blocks.
fn render_period(
    store: &dyn StoreAccess,
    period: &ReportPeriod,
    engines: &EngineConfig,
    now: DateTime<Utc>,
) -> Result<Rendered, FlowError> {
    let mut out: Option<Result<Rendered, FlowError>> = None;
    let scope = ReportScope::default();
    let options = ReportOptions::default();
    store
        .with_store(&mut |s| {
            let bad = |what: &str, e: &dyn std::fmt::Display| {
                FlowError::Invalid(format!("report {}: {what}: {e}", period.label))
            };
            out = Some(
                costkit_core::report::generate(s, period, &scope, &options, engines, now)
                    .map_err(|e| bad("building", &e))
                    .and_then(|r| {
                        let html =
                            costkit_core::report::render_html(&r).map_err(|e| bad("HTML", &e))?;
                        let csv =
                            costkit_core::report::render_csv(&r).map_err(|e| bad("CSV", &e))?;
                        Ok((r, html, csv))
                    }),
            );
        })
        .map_err(FlowError::Store)?;
    out.unwrap_or_else(|| {
        Err(FlowError::Invalid(format!(
            "report {}: the store was not opened",
            period.label
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_keys_and_base_urls_are_checked_without_showing_the_key() {
        assert!(signing_key("K", None).expect("unset").is_none());
        assert!(signing_key("K", Some("  ")).expect("empty").is_none());
        let short = signing_key("K", Some("s3cret-but-short")).expect_err("short");
        assert!(
            short.to_string().starts_with("K: the key has 16 bytes"),
            "{short}"
        );
        assert!(!short.to_string().contains("s3cret"));
        let kv = signing_key(
            "K",
            Some("@Microsoft.KeyVault(SecretUri=https://v.vault.azure.net/secrets/k/)"),
        )
        .expect_err("unresolved");
        assert!(kv.to_string().contains("did not resolve"), "{kv}");
        assert!(signing_key("K", Some(&"k".repeat(32)))
            .expect("ok")
            .is_some());
        assert_eq!(
            base_url("U", Some("https://x.example/api/link/")).expect("ok"),
            Some("https://x.example/api/link/".to_string())
        );
        assert!(base_url("U", Some("x.example/api")).is_err());
        assert!(base_url("U", Some("https://x.example/api?code=1")).is_err());
        assert!(base_url("U", None).expect("unset").is_none());
    }

    #[test]
    fn scheduled_plans_cover_yesterdays_month_once_per_week_or_month() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().expect("time");
        // Monday 2026-11-23: the weekly report is November to date, keyed by the week.
        let w = scheduled_plan(ReportCadence::Weekly, at("2026-11-23T08:00:00Z"));
        assert_eq!(w.period.label, "2026-11");
        assert_eq!(w.id, "report-weekly-2026-11-23");
        // A retry later that week is the same report.
        let again = scheduled_plan(ReportCadence::Weekly, at("2026-11-26T10:00:00Z"));
        assert_eq!(again.id, w.id);
        // Monday 2026-06-01: the weekly report is all of May.
        let w = scheduled_plan(ReportCadence::Weekly, at("2026-06-01T08:00:00Z"));
        assert_eq!(w.period.label, "2026-05");
        assert_eq!(w.key_prefix, "reports/weekly/2026-06-01/2026-05");
        // The 1st: the monthly report is the previous month, across a year end too.
        let m = scheduled_plan(ReportCadence::Monthly, at("2026-01-01T08:00:00Z"));
        assert_eq!(m.period.label, "2025-12");
        assert_eq!(m.id, "report-monthly-2025-12");
        assert!(ReportCadence::parse("daily").is_err_and(|e| e.to_string().contains("weekly")));
    }

    #[test]
    fn api_key_mode_needs_keys_and_unknown_modes_close_the_api() {
        assert!(report_auth(Some("API_KEY"), None).is_err());
        let bad = report_auth(
            Some("API_KEY"),
            Some("{\"keys\":[{\"id\":\"a\",\"sha256\":\"zz\"}]}"),
        );
        assert!(bad.is_err_and(|e| e.to_string().contains("key `a`")));
        assert!(report_auth(Some("OPEN"), None).expect("closed").is_closed());
        assert!(!report_auth(Some("PLATFORM"), None)
            .expect("platform")
            .is_closed());
    }
}
