//! The rules engine: rules compiled once, records streamed through once, subjects evaluated at
//! the end.
//!
//! Rules that select the same subjects (resources, or cost series with the same `by`) share one
//! subject table, so a record's subject key is computed and looked up once per table however many
//! rules there are; rules with the same `records` condition also share their per-subject
//! accumulators. Per subject and day the engine keeps EffectiveCost and BilledCost (exact), and a
//! bit per field/tag condition of the filters: "some record of this subject matched it". Cost,
//! change and utilization conditions are evaluated at the end, over windows that end where the
//! data ends (the latest ChargePeriodEnd seen), so a run over the same data always gives the same
//! findings.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;

use super::config::{Action, Basis, Condition, FieldRef, Op, Rule, RulesFile, Selector, Value};
use crate::flow::messages::{Finding, FindingKind, Severity};
use crate::focus::{FocusColumn, FocusRecord, TagValue};
use crate::money::Currency;
use crate::optimize::metrics::Metrics;
use crate::text::Text;

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A record-level condition, compiled.
#[derive(Clone, Debug, PartialEq)]
enum RecordCond {
    And(Vec<RecordCond>),
    Or(Vec<RecordCond>),
    Not(Box<RecordCond>),
    Leaf(Leaf),
}

#[derive(Clone, Debug, PartialEq)]
enum Leaf {
    Field {
        field: FieldRef,
        op: Op,
        values: Vec<Value>,
    },
    TagPresent {
        key: String,
        present: bool,
    },
}

fn numeric(col: FocusColumn, r: &FocusRecord) -> Option<Option<Decimal>> {
    Some(match col {
        FocusColumn::BilledCost => Some(r.billed_cost),
        FocusColumn::EffectiveCost => Some(r.effective_cost),
        FocusColumn::ListCost => Some(r.list_cost),
        FocusColumn::ContractedCost => Some(r.contracted_cost),
        FocusColumn::ListUnitPrice => r.list_unit_price,
        FocusColumn::ContractedUnitPrice => r.contracted_unit_price,
        FocusColumn::ConsumedQuantity => r.consumed_quantity,
        FocusColumn::PricingQuantity => r.pricing_quantity,
        FocusColumn::CommitmentDiscountQuantity => r.commitment_discount_quantity,
        FocusColumn::PricingCurrencyEffectiveCost => r.pricing_currency_effective_cost,
        FocusColumn::PricingCurrencyListUnitPrice => r.pricing_currency_list_unit_price,
        FocusColumn::PricingCurrencyContractedUnitPrice => r.pricing_currency_contracted_unit_price,
        _ => return None,
    })
}

fn tag_text(v: &TagValue) -> Cow<'_, str> {
    match v {
        TagValue::Str(s) => Cow::Borrowed(s.as_str()),
        other => Cow::Owned(other.to_text().to_string()),
    }
}

fn text_of<'a>(r: &'a FocusRecord, f: &FieldRef) -> Option<Cow<'a, str>> {
    match f {
        FieldRef::Column(c) => r.cell_ref(*c),
        FieldRef::Extension(x) => r.extension(x).map(Cow::Borrowed),
        FieldRef::Tag(k) => r.tags.get(k).map(tag_text),
    }
}

/// Compares a cell with the operands. A null cell equals nothing (so `ne` and `not_in` hold).
fn compare(op: Op, text: Option<&str>, number: Option<Decimal>, values: &[Value]) -> bool {
    let num_eq = |v: &Value| match (number, v.number) {
        (Some(a), Some(b)) => a == b,
        _ => text == Some(v.text.as_str()),
    };
    match op {
        Op::Eq => num_eq(&values[0]),
        Op::Ne => !num_eq(&values[0]),
        Op::In => values.iter().any(num_eq),
        Op::NotIn => !values.iter().any(num_eq),
        Op::Gt | Op::Ge | Op::Lt | Op::Le => {
            let a = number.or_else(|| text.and_then(crate::money::parse_decimal));
            match (a, values[0].number) {
                (Some(a), Some(b)) => op.compare(a, b),
                _ => false,
            }
        }
        Op::Contains => text.is_some_and(|t| t.contains(values[0].text.as_str())),
        Op::StartsWith => text.is_some_and(|t| t.starts_with(values[0].text.as_str())),
        Op::EndsWith => text.is_some_and(|t| t.ends_with(values[0].text.as_str())),
    }
}

