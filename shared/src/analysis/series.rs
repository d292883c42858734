//! Regular time series: the input of anomaly detection and forecasting.
//!
//! Stored aggregates and the machine CLI's `date,value` files both become a [`Series`]: a start,
//! a fixed [`Step`] and one slot per step, `None` where no observation exists (a gap). The engines
//! work on slots, so a gap never shifts the weekly pattern.

use std::io::Read;

use chrono::{Duration, NaiveDate, NaiveDateTime};
use thiserror::Error;

/// The spacing of a series, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Step(pub i64);

impl Step {
    /// One day.
    pub const DAILY: Step = Step(86_400);
    /// One hour.
    pub const HOURLY: Step = Step(3_600);

    /// Seconds per step.
    pub fn seconds(self) -> i64 {
        self.0
    }

    /// Seasonal periods in slots, shortest first: a week for daily data, a day and a week for
    /// sub-daily data whose step divides a day. Other spacings get none.
    pub fn seasonal_periods(self) -> Vec<usize> {
        const DAY: i64 = 86_400;
        const WEEK: i64 = 7 * DAY;
        let s = self.0;
        if s <= 0 {
            return Vec::new();
        }
        if s == DAY {
            return vec![7];
        }
        if s < DAY && DAY % s == 0 {
            let day = (DAY / s) as usize;
            return vec![day, day * 7];
        }
        if s < WEEK && WEEK % s == 0 && s > DAY {
            return vec![(WEEK / s) as usize];
        }
        Vec::new()
    }

    /// The primary seasonal period (the shortest), if any.
    pub fn season(self) -> Option<usize> {
        self.seasonal_periods().first().copied()
    }
}

/// A regular series with gaps.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Timestamp of slot 0.
    pub start: NaiveDateTime,
    /// Spacing between slots.
    pub step: Step,
    /// One value per slot; `None` is a gap.
    pub values: Vec<Option<f64>>,
}

impl Series {
    /// A daily series starting on `start` with no gaps.
    pub fn daily(start: NaiveDate, values: impl IntoIterator<Item = f64>) -> Series {
        Series {
            start: start.and_time(chrono::NaiveTime::MIN),
            step: Step::DAILY,
            values: values.into_iter().map(Some).collect(),
        }
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when there are no slots.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Timestamp of slot `i`.
    pub fn time_at(&self, i: usize) -> NaiveDateTime {
        self.start + Duration::seconds(self.step.0 * i as i64)
    }
}

/// One row of a `date,value` file.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// The date exactly as written in the input, echoed in the output.
    pub raw_date: String,
    /// Parsed timestamp.
    pub time: NaiveDateTime,
    /// The value.
    pub value: f64,
    /// The slot it occupies in [`ObservedSeries::series`].
    pub slot: usize,
}

/// A parsed `date,value` file: the rows as given and the regular series built from them.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedSeries {
    /// Rows, in input order.
    pub rows: Vec<Observation>,
    /// The regular series; every row sits in its slot, slots without a row are gaps.
    pub series: Series,
}

/// Why a `date,value` file was refused.
#[derive(Debug, Error)]
pub enum SeriesError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// File name as given.
        file: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A row or the header is wrong.
    #[error("{file}:{line}: {field}: {message}")]
    Row {
        /// File name as given.
        file: String,
        /// 1-based line number.
        line: u64,
        /// Column name (`date`, `value`, or `header`).
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// Refuses series longer than this many slots (about 11 years of hourly data), so a file with two
/// timestamps decades apart at a fine spacing cannot exhaust memory.
pub const MAX_SLOTS: usize = 100_000;

fn parse_time(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S") {
        return Some(t);
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S") {
        return Some(t);
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(|d| d.and_time(chrono::NaiveTime::MIN))
}

/// Reads CSV with header `date,value`, oldest first. The step is the most common spacing between
/// consecutive rows (ties go to the smaller one), so gaps are recognised as gaps.
pub fn read_date_value_csv(reader: impl Read, file: &str) -> Result<ObservedSeries, SeriesError> {
    let row_err = |line: u64, field: &'static str, message: String| SeriesError::Row {
        file: file.to_string(),
        line,
        field,
        message,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(reader);
    let headers = rdr.headers().map_err(|e| csv_err(file, e))?.clone();
    let names: Vec<String> = headers
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_ascii_lowercase())
        .collect();
    let di = names.iter().position(|h| h == "date");
    let vi = names.iter().position(|h| h == "value");
    let (Some(di), Some(vi)) = (di, vi) else {
        return Err(row_err(
            1,
            "header",
            format!("expected columns `date,value`, found `{}`", names.join(",")),
        ));
    };

    let mut parsed: Vec<(String, NaiveDateTime, f64, u64)> = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| csv_err(file, e))?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        let raw = rec.get(di).unwrap_or("").to_string();
        let time = parse_time(&raw).ok_or_else(|| {
            row_err(
                line,
                "date",
                format!("`{raw}` is not YYYY-MM-DD or YYYY-MM-DD HH:MM:SS"),
            )
        })?;
        let vraw = rec.get(vi).unwrap_or("");
        let value: f64 = vraw
            .parse()
            .map_err(|_| row_err(line, "value", format!("`{vraw}` is not a number")))?;
        if !value.is_finite() {
            return Err(row_err(
                line,
                "value",
                format!("`{vraw}` is not a finite number"),
            ));
        }
        if let Some((_, prev, _, _)) = parsed.last() {
            if time <= *prev {
                return Err(row_err(
                    line,
                    "date",
                    format!("`{raw}` is not after the previous row; rows must be oldest first with no duplicates"),
                ));
            }
        }
        parsed.push((raw, time, value, line));
    }

    let step = infer_step(parsed.iter().map(|p| p.1));
    let start = parsed.first().map(|p| p.1).unwrap_or(NaiveDateTime::MIN);
    let mut rows = Vec::with_capacity(parsed.len());
    let mut values: Vec<Option<f64>> = Vec::with_capacity(parsed.len());
    for (raw, time, value, line) in parsed {
        let offset = (time - start).num_seconds();
        if offset % step.0 != 0 {
            return Err(row_err(
                line,
                "date",
                format!(
                    "`{raw}` is off the series' {}-second grid that starts at the first row",
                    step.0
                ),
            ));
        }
        let slot = (offset / step.0) as usize;
        if slot >= MAX_SLOTS {
            return Err(row_err(
                line,
                "date",
                format!("`{raw}` is more than {MAX_SLOTS} steps after the first row"),
            ));
        }
        if values.len() <= slot {
            values.resize(slot + 1, None);
        }
        values[slot] = Some(value);
        rows.push(Observation {
            raw_date: raw,
            time,
            value,
            slot,
        });
    }
    Ok(ObservedSeries {
        rows,
        series: Series {
            start,
            step,
            values,
        },
    })
}

