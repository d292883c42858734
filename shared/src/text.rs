//! The string type used for every text field of a record, and an interner for repeated values.
//!
//! Billing dimensions are short (ids, regions, categories) or repeat on every row (service names,
//! legal entities, descriptions). [`Text`] keeps strings of up to 23 bytes inline and shares longer
//! ones behind a reference count, so with [`Interner`] most fields of a normalized row cost no heap
//! allocation, and copying a record's dimensions into an aggregate key is cheap.

use std::collections::HashMap;

/// An immutable string: inline up to 23 bytes, reference-counted beyond.
pub type Text = smol_str::SmolStr;

/// Hands out shared [`Text`]s for values that repeat from row to row. Bounded: when it holds
/// `capacity` distinct values it starts over, so a column of unique values costs no more memory
/// than the cache size.
#[derive(Debug)]
pub struct Interner {
    map: HashMap<Box<str>, Text, foldhash::fast::RandomState>,
    capacity: usize,
}

impl Default for Interner {
    fn default() -> Self {
        Interner::with_capacity(16 * 1024)
    }
}

impl Interner {
    /// An interner holding at most `capacity` distinct values.
    pub fn with_capacity(capacity: usize) -> Self {
        Interner {
            map: HashMap::default(),
            capacity,
        }
    }

    /// The shared text for `s` (inline strings are made directly: they need no sharing).
    pub fn get(&mut self, s: &str) -> Text {
        if s.len() <= 23 {
            return Text::new(s);
        }
        if let Some(t) = self.map.get(s) {
            return t.clone();
        }
        if self.map.len() >= self.capacity {
            self.map.clear();
        }
        let t = Text::new(s);
        self.map.insert(Box::from(s), t.clone());
        t
    }

    /// Like [`Interner::get`], `None` for an empty or blank value.
    pub fn non_empty(&mut self, s: &str) -> Option<Text> {
        let t = s.trim_ascii();
        if t.is_empty() {
            None
        } else {
            Some(self.get(t))
        }
    }
}

/// Turns an empty or whitespace-only cell into `None`; anything else into `Some(Text)`.
pub fn non_empty(s: &str) -> Option<Text> {
    let t = s.trim_ascii();
    if t.is_empty() {
        None
    } else {
        Some(Text::from(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interner_shares_long_values_and_stays_bounded() {
        let mut i = Interner::with_capacity(2);
        let long = "Amazon Elastic Compute Cloud - Compute";
        let a = i.get(long);
        let b = i.get(long);
        assert_eq!(a, b);
        assert!(a.is_heap_allocated());
        assert_eq!(i.map.len(), 1);
        i.get("another value that is long enough to share");
        i.get("a third value that is long enough to share");
        assert!(i.map.len() <= 2, "bounded");
        assert_eq!(i.get("short"), "short");
        assert_eq!(i.non_empty("  "), None);
        assert_eq!(i.non_empty(" x ").as_deref(), Some("x"));
    }
}
