//! `costkit deps FILES...`: the resource dependency map with cost roll-up, as a table, JSON,
//! Graphviz DOT or SVG.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use costkit_core::deps::{svg::to_svg, DepsBuilder, DepsOptions, Inventory, Money, NodeKind};
use costkit_core::rules::config::Basis;

use crate::commands::cents;
use crate::optimize::{feed, Inputs};

/// Output format of `deps`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DepsFormat {
    /// The largest roll-ups, amounts rounded to cents.
    Table,
    /// Every node and edge with exact amounts.
    Json,
    /// Graphviz DOT.
    Dot,
    /// SVG laid out by costkit itself (no Graphviz needed).
    Svg,
}

/// Which cost to roll up.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum CostBasis {
    /// EffectiveCost (amortized, after discounts).
    Effective,
    /// BilledCost (as invoiced).
    Billed,
}

/// `costkit deps`.
#[derive(Debug, Args)]
pub struct DepsArgs {
    #[command(flatten)]
    input: Inputs,
    /// Inventory files: AWS Config configuration items (JSON), Azure Resource Graph results
    /// (JSON), Cloud Asset Inventory exports (JSON or NDJSON), or a CSV edge list from,to,relation.
    #[arg(long, value_name = "FILE")]
    inventory: Vec<PathBuf>,
    /// Tag keys naming a resource's application, first present wins.
    #[arg(long, value_delimiter = ',', default_value = "app,stack,service")]
    tag_keys: Vec<String>,
    /// Cost to roll up.
    #[arg(long, value_enum, default_value_t = CostBasis::Effective)]
    basis: CostBasis,
    #[arg(long, value_enum, default_value_t = DepsFormat::Table)]
    format: DepsFormat,
    /// Only the nodes reachable from these nodes (ids, ARNs or `key=value` applications);
    /// roll-ups are still computed on the whole graph.
    #[arg(long, value_name = "NODE")]
    root: Vec<String>,
    /// Refuse to lay out an SVG of more nodes than this (layout time grows fast: about 1 s for
    /// 300 nodes, 40 s for 1,000); use --root, or --format dot with Graphviz.
    #[arg(long, default_value_t = 500)]
    max_svg_nodes: usize,
    /// Table rows: the N largest roll-ups.
    #[arg(long, default_value_t = 25)]
    top: usize,
    /// Write to this file instead of standard output.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

fn money(m: &Money) -> String {
    if m.is_empty() {
        return "0.00".into();
    }
    m.iter()
        .map(|(c, v)| {
            if m.len() == 1 {
                cents(*v)
            } else {
                format!("{} {c}", cents(*v))
            }
        })
        .collect::<Vec<_>>()
        .join(" + ")
}

fn largest(m: &Money) -> rust_decimal::Decimal {
    m.values().copied().max().unwrap_or_default()
}

/// Runs `deps`.
pub fn run(a: &DepsArgs) -> Result<()> {
    let mut b = DepsBuilder::new(DepsOptions {
        tag_keys: a.tag_keys.clone(),
        basis: match a.basis {
            CostBasis::Effective => Basis::Effective,
            CostBasis::Billed => Basis::Billed,
        },
    });
    for f in &a.inventory {
        b.add_inventory(Inventory::load(f)?);
    }
    feed(&a.input.files, a.input.from, |r| b.add(r))?;
    let mut g = b.finish();
    if !a.root.is_empty() {
        let roots = a
            .root
            .iter()
            .map(|r| {
                g.find(r)
                    .ok_or_else(|| anyhow::anyhow!("--root {r}: no such node in the graph"))
            })
            .collect::<Result<Vec<_>>>()?;
        g = g.reachable_from(&roots);
    }
    if matches!(a.format, DepsFormat::Svg) && g.nodes.len() > a.max_svg_nodes {
        anyhow::bail!(
            "the graph has {} nodes, more than --max-svg-nodes {}: narrow it with --root, raise \
             the limit, or use --format dot and Graphviz",
            g.nodes.len(),
            a.max_svg_nodes
        );
    }
    let text = match a.format {
        DepsFormat::Json => serde_json::to_string_pretty(&g)? + "\n",
        DepsFormat::Dot => g.to_dot(),
        DepsFormat::Svg => to_svg(&g)?,
        DepsFormat::Table => {
            let mut order: Vec<usize> = (0..g.nodes.len()).collect();
            order.sort_by(|&x, &y| {
                largest(&g.nodes[y].rolled_up)
                    .cmp(&largest(&g.nodes[x].rolled_up))
                    .then_with(|| g.nodes[x].id.cmp(&g.nodes[y].id))
            });
            let mut t = Table::new();
            t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
                "node",
                "kind",
                "members",
                "own",
                "rolled up",
                "of which shared",
                "deleting saves",
                "notes",
            ]);
            let right = |s: String| Cell::new(s).set_alignment(CellAlignment::Right);
            for &i in order.iter().take(a.top) {
                let n = &g.nodes[i];
                let mut notes = Vec::new();
                if n.shared {
                    notes.push(format!("shared by {}", n.parents));
                }
                if n.kind == NodeKind::Resource && !n.in_billing {
                    notes.push("not in billing data".to_string());
                }
                t.add_row(vec![
                    Cell::new(n.label()),
                    Cell::new(match n.kind {
                        NodeKind::Application => "application".to_string(),
                        NodeKind::Resource => n.resource_type.clone().unwrap_or_default(),
                    }),
                    right(n.members.to_string()),
                    right(money(&n.cost)),
                    right(money(&n.rolled_up)),
                    right(money(&n.shared_cost)),
                    right(money(&n.deletion_saves)),
                    Cell::new(notes.join(", ")),
                ]);
            }
            let currencies: Vec<&str> = g.totals.total.keys().map(|c| c.as_str()).collect();
            format!(
                "{t}\n{} nodes, {} edges from {} records. Resources {} + without ResourceId {} = \
                 total {} {} (each resource counted once; roll-ups of different nodes overlap \
                 and are not to be added).\n",
                g.nodes.len(),
                g.edges.len(),
                g.totals.records,
                money(&g.totals.resources),
                money(&g.totals.unattributed),
                money(&g.totals.total),
                currencies.join(", "),
            )
        }
    };
    match &a.output {
        Some(p) => {
            std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?;
        }
        None => {
            std::io::stdout().write_all(text.as_bytes())?;
        }
    }
    Ok(())
}
