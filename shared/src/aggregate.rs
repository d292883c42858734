//! Daily aggregates: what the stores keep, and the summaries computed from them.
//!
//! A record counts on the UTC day its charge period starts. Monthly fees, taxes and commitment fees
//! span the whole month and so land on its first day: the same choice AWS Cost Explorer makes, and
//! the only one that keeps every amount exact (spreading a fee over days would need rounding).
//!
//! The replacement unit is a [`Slice`]: one provider, one billing account, one billing period.
//! Loading a file replaces every slice it contains, which is what makes a re-delivered (restated)
//! month replace the old numbers instead of adding to them.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::focus::FocusRecord;
use crate::money::{Currency, CurrencyTotals};
use crate::text::Text;
use crate::time::period_key;

/// The replacement unit of a load.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Slice {
    /// ProviderName.
    pub provider: Text,
    /// BillingAccountId.
    pub billing_account_id: Text,
    /// Billing period as `YYYY-MM` (of BillingPeriodStart, UTC).
    pub billing_period: String,
}

/// The dimensions of one daily aggregate row.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DailyKey {
    /// UTC day of ChargePeriodStart.
    pub day: NaiveDate,
    /// SubAccountId (empty when null).
    pub sub_account_id: Text,
    /// SubAccountName (empty when null).
    pub sub_account_name: Text,
    /// ServiceName.
    pub service_name: Text,
    /// ServiceCategory.
    pub service_category: Text,
    /// RegionId (empty when null).
    pub region_id: Text,
    /// ChargeCategory.
    pub charge_category: Text,
    /// BillingCurrency.
    pub currency: Currency,
}

/// Summed metrics of an aggregate row.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sums {
    /// Σ BilledCost.
    pub billed: Decimal,
    /// Σ EffectiveCost.
    pub effective: Decimal,
    /// Σ ListCost.
    pub list: Decimal,
    /// Σ ContractedCost.
    pub contracted: Decimal,
    /// Records folded in.
    pub rows: u64,
}

impl Sums {
    fn add(&mut self, r: &FocusRecord) {
        self.billed += r.billed_cost;
        self.effective += r.effective_cost;
        self.list += r.list_cost;
        self.contracted += r.contracted_cost;
        self.rows += 1;
    }

    /// Adds another row's sums.
    pub fn merge(&mut self, o: &Sums) {
        self.billed += o.billed;
        self.effective += o.effective;
        self.list += o.list;
        self.contracted += o.contracted;
        self.rows += o.rows;
    }

    /// The metric a [`CostBasis`] selects.
    pub fn basis(&self, b: CostBasis) -> Decimal {
        match b {
            CostBasis::Billed => self.billed,
            CostBasis::Effective => self.effective,
        }
    }
}

/// Dimensions of a per-tag daily aggregate (one row per tag key and value).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TagKey {
    /// UTC day of ChargePeriodStart.
    pub day: NaiveDate,
    /// Tag key.
    pub key: Text,
    /// Tag value as text (`true` for valueless tags).
    pub value: Text,
    /// BillingCurrency.
    pub currency: Currency,
}

/// Everything one slice holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SliceData {
    /// BillingAccountName, when the source has one.
    pub billing_account_name: Option<Text>,
    /// Daily aggregates.
    pub daily: HashMap<DailyKey, Sums, foldhash::fast::RandomState>,
    /// Per-tag daily aggregates.
    pub tags: HashMap<TagKey, Sums, foldhash::fast::RandomState>,
}

/// Aggregates of one load, by slice.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadBatch {
    /// Slice data.
    pub slices: BTreeMap<Slice, SliceData>,
    /// Records folded in.
    pub records: u64,
    /// Σ BilledCost per currency over the whole batch.
    pub billed: CurrencyTotals,
    /// Σ EffectiveCost per currency over the whole batch.
    pub effective: CurrencyTotals,
    /// The slice of the previous record and its period start (a cache for [`LoadBatch::add`]).
    last: Option<(Slice, crate::time::Timestamp)>,
}

