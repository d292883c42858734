//! AWS `pricing/unit` values rewritten in the FOCUS Unit Format: time units spelled out and plural
//! (`Hrs` -> `Hours`, `GB-Mo` -> `GB-Months`), service prefixes dropped (`Lambda-GB-Second` ->
//! `GB-Seconds`), counted things plural (`Request` -> `Requests`). Anything not recognised passes
//! through unchanged: an unknown unit is better kept as AWS wrote it than guessed.

use crate::text::Text;

/// Whole units that need a specific rewrite (checked first, case-sensitive as AWS prints them).
const EXACT: &[(&str, &str)] = &[
    ("Hrs", "Hours"),
    ("Hr", "Hours"),
    ("hrs", "Hours"),
    ("Hour", "Hours"),
    ("hour", "Hours"),
    ("hours", "Hours"),
    ("Mo", "Months"),
    ("Month", "Months"),
    ("Second", "Seconds"),
    ("seconds", "Seconds"),
    ("Sec", "Seconds"),
    ("Min", "Minutes"),
    ("Minute", "Minutes"),
    ("minutes", "Minutes"),
    ("Day", "Days"),
    ("Request", "Requests"),
    ("requests", "Requests"),
    ("Lambda-GB-Second", "GB-Seconds"),
    ("Lambda-GB-Second-ARM", "GB-Seconds"),
    ("Lambda-Requests", "Requests"),
    ("GB-Mo", "GB-Months"),
    ("GB-month", "GB-Months"),
    ("GB-Month", "GB-Months"),
    ("gigabyte month", "GB-Months"),
    ("Gigabyte Month", "GB-Months"),
    ("IOs", "IOs"),
];

/// The time word at the end of a compound unit (`IOPS-Mo`, `ACU-Hr`, `vCPU-Hour`).
fn time_suffix(token: &str) -> Option<&'static str> {
    Some(match token {
        "Hrs" | "Hr" | "Hour" | "Hours" | "hrs" | "hr" | "hour" | "hours" => "Hours",
        "Mo" | "Month" | "Months" | "mo" | "month" | "months" => "Months",
        "Second" | "Seconds" | "Sec" | "Secs" | "second" | "seconds" | "sec" => "Seconds",
        "Min" | "Mins" | "Minute" | "Minutes" | "minute" | "minutes" | "min" => "Minutes",
        "Day" | "Days" | "day" | "days" => "Days",
        _ => return None,
    })
}

/// Normalises one AWS unit; empty stays `None`.
pub fn normalize_unit(unit: &str) -> Option<Text> {
    let u = unit.trim();
    if u.is_empty() {
        return None;
    }
    if let Some((_, to)) = EXACT.iter().find(|(from, _)| *from == u) {
        return Some(Text::from(*to));
    }
    if let Some((head, last)) = u.rsplit_once('-') {
        if let Some(t) = time_suffix(last) {
            let head = head.strip_prefix("Lambda-").unwrap_or(head);
            return Some(Text::from(format!("{head}-{t}")));
        }
    }
    Some(Text::from(u))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        normalize_unit(s).map(|t| t.to_string()).unwrap_or_default()
    }

    #[test]
    fn rewrites_aws_units() {
        assert_eq!(n("Hrs"), "Hours");
        assert_eq!(n("GB-Mo"), "GB-Months");
        assert_eq!(n("Lambda-GB-Second"), "GB-Seconds");
        assert_eq!(n("IOPS-Mo"), "IOPS-Months");
        assert_eq!(n("ACU-Hr"), "ACU-Hours");
        assert_eq!(n("ReadCapacityUnit-Hrs"), "ReadCapacityUnit-Hours");
        assert_eq!(n("vCPU-Hours"), "vCPU-Hours");
        assert_eq!(n("Request"), "Requests");
        assert_eq!(n("GB"), "GB");
        assert_eq!(n("WriteRequestUnits"), "WriteRequestUnits");
        assert_eq!(normalize_unit(""), None);
    }
}
