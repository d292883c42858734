//! `costkit rules check|run`: user rules over billing files, with the engine the functions use.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use costkit_core::local::{MemoryState, OutboxPublisher};
use costkit_core::rules::{deliver, Engine, RulesFile};

use crate::commands::cents;
use crate::optimize::{feed, load_metrics, Format, Inputs};

/// `costkit rules ...`.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Validate a rules file (errors name the line and the field).
    Check(CheckArgs),
    /// Evaluate the rules over billing files and deliver the findings to their channels.
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The rules file (schema: docs/rules.schema.json).
    #[arg(long, default_value = "rules.yaml")]
    rules: PathBuf,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The rules file (schema: docs/rules.schema.json).
    #[arg(long, default_value = "rules.yaml")]
    rules: PathBuf,
    #[command(flatten)]
    input: Inputs,
    /// Utilization metrics CSV for `utilization` conditions.
    #[arg(long)]
    metrics: Option<PathBuf>,
    /// Evaluate and show what would be sent, but send nothing.
    #[arg(long)]
    dry_run: bool,
    /// Where notifications go (JSON lines, one per finding and channel).
    #[arg(long, default_value = "costkit-outbox.jsonl")]
    outbox: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Runs a `rules` subcommand.
pub fn run(c: RulesCommand) -> Result<()> {
    match c {
        RulesCommand::Check(a) => {
            let file = RulesFile::load(&a.rules)?;
            println!("{}: {} rules, valid", a.rules.display(), file.rules.len());
            Ok(())
        }
        RulesCommand::Run(a) => run_rules(&a),
    }
}

fn run_rules(a: &RunArgs) -> Result<()> {
    let file = RulesFile::load(&a.rules)?;
    let metrics = load_metrics(a.metrics.as_deref())?;
    let mut engine = Engine::new(&file);
    if engine.needs_metrics() && metrics.is_none() {
        eprintln!(
            "note: some rules have utilization conditions; without --metrics they never hold"
        );
    }
    feed(&a.input.files, a.input.from, |r| engine.add(r))?;
    let matches = engine.evaluate(metrics.as_ref());
    let now = chrono::Utc::now();
    let publisher = OutboxPublisher::new(&a.outbox);
    let state = MemoryState::default();
    let outcomes = deliver(&matches, now, a.dry_run, &publisher, &state)?;
    match a.format {
        Format::Json => {
            let findings: Vec<_> = matches.iter().map(|m| m.finding(now)).collect();
            let out = serde_json::json!({
                "dry_run": a.dry_run,
                "findings": findings,
                "deliveries": outcomes.iter().map(|o| serde_json::json!({
                    "finding": o.finding,
                    "channel": o.channel,
                    "delivery": o.delivery.map_or("dry-run", |d| d.as_str()),
                })).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Table => {
            let mut t = Table::new();
            t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
                "rule", "subject", "at stake", "currency", "window", "severity", "actions",
            ]);
            for m in &matches {
                let mut actions: Vec<String> =
                    m.channels.iter().map(|c| format!("notify {c}")).collect();
                actions.extend(m.flags.iter().map(|f| format!("flag {f}")));
                t.add_row(vec![
                    Cell::new(&m.rule),
                    Cell::new(&m.subject),
                    Cell::new(cents(m.amount)).set_alignment(CellAlignment::Right),
                    Cell::new(m.currency.as_str()),
                    Cell::new(format!("{}d to {}", m.window_days, m.as_of)),
                    Cell::new(m.severity.as_str()),
                    Cell::new(actions.join(", ")),
                ]);
            }
            println!("{t}");
            println!(
                "{} rules, {} records, {} matches; {}",
                file.rules.len(),
                engine.records(),
                matches.len(),
                if a.dry_run {
                    format!("dry run: {} notifications not sent", outcomes.len())
                } else {
                    format!(
                        "{} notifications written to {}",
                        outcomes.len(),
                        a.outbox.display()
                    )
                }
            );
        }
    }
    Ok(())
}
