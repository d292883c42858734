//! Timestamp parsing for the date formats billing exports use, all read as UTC.
//!
//! The common ISO shapes go through a hand-rolled fast path because a 1M-row CUR file holds 4M
//! timestamps; anything else falls back to chrono's parsers.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// A UTC instant.
pub type Timestamp = DateTime<Utc>;

fn digits(b: &[u8]) -> Option<u32> {
    let mut v: u32 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// Parses `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS[.fff][Z|+00:00]`, `YYYY-MM-DD HH:MM:SS[ UTC]`,
/// `YYYYMMDD` and US `M/D/YYYY` dates (Azure EA exports), as UTC.
pub fn parse_timestamp(s: &str) -> Option<Timestamp> {
    let s = s.trim_ascii();
    let b = s.as_bytes();
    if b.len() >= 10 && b[4] == b'-' && b[7] == b'-' {
        let y = digits(&b[0..4])? as i32;
        let m = digits(&b[5..7])?;
        let d = digits(&b[8..10])?;
        let date = NaiveDate::from_ymd_opt(y, m, d)?;
        if b.len() == 10 {
            return Some(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?));
        }
        if b.len() >= 19 && (b[10] == b'T' || b[10] == b' ') && b[13] == b':' && b[16] == b':' {
            let hh = digits(&b[11..13])?;
            let mm = digits(&b[14..16])?;
            let ss = digits(&b[17..19])?;
            let mut rest = &s[19..];
            let mut nanos = 0u32;
            if let Some(frac) = rest.strip_prefix('.') {
                let n = frac.bytes().take_while(u8::is_ascii_digit).count();
                let f = &frac[..n];
                let mut scaled = 0u32;
                for (i, c) in f.bytes().take(9).enumerate() {
                    scaled += u32::from(c - b'0') * 10u32.pow(8 - i as u32);
                }
                nanos = scaled;
                rest = &frac[n..];
            }
            let rest = rest.trim();
            let utc = matches!(rest, "" | "Z" | "z" | "+00:00" | "+0000" | "UTC" | "+00");
            if utc {
                let t = date.and_hms_nano_opt(hh, mm, ss, nanos)?;
                return Some(Utc.from_utc_datetime(&t));
            }
            return DateTime::parse_from_rfc3339(s)
                .ok()
                .or_else(|| DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%:z").ok())
                .map(|d| d.with_timezone(&Utc));
        }
        return None;
    }
    if b.len() == 8 && b.iter().all(u8::is_ascii_digit) {
        let date = NaiveDate::parse_from_str(s, "%Y%m%d").ok()?;
        return Some(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?));
    }
    if s.contains('/') {
        let date_part = s.split_whitespace().next()?;
        let mut it = date_part.split('/');
        let m: u32 = it.next()?.parse().ok()?;
        let d: u32 = it.next()?.parse().ok()?;
        let y: i32 = it.next()?.parse().ok()?;
        if it.next().is_some() {
            return None;
        }
        let date = NaiveDate::from_ymd_opt(y, m, d)?;
        if let Some(time) = s.split_whitespace().nth(1) {
            let t = NaiveDateTime::parse_from_str(&format!("{date} {time}"), "%Y-%m-%d %H:%M:%S")
                .ok()?;
            return Some(Utc.from_utc_datetime(&t));
        }
        return Some(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?));
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Formats an instant the way FOCUS wants it: `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_timestamp(t: &Timestamp) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The first instant of the UTC month containing `t`.
pub fn month_start(t: &Timestamp) -> Timestamp {
    Utc.with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(*t)
}

/// The first instant of the UTC month after the one containing `t` (an exclusive period end).
pub fn next_month_start(t: &Timestamp) -> Timestamp {
    let (y, m) = if t.month() == 12 {
        (t.year() + 1, 1)
    } else {
        (t.year(), t.month() + 1)
    };
    Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0)
        .single()
        .unwrap_or(*t)
}

/// `YYYY-MM` of a billing period start, the key stores and summaries use for a period.
pub fn period_key(t: &Timestamp) -> String {
    t.format("%Y-%m").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> String {
        format_timestamp(&parse_timestamp(s).expect(s))
    }

    #[test]
    fn parses_the_export_shapes() {
        assert_eq!(ts("2023-11-01T00:00:00.000Z"), "2023-11-01T00:00:00Z");
        assert_eq!(ts("2023-11-01T05:06:07Z"), "2023-11-01T05:06:07Z");
        assert_eq!(ts("2024-09-18 22:00:00"), "2024-09-18T22:00:00Z");
        assert_eq!(ts("2024-09-18 22:00:00 UTC"), "2024-09-18T22:00:00Z");
        assert_eq!(ts("2024-09-18"), "2024-09-18T00:00:00Z");
        assert_eq!(ts("09/21/2023"), "2023-09-21T00:00:00Z");
        assert_eq!(ts("9/2/2023"), "2023-09-02T00:00:00Z");
        assert_eq!(ts("20240918"), "2024-09-18T00:00:00Z");
        assert_eq!(ts("2024-09-01T00:00:00-07:00"), "2024-09-01T07:00:00Z");
        assert!(parse_timestamp("not a date").is_none());
        assert!(parse_timestamp("2024-13-01").is_none());
    }

    #[test]
    fn month_bounds() {
        let t = parse_timestamp("2024-12-15T10:00:00Z").expect("valid");
        assert_eq!(format_timestamp(&month_start(&t)), "2024-12-01T00:00:00Z");
        assert_eq!(
            format_timestamp(&next_month_start(&t)),
            "2025-01-01T00:00:00Z"
        );
        assert_eq!(period_key(&t), "2024-12");
    }
}
