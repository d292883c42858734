//! Team points for verified savings: the leaderboard.
//!
//! A recommendation marked done (an [`config::Action`]: its id, the resource or cost series it
//! changed, the day it was done) is **verified** from the billing data, net of the trend of the
//! rest of the spend, so a global downturn earns nobody points:
//!
//! * `before` = the scope's cost over the `window_days` (30) days before the done day, `after` =
//!   over the `window_days` days after it (the done day itself is left out: it is half and half).
//!   Both sides are limited to the days the data covers and **normalized to 30 days**
//!   (`cost × 30 / days`). Fewer than `min_days` (14) days of data after the done day: *pending*;
//!   fewer before it: *no history*.
//! * The **baseline** is the spend of the whole data (`trend: all`, default) or of the action's
//!   team (`trend: team`), **excluding every action's resource or series** (so one team's savings
//!   do not cancel another's), over the same days, normalized the same way. Its trend factor
//!   `f = baseline_after / baseline_before` (1 when the baseline had no spend before).
//! * `expected_after = before × f` is what the scope would have cost had it followed the rest of
//!   the spend; **verified monthly savings** `= expected_after − after`, at least 0 and at most
//!   `expected_after`, rounded to cents.
//! * **Points** `= floor(verified monthly savings × points_per_unit)` (1 point per whole
//!   currency unit by default).
//!
//! Badges, each with one rule (see [`Badge`]); the leaderboard ranks teams by points, then by
//! name. The action's team is the one the actions file names, else the team owning most of the
//! scope's cost in the before window (teams are matched from tags or accounts, first team in file
//! order wins).
//!
//! In the serverless flows, the actions would be state items (`action/<id>` in the
//! [`crate::ports::StateStore`], written when a user marks a finding done) and the leaderboard a
//! report section computed from the current FOCUS files; the computation here is the same.

pub mod config;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{Datelike, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

pub use config::{Action, ActionsFile, ConfigError, Scope, Scoring, Team, TeamsFile, TrendScope};

use crate::focus::{FocusRecord, TagValue};
use crate::money::Currency;
use crate::rules::config::{Basis, FieldRef};

type Daily = BTreeMap<i64, Decimal>;

const SECONDS_PER_DAY: i64 = 86_400;

fn epoch_day(d: NaiveDate) -> i64 {
    i64::from(d.num_days_from_ce()) - 719_163
}

fn date_of(day: i64) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt((day + 719_163) as i32).unwrap_or_default()
}

/// Folds billing records into the daily costs the verification needs.
#[derive(Debug)]
pub struct LeaderboardBuilder<'a> {
    teams: &'a TeamsFile,
    actions: &'a ActionsFile,
    basis: Basis,
    by_resource: HashMap<String, Vec<usize>>,
    series: Vec<usize>,
    /// Per action and currency, the scope's daily cost.
    subject: Vec<BTreeMap<Currency, Daily>>,
    /// Per action, cost per owning team (index, None = no team) to infer the action's team.
    owners: Vec<BTreeMap<Option<usize>, Decimal>>,
    /// Baseline per (team, currency), and for all spend per currency.
    team_base: HashMap<(Option<usize>, Currency), Daily>,
    all_base: BTreeMap<Currency, Daily>,
    first: Option<i64>,
    last: Option<i64>,
    records: u64,
}

fn tag_text(v: &TagValue) -> Cow<'_, str> {
    match v {
        TagValue::Str(s) => Cow::Borrowed(s.as_str()),
        other => Cow::Owned(other.to_text().to_string()),
    }
}

fn field<'r>(r: &'r FocusRecord, f: &FieldRef) -> Option<Cow<'r, str>> {
    match f {
        FieldRef::Column(c) => r.cell_ref(*c),
        FieldRef::Extension(x) => r.extension(x).map(Cow::Borrowed),
        FieldRef::Tag(k) => r.tags.get(k).map(tag_text),
    }
}

impl<'a> LeaderboardBuilder<'a> {
    /// A builder for these teams and actions.
    pub fn new(teams: &'a TeamsFile, actions: &'a ActionsFile, basis: Basis) -> Self {
        let mut by_resource: HashMap<String, Vec<usize>> = HashMap::new();
        let mut series = Vec::new();
        for (i, a) in actions.actions.iter().enumerate() {
            match &a.scope {
                Scope::Resource(r) => by_resource.entry(r.clone()).or_default().push(i),
                Scope::Series(_) => series.push(i),
            }
        }
        let n = actions.actions.len();
        LeaderboardBuilder {
            teams,
            actions,
            basis,
            by_resource,
            series,
            subject: vec![BTreeMap::new(); n],
            owners: vec![BTreeMap::new(); n],
            team_base: HashMap::new(),
            all_base: BTreeMap::new(),
            first: None,
            last: None,
            records: 0,
        }
    }