impl Leaf {
    fn eval(&self, r: &FocusRecord) -> bool {
        match self {
            Leaf::TagPresent { key, present } => r.tags.get(key).is_some() == *present,
            Leaf::Field { field, op, values } => {
                if let FieldRef::Column(c) = field {
                    if let Some(n) = numeric(*c, r) {
                        // Text is needed only to compare with a value that is not a number.
                        let needs_text =
                            !op.is_ordering() && values.iter().any(|v| v.number.is_none());
                        let t = if needs_text {
                            n.map(|d| d.to_string())
                        } else {
                            None
                        };
                        return compare(*op, t.as_deref(), n, values);
                    }
                }
                let t = text_of(r, field);
                compare(*op, t.as_deref(), None, values)
            }
        }
    }
}

impl RecordCond {
    fn compile(c: &Condition) -> Option<RecordCond> {
        Some(match c {
            Condition::And(v) => {
                RecordCond::And(v.iter().map(Self::compile).collect::<Option<_>>()?)
            }
            Condition::Or(v) => RecordCond::Or(v.iter().map(Self::compile).collect::<Option<_>>()?),
            Condition::Not(c) => RecordCond::Not(Box::new(Self::compile(c)?)),
            other => RecordCond::Leaf(leaf(other)?),
        })
    }

    fn eval(&self, r: &FocusRecord) -> bool {
        match self {
            RecordCond::And(v) => v.iter().all(|c| c.eval(r)),
            RecordCond::Or(v) => v.iter().any(|c| c.eval(r)),
            RecordCond::Not(c) => !c.eval(r),
            RecordCond::Leaf(l) => l.eval(r),
        }
    }
}

fn leaf(c: &Condition) -> Option<Leaf> {
    match c {
        Condition::Field { field, op, values } => Some(Leaf::Field {
            field: field.clone(),
            op: *op,
            values: values.clone(),
        }),
        Condition::Tag {
            key,
            present: Some(p),
            ..
        } => Some(Leaf::TagPresent {
            key: key.clone(),
            present: *p,
        }),
        Condition::Tag {
            key,
            present: None,
            op: Some(op),
            values,
        } => Some(Leaf::Field {
            field: FieldRef::Tag(key.clone()),
            op: *op,
            values: values.clone(),
        }),
        _ => None,
    }
}

/// A subject-level condition, compiled: field/tag leaves became bit numbers.
#[derive(Clone, Debug)]
enum SubjectCond {
    And(Vec<SubjectCond>),
    Or(Vec<SubjectCond>),
    Not(Box<SubjectCond>),
    Bit(usize),
    Cost {
        op: Op,
        value: Decimal,
        days: Option<u32>,
        basis: Basis,
    },
    Change {
        op: Op,
        value: Decimal,
        days: u32,
        basis: Basis,
    },
    Utilization {
        metric: String,
        stat: crate::optimize::metrics::Stat,
        op: Op,
        value: f64,
        days: u32,
    },
}

fn compile_filter(c: &Condition, leaves: &mut Vec<Leaf>) -> SubjectCond {
    match c {
        Condition::And(v) => {
            SubjectCond::And(v.iter().map(|c| compile_filter(c, leaves)).collect())
        }
        Condition::Or(v) => SubjectCond::Or(v.iter().map(|c| compile_filter(c, leaves)).collect()),
        Condition::Not(c) => SubjectCond::Not(Box::new(compile_filter(c, leaves))),
        Condition::Cost {
            op,
            value,
            window,
            basis,
        } => SubjectCond::Cost {
            op: *op,
            value: *value,
            days: window.map(|w| w.days()),
            basis: *basis,
        },
        Condition::Change {
            op,
            value,
            window,
            basis,
        } => SubjectCond::Change {
            op: *op,
            value: *value,
            days: window.days(),
            basis: *basis,
        },
        Condition::Utilization {
            metric,
            stat,
            op,
            value,
            window,
        } => SubjectCond::Utilization {
            metric: metric.clone(),
            stat: *stat,
            op: *op,
            value: value.to_f64().unwrap_or(f64::NAN),
            days: window.days(),
        },
        other => {
            let l = leaf(other).unwrap_or(Leaf::TagPresent {
                key: String::new(),
                present: false,
            });
            match leaves.iter().position(|x| *x == l) {
                Some(i) => SubjectCond::Bit(i),
                None => {
                    leaves.push(l);
                    SubjectCond::Bit(leaves.len() - 1)
                }
            }
        }
    }
}

