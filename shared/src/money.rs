//! Exact money: every cost that is summed or reported is a [`Decimal`] with a [`Currency`].

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

pub use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::text::Text;

/// A currency code. Billing currencies are ISO 4217 codes (`USD`, `EUR`); pricing currencies may be
/// virtual (`Credits`, `Tokens`), so the type accepts any non-empty code.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Currency(Text);

impl Currency {
    /// Wraps a code, upper-casing three-letter ISO-looking codes (`usd` -> `USD`).
    pub fn new(code: &str) -> Self {
        let c = code.trim_ascii();
        // Every row of every file carries its currency: no allocation for a three-letter code.
        let mut upper = [0u8; 3];
        if c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic()) {
            upper.copy_from_slice(c.as_bytes());
            upper.make_ascii_uppercase();
            if let Ok(u) = std::str::from_utf8(&upper) {
                return Currency(Text::from(u));
            }
        }
        Currency(Text::from(c))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for a three-letter upper-case code, the shape ISO 4217 national currencies have.
    pub fn is_iso4217_shaped(&self) -> bool {
        self.0.len() == 3 && self.0.bytes().all(|b| b.is_ascii_uppercase())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An exact amount in one currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// The amount.
    pub amount: Decimal,
    /// Its currency.
    pub currency: Currency,
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

/// Parses a cost or quantity cell: plain decimals, a leading `+`, and E notation (`5.64902E-05`,
/// which Azure exports print). Returns `None` for anything else.
pub fn parse_decimal(s: &str) -> Option<Decimal> {
    let s = s.trim_ascii();
    if s.is_empty() {
        return None;
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    if let Ok(d) = Decimal::from_str(s) {
        return Some(d.normalize());
    }
    if s.contains(['e', 'E']) {
        return Decimal::from_scientific(s).ok().map(|d| d.normalize());
    }
    None
}

/// Sums per currency. Amounts in different currencies are never added together.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencyTotals(pub BTreeMap<Currency, Decimal>);

impl CurrencyTotals {
    /// Adds `amount` to the running total of `currency`.
    pub fn add(&mut self, currency: &Currency, amount: Decimal) {
        if let Some(v) = self.0.get_mut(currency) {
            *v += amount;
        } else {
            self.0.insert(currency.clone(), amount);
        }
    }

    /// The total of one currency (zero when absent).
    pub fn get(&self, currency: &str) -> Decimal {
        self.0
            .get(&Currency::new(currency))
            .copied()
            .unwrap_or_default()
    }

    /// Drops trailing zeros so totals compare and print cleanly.
    pub fn normalized(&self) -> Self {
        CurrencyTotals(
            self.0
                .iter()
                .map(|(c, v)| (c.clone(), v.normalize()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_export_numbers() {
        assert_eq!(
            parse_decimal("0.0").map(|d| d.to_string()),
            Some("0".into())
        );
        assert_eq!(
            parse_decimal("5.64902E-05").map(|d| d.to_string()),
            Some("0.0000564902".into())
        );
        assert_eq!(
            parse_decimal("+12.50").map(|d| d.to_string()),
            Some("12.5".into())
        );
        assert_eq!(
            parse_decimal("-0.0000000001").map(|d| d.to_string()),
            Some("-0.0000000001".into())
        );
        assert_eq!(parse_decimal("abc"), None);
        assert_eq!(parse_decimal(""), None);
    }

    #[test]
    fn totals_never_mix_currencies() {
        let mut t = CurrencyTotals::default();
        t.add(&Currency::new("usd"), Decimal::new(150, 2));
        t.add(&Currency::new("EUR"), Decimal::new(1, 0));
        t.add(&Currency::new("USD"), Decimal::new(250, 2));
        assert_eq!(t.get("USD"), Decimal::new(4, 0));
        assert_eq!(t.get("EUR"), Decimal::new(1, 0));
        assert_eq!(t.0.len(), 2);
    }
}