    /// The team owning a record: the first whose accounts or tags match.
    pub fn team_of(&self, r: &FocusRecord) -> Option<usize> {
        self.teams.teams.iter().position(|t| {
            r.sub_account_id
                .as_ref()
                .is_some_and(|a| t.accounts.iter().any(|x| x == a.as_str()))
                || t.tags.iter().any(|(k, vals)| {
                    r.tags
                        .get(k)
                        .is_some_and(|v| vals.0.iter().any(|x| *x == tag_text(v)))
                })
        })
    }

    /// Adds one record. A record spanning several days is spread over them evenly and exactly
    /// (the last day takes the remainder).
    pub fn add(&mut self, r: &FocusRecord) {
        self.records += 1;
        let cost = match self.basis {
            Basis::Effective => r.effective_cost,
            Basis::Billed => r.billed_cost,
        };
        let start = r
            .charge_period_start
            .timestamp()
            .div_euclid(SECONDS_PER_DAY);
        let end_s = r.charge_period_end.timestamp();
        // The day of the last instant inside the period (the end is exclusive).
        let end = (end_s - 1).div_euclid(SECONDS_PER_DAY).max(start);
        self.first = Some(self.first.map_or(start, |f| f.min(start)));
        self.last = Some(self.last.map_or(end, |l| l.max(end)));
        let mut hits: Vec<usize> = Vec::new();
        if let Some(id) = r.resource_id.as_ref() {
            if let Some(v) = self.by_resource.get(id.as_str()) {
                hits.extend(v);
            }
        }
        for &i in &self.series {
            if let Scope::Series(fs) = &self.actions.actions[i].scope {
                if fs
                    .iter()
                    .all(|(f, v)| field(r, f).is_some_and(|x| x == v.as_str()))
                {
                    hits.push(i);
                }
            }
        }
        let team = self.team_of(r);
        let days = end - start + 1;
        let share = if days > 1 {
            cost / Decimal::from(days)
        } else {
            cost
        };
        let spread = |daily: &mut Daily| {
            let mut left = cost;
            for d in start..=end {
                let v = if d == end { left } else { share };
                left -= v;
                *daily.entry(d).or_default() += v;
            }
        };
        let cur = &r.billing_currency;
        if hits.is_empty() {
            spread(self.team_base.entry((team, cur.clone())).or_default());
            spread(self.all_base.entry(cur.clone()).or_default());
        } else {
            for i in hits {
                spread(self.subject[i].entry(cur.clone()).or_default());
                if start < epoch_day(self.actions.actions[i].done) {
                    *self.owners[i].entry(team).or_default() += cost;
                }
            }
        }
    }

    /// Records read.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Verifies every action and ranks the teams.
    pub fn finish(&self) -> Leaderboard {
        let s = &self.teams.scoring;
        let mut results = Vec::new();
        for (i, a) in self.actions.actions.iter().enumerate() {
            results.push(self.verify(i, a, s));
        }
        let mut standings: Vec<TeamStanding> = self
            .teams
            .teams
            .iter()
            .map(|t| standing(&t.name, &results))
            .collect();
        standings.sort_by(|a, b| b.points.cmp(&a.points).then_with(|| a.team.cmp(&b.team)));
        for (i, st) in standings.iter_mut().enumerate() {
            st.rank = i + 1;
        }
        Leaderboard {
            first_day: self.first.map(date_of),
            last_day: self.last.map(date_of),
            scoring: s.clone(),
            standings,
            actions: results,
        }
    }

