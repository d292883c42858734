//! Breakdowns over stored daily aggregates: period over period comparisons, top movers, spend per
//! time bucket, and untagged spend per tag key.
//!
//! Every function here groups with [`summarize`], so a breakdown and `costkit summary` always agree
//! to the cent and every dollar lands in exactly one group (spend without a tag shows as
//! [`UNTAGGED`]).

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, Months, NaiveDate};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::aggregate::{summarize, CostBasis, DailyRow, GroupBy, TagRow, UNTAGGED};
use crate::money::Currency;

/// Length of a comparison bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    /// One UTC day.
    Day,
    /// An ISO week, Monday to Sunday.
    Week,
    /// A calendar month.
    Month,
}

impl Granularity {
    /// Parses `day|week|month`.
    pub fn parse(s: &str) -> Option<Granularity> {
        match s {
            "day" | "daily" => Some(Granularity::Day),
            "week" | "weekly" => Some(Granularity::Week),
            "month" | "monthly" => Some(Granularity::Month),
            _ => None,
        }
    }

    /// The first day of the bucket holding `day`.
    pub fn bucket_start(self, day: NaiveDate) -> NaiveDate {
        match self {
            Granularity::Day => day,
            Granularity::Week => day - Duration::days(day.weekday().num_days_from_monday() as i64),
            Granularity::Month => day.with_day(1).unwrap_or(day),
        }
    }

    /// The first day of the bucket after the one starting at `start`.
    pub fn next_start(self, start: NaiveDate) -> NaiveDate {
        match self {
            Granularity::Day => start + Duration::days(1),
            Granularity::Week => start + Duration::days(7),
            Granularity::Month => start + Months::new(1),
        }
    }

    /// The first day of the bucket before the one starting at `start`.
    pub fn prev_start(self, start: NaiveDate) -> NaiveDate {
        match self {
            Granularity::Day => start - Duration::days(1),
            Granularity::Week => start - Duration::days(7),
            Granularity::Month => start - Months::new(1),
        }
    }
}

/// Days `start..end` (end exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct DayRange {
    /// First day.
    pub start: NaiveDate,
    /// The day after the last one.
    pub end: NaiveDate,
}

impl DayRange {
    /// True when `day` is inside.
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.start <= day && day < self.end
    }

    /// Number of days.
    pub fn days(&self) -> i64 {
        (self.end - self.start).num_days()
    }
}

/// Two ranges to compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// How long a bucket is.
    pub granularity: Granularity,
    /// The bucket holding `as_of`, up to and including `as_of`.
    pub current: DayRange,
    /// The bucket before, cut to the same number of days.
    pub previous: DayRange,
}

/// Like-for-like period over period: the bucket holding `as_of` up to and including `as_of`,
/// against the same number of days at the start of the bucket before.
///
/// Comparing a month-to-date with a whole previous month would report every month as a drop
/// until its last day, so both sides cover the same days (clipped at the end of a shorter previous
/// month: March 1-31 compares with all of February).
pub fn period_over_period(as_of: NaiveDate, granularity: Granularity) -> Comparison {
    let cur_start = granularity.bucket_start(as_of);
    let cur_end = as_of + Duration::days(1);
    let prev_start = granularity.prev_start(cur_start);
    let prev_end = (prev_start + (cur_end - cur_start)).min(cur_start);
    Comparison {
        granularity,
        current: DayRange {
            start: cur_start,
            end: cur_end,
        },
        previous: DayRange {
            start: prev_start,
            end: prev_end,
        },
    }
}

/// One group's change between two ranges.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mover {
    /// The group's label.
    pub group: String,
    /// Currency.
    pub currency: Currency,
    /// Spend in the previous range.
    pub previous: Decimal,
    /// Spend in the current range.
    pub current: Decimal,
    /// `current - previous`.
    pub change: Decimal,
    /// Change as a percentage of `previous`, to two decimals; `None` when `previous` is zero
    /// (a new cost has no meaningful percentage).
    pub change_pct: Option<Decimal>,
}

fn in_range(rows: &[DailyRow], r: &DayRange) -> Vec<DailyRow> {
    rows.iter()
        .filter(|x| r.contains(x.key.day))
        .cloned()
        .collect()
}

fn tags_in_range(rows: &[TagRow], r: &DayRange) -> Vec<TagRow> {
    rows.iter()
        .filter(|x| r.contains(x.key.day))
        .cloned()
        .collect()
}

/// Groups both ranges with [`summarize`] and lists every group's change, largest absolute change
/// first (then by group). For tag grouping, `tag_rows` are the per-tag rows of that key.
pub fn movers(
    rows: &[DailyRow],
    tag_rows: &[TagRow],
    by: &GroupBy,
    basis: CostBasis,
    cmp: &Comparison,
) -> Vec<Mover> {
    let cur = summarize(
        &in_range(rows, &cmp.current),
        &tags_in_range(tag_rows, &cmp.current),
        by,
        basis,
    );
    let prev = summarize(
        &in_range(rows, &cmp.previous),
        &tags_in_range(tag_rows, &cmp.previous),
        by,
        basis,
    );
    let mut joined: BTreeMap<(String, Currency), (Decimal, Decimal)> = BTreeMap::new();
    for l in prev {
        joined.entry((l.group, l.currency)).or_default().0 += l.cost;
    }
    for l in cur {
        joined.entry((l.group, l.currency)).or_default().1 += l.cost;
    }
    let mut out: Vec<Mover> = joined
        .into_iter()
        .map(|((group, currency), (previous, current))| {
            let change = current - previous;
            let change_pct = if previous.is_zero() {
                None
            } else {
                (change * Decimal::ONE_HUNDRED)
                    .checked_div(previous.abs())
                    .map(|p| p.round_dp(2))
            };
            Mover {
                group,
                currency,
                previous,
                current,
                change,
                change_pct,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.change
            .abs()
            .cmp(&a.change.abs())
            .then(a.currency.cmp(&b.currency))
            .then(a.group.cmp(&b.group))
    });
    out
}

/// A group's spend per bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TrendLine {
    /// The group's label.
    pub group: String,
    /// Currency.
    pub currency: Currency,
    /// Spend per bucket, aligned with [`Trend::buckets`].
    pub values: Vec<Decimal>,
    /// Sum over all buckets.
    pub total: Decimal,
}

