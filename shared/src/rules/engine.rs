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

/// A record-level condition, compiled: leaves are numbers into the engine's leaf list.
#[derive(Clone, Debug, PartialEq)]
enum RecordCond {
    And(Vec<RecordCond>),
    Or(Vec<RecordCond>),
    Not(Box<RecordCond>),
    Leaf(usize),
}

/// A field or tag condition on one record. Tags are referred to by their number in the engine's
/// tag key list: each key is looked up once per record, however many leaves use it.
#[derive(Clone, Debug, PartialEq)]
enum Leaf {
    Field {
        field: FieldRef,
        /// The tag key's number when `field` is a tag.
        tag: Option<usize>,
        op: Op,
        values: Vec<Value>,
    },
    TagPresent {
        tag: usize,
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

/// Where each of the engine's tag keys is in the current record's tags (an index into the
/// record's tag map), found once per record.
fn resolve_tags(keys: &[Text], r: &FocusRecord, out: &mut Vec<Option<usize>>) {
    out.clear();
    let tags = &r.tags.0;
    for k in keys {
        // A record has a handful of tags: comparing keys beats hashing the key.
        let at = if tags.len() <= 8 {
            tags.keys().position(|t| t == k)
        } else {
            tags.get_index_of(k.as_str())
        };
        out.push(at);
    }
}

impl Leaf {
    fn eval(&self, r: &FocusRecord, tag_at: &[Option<usize>]) -> bool {
        match self {
            Leaf::TagPresent { tag, present } => tag_at[*tag].is_some() == *present,
            Leaf::Field {
                tag: Some(t),
                op,
                values,
                ..
            } => {
                let v = tag_at[*t]
                    .and_then(|i| r.tags.0.get_index(i))
                    .map(|(_, v)| tag_text(v));
                compare(*op, v.as_deref(), None, values)
            }
            Leaf::Field {
                field, op, values, ..
            } => {
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

/// The leaves of all rules (each distinct leaf once) and the tag keys they use, with the
/// current record's results: a leaf shared by several rules, groups or tables is evaluated at most
/// once per record.
#[derive(Default)]
struct Leaves {
    list: Vec<Leaf>,
    tag_keys: Vec<Text>,
    /// Per record: where each tag key is, and which leaves are evaluated (`known`) and hold.
    tag_at: Vec<Option<usize>>,
    known: Vec<u64>,
    value: Vec<u64>,
}

impl Leaves {
    fn tag(&mut self, key: &str) -> usize {
        match self.tag_keys.iter().position(|k| k == key) {
            Some(i) => i,
            None => {
                self.tag_keys.push(Text::from(key));
                self.tag_keys.len() - 1
            }
        }
    }

    /// The number of a field/tag condition's leaf (`None` for other conditions).
    fn leaf(&mut self, c: &Condition) -> Option<usize> {
        let l = match c {
            Condition::Field { field, op, values } => {
                let tag = match field {
                    FieldRef::Tag(k) => Some(self.tag(k)),
                    _ => None,
                };
                Leaf::Field {
                    field: field.clone(),
                    tag,
                    op: *op,
                    values: values.clone(),
                }
            }
            Condition::Tag {
                key,
                present: Some(p),
                ..
            } => Leaf::TagPresent {
                tag: self.tag(key),
                present: *p,
            },
            Condition::Tag {
                key,
                present: None,
                op: Some(op),
                values,
            } => Leaf::Field {
                field: FieldRef::Tag(key.clone()),
                tag: Some(self.tag(key)),
                op: *op,
                values: values.clone(),
            },
            _ => return None,
        };
        Some(match self.list.iter().position(|x| *x == l) {
            Some(i) => i,
            None => {
                self.list.push(l);
                self.list.len() - 1
            }
        })
    }

    fn compile(&mut self, c: &Condition) -> Option<RecordCond> {
        Some(match c {
            Condition::And(v) => {
                RecordCond::And(v.iter().map(|c| self.compile(c)).collect::<Option<_>>()?)
            }
            Condition::Or(v) => {
                RecordCond::Or(v.iter().map(|c| self.compile(c)).collect::<Option<_>>()?)
            }
            Condition::Not(c) => RecordCond::Not(Box::new(self.compile(c)?)),
            other => RecordCond::Leaf(self.leaf(other)?),
        })
    }

    /// Forgets the previous record's results.
    fn start(&mut self, r: &FocusRecord) {
        let words = self.list.len().div_ceil(64);
        self.known.clear();
        self.known.resize(words, 0);
        self.value.clear();
        self.value.resize(words, 0);
        if !self.tag_keys.is_empty() {
            resolve_tags(&self.tag_keys, r, &mut self.tag_at);
        }
    }

    /// Whether leaf `i` holds for the current record `r`.
    fn test(&mut self, i: usize, r: &FocusRecord) -> bool {
        let (w, bit) = (i / 64, 1u64 << (i % 64));
        if self.known[w] & bit != 0 {
            return self.value[w] & bit != 0;
        }
        let v = self.list[i].eval(r, &self.tag_at);
        self.known[w] |= bit;
        if v {
            self.value[w] |= bit;
        }
        v
    }

    fn eval(&mut self, c: &RecordCond, r: &FocusRecord) -> bool {
        match c {
            RecordCond::And(v) => v.iter().all(|c| self.eval(c, r)),
            RecordCond::Or(v) => v.iter().any(|c| self.eval(c, r)),
            RecordCond::Not(c) => !self.eval(c, r),
            RecordCond::Leaf(i) => self.test(*i, r),
        }
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

/// Compiles a filter: its field/tag conditions become bits of the table (`table_leaves` holds
/// each bit's leaf number in `all`).
fn compile_filter(c: &Condition, all: &mut Leaves, table_leaves: &mut Vec<usize>) -> SubjectCond {
    match c {
        Condition::And(v) => SubjectCond::And(
            v.iter()
                .map(|c| compile_filter(c, all, table_leaves))
                .collect(),
        ),
        Condition::Or(v) => SubjectCond::Or(
            v.iter()
                .map(|c| compile_filter(c, all, table_leaves))
                .collect(),
        ),
        Condition::Not(c) => SubjectCond::Not(Box::new(compile_filter(c, all, table_leaves))),
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
            // Every other condition is a field or tag condition (the parser makes sure); an
            // impossible one compiles to "tag with an empty key absent", as before.
            let l = all.leaf(other).unwrap_or_else(|| {
                let tag = all.tag("");
                let l = Leaf::TagPresent {
                    tag,
                    present: false,
                };
                match all.list.iter().position(|x| *x == l) {
                    Some(i) => i,
                    None => {
                        all.list.push(l);
                        all.list.len() - 1
                    }
                }
            });
            match table_leaves.iter().position(|x| *x == l) {
                Some(i) => SubjectCond::Bit(i),
                None => {
                    table_leaves.push(l);
                    SubjectCond::Bit(table_leaves.len() - 1)
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
    /// For each `by` field that is a tag, its number in the engine's tag keys.
    by_tags: Vec<Option<usize>>,
    /// The encoded key (see [`Table::lookup`]) → subject. One probe and one comparison of
    /// contiguous bytes per record, however the key is made.
    index: FastMap<Box<[u8]>, u32>,
    keys: Vec<SubjectKey>,
    /// At most 64 groups (one bit each in `row_groups`); more make another table.
    groups: Vec<Group>,
    /// The field/tag conditions of all the table's filters, each once (numbers in the engine's
    /// leaf list).
    leaves: Vec<usize>,
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

/// Appends one part of a subject key: absent, or present with its length and bytes, so
/// different keys never encode the same.
fn push_part(key: &mut Vec<u8>, v: Option<&str>) {
    match v {
        None => key.push(0),
        Some(v) => {
            key.push(1);
            key.extend_from_slice(&(v.len() as u64).to_le_bytes());
            key.extend_from_slice(v.as_bytes());
        }
    }
}

impl Table {
    /// The value of `by` field `i` in a record (tags found through the resolved positions).
    fn by_value<'a>(
        &self,
        i: usize,
        r: &'a FocusRecord,
        tag_at: &[Option<usize>],
    ) -> Option<Cow<'a, str>> {
        match self.by_tags[i] {
            Some(t) => tag_at[t]
                .and_then(|at| r.tags.0.get_index(at))
                .map(|(_, v)| tag_text(v)),
            None => text_of(r, &self.by[i]),
        }
    }

    /// The subject of a record, created on first sight. The key (currency and grouping values)
    /// is encoded into `buf`, reused from record to record; a subject's key is allocated only
    /// when it is new.
    fn lookup(
        &mut self,
        r: &FocusRecord,
        tag_at: &[Option<usize>],
        buf: &mut Vec<u8>,
    ) -> Option<u32> {
        buf.clear();
        push_part(buf, Some(r.billing_currency.as_str()));
        match self.select {
            Selector::Resources => push_part(buf, Some(r.resource_id.as_ref()?.as_str())),
            Selector::CostSeries => {
                for i in 0..self.by.len() {
                    push_part(buf, self.by_value(i, r, tag_at).as_deref());
                }
            }
        }
        if let Some(&i) = self.index.get(buf.as_slice()) {
            return Some(i);
        }
        let values = match self.select {
            Selector::Resources => vec![r.resource_id.clone()],
            Selector::CostSeries => (0..self.by.len())
                .map(|i| self.by_value(i, r, tag_at).as_deref().map(Text::from))
                .collect(),
        };
        let i = self.keys.len() as u32;
        self.keys.push(SubjectKey {
            currency: r.billing_currency.clone(),
            values,
        });
        self.index.insert(Box::from(buf.as_slice()), i);
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
    leaves: Leaves,
    /// The current record's subject key, reused (see [`Table::lookup`]).
    key_buf: Vec<u8>,
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
        let mut all = Leaves::default();
        for (ri, rule) in file.rules.iter().enumerate() {
            let records = rule.records.as_ref().and_then(|c| all.compile(c));
            let fits = |t: &Table| {
                t.select == rule.select
                    && t.by == rule.by
                    && (t.groups.len() < 64 || t.groups.iter().any(|g| g.records == records))
            };
            let ti = match tables.iter().position(fits) {
                Some(i) => i,
                None => {
                    let by_tags = rule
                        .by
                        .iter()
                        .map(|f| match f {
                            FieldRef::Tag(k) => Some(all.tag(k)),
                            _ => None,
                        })
                        .collect();
                    tables.push(Table {
                        select: rule.select,
                        by: rule.by.clone(),
                        by_tags,
                        index: FastMap::default(),
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
            let cond = compile_filter(&rule.filter, &mut all, &mut table.leaves);
            table.leaf_groups.resize(table.leaves.len(), 0);
            mark_leaves(&cond, &mut table.leaf_groups, 1u64 << gi);
            debug_assert!(table.leaves.len() >= before);
            table.words = table.leaves.len().div_ceil(64);
            table.groups[gi].rules.push((ri, cond));
        }
        Engine {
            rules: file.rules.clone(),
            tables,
            leaves: all,
            key_buf: Vec::new(),
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
        let leaves = &mut self.leaves;
        leaves.start(r);
        for table in &mut self.tables {
            let mut groups = 0u64;
            for (gi, g) in table.groups.iter().enumerate() {
                if g.records.as_ref().is_none_or(|c| leaves.eval(c, r)) {
                    groups |= 1u64 << gi;
                }
            }
            if groups == 0 {
                continue;
            }
            let Some(s) = table.lookup(r, &leaves.tag_at, &mut self.key_buf) else {
                continue;
            };
            kept = true;
            table.row_subject.push(s);
            table.row_cost.push(cost);
            table.row_groups.push(groups);
            let at = table.row_leaves.len();
            table.row_leaves.resize(at + table.words, 0);
            for (bit, &leaf) in table.leaves.iter().enumerate() {
                if table.leaf_groups[bit] & groups != 0 && leaves.test(leaf, r) {
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
            // One buffer per group, reused for every subject. Each row is read once and added
            // to the groups whose `records` it matched (its set bits), not once per group.
            let words = table.words;
            let mut subs: Vec<Subject> = (0..table.groups.len())
                .map(|_| Subject {
                    days: Vec::new(),
                    mask: vec![0; words],
                })
                .collect();
            let mut start = 0;
            while start < order.len() {
                let subject = (order[start].0 >> 32) as u32;
                let mut stop = start;
                while stop < order.len() && (order[stop].0 >> 32) as u32 == subject {
                    stop += 1;
                }
                let key = &table.keys[subject as usize];
                let mut touched = 0u64;
                for row in start..stop {
                    let (d, eff, billed, groups) = rows[row];
                    let row_leaves = &leaves[row * words..(row + 1) * words];
                    let mut g = groups;
                    while g != 0 {
                        let gi = g.trailing_zeros() as usize;
                        g &= g - 1;
                        let sub = &mut subs[gi];
                        if touched & (1u64 << gi) == 0 {
                            touched |= 1u64 << gi;
                            sub.days.clear();
                            sub.mask.iter_mut().for_each(|w| *w = 0);
                        }
                        match sub.days.last_mut() {
                            Some(last) if last.0 == d => {
                                last.1 += eff;
                                last.2 += billed;
                            }
                            _ => sub.days.push((d, eff, billed)),
                        }
                        for (m, l) in sub.mask.iter_mut().zip(row_leaves) {
                            *m |= l;
                        }
                    }
                }
                for (gi, g) in table.groups.iter().enumerate() {
                    if touched & (1u64 << gi) == 0 {
                        continue;
                    }
                    let sub = &subs[gi];
                    for (ri, cond) in &g.rules {
                        if eval(cond, sub, key, end, end_day, metrics) {
                            let rule = &self.rules[*ri];
                            out.push(self.matched(rule, table, key, sub, end_day, as_of));
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
