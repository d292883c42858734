//! The ingest step: which days to pull from a provider API, keeping the raw responses, and one
//! normalize job per billing month.
//!
//! The store replaces whole (provider, account, billing month) slices, so ingest always pulls
//! whole months (the current month up to today). Pulling only "the last three days" would replace a
//! month's slice with three days of it. Providers restate the last days of a month for a while
//! after it ends, so the previous month is pulled again for the first `restate_days` days of a new
//! month. A backfill asks for explicit dates, which are widened to whole months and clamped to the
//! provider's history window (Cost Explorer keeps 13 months by default, 38 with multi-year data
//! enabled).

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::messages::{Message, NormalizeJob};
use super::FlowError;
use crate::breakdown::DayRange;
use crate::ports::{BlobStore, PortError, Queue};

/// A provider API that returns cost data for a day range as raw response pages.
pub trait CostSource: Send + Sync {
    /// Short source name used in keys and job ids (`aws-ce`).
    fn name(&self) -> &str;
    /// The dialect the pages are in (`aws-ce`).
    fn dialect(&self) -> &str;
    /// Every page of the response for `range` (paging followed, throttling retried).
    fn fetch(&self, range: &DayRange) -> Result<Vec<Vec<u8>>, PortError>;
}

/// What the scheduler asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestRequest {
    /// Backfill start (inclusive). With `end`, replaces the daily default window.
    #[serde(default)]
    pub start: Option<NaiveDate>,
    /// Backfill end (inclusive).
    #[serde(default)]
    pub end: Option<NaiveDate>,
}

/// Ingest settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestConfig {
    /// Months of history the API serves (13 for Cost Explorer by default).
    pub history_months: u32,
    /// For this many days into a new month, the previous month is pulled again.
    pub restate_days: u32,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            history_months: 13,
            restate_days: 5,
        }
    }
}

fn month_start(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

/// The whole months to pull, oldest first, each as `start..end` (end exclusive, never after
/// `today`, which has no complete data yet).
pub fn plan_months(
    today: NaiveDate,
    req: &IngestRequest,
    cfg: &IngestConfig,
) -> Result<Vec<DayRange>, FlowError> {
    let this_month = month_start(today);
    let oldest = this_month - Months::new(cfg.history_months.saturating_sub(1));
    let (from, to) = match (req.start, req.end) {
        (Some(s), Some(e)) => {
            if e < s {
                return Err(FlowError::Invalid(format!(
                    "backfill end {e} is before start {s}"
                )));
            }
            (month_start(s), month_start(e))
        }
        (None, None) => {
            let from = if today.day() <= cfg.restate_days {
                this_month - Months::new(1)
            } else {
                this_month
            };
            (from, this_month)
        }
        _ => {
            return Err(FlowError::Invalid(
                "a backfill needs both `start` and `end` (YYYY-MM-DD)".into(),
            ))
        }
    };
    if to < oldest {
        return Err(FlowError::Invalid(format!(
            "backfill {from}..{to} is older than the {} months the API keeps (oldest month {oldest})",
            cfg.history_months
        )));
    }
    let mut out = Vec::new();
    let mut m = from.max(oldest);
    while m <= to.min(this_month) {
        let end = (m + Months::new(1)).min(today);
        if end > m {
            out.push(DayRange { start: m, end });
        }
        m = m + Months::new(1);
    }
    Ok(out)
}

/// What one ingest run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestReport {
    /// One entry per month pulled: its range, the raw page keys and the job queued.
    pub months: Vec<(DayRange, Vec<String>, String)>,
}

/// Pulls every planned month from `source`, stores the raw pages under
/// `raw/<source>/<YYYY-MM>/<run>/page-NNNN.json` and queues one normalize job per month.
///
/// The job id is `<source>-<YYYY-MM>-<run>`: a retried run (same `run_id`) queues the same ids,
/// which the normalize step recognises; the next day's run has a new id and replaces the month.
pub fn ingest(
    source: &dyn CostSource,
    months: &[DayRange],
    blobs: &dyn BlobStore,
    normalize: &dyn Queue,
    run_id: &str,
    now: DateTime<Utc>,
) -> Result<IngestReport, FlowError> {
    let mut report = IngestReport { months: Vec::new() };
    for range in months {
        let month = range.start.format("%Y-%m").to_string();
        let pages = source.fetch(range)?;
        let mut keys = Vec::with_capacity(pages.len());
        for (i, page) in pages.iter().enumerate() {
            let key = format!("raw/{}/{month}/{run_id}/page-{i:04}.json", source.name());
            blobs.put_bytes(&key, page, "application/json")?;
            keys.push(key);
        }
        let job_id = format!("{}-{month}-{run_id}", source.name());
        // All pages of a month are one part: the Cost Explorer normalizer reads a page array.
        let job = NormalizeJob {
            job_id: job_id.clone(),
            source: source.name().to_string(),
            dialect: Some(source.dialect().to_string()),
            parts: vec![keys.clone()],
            part: 0,
            produced_at: now,
        };
        let msg = Message::Normalize(job);
        normalize.send(&msg.to_json(), &msg.dedup_id())?;
        report.months.push((*range, keys, job_id));
    }
    Ok(report)
}

/// A run id for a scheduled run at `now`: one per UTC day and hour, so a retried invocation
/// within the hour reuses it.
pub fn run_id(now: DateTime<Utc>) -> String {
    now.format("%Y%m%dT%H").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect(s)
    }

    #[test]
    fn daily_run_pulls_the_month_to_date_and_the_previous_month_early_on() {
        let cfg = IngestConfig::default();
        let m = plan_months(d("2024-09-20"), &IngestRequest::default(), &cfg).expect("plan");
        assert_eq!(
            m,
            vec![DayRange {
                start: d("2024-09-01"),
                end: d("2024-09-20")
            }]
        );
        let m = plan_months(d("2024-09-03"), &IngestRequest::default(), &cfg).expect("plan");
        assert_eq!(m.len(), 2);
        assert_eq!(
            m[0],
            DayRange {
                start: d("2024-08-01"),
                end: d("2024-09-01")
            }
        );
        assert_eq!(
            m[1],
            DayRange {
                start: d("2024-09-01"),
                end: d("2024-09-03")
            }
        );
        // On the 1st the current month has no complete day yet.
        let m = plan_months(d("2024-09-01"), &IngestRequest::default(), &cfg).expect("plan");
        assert_eq!(
            m,
            vec![DayRange {
                start: d("2024-08-01"),
                end: d("2024-09-01")
            }]
        );
    }

    #[test]
    fn backfill_widens_to_months_and_clamps_to_history() {
        let cfg = IngestConfig::default();
        let req = IngestRequest {
            start: Some(d("2023-01-15")),
            end: Some(d("2024-02-10")),
        };
        let m = plan_months(d("2024-09-20"), &req, &cfg).expect("plan");
        // 13 months back from September 2024 is September 2023.
        assert_eq!(m.first().map(|r| r.start), Some(d("2023-09-01")));
        assert_eq!(m.last().map(|r| r.end), Some(d("2024-03-01")));
        assert_eq!(m.len(), 6);
        let too_old = IngestRequest {
            start: Some(d("2020-01-01")),
            end: Some(d("2020-02-01")),
        };
        let e = plan_months(d("2024-09-20"), &too_old, &cfg).expect_err("too old");
        assert!(e.to_string().contains("older than the 13 months"), "{e}");
        let half = IngestRequest {
            start: Some(d("2024-01-01")),
            end: None,
        };
        assert!(plan_months(d("2024-09-20"), &half, &cfg).is_err());
    }
}