/// Marks, for every leaf a condition uses, the group bit.
fn mark_leaves(c: &SubjectCond, leaf_groups: &mut [u64], bit: u64) {
    match c {
        SubjectCond::And(v) | SubjectCond::Or(v) => {
            v.iter().for_each(|c| mark_leaves(c, leaf_groups, bit))
        }
        SubjectCond::Not(c) => mark_leaves(c, leaf_groups, bit),
        SubjectCond::Bit(i) => leaf_groups[*i] |= bit,
        _ => {}
    }
}

/// What a subject is keyed by: currency and the grouping values.
#[derive(Clone, Debug, PartialEq, Eq)]
struct SubjectKey {
    currency: Currency,
    values: Vec<Option<Text>>,
}

struct Table {
    select: Selector,
    by: Vec<FieldRef>,
    /// Hash of (currency, values) → subjects with that hash (collisions compared in full).
    index: FastMap<u64, Vec<u32>>,
    hasher: foldhash::fast::FixedState,
    keys: Vec<SubjectKey>,
    /// At most 64 groups (one bit each in `row_groups`); more make another table.
    groups: Vec<Group>,
    /// The field/tag conditions of all the table's filters, each once.
    leaves: Vec<Leaf>,
    /// For each leaf, the groups whose filters use it (a leaf is evaluated only for records
    /// that count for one of them).
    leaf_groups: Vec<u64>,
    words: usize,
    /// Per row: subject, index into the engine's costs, groups whose `records` matched.
    row_subject: Vec<u32>,
    row_cost: Vec<u32>,
    row_groups: Vec<u64>,
    /// `words` per row: the leaves the record satisfied.
    row_leaves: Vec<u64>,
}

impl Table {
    /// The subject of a record, created on first sight. The key's values are borrowed from the
    /// record and hashed in place; a key is allocated only for a new subject.
    fn lookup(&mut self, r: &FocusRecord) -> Option<u32> {
        use std::hash::{BuildHasher, Hash, Hasher};
        let mut h = self.hasher.build_hasher();
        r.billing_currency.as_str().hash(&mut h);
        let mut vals: Vec<Option<Cow<'_, str>>> = Vec::new();
        let single;
        match self.select {
            Selector::Resources => {
                let id = r.resource_id.as_ref()?;
                id.as_str().hash(&mut h);
                single = Some(id);
            }
            Selector::CostSeries => {
                single = None;
                vals.reserve(self.by.len());
                for f in &self.by {
                    let v = text_of(r, f);
                    v.as_deref().hash(&mut h);
                    vals.push(v);
                }
            }
        }
        let hash = h.finish();
        let same = |k: &SubjectKey| -> bool {
            k.currency == r.billing_currency
                && match single {
                    Some(id) => k.values[0].as_ref() == Some(id),
                    None => k
                        .values
                        .iter()
                        .zip(&vals)
                        .all(|(a, b)| a.as_deref() == b.as_deref()),
                }
        };
        if let Some(cands) = self.index.get(&hash) {
            if let Some(i) = cands.iter().find(|i| same(&self.keys[**i as usize])) {
                return Some(*i);
            }
        }
        let values = match single {
            Some(id) => vec![Some(id.clone())],
            None => vals.iter().map(|v| v.as_deref().map(Text::from)).collect(),
        };
        let i = self.keys.len() as u32;
        self.keys.push(SubjectKey {
            currency: r.billing_currency.clone(),
            values,
        });
        self.index.entry(hash).or_default().push(i);
        Some(i)
    }
}

#[derive(Default)]
struct Subject {
    /// (day since the epoch, EffectiveCost, BilledCost).
    days: Vec<(i64, Decimal, Decimal)>,
    mask: Vec<u64>,
}

impl Subject {
    fn sum(&self, from: i64, to: i64, basis: Basis) -> Decimal {
        let lo = self.days.partition_point(|d| d.0 < from);
        let hi = self.days.partition_point(|d| d.0 < to);
        self.days[lo..hi.max(lo)]
            .iter()
            .map(|d| match basis {
                Basis::Effective => d.1,
                Basis::Billed => d.2,
            })
            .sum()
    }
}

struct Group {
    records: Option<RecordCond>,
    rules: Vec<(usize, SubjectCond)>,
}