    fn verify(&self, i: usize, a: &Action, s: &Scoring) -> ActionResult {
        let done = epoch_day(a.done);
        let (first, last) = (self.first.unwrap_or(0), self.last.unwrap_or(-1));
        let before = ((done - s.window_days).max(first), (done - 1).min(last));
        let after = ((done + 1).max(first), (done + s.window_days).min(last));
        let count = |(x, y): (i64, i64)| (y - x + 1).max(0);
        let (before_days, after_days) = (count(before), count(after));
        let team = a
            .team
            .as_ref()
            .and_then(|t| self.teams.teams.iter().position(|x| &x.name == t))
            .or_else(|| {
                self.owners[i]
                    .iter()
                    .filter(|(t, v)| t.is_some() && **v > Decimal::ZERO)
                    .max_by(|x, y| x.1.cmp(y.1).then_with(|| y.0.cmp(x.0)))
                    .and_then(|(t, _)| *t)
            });
        let sum = |d: Option<&Daily>, (x, y): (i64, i64)| -> Decimal {
            d.map(|d| d.range(x..=y).map(|(_, v)| *v).sum())
                .unwrap_or_default()
        };
        // The currency with the most cost before (a scope has one in practice).
        let currency = self.subject[i]
            .iter()
            .max_by(|x, y| sum(Some(x.1), before).cmp(&sum(Some(y.1), before)))
            .map(|(c, _)| c.clone());
        let mut r = ActionResult {
            id: a.id.clone(),
            scope: a.scope.label(),
            done: a.done,
            team: team.map(|t| self.teams.teams[t].name.clone()),
            currency: currency.clone(),
            before_days,
            after_days,
            before_monthly: None,
            after_monthly: None,
            baseline_factor: None,
            expected_monthly: None,
            verified_monthly_savings: Decimal::ZERO,
            expected_monthly_savings: a.expected_monthly_savings,
            points: 0,
            status: Status::Pending,
        };
        if after_days < s.min_days {
            return r;
        }
        let Some(currency) = currency else {
            r.status = Status::NoHistory;
            return r;
        };
        if before_days < s.min_days {
            r.status = Status::NoHistory;
            return r;
        }
        let thirty = Decimal::from(30);
        let norm = |v: Decimal, days: i64| v * thirty / Decimal::from(days);
        let subject = self.subject[i].get(&currency);
        let b = norm(sum(subject, before), before_days);
        let af = norm(sum(subject, after), after_days);
        let (base_b, base_a) = match s.trend {
            TrendScope::All => {
                let d = self.all_base.get(&currency);
                (sum(d, before), sum(d, after))
            }
            TrendScope::Team => {
                let d = self.team_base.get(&(team, currency.clone()));
                (sum(d, before), sum(d, after))
            }
        };
        let factor = if base_b > Decimal::ZERO {
            norm(base_a, after_days) / norm(base_b, before_days)
        } else {
            Decimal::ONE
        };
        let expected = b * factor;
        let saved = (expected - af)
            .max(Decimal::ZERO)
            .min(expected.max(Decimal::ZERO));
        let saved = cents(saved);
        r.before_monthly = Some(cents(b));
        r.after_monthly = Some(cents(af));
        r.baseline_factor = Some(factor.round_dp(6));
        r.expected_monthly = Some(cents(expected));
        r.verified_monthly_savings = saved;
        if b <= Decimal::ZERO {
            r.status = Status::NoHistory;
            return r;
        }
        r.points = (saved * s.points_per_unit)
            .floor()
            .try_into()
            .unwrap_or(u64::MAX);
        r.status = if saved > Decimal::ZERO {
            Status::Verified
        } else {
            Status::NotVerified
        };
        r
    }
}

/// Rounded to cents and written with two decimals (`240.00`).
fn cents(d: Decimal) -> Decimal {
    let mut c = d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    c.rescale(2);
    c
}

/// What the verification found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The scope's cost fell by more than the baseline's trend: points earned.
    Verified,
    /// No drop beyond the baseline's trend.
    NotVerified,
    /// Fewer than `min_days` days of data after the done day.
    Pending,
    /// Fewer than `min_days` days of data before the done day, or no cost then.
    NoHistory,
}

/// One action's verification.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionResult {
    /// The action's id.
    pub id: String,
    /// Its resource or series.
    pub scope: String,
    /// Done day.
    pub done: NaiveDate,
    /// The team credited (none when no team owns the scope).
    pub team: Option<String>,
    /// Currency of the amounts.
    pub currency: Option<Currency>,
    /// Days of data in the before window.
    pub before_days: i64,
    /// Days of data in the after window.
    pub after_days: i64,
    /// The scope's cost before, per 30 days (cents).
    pub before_monthly: Option<Decimal>,
    /// The scope's cost after, per 30 days (cents).
    pub after_monthly: Option<Decimal>,
    /// Baseline after / before (6 decimals shown; the computation is unrounded).
    pub baseline_factor: Option<Decimal>,
    /// What the scope would cost per 30 days had it followed the baseline (cents).
    pub expected_monthly: Option<Decimal>,
    /// Verified monthly savings (cents).
    pub verified_monthly_savings: Decimal,
    /// What the recommendation promised.
    pub expected_monthly_savings: Option<Decimal>,
    /// Points earned.
    pub points: u64,
    /// Outcome.
    pub status: Status,
}

