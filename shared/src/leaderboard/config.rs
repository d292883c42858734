//! The teams file (`teams.yaml`) and the actions file (`actions.yaml`).
//!
//! Read like the budgets and rules files (helpers in `crate::yaml`): every error names the YAML
//! line and the field path, `teams.yaml:7: teams[1].tags.team: expected a string or a list of
//! strings`. The published JSON Schemas are `docs/teams.schema.json` and
//! `docs/actions.schema.json`; a test keeps them in step with the parser.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::de::Deserializer;
use serde::{Deserialize, Serialize};

use crate::rules::config::FieldRef;
use crate::yaml::{checked, decimal, Scalar, ViaMap};

/// An invalid or unreadable teams or actions file.
pub type ConfigError = crate::yaml::ConfigError;

/// Whose spend trend an action's before/after comparison is netted against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrendScope {
    /// All spend in the data except the actions' own resources and series.
    #[default]
    All,
    /// The action's team's spend except the actions' own resources and series.
    Team,
}

/// How actions are verified and scored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Scoring {
    /// Days compared on each side of the done date.
    pub window_days: i64,
    /// Days of data needed on each side; fewer after the done date = pending.
    pub min_days: i64,
    /// The baseline whose trend is netted out.
    pub trend: TrendScope,
    /// Points per whole unit of verified monthly savings (per currency unit).
    pub points_per_unit: Decimal,
}

impl Default for Scoring {
    fn default() -> Self {
        Scoring {
            window_days: 30,
            min_days: 14,
            trend: TrendScope::All,
            points_per_unit: Decimal::ONE,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScoring {
    #[serde(default, deserialize_with = "opt_days")]
    window_days: Option<i64>,
    #[serde(default, deserialize_with = "opt_days")]
    min_days: Option<i64>,
    #[serde(default, deserialize_with = "opt_trend")]
    trend: Option<TrendScope>,
    #[serde(default, deserialize_with = "opt_points")]
    points_per_unit: Option<Decimal>,
}

fn days(s: &str) -> Result<i64, String> {
    match s.trim().parse::<i64>() {
        Ok(n) if (1..=366).contains(&n) => Ok(n),
        _ => Err(format!("`{s}`: expected whole days from 1 to 366")),
    }
}

fn opt_days<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    checked(d, days).map(Some)
}

fn opt_trend<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TrendScope>, D::Error> {
    checked(d, |s| match s {
        "all" => Ok(TrendScope::All),
        "team" => Ok(TrendScope::Team),
        _ => Err(format!("`{s}`: must be all or team")),
    })
    .map(Some)
}

fn opt_points<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    checked(d, |s| {
        let v = decimal(s)?;
        if v <= Decimal::ZERO {
            return Err(format!("`{s}`: must be more than 0"));
        }
        Ok(v)
    })
    .map(Some)
}

impl TryFrom<RawScoring> for Scoring {
    type Error = String;
    fn try_from(r: RawScoring) -> Result<Scoring, String> {
        let d = Scoring::default();
        let s = Scoring {
            window_days: r.window_days.unwrap_or(d.window_days),
            min_days: r.min_days.unwrap_or(d.min_days),
            trend: r.trend.unwrap_or(d.trend),
            points_per_unit: r.points_per_unit.unwrap_or(d.points_per_unit),
        };
        if s.min_days > s.window_days {
            return Err(format!(
                "min_days ({}) cannot be more than window_days ({})",
                s.min_days, s.window_days
            ));
        }
        Ok(s)
    }
}

impl<'de> Deserialize<'de> for Scoring {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ViaMap::<RawScoring, Scoring>::new())
    }
}

/// One team: the spend it owns, by tags or accounts.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Team {
    /// Unique name.
    pub name: String,
    /// Tag key → accepted values: a record carrying any of them belongs to the team.
    #[serde(default)]
    pub tags: BTreeMap<String, Values>,
    /// SubAccountIds (AWS accounts, Azure subscriptions, GCP projects) the team owns.
    #[serde(default)]
    pub accounts: Vec<String>,
}

/// One value or a list of values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Values(pub Vec<String>);

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::yaml::one_or_many(d, true).map(Values)
    }
}

/// The teams file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamsFile {
    /// Teams in file order; the first team a record matches owns it.
    pub teams: Vec<Team>,
    /// Scoring settings.
    pub scoring: Scoring,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTeams {
    #[serde(default, deserialize_with = "crate::yaml::version")]
    #[allow(dead_code)]
    version: u32,
    #[serde(default)]
    scoring: Option<Scoring>,
    teams: Vec<Team>,
}

impl TeamsFile {
    /// Reads and validates a teams file.
    pub fn load(path: &Path) -> Result<TeamsFile, ConfigError> {
        let (text, file) = crate::yaml::read(path)?;
        TeamsFile::parse(&text, &file)
    }