/// Spend per group and bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Trend {
    /// Bucket start days, oldest first.
    pub buckets: Vec<NaiveDate>,
    /// One line per (group, currency), largest total first.
    pub lines: Vec<TrendLine>,
}

/// Spend per group in every bucket of `granularity` that overlaps `range`.
pub fn trend(
    rows: &[DailyRow],
    tag_rows: &[TagRow],
    by: &GroupBy,
    basis: CostBasis,
    granularity: Granularity,
    range: &DayRange,
) -> Trend {
    let mut buckets = Vec::new();
    let mut b = granularity.bucket_start(range.start);
    while b < range.end {
        buckets.push(b);
        b = granularity.next_start(b);
    }
    let mut lines: BTreeMap<(String, Currency), Vec<Decimal>> = BTreeMap::new();
    for (i, start) in buckets.iter().enumerate() {
        let r = DayRange {
            start: (*start).max(range.start),
            end: granularity.next_start(*start).min(range.end),
        };
        let sums = summarize(&in_range(rows, &r), &tags_in_range(tag_rows, &r), by, basis);
        for l in sums {
            let v = lines
                .entry((l.group, l.currency))
                .or_insert_with(|| vec![Decimal::ZERO; buckets.len()]);
            v[i] += l.cost;
        }
    }
    let mut lines: Vec<TrendLine> = lines
        .into_iter()
        .map(|((group, currency), values)| TrendLine {
            total: values.iter().copied().sum(),
            group,
            currency,
            values,
        })
        .collect();
    lines.sort_by(|a, b| {
        a.currency
            .cmp(&b.currency)
            .then(b.total.cmp(&a.total))
            .then(a.group.cmp(&b.group))
    });
    Trend { buckets, lines }
}

/// How much spend carries a tag key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TagCoverage {
    /// The tag key.
    pub key: String,
    /// Currency.
    pub currency: Currency,
    /// All spend.
    pub total: Decimal,
    /// Spend on records that carry the key (any value).
    pub tagged: Decimal,
    /// `total - tagged`.
    pub untagged: Decimal,
    /// Untagged share of the total in percent, to two decimals; `None` when the total is zero.
    pub untagged_pct: Option<Decimal>,
}

/// Untagged spend per tag key: for every key, total spend minus the spend of records carrying it.
/// `per_key` holds each key's per-tag rows (over the same filter as `rows`). Keys are reported in
/// the order given, currencies alphabetically.
pub fn tag_coverage(
    rows: &[DailyRow],
    per_key: &[(String, Vec<TagRow>)],
    basis: CostBasis,
) -> Vec<TagCoverage> {
    let mut out = Vec::new();
    for (key, tags) in per_key {
        let lines = summarize(rows, tags, &GroupBy::Tag(key.clone()), basis);
        let mut by_cur: BTreeMap<Currency, (Decimal, Decimal)> = BTreeMap::new();
        for l in lines {
            let e = by_cur.entry(l.currency).or_default();
            e.0 += l.cost;
            if l.group != UNTAGGED {
                e.1 += l.cost;
            }
        }
        for (currency, (total, tagged)) in by_cur {
            let untagged = total - tagged;
            let untagged_pct = if total.is_zero() {
                None
            } else {
                (untagged * Decimal::ONE_HUNDRED)
                    .checked_div(total.abs())
                    .map(|p| p.round_dp(2))
            };
            out.push(TagCoverage {
                key: key.clone(),
                currency,
                total,
                tagged,
                untagged,
                untagged_pct,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect(s)
    }

    #[test]
    fn like_for_like_ranges() {
        let c = period_over_period(d("2024-03-10"), Granularity::Month);
        assert_eq!(c.current.start, d("2024-03-01"));
        assert_eq!(c.current.end, d("2024-03-11"));
        assert_eq!(c.previous.start, d("2024-02-01"));
        assert_eq!(c.previous.end, d("2024-02-11"));
        // The last day of a long month compares with the whole shorter month before.
        let c = period_over_period(d("2024-03-31"), Granularity::Month);
        assert_eq!(c.previous.end, d("2024-03-01"));
        assert_eq!(c.previous.days(), 29);
        // 2024-03-13 is a Wednesday.
        let c = period_over_period(d("2024-03-13"), Granularity::Week);
        assert_eq!(c.current.start, d("2024-03-11"));
        assert_eq!(c.previous.start, d("2024-03-04"));
        assert_eq!(c.previous.end, d("2024-03-07"));
        let c = period_over_period(d("2024-03-01"), Granularity::Day);
        assert_eq!(
            (c.previous.start, c.previous.end),
            (d("2024-02-29"), d("2024-03-01"))
        );
    }
}