fn csv_err(file: &str, e: csv::Error) -> SeriesError {
    let line = e.position().map(|p| p.line()).unwrap_or(0);
    match e.into_kind() {
        csv::ErrorKind::Io(source) => SeriesError::Io {
            file: file.to_string(),
            source,
        },
        kind => SeriesError::Row {
            file: file.to_string(),
            line,
            field: "row",
            message: format!("{kind:?}"),
        },
    }
}

/// The most common positive spacing; daily when there are fewer than two rows.
fn infer_step(times: impl Iterator<Item = NaiveDateTime>) -> Step {
    let mut counts: std::collections::BTreeMap<i64, usize> = std::collections::BTreeMap::new();
    let mut prev: Option<NaiveDateTime> = None;
    for t in times {
        if let Some(p) = prev {
            *counts.entry((t - p).num_seconds()).or_default() += 1;
        }
        prev = Some(t);
    }
    // BTreeMap iterates smallest spacing first, so `max_by_key` keeping the last maximum would
    // prefer larger spacings; reverse so ties go to the smaller one.
    counts
        .into_iter()
        .rev()
        .max_by_key(|(_, n)| *n)
        .map(|(s, _)| Step(s))
        .unwrap_or(Step::DAILY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_with_a_gap_keeps_slots() {
        let csv = "date,value\n2024-01-01,1\n2024-01-02,2\n2024-01-04,4\n";
        let o = read_date_value_csv(csv.as_bytes(), "x.csv").expect("parse");
        assert_eq!(o.series.step, Step::DAILY);
        assert_eq!(o.series.values, vec![Some(1.0), Some(2.0), None, Some(4.0)]);
        assert_eq!(o.rows[2].slot, 3);
        assert_eq!(o.rows[2].raw_date, "2024-01-04");
        assert_eq!(o.series.step.seasonal_periods(), vec![7]);
    }

    #[test]
    fn hourly_is_inferred() {
        let csv = "date,value\n2024-01-01 00:00:00,1\n2024-01-01 01:00:00,2\n2024-01-01 03:00:00,3\n2024-01-01 04:00:00,3\n";
        let o = read_date_value_csv(csv.as_bytes(), "h.csv").expect("parse");
        assert_eq!(o.series.step, Step::HOURLY);
        assert_eq!(o.series.len(), 5);
        assert_eq!(o.series.step.seasonal_periods(), vec![24, 168]);
    }

    #[test]
    fn errors_name_line_and_field() {
        let e = read_date_value_csv(
            "date,value\n2024-01-01,1\n2024-01-02,abc\n".as_bytes(),
            "f.csv",
        )
        .expect_err("bad value");
        assert_eq!(e.to_string(), "f.csv:3: value: `abc` is not a number");
        let e = read_date_value_csv(
            "date,value\n2024-01-02,1\n2024-01-01,2\n".as_bytes(),
            "f.csv",
        )
        .expect_err("order");
        assert!(e.to_string().starts_with("f.csv:3: date:"), "{e}");
        let e = read_date_value_csv("day,cost\n".as_bytes(), "f.csv").expect_err("header");
        assert!(e.to_string().starts_with("f.csv:1: header:"), "{e}");
    }

    #[test]
    fn empty_file_is_an_empty_series() {
        let o = read_date_value_csv("date,value\n".as_bytes(), "e.csv").expect("parse");
        assert!(o.rows.is_empty());
        assert!(o.series.is_empty());
    }
}