/// A badge and its rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Badge {
    /// At least one verified action.
    FirstSaving,
    /// Verified monthly savings of at least 1,000 in one currency.
    FourFigures,
    /// An action whose verified savings are within 10% of the savings it promised.
    OnTarget,
    /// Verified actions done in three or more calendar months.
    Streak,
    /// At least three actions evaluated (none pending) and every one verified.
    CleanSweep,
}

impl Badge {
    /// The rule, for legends.
    pub fn rule(self) -> &'static str {
        match self {
            Badge::FirstSaving => "at least one verified action",
            Badge::FourFigures => "verified monthly savings of at least 1,000 in one currency",
            Badge::OnTarget => "an action verified within 10% of its expected savings",
            Badge::Streak => "verified actions done in 3 or more calendar months",
            Badge::CleanSweep => "3 or more actions evaluated, every one verified",
        }
    }
}

/// A team's line on the leaderboard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TeamStanding {
    /// 1 = most points.
    pub rank: usize,
    /// Team name.
    pub team: String,
    /// Points.
    pub points: u64,
    /// Verified monthly savings per currency.
    pub verified_monthly_savings: BTreeMap<Currency, Decimal>,
    /// Verified actions.
    pub verified: usize,
    /// Actions credited to the team (any status).
    pub actions: usize,
    /// Pending actions.
    pub pending: usize,
    /// Badges earned.
    pub badges: Vec<Badge>,
}

fn standing(team: &str, results: &[ActionResult]) -> TeamStanding {
    let mine: Vec<&ActionResult> = results
        .iter()
        .filter(|r| r.team.as_deref() == Some(team))
        .collect();
    let verified: Vec<&&ActionResult> = mine
        .iter()
        .filter(|r| r.status == Status::Verified)
        .collect();
    let mut savings: BTreeMap<Currency, Decimal> = BTreeMap::new();
    for r in &verified {
        if let Some(c) = &r.currency {
            *savings.entry(c.clone()).or_default() += r.verified_monthly_savings;
        }
    }
    let pending = mine.iter().filter(|r| r.status == Status::Pending).count();
    let evaluated = mine.len() - pending;
    let mut badges = Vec::new();
    if !verified.is_empty() {
        badges.push(Badge::FirstSaving);
    }
    if savings.values().any(|v| *v >= Decimal::from(1000)) {
        badges.push(Badge::FourFigures);
    }
    let tenth = Decimal::new(1, 1);
    if verified.iter().any(|r| {
        r.expected_monthly_savings.is_some_and(|e| {
            e > Decimal::ZERO && (r.verified_monthly_savings - e).abs() <= e * tenth
        })
    }) {
        badges.push(Badge::OnTarget);
    }
    let months: BTreeSet<(i32, u32)> = verified
        .iter()
        .map(|r| (r.done.year(), r.done.month()))
        .collect();
    if months.len() >= 3 {
        badges.push(Badge::Streak);
    }
    if evaluated >= 3 && pending == 0 && verified.len() == mine.len() {
        badges.push(Badge::CleanSweep);
    }
    TeamStanding {
        rank: 0,
        team: team.to_string(),
        points: verified.iter().map(|r| r.points).sum(),
        verified_monthly_savings: savings,
        verified: verified.len(),
        actions: mine.len(),
        pending,
        badges,
    }
}

/// The leaderboard: a plain serializable section the period report can include.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Leaderboard {
    /// First day of the data.
    pub first_day: Option<NaiveDate>,
    /// Last day of the data.
    pub last_day: Option<NaiveDate>,
    /// The scoring settings used.
    pub scoring: Scoring,
    /// Teams ranked by points.
    pub standings: Vec<TeamStanding>,
    /// Every action's verification, in file order.
    pub actions: Vec<ActionResult>,
}

/// The report section: what the period report embeds (a copy of the leaderboard without the
/// settings, deserializable for renderers).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeaderboardSection {
    /// Last day of the data the points are based on.
    pub as_of: Option<NaiveDate>,
    /// Days compared on each side of a done day.
    pub window_days: i64,
    /// Teams ranked by points.
    pub standings: Vec<TeamStanding>,
    /// Every action's verification.
    pub actions: Vec<ActionResult>,
}

impl Leaderboard {
    /// The section the period report includes.
    pub fn section(&self) -> LeaderboardSection {
        LeaderboardSection {
            as_of: self.last_day,
            window_days: self.scoring.window_days,
            standings: self.standings.clone(),
            actions: self.actions.clone(),
        }
    }
}