    /// Parses teams YAML; `file` names the source in errors.
    pub fn parse(text: &str, file: &str) -> Result<TeamsFile, ConfigError> {
        let raw: RawTeams = crate::yaml::parse(text, file)?;
        let mut seen = BTreeSet::new();
        for (i, t) in raw.teams.iter().enumerate() {
            let at = |message: String| {
                ConfigError::invalid(
                    file,
                    crate::yaml::key_line(text, "name", &t.name).unwrap_or(0),
                    message,
                )
            };
            if t.name.trim().is_empty() {
                return Err(at(format!("teams[{i}].name: must not be empty")));
            }
            if !seen.insert(t.name.clone()) {
                return Err(at(format!(
                    "teams[{i}].name: `{}` is already used by an earlier team",
                    t.name
                )));
            }
            if t.tags.is_empty() && t.accounts.is_empty() {
                return Err(at(format!(
                    "teams[{i}]: `{}` needs `tags` or `accounts` (what spend is the team's?)",
                    t.name
                )));
            }
        }
        Ok(TeamsFile {
            teams: raw.teams,
            scoring: raw.scoring.unwrap_or_default(),
        })
    }
}

/// What an action changed: one resource, or a cost series.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// A ResourceId.
    Resource(String),
    /// Every record whose fields equal these values (`ServiceName`, `x_UsageType`, `tag:env`).
    Series(Vec<(FieldRef, String)>),
}

impl Scope {
    /// A readable form: the resource id, or `ServiceName=..., tag:env=...`.
    pub fn label(&self) -> String {
        match self {
            Scope::Resource(r) => r.clone(),
            Scope::Series(f) => f
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// A recommendation marked done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Action {
    /// The recommendation or finding id (unique in the file).
    pub id: String,
    /// What it changed.
    pub scope: Scope,
    /// The day it was done; the comparison leaves this day out.
    pub done: NaiveDate,
    /// The savings the recommendation promised, per month.
    pub expected_monthly_savings: Option<Decimal>,
    /// The team that gets the points; else the team owning most of the scope's spend.
    pub team: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    id: String,
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    series: Option<BTreeMap<SeriesKey, Scalar>>,
    #[serde(deserialize_with = "date")]
    done: NaiveDate,
    #[serde(default, deserialize_with = "opt_money")]
    expected_monthly_savings: Option<Decimal>,
    #[serde(default)]
    team: Option<String>,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct SeriesKey(String);

impl<'de> Deserialize<'de> for SeriesKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, |s| {
            FieldRef::parse(s, true).map(|_| SeriesKey(s.to_string()))
        })
    }
}

fn date<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
    checked(d, |s| {
        NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
            .map_err(|_| format!("`{s}` is not a date (YYYY-MM-DD)"))
    })
}

fn opt_money<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    checked(d, |s| {
        let v = decimal(s)?;
        if v < Decimal::ZERO {
            return Err(format!("`{s}`: must not be negative"));
        }
        Ok(v)
    })
    .map(Some)
}

impl TryFrom<RawAction> for Action {
    type Error = String;
    fn try_from(r: RawAction) -> Result<Action, String> {
        if r.id.trim().is_empty() {
            return Err("id: must not be empty".into());
        }
        let scope = match (r.resource, r.series) {
            (Some(res), None) if !res.trim().is_empty() => Scope::Resource(res),
            (None, Some(s)) if !s.is_empty() => Scope::Series(
                s.into_iter()
                    .map(|(k, v)| FieldRef::parse(&k.0, true).map(|f| (f, v.0)))
                    .collect::<Result<_, _>>()?,
            ),
            (Some(_), Some(_)) => {
                return Err(format!(
                    "action `{}`: give `resource` or `series`, not both",
                    r.id
                ))
            }
            _ => {
                return Err(format!(
                    "action `{}`: needs `resource` (a ResourceId) or `series` (fields and values)",
                    r.id
                ))
            }
        };
        Ok(Action {
            id: r.id,
            scope,
            done: r.done,
            expected_monthly_savings: r.expected_monthly_savings,
            team: r.team,
        })
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ViaMap::<RawAction, Action>::new())
    }
}

/// The actions file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionsFile {
    /// Actions in file order; ids are unique.
    pub actions: Vec<Action>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawActions {
    #[serde(default, deserialize_with = "crate::yaml::version")]
    #[allow(dead_code)]
    version: u32,
    actions: Vec<Action>,
}

impl ActionsFile {
    /// Reads and validates an actions file against the teams it may name.
    pub fn load(path: &Path, teams: &TeamsFile) -> Result<ActionsFile, ConfigError> {
        let (text, file) = crate::yaml::read(path)?;
        ActionsFile::parse(&text, &file, teams)
    }

    /// Parses actions YAML; `file` names the source in errors.
    pub fn parse(text: &str, file: &str, teams: &TeamsFile) -> Result<ActionsFile, ConfigError> {
        let raw: RawActions = crate::yaml::parse(text, file)?;
        let mut seen = BTreeSet::new();
        for (i, a) in raw.actions.iter().enumerate() {
            if !seen.insert(a.id.clone()) {
                return Err(ConfigError::invalid(
                    file,
                    crate::yaml::key_line(text, "id", &a.id).unwrap_or(0),
                    format!(
                        "actions[{i}].id: `{}` is already used by an earlier action",
                        a.id
                    ),
                ));
            }
            if let Some(t) = &a.team {
                if !teams.teams.iter().any(|x| &x.name == t) {
                    return Err(ConfigError::invalid(
                        file,
                        crate::yaml::key_line(text, "team", t).unwrap_or(0),
                        format!(
                            "actions[{i}].team: `{t}` is not a team of the teams file ({})",
                            teams
                                .teams
                                .iter()
                                .map(|x| x.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(ActionsFile {
            actions: raw.actions,
        })
    }
}
