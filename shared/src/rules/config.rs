//! The rules file: `rules.yaml`, its types and its validation.
//!
//! Read the same way as the budgets file (helpers in `crate::yaml`): every error names the YAML
//! line and the field path, `rules.yaml:12: rules[3].filter.and[1].op: unknown operator "gte2"`.
//! The published JSON Schema is `docs/rules.schema.json`; a test keeps the two in step.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use rust_decimal::Decimal;
use serde::de::Deserializer;
use serde::Deserialize;

use crate::flow::messages::Severity;
use crate::focus::FocusColumn;
use crate::optimize::metrics::Stat;
use crate::yaml::{checked, decimal, ViaMap};

/// An invalid or unreadable rules file.
pub type RulesError = crate::yaml::ConfigError;

/// A parsed, validated rules file.
#[derive(Clone, Debug, PartialEq)]
pub struct RulesFile {
    /// Rules in file order; names are unique.
    pub rules: Vec<Rule>,
}

impl RulesFile {
    /// Reads and validates a rules file.
    pub fn load(path: &Path) -> Result<RulesFile, RulesError> {
        let (text, file) = crate::yaml::read(path)?;
        RulesFile::parse(&text, &file)
    }

    /// Parses and validates rules YAML; `file` names the source in errors.
    pub fn parse(text: &str, file: &str) -> Result<RulesFile, RulesError> {
        let raw: RawFile = crate::yaml::parse(text, file)?;
        let mut seen = BTreeSet::new();
        for (i, r) in raw.rules.iter().enumerate() {
            if !seen.insert(r.name.clone()) {
                return Err(RulesError::invalid(
                    file,
                    crate::yaml::key_line(text, "name", &r.name).unwrap_or(0),
                    format!(
                        "rules[{i}].name: `{}` is already used by an earlier rule",
                        r.name
                    ),
                ));
            }
        }
        Ok(RulesFile { rules: raw.rules })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default, deserialize_with = "crate::yaml::version")]
    #[allow(dead_code)]
    version: u32,
    rules: Vec<Rule>,
}

/// What a rule looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selector {
    /// Each resource (ResourceId) on its own; records without a ResourceId are skipped.
    Resources,
    /// Cost grouped by the `by` dimensions (one series for everything when `by` is empty).
    CostSeries,
}

/// A column a condition or a grouping reads.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FieldRef {
    /// A FOCUS column.
    Column(FocusColumn),
    /// An `x_` extension column.
    Extension(String),
    /// A tag value (`tag:KEY` in `by`).
    Tag(String),
}

impl FieldRef {
    /// Parses a FOCUS column name, an `x_` name, or (when `tags` is set) `tag:KEY`.
    pub fn parse(s: &str, tags: bool) -> Result<FieldRef, String> {
        if let Some(c) = FocusColumn::from_name(s) {
            return Ok(FieldRef::Column(c));
        }
        if s.starts_with("x_") && s.len() > 2 {
            return Ok(FieldRef::Extension(s.to_string()));
        }
        if tags {
            if let Some(k) = s.strip_prefix("tag:").filter(|k| !k.is_empty()) {
                return Ok(FieldRef::Tag(k.to_string()));
            }
        }
        Err(format!(
            "unknown field \"{s}\" (a FOCUS column such as ServiceName, an x_ column{})",
            if tags { ", or tag:KEY" } else { "" }
        ))
    }

    /// The name as written.
    pub fn name(&self) -> String {
        match self {
            FieldRef::Column(c) => c.name().to_string(),
            FieldRef::Extension(x) => x.clone(),
            FieldRef::Tag(k) => format!("tag:{k}"),
        }
    }
}

impl fmt::Display for FieldRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Greater than.
    Gt,
    /// Greater or equal.
    Ge,
    /// Less than.
    Lt,
    /// Less or equal.
    Le,
    /// One of `values`.
    In,
    /// None of `values`.
    NotIn,
    /// Contains the text.
    Contains,
    /// Starts with the text.
    StartsWith,
    /// Ends with the text.
    EndsWith,
}

impl Op {
    const NAMES: &'static [(&'static str, Op)] = &[
        ("eq", Op::Eq),
        ("ne", Op::Ne),
        ("gt", Op::Gt),
        ("ge", Op::Ge),
        ("lt", Op::Lt),
        ("le", Op::Le),
        ("in", Op::In),
        ("not_in", Op::NotIn),
        ("contains", Op::Contains),
        ("starts_with", Op::StartsWith),
        ("ends_with", Op::EndsWith),
    ];

    /// True for gt, ge, lt, le.
    pub fn is_ordering(self) -> bool {
        matches!(self, Op::Gt | Op::Ge | Op::Lt | Op::Le)
    }

    /// Applies an ordering or equality operator to two numbers.
    pub fn compare<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            Op::Eq => a == b,
            Op::Ne => a != b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Lt => a < b,
            Op::Le => a <= b,
            _ => false,
        }
    }
}