/// A rule that matched a subject.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuleMatch {
    /// The rule.
    pub rule: String,
    /// The subject: `resource=...` or `ServiceName=..., RegionId=...` (`total` for an ungrouped
    /// series).
    pub subject: String,
    /// The subject's grouping values by name.
    pub dimensions: BTreeMap<String, String>,
    /// Currency.
    pub currency: Currency,
    /// Dollars at stake: the subject's cost over the rule's window.
    pub amount: Decimal,
    /// The window of `amount`, in days.
    pub window_days: u32,
    /// Severity (from the `finding` action; warning when absent).
    pub severity: Severity,
    /// Channels to notify.
    pub channels: Vec<String>,
    /// Review flags.
    pub flags: Vec<String>,
    /// Last day of data (the windows end there).
    pub as_of: chrono::NaiveDate,
}

impl RuleMatch {
    /// The finding; its id names the rule, the subject and the data's last day.
    pub fn finding(&self, now: DateTime<Utc>) -> Finding {
        let mut scope = self.dimensions.clone();
        scope.insert("rule".to_string(), self.rule.clone());
        Finding {
            id: format!(
                "rule:{}:{}:{}:{}",
                self.rule,
                self.subject,
                self.currency,
                self.as_of.format("%Y-%m-%d")
            ),
            kind: FindingKind::Rule,
            severity: self.severity,
            title: format!(
                "Rule {}: {} ({} {} over {} days)",
                self.rule,
                self.subject,
                self.amount.round_dp(2),
                self.currency,
                self.window_days
            ),
            summary: format!(
                "{} matched rule {}; its cost over the {} days to {} is {} {}.{}",
                self.subject,
                self.rule,
                self.window_days,
                self.as_of,
                self.amount.round_dp(2),
                self.currency,
                if self.flags.is_empty() {
                    String::new()
                } else {
                    format!(" Flagged for: {}.", self.flags.join(", "))
                }
            ),
            scope,
            amount: Some(self.amount),
            currency: Some(self.currency.clone()),
            found_at: now,
            detail: serde_json::to_value(self).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// The compiled rules with their accumulated state.
pub struct Engine {
    rules: Vec<Rule>,
    tables: Vec<Table>,
    /// (day, EffectiveCost, BilledCost) of every record some table kept.
    costs: Vec<(i64, Decimal, Decimal)>,
    end: Option<DateTime<Utc>>,
    records: u64,
}

fn day(t: &DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(86_400)
}

impl Engine {
    /// Compiles a rules file.
    pub fn new(file: &RulesFile) -> Engine {
        let mut tables: Vec<Table> = Vec::new();
        for (ri, rule) in file.rules.iter().enumerate() {
            let records = rule.records.as_ref().and_then(RecordCond::compile);
            let fits = |t: &Table| {
                t.select == rule.select
                    && t.by == rule.by
                    && (t.groups.len() < 64 || t.groups.iter().any(|g| g.records == records))
            };
            let ti = match tables.iter().position(fits) {
                Some(i) => i,
                None => {
                    tables.push(Table {
                        select: rule.select,
                        by: rule.by.clone(),
                        index: FastMap::default(),
                        hasher: foldhash::fast::FixedState::default(),
                        keys: Vec::new(),
                        groups: Vec::new(),
                        leaves: Vec::new(),
                        leaf_groups: Vec::new(),
                        words: 0,
                        row_subject: Vec::new(),
                        row_cost: Vec::new(),
                        row_groups: Vec::new(),
                        row_leaves: Vec::new(),
                    });
                    tables.len() - 1
                }
            };
            let table = &mut tables[ti];
            let gi = match table.groups.iter().position(|g| g.records == records) {
                Some(i) => i,
                None => {
                    table.groups.push(Group {
                        records,
                        rules: Vec::new(),
                    });
                    table.groups.len() - 1
                }
            };
            let before = table.leaves.len();
            let cond = compile_filter(&rule.filter, &mut table.leaves);
            table.leaf_groups.resize(table.leaves.len(), 0);
            mark_leaves(&cond, &mut table.leaf_groups, 1u64 << gi);
            debug_assert!(table.leaves.len() >= before);
            table.words = table.leaves.len().div_ceil(64);
            table.groups[gi].rules.push((ri, cond));
        }
        Engine {
            rules: file.rules.clone(),
            tables,
            costs: Vec::new(),
            end: None,
            records: 0,
        }
    }

    /// True when some rule needs the metrics file.
    pub fn needs_metrics(&self) -> bool {
        fn uses(c: &Condition) -> bool {
            match c {
                Condition::And(v) | Condition::Or(v) => v.iter().any(uses),
                Condition::Not(c) => uses(c),
                Condition::Utilization { .. } => true,
                _ => false,
            }
        }
        self.rules.iter().any(|r| uses(&r.filter))
    }

    /// Records seen.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Feeds one record.
    pub fn add(&mut self, r: &FocusRecord) {
        self.records += 1;
        self.end = Some(
            self.end
                .map_or(r.charge_period_end, |e| e.max(r.charge_period_end)),
        );
        let cost = self.costs.len() as u32;
        let mut kept = false;
        for table in &mut self.tables {
            let mut groups = 0u64;
            for (gi, g) in table.groups.iter().enumerate() {
                if g.records.as_ref().is_none_or(|c| c.eval(r)) {
                    groups |= 1u64 << gi;
                }
            }
            if groups == 0 {
                continue;
            }
            let Some(s) = table.lookup(r) else { continue };
            kept = true;
            table.row_subject.push(s);
            table.row_cost.push(cost);
            table.row_groups.push(groups);
            let at = table.row_leaves.len();
            table.row_leaves.resize(at + table.words, 0);
            for (bit, leaf) in table.leaves.iter().enumerate() {
                if table.leaf_groups[bit] & groups != 0 && leaf.eval(r) {
                    table.row_leaves[at + bit / 64] |= 1u64 << (bit % 64);
                }
            }
        }
        if kept {
            self.costs
                .push((day(&r.charge_period_start), r.effective_cost, r.billed_cost));
        }
    }

    /// Evaluates every rule over every subject. `metrics` feeds utilization conditions (which
    /// never hold without it).
    ///
    /// Each table's rows are sorted by (subject, day) once, so every subject's rows are read
    /// together and in day order: per group, the subject's daily sums and the leaves its records
    /// met are built from the rows whose `records` condition matched.
    pub fn evaluate(&self, metrics: Option<&Metrics>) -> Vec<RuleMatch> {
        let Some(end) = self.end else {
            return Vec::new();
        };
        // Exclusive end day: a window of n days is [end_day - n, end_day).
        let end_day = (end.timestamp() + 86_399).div_euclid(86_400);
        let as_of = (end - Duration::seconds(1)).date_naive();
        let min_day = self.costs.iter().map(|c| c.0).min().unwrap_or(0);
        let mut out = Vec::new();
        for table in &self.tables {
            let mut order: Vec<(u64, u32)> = (0..table.row_subject.len())
                .map(|i| {
                    let day = (self.costs[table.row_cost[i] as usize].0 - min_day) as u64;
                    (
                        (u64::from(table.row_subject[i]) << 32) | day.min(u64::from(u32::MAX)),
                        i as u32,
                    )
                })
                .collect();
            order.sort_unstable();
            // Gathered once in sorted order, so the per-group passes below read memory
            // sequentially instead of jumping into `costs` for every (row, group).
            let rows: Vec<(i64, Decimal, Decimal, u64)> = order
                .iter()
                .map(|&(_, row)| {
                    let (d, eff, billed) = self.costs[table.row_cost[row as usize] as usize];
                    (d, eff, billed, table.row_groups[row as usize])
                })
                .collect();
            let mut leaves: Vec<u64> = Vec::with_capacity(order.len() * table.words);
            for &(_, row) in &order {
                let at = row as usize * table.words;
                leaves.extend_from_slice(&table.row_leaves[at..at + table.words]);
            }
            // One buffer reused for every (subject, group).
            let mut sub = Subject {
                days: Vec::new(),
                mask: vec![0; table.words],
            };
            let mut start = 0;
            while start < order.len() {
                let subject = (order[start].0 >> 32) as u32;
                let mut stop = start;
                while stop < order.len() && (order[stop].0 >> 32) as u32 == subject {
                    stop += 1;
                }
                let key = &table.keys[subject as usize];
                for (gi, g) in table.groups.iter().enumerate() {
                    let bit = 1u64 << gi;
                    sub.days.clear();
                    sub.mask.iter_mut().for_each(|w| *w = 0);
                    for (i, &(d, eff, billed, groups)) in rows[start..stop].iter().enumerate() {
                        if groups & bit == 0 {
                            continue;
                        }
                        let row = start + i;
                        match sub.days.last_mut() {
                            Some(last) if last.0 == d => {
                                last.1 += eff;
                                last.2 += billed;
                            }
                            _ => sub.days.push((d, eff, billed)),
                        }
                        for w in 0..table.words {
                            sub.mask[w] |= leaves[row * table.words + w];
                        }
                    }
                    if sub.days.is_empty() {
                        continue;
                    }
                    for (ri, cond) in &g.rules {
                        if eval(cond, &sub, key, end, end_day, metrics) {
                            let rule = &self.rules[*ri];
                            out.push(self.matched(rule, table, key, &sub, end_day, as_of));
                        }
                    }
                }
                start = stop;
            }
        }
        out.sort_by(|a, b| {
            a.rule
                .cmp(&b.rule)
                .then_with(|| b.amount.cmp(&a.amount))
                .then_with(|| a.subject.cmp(&b.subject))
        });
        out
    }

    fn matched(
        &self,
        rule: &Rule,
        table: &Table,
        key: &SubjectKey,
        sub: &Subject,
        end_day: i64,
        as_of: chrono::NaiveDate,
    ) -> RuleMatch {
        let mut dimensions = BTreeMap::new();
        let subject = match table.select {
            Selector::Resources => {
                let id = key.values[0].as_deref().unwrap_or("").to_string();
                dimensions.insert("resource".to_string(), id.clone());
                format!("resource={id}")
            }
            Selector::CostSeries if table.by.is_empty() => "total".to_string(),
            Selector::CostSeries => table
                .by
                .iter()
                .zip(&key.values)
                .map(|(f, v)| {
                    let v = v.as_deref().unwrap_or("(none)");
                    dimensions.insert(f.name(), v.to_string());
                    format!("{}={v}", f.name())
                })
                .collect::<Vec<_>>()
                .join(", "),
        };
        let days = i64::from(rule.window.days());
        let mut severity = Severity::Warning;
        let (mut channels, mut flags) = (Vec::new(), Vec::new());
        for a in &rule.actions {
            match a {
                Action::Notify(c) => channels.push(c.clone()),
                Action::Flag(f) => flags.push(f.clone()),
                Action::Finding(s) => severity = *s,
            }
        }
        RuleMatch {
            rule: rule.name.clone(),
            subject,
            dimensions,
            currency: key.currency.clone(),
            amount: sub.sum(end_day - days, end_day, rule.basis),
            window_days: rule.window.days(),
            severity,
            channels,
            flags,
            as_of,
        }
    }
}

fn eval(
    c: &SubjectCond,
    sub: &Subject,
    key: &SubjectKey,
    end: DateTime<Utc>,
    end_day: i64,
    metrics: Option<&Metrics>,
) -> bool {
    match c {
        SubjectCond::And(v) => v.iter().all(|c| eval(c, sub, key, end, end_day, metrics)),
        SubjectCond::Or(v) => v.iter().any(|c| eval(c, sub, key, end, end_day, metrics)),
        SubjectCond::Not(c) => !eval(c, sub, key, end, end_day, metrics),
        SubjectCond::Bit(i) => sub.mask[i / 64] & (1u64 << (i % 64)) != 0,
        SubjectCond::Cost {
            op,
            value,
            days,
            basis,
        } => {
            let from = days.map_or(i64::MIN, |d| end_day - i64::from(d));
            op.compare(sub.sum(from, end_day, *basis), *value)
        }
        SubjectCond::Change {
            op,
            value,
            days,
            basis,
        } => {
            let n = i64::from(*days);
            let cur = sub.sum(end_day - n, end_day, *basis);
            let prev = sub.sum(end_day - 2 * n, end_day - n, *basis);
            // No spend before: the change is undefined, not infinite.
            if prev <= Decimal::ZERO {
                return false;
            }
            op.compare((cur - prev) * Decimal::ONE_HUNDRED / prev, *value)
        }
        SubjectCond::Utilization {
            metric,
            stat,
            op,
            value,
            days,
        } => {
            let (Some(m), Some(Some(id))) = (metrics, key.values.first()) else {
                return false;
            };
            m.stat(id, metric, *stat, end, Duration::days(i64::from(*days)))
                .is_some_and(|o| op.compare(o.value, *value))
        }
    }
}