impl LoadBatch {
    /// Folds one record in.
    pub fn add(&mut self, r: &FocusRecord) {
        // Records arrive in long runs of one slice: reuse the last slice key instead of formatting
        // the period and comparing strings for every record.
        let same = matches!(&self.last, Some((s, start)) if *start == r.billing_period_start
            && s.provider == r.provider_name && s.billing_account_id == r.billing_account_id);
        if !same {
            let slice = Slice {
                provider: r.provider_name.clone(),
                billing_account_id: r.billing_account_id.clone(),
                billing_period: period_key(&r.billing_period_start),
            };
            self.last = Some((slice, r.billing_period_start));
        }
        let Some((slice, _)) = &self.last else { return };
        let data = match self.slices.get_mut(slice) {
            Some(d) => d,
            None => self.slices.entry(slice.clone()).or_default(),
        };
        let day = r.charge_period_start.date_naive();
        if data.billing_account_name.is_none() {
            data.billing_account_name = r.billing_account_name.clone();
        }
        let key = DailyKey {
            day,
            sub_account_id: r.sub_account_id.clone().unwrap_or_default(),
            sub_account_name: r.sub_account_name.clone().unwrap_or_default(),
            service_name: r.service_name.clone(),
            service_category: Text::new_static(r.service_category.as_str()),
            region_id: r.region_id.clone().unwrap_or_default(),
            charge_category: Text::new_static(r.charge_category.as_str()),
            currency: r.billing_currency.clone(),
        };
        data.daily.entry(key).or_default().add(r);
        for (k, v) in &r.tags.0 {
            let tk = TagKey {
                day,
                key: k.clone(),
                value: v.to_text(),
                currency: r.billing_currency.clone(),
            };
            data.tags.entry(tk).or_default().add(r);
        }
        self.records += 1;
        self.billed.add(&r.billing_currency, r.billed_cost);
        self.effective.add(&r.billing_currency, r.effective_cost);
    }

    /// Folds in a batch built from records that come after this batch's in the input, so the
    /// result equals one batch fed all records in order (sums are exact; a slice's account name
    /// is the first one seen).
    pub fn merge(&mut self, later: LoadBatch) {
        for (slice, data) in later.slices {
            let mine = self.slices.entry(slice).or_default();
            if mine.billing_account_name.is_none() {
                mine.billing_account_name = data.billing_account_name;
            }
            for (k, s) in data.daily {
                match mine.daily.get_mut(&k) {
                    Some(m) => m.merge(&s),
                    None => {
                        mine.daily.insert(k, s);
                    }
                }
            }
            for (k, s) in data.tags {
                match mine.tags.get_mut(&k) {
                    Some(m) => m.merge(&s),
                    None => {
                        mine.tags.insert(k, s);
                    }
                }
            }
        }
        self.records += later.records;
        for (c, v) in later.billed.0 {
            self.billed.add(&c, v);
        }
        for (c, v) in later.effective.0 {
            self.effective.add(&c, v);
        }
    }
}

impl LoadBatch {
    /// The batch as the rows a store would return for it (daily rows, then per-tag rows), in a
    /// stable order. Lets callers summarize a batch without a store.
    pub fn rows(&self) -> (Vec<DailyRow>, Vec<TagRow>) {
        let mut daily = Vec::new();
        let mut tags = Vec::new();
        for (slice, data) in &self.slices {
            for (key, sums) in &data.daily {
                daily.push(DailyRow {
                    slice: slice.clone(),
                    key: key.clone(),
                    sums: sums.clone(),
                });
            }
            for (key, sums) in &data.tags {
                tags.push(TagRow {
                    slice: slice.clone(),
                    key: key.clone(),
                    sums: sums.clone(),
                });
            }
        }
        daily.sort_by(|a, b| (&a.slice, &a.key).cmp(&(&b.slice, &b.key)));
        tags.sort_by(|a, b| (&a.slice, &a.key).cmp(&(&b.slice, &b.key)));
        (daily, tags)
    }
}

/// A [`LoadBatch`] in a form that serializes (its maps have struct keys, which JSON objects
/// cannot): how one part of a split delivery hands its aggregates to the part that loads them all.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedBatch {
    /// Daily rows.
    pub daily: Vec<DailyRow>,
    /// Per-tag rows.
    pub tags: Vec<TagRow>,
    /// BillingAccountName per slice, where known.
    pub account_names: Vec<(Slice, Text)>,
    /// Records folded in.
    pub records: u64,
    /// Σ BilledCost per currency.
    pub billed: CurrencyTotals,
    /// Σ EffectiveCost per currency.
    pub effective: CurrencyTotals,
}

impl LoadBatch {
    /// The batch as a [`StagedBatch`].
    pub fn to_staged(&self) -> StagedBatch {
        let (daily, tags) = self.rows();
        StagedBatch {
            daily,
            tags,
            account_names: self
                .slices
                .iter()
                .filter_map(|(s, d)| d.billing_account_name.clone().map(|n| (s.clone(), n)))
                .collect(),
            records: self.records,
            billed: self.billed.clone(),
            effective: self.effective.clone(),
        }
    }