impl<'de> Deserialize<'de> for Op {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, |s| {
            Op::NAMES
                .iter()
                .find(|(n, _)| *n == s)
                .map(|(_, o)| *o)
                .ok_or_else(|| {
                    format!(
                        "unknown operator \"{s}\" (one of {})",
                        Op::NAMES
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
        })
    }
}

/// A value to compare with: its text as written, and the number when it is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    /// The YAML scalar's text.
    pub text: String,
    /// The exact number, when the text is one.
    pub number: Option<Decimal>,
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, |s| {
            Ok(Value {
                text: s.to_string(),
                number: crate::money::parse_decimal(s),
            })
        })
    }
}

/// A window of whole days ending at the end of the data: `30d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window(pub u32);

impl Window {
    /// Days in the window.
    pub fn days(self) -> u32 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Window {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, |s| {
            s.trim()
                .strip_suffix('d')
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|n| *n > 0)
                .map(Window)
                .ok_or_else(|| format!("`{s}` is not a window of whole days such as 7d or 30d"))
        })
    }
}

/// Which cost column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Basis {
    /// EffectiveCost (amortized, after discounts).
    #[default]
    Effective,
    /// BilledCost (as invoiced).
    Billed,
}

impl<'de> Deserialize<'de> for Basis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, |s| match s {
            "effective" => Ok(Basis::Effective),
            "billed" => Ok(Basis::Billed),
            _ => Err(format!("`{s}`: must be `effective` or `billed`")),
        })
    }
}

/// A condition: a tree of and/or/not over leaves.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// All must hold.
    And(Vec<Condition>),
    /// One must hold.
    Or(Vec<Condition>),
    /// Must not hold.
    Not(Box<Condition>),
    /// A column compared with a value or a list.
    Field {
        /// The column.
        field: FieldRef,
        /// The operator.
        op: Op,
        /// The value(s).
        values: Vec<Value>,
    },
    /// A tag present or absent, or its value compared.
    Tag {
        /// Tag key.
        key: String,
        /// `present: true/false`, or `None` with `op`.
        present: Option<bool>,
        /// The operator (with `values`).
        op: Option<Op>,
        /// The value(s).
        values: Vec<Value>,
    },
    /// Cost over a window compared with an amount.
    Cost {
        /// Operator (ordering or equality).
        op: Op,
        /// Amount.
        value: Decimal,
        /// Window (all data when absent).
        window: Option<Window>,
        /// Cost column.
        basis: Basis,
    },
    /// Percent change of cost: the last `window` against the `window` before it.
    Change {
        /// Operator.
        op: Op,
        /// Percent.
        value: Decimal,
        /// Window.
        window: Window,
        /// Cost column.
        basis: Basis,
    },
    /// A utilization metric from the metrics file.
    Utilization {
        /// Metric column (`cpu_max`).
        metric: String,
        /// Statistic over the window.
        stat: Stat,
        /// Operator.
        op: Op,
        /// Value.
        value: Decimal,
        /// Window (14 days when absent).
        window: Window,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    #[serde(default)]
    and: Option<Vec<Condition>>,
    #[serde(default)]
    or: Option<Vec<Condition>>,
    #[serde(default)]
    not: Option<Box<Condition>>,
    #[serde(default, deserialize_with = "field_ref")]
    field: Option<FieldRef>,
    #[serde(default, deserialize_with = "non_empty")]
    tag: Option<String>,
    #[serde(default)]
    present: Option<bool>,
    #[serde(default)]
    op: Option<Op>,
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    values: Option<Vec<Value>>,
    #[serde(default)]
    cost: Option<RawAmountCond>,
    #[serde(default)]
    change: Option<RawAmountCond>,
    #[serde(default)]
    utilization: Option<RawUtilization>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAmountCond {
    op: Op,
    #[serde(deserialize_with = "dec")]
    value: Decimal,
    #[serde(default)]
    window: Option<Window>,
    #[serde(default)]
    basis: Basis,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUtilization {
    #[serde(deserialize_with = "non_empty_string")]
    metric: String,
    #[serde(default = "max", deserialize_with = "stat")]
    stat: Stat,
    op: Op,
    #[serde(deserialize_with = "dec")]
    value: Decimal,
    #[serde(default)]
    window: Option<Window>,
}

fn max() -> Stat {
    Stat::Max
}

fn stat<'de, D: Deserializer<'de>>(d: D) -> Result<Stat, D::Error> {
    checked(d, |s| {
        Stat::parse(s).ok_or_else(|| format!("`{s}`: must be max, avg or min"))
    })
}

fn dec<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    checked(d, decimal)
}

fn field_ref<'de, D: Deserializer<'de>>(d: D) -> Result<Option<FieldRef>, D::Error> {
    checked(d, |s| FieldRef::parse(s, false)).map(Some)
}

fn non_empty_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |s| {
        if s.trim().is_empty() {
            Err("must not be empty".into())
        } else {
            Ok(s.to_string())
        }
    })
}

fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    non_empty_string(d).map(Some)
}

/// The values of a comparison: `value` for single-value operators, `values` for in/not_in.
fn operands(
    op: Op,
    value: Option<Value>,
    values: Option<Vec<Value>>,
) -> Result<Vec<Value>, String> {
    match (op, value, values) {
        (Op::In | Op::NotIn, None, Some(v)) if !v.is_empty() => Ok(v),
        (Op::In | Op::NotIn, _, _) => {
            Err("operators in / not_in need a non-empty `values` list".into())
        }
        (_, Some(v), None) => Ok(vec![v]),
        (_, _, _) => Err("needs one `value` (a list `values` only goes with in / not_in)".into()),
    }
}

impl TryFrom<RawCondition> for Condition {
    type Error = String;
    fn try_from(r: RawCondition) -> Result<Self, String> {
        let kinds = [
            r.and.is_some(),
            r.or.is_some(),
            r.not.is_some(),
            r.field.is_some(),
            r.tag.is_some(),
            r.cost.is_some(),
            r.change.is_some(),
            r.utilization.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err("a condition needs exactly one of and, or, not, field, tag, cost, change, utilization".into());
        }
        let leaf_extras = r.op.is_some() || r.value.is_some() || r.values.is_some();
        let only = |what: &str| -> Result<(), String> {
            if leaf_extras || r.present.is_some() {
                Err(format!(
                    "`{what}` takes no op, value, values or present beside it"
                ))
            } else {
                Ok(())
            }
        };
        if let Some(v) = r.and {
            only("and")?;
            if v.is_empty() {
                return Err("`and` needs at least one condition".into());
            }
            return Ok(Condition::And(v));
        }
        if let Some(v) = r.or {
            only("or")?;
            if v.is_empty() {
                return Err("`or` needs at least one condition".into());
            }
            return Ok(Condition::Or(v));
        }
        if let Some(v) = r.not {
            only("not")?;
            return Ok(Condition::Not(v));
        }
        if let Some(field) = r.field {
            if r.present.is_some() {
                return Err("`present` goes with `tag`, not `field`".into());
            }
            let op = r.op.ok_or("`field` needs an `op`")?;
            let values = operands(op, r.value, r.values)?;
            if op.is_ordering() && values[0].number.is_none() {
                return Err(format!("operator needs a number, not `{}`", values[0].text));
            }
            return Ok(Condition::Field { field, op, values });
        }
        if let Some(key) = r.tag {
            return match (r.present, r.op) {
                (Some(p), None) if r.value.is_none() && r.values.is_none() => Ok(Condition::Tag {
                    key,
                    present: Some(p),
                    op: None,
                    values: Vec::new(),
                }),
                (None, Some(op)) => Ok(Condition::Tag {
                    key,
                    present: None,
                    op: Some(op),
                    values: operands(op, r.value, r.values)?,
                }),
                _ => Err(
                    "`tag` needs either `present: true|false` or an `op` with `value`/`values`"
                        .into(),
                ),
            };
        }
        only("cost, change or utilization")?;
        if let Some(c) = r.cost {
            return Ok(Condition::Cost {
                op: ordering(c.op)?,
                value: c.value,
                window: c.window,
                basis: c.basis,
            });
        }
        if let Some(c) = r.change {
            return Ok(Condition::Change {
                op: ordering(c.op)?,
                value: c.value,
                window: c.window.ok_or(
                    "change.window: needed (e.g. 7d: the last 7 days against the 7 before)",
                )?,
                basis: c.basis,
            });
        }
        if let Some(u) = r.utilization {
            return Ok(Condition::Utilization {
                metric: u.metric,
                stat: u.stat,
                op: ordering(u.op)?,
                value: u.value,
                window: u.window.unwrap_or(Window(14)),
            });
        }
        Err("empty condition".into())
    }
}

fn ordering(op: Op) -> Result<Op, String> {
    if op.is_ordering() || matches!(op, Op::Eq | Op::Ne) {
        Ok(op)
    } else {
        Err("amounts compare with eq, ne, gt, ge, lt or le".into())
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ViaMap::<RawCondition, Condition>::new())
    }
}

