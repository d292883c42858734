//! Utilization metrics from a CSV file: `resource_id,timestamp,<metric>...`, one row per resource
//! and sample (for example an export of CloudWatch `CPUUtilization` Maximum per hour as `cpu_max`).
//!
//! Metric columns are free-form numbers (percent for CPU and memory, counts for I/O). Empty cells
//! are missing samples. Metrics are statistics, so they are read as `f64`; money never is.

use std::collections::HashMap;
use std::path::Path;

use chrono::Duration;
use thiserror::Error;

use crate::text::Text;
use crate::time::{parse_timestamp, Timestamp};

/// An unreadable or invalid metrics file.
#[derive(Debug, Error)]
#[error("{file}:{line}: {message}")]
pub struct MetricsError {
    /// The file.
    pub file: String,
    /// 1-based line (0 for the whole file).
    pub line: u64,
    /// What is wrong, naming the column.
    pub message: String,
}

/// A statistic over a window of samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stat {
    /// The largest sample.
    Max,
    /// The mean of the samples.
    Avg,
    /// The smallest sample.
    Min,
}

impl Stat {
    /// Parses `max`, `avg`, `min`.
    pub fn parse(s: &str) -> Option<Stat> {
        match s {
            "max" => Some(Stat::Max),
            "avg" => Some(Stat::Avg),
            "min" => Some(Stat::Min),
            _ => None,
        }
    }
}

/// A statistic and how much data it rests on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Observed {
    /// The value.
    pub value: f64,
    /// Samples used.
    pub samples: usize,
    /// Time between the first and last sample used.
    pub span: Duration,
}

/// One row: when, and a value per metric column (`None` for an empty cell).
type Sample = (Timestamp, Vec<Option<f64>>);

/// Samples per resource.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    /// Metric column names, in file order.
    pub columns: Vec<String>,
    samples: HashMap<Text, Vec<Sample>>,
}