    /// Adds a staged batch's rows and totals to this batch. Merging the staged parts of a
    /// delivery gives exactly the batch one run over all its files would have built.
    pub fn absorb(&mut self, staged: &StagedBatch) {
        for r in &staged.daily {
            self.slices
                .entry(r.slice.clone())
                .or_default()
                .daily
                .entry(r.key.clone())
                .or_default()
                .merge(&r.sums);
        }
        for r in &staged.tags {
            self.slices
                .entry(r.slice.clone())
                .or_default()
                .tags
                .entry(r.key.clone())
                .or_default()
                .merge(&r.sums);
        }
        for (s, n) in &staged.account_names {
            let d = self.slices.entry(s.clone()).or_default();
            if d.billing_account_name.is_none() {
                d.billing_account_name = Some(n.clone());
            }
        }
        self.records += staged.records;
        for (c, v) in &staged.billed.0 {
            self.billed.add(c, *v);
        }
        for (c, v) in &staged.effective.0 {
            self.effective.add(c, *v);
        }
    }
}

/// Which cost a summary or budget uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CostBasis {
    /// BilledCost: what the invoice says.
    Billed,
    /// EffectiveCost: amortized, commitment purchases spread over the usage they cover.
    Effective,
}

/// A daily aggregate row as a store returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyRow {
    /// The slice it belongs to.
    pub slice: Slice,
    /// Its dimensions.
    pub key: DailyKey,
    /// Its sums.
    pub sums: Sums,
}

/// A per-tag daily aggregate row as a store returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagRow {
    /// The slice it belongs to.
    pub slice: Slice,
    /// Its dimensions.
    pub key: TagKey,
    /// Its sums.
    pub sums: Sums,
}

/// What a summary groups by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupBy {
    /// ProviderName.
    Provider,
    /// Billing account and sub account.
    Account,
    /// ServiceName.
    Service,
    /// RegionId.
    Region,
    /// ChargeCategory.
    ChargeCategory,
    /// Values of one tag key; spend without the tag shows as `(untagged)`.
    Tag(String),
}

impl GroupBy {
    /// Parses `provider|account|service|region|charge-category|tag:KEY`.
    pub fn parse(s: &str) -> Option<GroupBy> {
        match s {
            "provider" => Some(GroupBy::Provider),
            "account" => Some(GroupBy::Account),
            "service" => Some(GroupBy::Service),
            "region" => Some(GroupBy::Region),
            "charge-category" => Some(GroupBy::ChargeCategory),
            _ => s
                .strip_prefix("tag:")
                .filter(|k| !k.is_empty())
                .map(|k| GroupBy::Tag(k.to_string())),
        }
    }
}

/// One line of a summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SummaryLine {
    /// The group's label.
    pub group: String,
    /// Currency.
    pub currency: Currency,
    /// The cost on the chosen basis.
    pub cost: Decimal,
    /// The other basis, for comparison.
    pub other: Decimal,
}

/// Label used for spend without the tag being grouped by.
pub const UNTAGGED: &str = "(untagged)";

/// The summary label of a daily row under `by` (`None` for a tag grouping, which needs tag rows).
pub fn row_label(by: &GroupBy, r: &DailyRow) -> Option<String> {
    let label = match by {
        GroupBy::Provider => r.slice.provider.to_string(),
        GroupBy::Account => {
            if r.key.sub_account_id.is_empty() {
                r.slice.billing_account_id.to_string()
            } else if r.key.sub_account_name.is_empty() {
                format!("{} / {}", r.slice.billing_account_id, r.key.sub_account_id)
            } else {
                format!(
                    "{} / {} ({})",
                    r.slice.billing_account_id, r.key.sub_account_id, r.key.sub_account_name
                )
            }
        }
        GroupBy::Service => r.key.service_name.to_string(),
        GroupBy::Region => {
            if r.key.region_id.is_empty() {
                "(no region)".to_string()
            } else {
                r.key.region_id.to_string()
            }
        }
        GroupBy::ChargeCategory => r.key.charge_category.to_string(),
        GroupBy::Tag(_) => return None,
    };
    Some(label)
}

