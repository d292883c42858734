//! `costkit leaderboard --teams teams.yaml --actions actions.yaml FILES...`: team points for
//! savings verified in the billing data, net of the trend of the rest of the spend.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use costkit_core::leaderboard::{ActionsFile, Badge, LeaderboardBuilder, Status, TeamsFile};
use costkit_core::rules::config::Basis;

use crate::commands::cents;
use crate::deps::CostBasis;
use crate::optimize::{feed, Format, Inputs};

/// `costkit leaderboard`.
#[derive(Debug, Args)]
pub struct LeaderboardArgs {
    /// The teams file (schema: docs/teams.schema.json).
    #[arg(long, default_value = "teams.yaml")]
    teams: PathBuf,
    /// The actions file: recommendations marked done (schema: docs/actions.schema.json).
    #[arg(long, default_value = "actions.yaml")]
    actions: PathBuf,
    #[command(flatten)]
    input: Inputs,
    /// Cost compared before and after.
    #[arg(long, value_enum, default_value_t = CostBasis::Effective)]
    basis: CostBasis,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

fn status(s: Status) -> &'static str {
    match s {
        Status::Verified => "verified",
        Status::NotVerified => "not verified",
        Status::Pending => "pending",
        Status::NoHistory => "no history",
    }
}

fn badge(b: Badge) -> &'static str {
    match b {
        Badge::FirstSaving => "first-saving",
        Badge::FourFigures => "four-figures",
        Badge::OnTarget => "on-target",
        Badge::Streak => "streak",
        Badge::CleanSweep => "clean-sweep",
    }
}

/// Runs `leaderboard`.
pub fn run(a: &LeaderboardArgs) -> Result<()> {
    let teams = TeamsFile::load(&a.teams)?;
    let actions = ActionsFile::load(&a.actions, &teams)?;
    let basis = match a.basis {
        CostBasis::Effective => Basis::Effective,
        CostBasis::Billed => Basis::Billed,
    };
    let mut b = LeaderboardBuilder::new(&teams, &actions, basis);
    feed(&a.input.files, a.input.from, |r| b.add(r))?;
    let lb = b.finish();
    match a.format {
        Format::Json => {
            let out = serde_json::json!({ "leaderboard": lb, "section": lb.section() });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Table => {
            let right = |s: String| Cell::new(s).set_alignment(CellAlignment::Right);
            let mut t = Table::new();
            t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
                "rank",
                "team",
                "points",
                "verified savings / month",
                "verified",
                "pending",
                "badges",
            ]);
            for s in &lb.standings {
                t.add_row(vec![
                    right(s.rank.to_string()),
                    Cell::new(&s.team),
                    right(s.points.to_string()),
                    right(
                        s.verified_monthly_savings
                            .iter()
                            .map(|(c, v)| format!("{} {c}", cents(*v)))
                            .collect::<Vec<_>>()
                            .join(" + "),
                    ),
                    right(format!("{} of {}", s.verified, s.actions)),
                    right(s.pending.to_string()),
                    Cell::new(
                        s.badges
                            .iter()
                            .map(|b| badge(*b))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                ]);
            }
            println!("{t}");
            let mut t = Table::new();
            t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
                "action",
                "scope",
                "done",
                "team",
                "before / 30d",
                "after / 30d",
                "trend",
                "expected",
                "saved / month",
                "points",
                "status",
            ]);
            let opt = |d: Option<rust_decimal::Decimal>| d.map(cents).unwrap_or_else(|| "-".into());
            for r in &lb.actions {
                t.add_row(vec![
                    Cell::new(&r.id),
                    Cell::new(&r.scope),
                    Cell::new(r.done.to_string()),
                    Cell::new(r.team.as_deref().unwrap_or("-")),
                    right(opt(r.before_monthly)),
                    right(opt(r.after_monthly)),
                    right(
                        r.baseline_factor
                            .map(|f| format!("x{}", f.round_dp(3)))
                            .unwrap_or_else(|| "-".into()),
                    ),
                    right(opt(r.expected_monthly)),
                    right(cents(r.verified_monthly_savings)),
                    right(r.points.to_string()),
                    Cell::new(status(r.status)),
                ]);
            }
            println!("{t}");
            println!(
                "Data {} to {}; {} days before and after each done day (at least {}), normalized \
                 to 30 days, net of the {} spend trend.",
                lb.first_day.map(|d| d.to_string()).unwrap_or_default(),
                lb.last_day.map(|d| d.to_string()).unwrap_or_default(),
                lb.scoring.window_days,
                lb.scoring.min_days,
                match lb.scoring.trend {
                    costkit_core::leaderboard::TrendScope::All => "overall",
                    costkit_core::leaderboard::TrendScope::Team => "team's",
                }
            );
        }
    }
    Ok(())
}