impl Metrics {
    /// Reads a metrics CSV file.
    pub fn load(path: &Path) -> Result<Metrics, MetricsError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| MetricsError {
            file: file.clone(),
            line: 0,
            message: e.to_string(),
        })?;
        Metrics::parse(&text, &file)
    }

    /// Parses metrics CSV text; `file` names the source in errors.
    pub fn parse(text: &str, file: &str) -> Result<Metrics, MetricsError> {
        let err = |line: u64, message: String| MetricsError {
            file: file.to_string(),
            line,
            message,
        };
        let mut rdr = csv::ReaderBuilder::new().from_reader(text.as_bytes());
        let headers: Vec<String> = rdr
            .headers()
            .map_err(|e| err(1, e.to_string()))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        let find = |n: &str| headers.iter().position(|h| h == n);
        let rid =
            find("resource_id").ok_or_else(|| err(1, "missing column `resource_id`".into()))?;
        let ts = find("timestamp").ok_or_else(|| err(1, "missing column `timestamp`".into()))?;
        let metric_cols: Vec<usize> = (0..headers.len())
            .filter(|i| *i != rid && *i != ts)
            .collect();
        if metric_cols.is_empty() {
            return Err(err(
                1,
                "no metric columns (e.g. `cpu_max`) besides resource_id and timestamp".into(),
            ));
        }
        let mut m = Metrics {
            columns: metric_cols.iter().map(|i| headers[*i].clone()).collect(),
            samples: HashMap::new(),
        };
        for row in rdr.records() {
            let row =
                row.map_err(|e| err(e.position().map(|p| p.line()).unwrap_or(0), e.to_string()))?;
            let line = row.position().map(|p| p.line()).unwrap_or(0);
            let id = row.get(rid).unwrap_or("").trim();
            if id.is_empty() {
                return Err(err(line, "column `resource_id`: empty".into()));
            }
            let cell = row.get(ts).unwrap_or("");
            let t = parse_timestamp(cell).ok_or_else(|| {
                err(
                    line,
                    format!("column `timestamp`: `{cell}` is not a timestamp"),
                )
            })?;
            let mut values = Vec::with_capacity(metric_cols.len());
            for &i in &metric_cols {
                let c = row.get(i).unwrap_or("").trim();
                if c.is_empty() {
                    values.push(None);
                } else {
                    let v: f64 = c.parse().map_err(|_| {
                        err(
                            line,
                            format!("column `{}`: `{c}` is not a number", headers[i]),
                        )
                    })?;
                    if !v.is_finite() {
                        return Err(err(
                            line,
                            format!("column `{}`: `{c}` is not finite", headers[i]),
                        ));
                    }
                    values.push(Some(v));
                }
            }
            m.samples
                .entry(Text::from(id))
                .or_default()
                .push((t, values));
        }
        Ok(m)
    }

    /// True when the file has this metric column.
    pub fn has(&self, metric: &str) -> bool {
        self.columns.iter().any(|c| c == metric)
    }

    /// Resources with samples.
    pub fn resources(&self) -> impl Iterator<Item = &str> {
        self.samples.keys().map(|k| k.as_str())
    }

    /// `stat` of `metric` for `resource` over samples in `[end - window, end)`.
    pub fn stat(
        &self,
        resource: &str,
        metric: &str,
        stat: Stat,
        end: Timestamp,
        window: Duration,
    ) -> Option<Observed> {
        let col = self.columns.iter().position(|c| c == metric)?;
        let start = end - window;
        let mut n = 0usize;
        let (mut acc, mut first, mut last) = (0f64, None::<Timestamp>, None::<Timestamp>);
        for (t, vals) in self.samples.get(resource)? {
            if *t < start || *t >= end {
                continue;
            }
            let Some(v) = vals[col] else { continue };
            acc = match (stat, n) {
                (_, 0) => v,
                (Stat::Max, _) => acc.max(v),
                (Stat::Min, _) => acc.min(v),
                (Stat::Avg, _) => acc + v,
            };
            n += 1;
            first = Some(first.map_or(*t, |f| f.min(*t)));
            last = Some(last.map_or(*t, |l| l.max(*t)));
        }
        if n == 0 {
            return None;
        }
        if stat == Stat::Avg {
            acc /= n as f64;
        }
        Some(Observed {
            value: acc,
            samples: n,
            span: last? - first?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_summarizes() {
        let m = Metrics::parse(
            "resource_id,timestamp,cpu_max\ni-1,2024-01-10T00:00:00Z,3.5\ni-1,2024-01-11T00:00:00Z,\ni-1,2024-01-12T00:00:00Z,7\ni-1,2023-12-01T00:00:00Z,90\n",
            "m.csv",
        )
        .expect("parse");
        let end = parse_timestamp("2024-01-13T00:00:00Z").expect("t");
        let o = m
            .stat("i-1", "cpu_max", Stat::Max, end, Duration::days(14))
            .expect("stat");
        assert_eq!(o.value, 7.0);
        assert_eq!(o.samples, 2);
        assert_eq!(o.span, Duration::days(2));
        let avg = m
            .stat("i-1", "cpu_max", Stat::Avg, end, Duration::days(14))
            .expect("avg");
        assert_eq!(avg.value, 5.25);
        assert!(m
            .stat("i-2", "cpu_max", Stat::Max, end, Duration::days(14))
            .is_none());
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = Metrics::parse(
            "resource_id,timestamp,cpu_max\ni-1,2024-01-10,high\n",
            "m.csv",
        )
        .expect_err("bad number");
        assert_eq!(
            e.to_string(),
            "m.csv:2: column `cpu_max`: `high` is not a number"
        );
        let e = Metrics::parse("id,timestamp,cpu_max\n", "m.csv").expect_err("no id");
        assert_eq!(e.to_string(), "m.csv:1: missing column `resource_id`");
        let e = Metrics::parse("resource_id,timestamp,cpu\ni-1,yesterday,1\n", "m.csv")
            .expect_err("bad time");
        assert_eq!(
            e.to_string(),
            "m.csv:2: column `timestamp`: `yesterday` is not a timestamp"
        );
    }
}