/// What happens when a rule matches (a finding is always recorded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Deliver the finding to a channel.
    Notify(String),
    /// Flag the subject for review with a label.
    Flag(String),
    /// Record the finding with this severity.
    Finding(Severity),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    #[serde(default, deserialize_with = "non_empty")]
    notify: Option<String>,
    #[serde(default, deserialize_with = "non_empty")]
    flag: Option<String>,
    #[serde(default)]
    finding: Option<RawFinding>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFinding {
    #[serde(deserialize_with = "severity")]
    severity: Severity,
}

fn severity<'de, D: Deserializer<'de>>(d: D) -> Result<Severity, D::Error> {
    checked(d, |s| match s {
        "info" => Ok(Severity::Info),
        "warning" => Ok(Severity::Warning),
        "critical" => Ok(Severity::Critical),
        _ => Err(format!("`{s}`: must be info, warning or critical")),
    })
}

impl TryFrom<RawAction> for Action {
    type Error = String;
    fn try_from(r: RawAction) -> Result<Self, String> {
        match (r.notify, r.flag, r.finding) {
            (Some(c), None, None) => Ok(Action::Notify(c)),
            (None, Some(f), None) => Ok(Action::Flag(f)),
            (None, None, Some(f)) => Ok(Action::Finding(f.severity)),
            _ => Err("an action is exactly one of notify, flag or finding".into()),
        }
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ViaMap::<RawAction, Action>::new())
    }
}

/// One rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// Unique name; part of every finding id.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// Resources or cost series.
    pub select: Selector,
    /// Grouping of a cost series.
    pub by: Vec<FieldRef>,
    /// Which records count (all when absent).
    pub records: Option<Condition>,
    /// The condition a subject must meet.
    pub filter: Condition,
    /// The window of the amount at stake reported (30 days when absent).
    pub window: Window,
    /// Cost column of the amount at stake.
    pub basis: Basis,
    /// Actions.
    pub actions: Vec<Action>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(deserialize_with = "non_empty_string")]
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(deserialize_with = "selector")]
    select: Selector,
    #[serde(default)]
    by: Vec<ByField>,
    #[serde(default)]
    records: Option<Condition>,
    filter: Condition,
    #[serde(default)]
    window: Option<Window>,
    #[serde(default)]
    basis: Basis,
    actions: Vec<Action>,
}

struct ByField(FieldRef);

impl<'de> Deserialize<'de> for ByField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, |s| FieldRef::parse(s, true).map(ByField))
    }
}

fn selector<'de, D: Deserializer<'de>>(d: D) -> Result<Selector, D::Error> {
    checked(d, |s| match s {
        "resources" => Ok(Selector::Resources),
        "cost_series" => Ok(Selector::CostSeries),
        _ => Err(format!("`{s}`: must be `resources` or `cost_series`")),
    })
}

fn uses_utilization(c: &Condition) -> bool {
    match c {
        Condition::And(v) | Condition::Or(v) => v.iter().any(uses_utilization),
        Condition::Not(c) => uses_utilization(c),
        Condition::Utilization { .. } => true,
        _ => false,
    }
}

fn uses_aggregates(c: &Condition) -> bool {
    match c {
        Condition::And(v) | Condition::Or(v) => v.iter().any(uses_aggregates),
        Condition::Not(c) => uses_aggregates(c),
        Condition::Cost { .. } | Condition::Change { .. } | Condition::Utilization { .. } => true,
        _ => false,
    }
}

impl TryFrom<RawRule> for Rule {
    type Error = String;
    fn try_from(r: RawRule) -> Result<Self, String> {
        if r.select == Selector::Resources && !r.by.is_empty() {
            return Err(
                "by: only for `select: cost_series` (resources are grouped by ResourceId)".into(),
            );
        }
        if r.select == Selector::CostSeries && uses_utilization(&r.filter) {
            return Err("filter: utilization applies to `select: resources` only (metrics are per resource)".into());
        }
        if let Some(c) = &r.records {
            if uses_aggregates(c) {
                return Err("records: holds record conditions only (field, tag); cost, change and utilization go in `filter`".into());
            }
        }
        if r.actions.is_empty() {
            return Err("actions: at least one action is needed".into());
        }
        Ok(Rule {
            name: r.name,
            description: r.description,
            select: r.select,
            by: r.by.into_iter().map(|b| b.0).collect(),
            records: r.records,
            filter: r.filter,
            window: r.window.unwrap_or(Window(30)),
            basis: r.basis,
            actions: r.actions,
        })
    }
}

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ViaMap::<RawRule, Rule>::new())
    }
}
