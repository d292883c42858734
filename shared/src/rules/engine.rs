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
                        let t = n.map(|d| d.to_string());
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

/// What a subject is keyed by: currency and the grouping values.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct SubjectKey {
    currency: Currency,
    values: Vec<Option<Text>>,
}

struct Table {
    select: Selector,
    by: Vec<FieldRef>,
    index: FastMap<SubjectKey, u32>,
    keys: Vec<SubjectKey>,
    groups: Vec<Group>,
}

impl Table {
    fn key(&self, r: &FocusRecord) -> Option<SubjectKey> {
        let values = match self.select {
            Selector::Resources => vec![Some(r.resource_id.clone()?)],
            Selector::CostSeries => self
                .by
                .iter()
                .map(|f| text_of(r, f).map(|c| Text::from(c.as_ref())))
                .collect(),
        };
        Some(SubjectKey {
            currency: r.billing_currency.clone(),
            values,
        })
    }

    fn lookup(&mut self, r: &FocusRecord) -> Option<u32> {
        let key = self.key(r)?;
        if let Some(i) = self.index.get(&key) {
            return Some(*i);
        }
        let i = self.keys.len() as u32;
        self.keys.push(key.clone());
        self.index.insert(key, i);
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
    fn add(&mut self, day: i64, eff: Decimal, billed: Decimal) {
        // Records mostly arrive grouped by day: look at the latest day first.
        if let Some(last) = self.days.last_mut() {
            if last.0 == day {
                last.1 += eff;
                last.2 += billed;
                return;
            }
        }
        match self.days.iter_mut().rev().find(|d| d.0 == day) {
            Some(d) => {
                d.1 += eff;
                d.2 += billed;
            }
            None => self.days.push((day, eff, billed)),
        }
    }

    fn sum(&self, from: i64, to: i64, basis: Basis) -> Decimal {
        self.days
            .iter()
            .filter(|d| d.0 >= from && d.0 < to)
            .map(|d| match basis {
                Basis::Effective => d.1,
                Basis::Billed => d.2,
            })
            .sum()
    }
}

struct Group {
    records: Option<RecordCond>,
    leaves: Vec<Leaf>,
    words: usize,
    /// Table subject index → index into `subjects` (u32::MAX: none yet).
    local: Vec<u32>,
    subjects: Vec<(u32, Subject)>,
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
            let ti = match tables
                .iter()
                .position(|t| t.select == rule.select && t.by == rule.by)
            {
                Some(i) => i,
                None => {
                    tables.push(Table {
                        select: rule.select,
                        by: rule.by.clone(),
                        index: FastMap::default(),
                        keys: Vec::new(),
                        groups: Vec::new(),
                    });
                    tables.len() - 1
                }
            };
            let records = rule.records.as_ref().and_then(RecordCond::compile);
            let table = &mut tables[ti];
            let gi = match table.groups.iter().position(|g| g.records == records) {
                Some(i) => i,
                None => {
                    table.groups.push(Group {
                        records,
                        leaves: Vec::new(),
                        words: 0,
                        local: Vec::new(),
                        subjects: Vec::new(),
                        rules: Vec::new(),
                    });
                    table.groups.len() - 1
                }
            };
            let g = &mut table.groups[gi];
            let cond = compile_filter(&rule.filter, &mut g.leaves);
            g.words = g.leaves.len().div_ceil(64);
            g.rules.push((ri, cond));
        }
        Engine {
            rules: file.rules.clone(),
            tables,
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
        let d = day(&r.charge_period_start);
        for table in &mut self.tables {
            let mut sidx: Option<Option<u32>> = None;
            for gi in 0..table.groups.len() {
                if let Some(c) = &table.groups[gi].records {
                    if !c.eval(r) {
                        continue;
                    }
                }
                let s = match sidx {
                    Some(s) => s,
                    None => {
                        let s = table.lookup(r);
                        sidx = Some(s);
                        s
                    }
                };
                let Some(s) = s else { continue };
                let g = &mut table.groups[gi];
                let s = s as usize;
                if g.local.len() <= s {
                    g.local.resize(s + 1, u32::MAX);
                }
                if g.local[s] == u32::MAX {
                    g.local[s] = g.subjects.len() as u32;
                    g.subjects.push((
                        s as u32,
                        Subject {
                            days: Vec::new(),
                            mask: vec![0; g.words],
                        },
                    ));
                }
                let sub = &mut g.subjects[g.local[s] as usize].1;
                sub.add(d, r.effective_cost, r.billed_cost);
                for (bit, leaf) in g.leaves.iter().enumerate() {
                    let (w, b) = (bit / 64, 1u64 << (bit % 64));
                    if sub.mask[w] & b == 0 && leaf.eval(r) {
                        sub.mask[w] |= b;
                    }
                }
            }
        }
    }

    /// Evaluates every rule over every subject. `metrics` feeds utilization conditions (which
    /// never hold without it).
    pub fn evaluate(&self, metrics: Option<&Metrics>) -> Vec<RuleMatch> {
        let Some(end) = self.end else {
            return Vec::new();
        };
        // Exclusive end day: a window of n days is [end_day - n, end_day).
        let end_day = (end.timestamp() + 86_399).div_euclid(86_400);
        let as_of = (end - Duration::seconds(1)).date_naive();
        let mut out = Vec::new();
        for table in &self.tables {
            for g in &table.groups {
                for (ri, cond) in &g.rules {
                    let rule = &self.rules[*ri];
                    for (s, sub) in &g.subjects {
                        let key = &table.keys[*s as usize];
                        if !eval(cond, sub, key, end, end_day, metrics) {
                            continue;
                        }
                        out.push(self.matched(rule, table, key, sub, end_day, as_of));
                    }
                }
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
