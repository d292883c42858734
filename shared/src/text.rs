//! Small-string type used for every text field of a record.
//!
//! Billing dimensions are short (ids, regions, categories); [`Text`] keeps strings of up to 24 bytes
//! inline, so most fields of a normalized row cost no heap allocation.

/// An immutable, mostly inline string.
pub type Text = compact_str::CompactString;

/// Turns an empty or whitespace-only cell into `None`; anything else into `Some(Text)`.
pub fn non_empty(s: &str) -> Option<Text> {
    let t = s.trim();
    if t.is_empty() {
        None
    } else {
        Some(Text::from(t))
    }
}