/// Sums daily rows into summary lines, largest cost first. For tag grouping, `tag_rows` are the
/// per-tag rows of that key; the untagged line is the total minus the tagged spend, so every dollar
/// is in exactly one line.
pub fn summarize(
    rows: &[DailyRow],
    tag_rows: &[TagRow],
    by: &GroupBy,
    basis: CostBasis,
) -> Vec<SummaryLine> {
    let mut groups: BTreeMap<(String, Currency), Sums> = BTreeMap::new();
    match by {
        GroupBy::Tag(_) => {
            let mut total: BTreeMap<Currency, Sums> = BTreeMap::new();
            for r in rows {
                total
                    .entry(r.key.currency.clone())
                    .or_default()
                    .merge(&r.sums);
            }
            let mut tagged: BTreeMap<Currency, Sums> = BTreeMap::new();
            for t in tag_rows {
                groups
                    .entry((t.key.value.to_string(), t.key.currency.clone()))
                    .or_default()
                    .merge(&t.sums);
                tagged
                    .entry(t.key.currency.clone())
                    .or_default()
                    .merge(&t.sums);
            }
            for (cur, sums) in total {
                let t = tagged.get(&cur).cloned().unwrap_or_default();
                let rest = Sums {
                    billed: sums.billed - t.billed,
                    effective: sums.effective - t.effective,
                    list: sums.list - t.list,
                    contracted: sums.contracted - t.contracted,
                    rows: sums.rows.saturating_sub(t.rows),
                };
                if rest.billed != Decimal::ZERO || rest.effective != Decimal::ZERO {
                    groups
                        .entry((UNTAGGED.to_string(), cur))
                        .or_default()
                        .merge(&rest);
                }
            }
        }
        _ => {
            for r in rows {
                let label = row_label(by, r).unwrap_or_default();
                groups
                    .entry((label, r.key.currency.clone()))
                    .or_default()
                    .merge(&r.sums);
            }
        }
    }
    let other = match basis {
        CostBasis::Billed => CostBasis::Effective,
        CostBasis::Effective => CostBasis::Billed,
    };
    let mut lines: Vec<SummaryLine> = groups
        .into_iter()
        .map(|((group, currency), s)| SummaryLine {
            group,
            currency,
            cost: s.basis(basis),
            other: s.basis(other),
        })
        .collect();
    lines.sort_by(|a, b| {
        a.currency
            .cmp(&b.currency)
            .then(b.cost.cmp(&a.cost))
            .then(a.group.cmp(&b.group))
    });
    lines
}

/// Keeps the `n` largest lines of each currency and folds the rest into one `(N others)` line per
/// currency, so a shortened table still adds up to the same totals.
pub fn top_per_currency(lines: Vec<SummaryLine>, n: usize) -> Vec<SummaryLine> {
    let mut by_currency: BTreeMap<Currency, Vec<SummaryLine>> = BTreeMap::new();
    for l in lines {
        by_currency.entry(l.currency.clone()).or_default().push(l);
    }
    let mut out = Vec::new();
    for (currency, mut ls) in by_currency {
        ls.sort_by(|a, b| b.cost.cmp(&a.cost).then(a.group.cmp(&b.group)));
        if ls.len() > n {
            let rest: Vec<SummaryLine> = ls.split_off(n);
            out.extend(ls);
            out.push(SummaryLine {
                group: format!("({} others)", rest.len()),
                currency,
                cost: rest.iter().map(|l| l.cost).sum(),
                other: rest.iter().map(|l| l.other).sum(),
            });
        } else {
            out.extend(ls);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(group: &str, currency: &str, cost: i64) -> SummaryLine {
        SummaryLine {
            group: group.into(),
            currency: Currency::new(currency),
            cost: Decimal::from(cost),
            other: Decimal::from(cost * 2),
        }
    }

    #[test]
    fn top_lines_keep_the_totals() {
        let lines = vec![
            line("a", "USD", 5),
            line("b", "USD", 50),
            line("c", "USD", 1),
            line("d", "USD", 7),
            line("x", "EUR", 3),
        ];
        let top = top_per_currency(lines, 2);
        let groups: Vec<&str> = top.iter().map(|l| l.group.as_str()).collect();
        assert_eq!(groups, vec!["x", "b", "d", "(2 others)"]);
        let usd: Decimal = top
            .iter()
            .filter(|l| l.currency.as_str() == "USD")
            .map(|l| l.cost)
            .sum();
        assert_eq!(usd, Decimal::from(63));
        assert_eq!(top[3].other, Decimal::from(12));
    }

    #[test]
    fn group_by_parses_every_form() {
        assert_eq!(
            GroupBy::parse("tag:team"),
            Some(GroupBy::Tag("team".into()))
        );
        assert_eq!(GroupBy::parse("tag:"), None);
        assert_eq!(
            GroupBy::parse("charge-category"),
            Some(GroupBy::ChargeCategory)
        );
        assert_eq!(GroupBy::parse("nope"), None);
    }
}
