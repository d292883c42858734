//! Key layouts every generational backend shares: which parts of a slice make a pointer key and
//! a generation key, in which order, and the `_XX` escaping of free text the Table and Firestore
//! backends use. Each backend adds its own prefix, separator, escaping and generation width, so
//! its stored keys stay what they are.

use crate::aggregate::Slice;

/// The key of a slice's pointer: period, provider, account, each escaped by `enc` and joined
/// by `sep`. Period first: the pointers of a period range sort together.
pub fn pointer_key(slice: &Slice, sep: char, enc: impl Fn(&str) -> String) -> String {
    join(
        [
            &slice.billing_period,
            slice.provider.as_str(),
            slice.billing_account_id.as_str(),
        ],
        sep,
        enc,
    )
}

/// The key of a slice's generations, without the generation number: provider, account,
/// period, each escaped by `enc` and joined by `sep` (the backend appends the number in its
/// own width).
pub fn generation_key(slice: &Slice, sep: char, enc: impl Fn(&str) -> String) -> String {
    join(
        [
            slice.provider.as_str(),
            slice.billing_account_id.as_str(),
            &slice.billing_period,
        ],
        sep,
        enc,
    )
}

fn join(parts: [&str; 3], sep: char, enc: impl Fn(&str) -> String) -> String {
    let [a, b, c] = parts.map(enc);
    format!("{a}{sep}{b}{sep}{c}")
}

/// Escapes free text for a key: `[A-Za-z0-9.-]` stay, every other byte becomes `_XX` (upper-case
/// hex), so separators such as `!` and characters a key forbids (`/`, `#`, `?`, `\`, controls)
/// never appear unescaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("_{b:02X}"));
        }
    }
    out
}

/// Reverses [`escape`] (`None` for text it cannot have made).
pub fn unescape(s: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'_' {
            let hex = s.get(i + 1..i + 3)?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            bytes.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::Text;

    #[test]
    fn parts_come_in_their_order_escaped_and_joined() {
        let s = Slice {
            provider: Text::from("A!B"),
            billing_account_id: Text::from("1/2"),
            billing_period: "2024-09".into(),
        };
        assert_eq!(pointer_key(&s, '!', escape), "2024-09!A_21B!1_2F2");
        assert_eq!(
            generation_key(&s, '#', |x| x.to_string()),
            "A!B#1/2#2024-09"
        );
    }

    #[test]
    fn escaping_round_trips_and_leaves_only_safe_bytes() {
        for s in [
            "",
            "a/b",
            "x#y",
            "q?",
            "back\\slash",
            "tab\t",
            "sep!",
            "Ünïcode",
            "_x",
            "2024-09",
        ] {
            let e = escape(s);
            assert!(
                e.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
                "{s} -> {e}"
            );
            assert_eq!(unescape(&e).as_deref(), Some(s));
        }
        assert_eq!(escape("é"), "_C3_A9");
        assert_eq!(unescape("_4"), None);
        assert_eq!(unescape("_ZZ"), None);
    }
}
