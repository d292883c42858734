//! Benchmark, run by hand (never in CI): `cargo bench -p costkit-core --bench deps`.
//!
//! * dependency map: 1,000,000 FOCUS records over 100,000 resources (instances, volumes,
//!   snapshots), 200 applications by tag, 60,000 inventory relations (5% of volumes shared by two
//!   instances): fold, build, roll up every node and compute deletion savings;
//! * SVG layout (layout-rs) of sub-graphs of 100, 300 and 1,000 nodes;
//! * leaderboard: the same 1,000,000 records against 100 actions.

use std::time::Instant;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use costkit_core::deps::{svg::to_svg, DepsBuilder, DepsOptions, EdgeSource, Inventory, Relation};
use costkit_core::focus::{ChargeCategory, FocusRecord};
use costkit_core::leaderboard::{
    config::Values, Action, ActionsFile, LeaderboardBuilder, Scope, Scoring, Team, TeamsFile,
};
use costkit_core::money::Currency;
use costkit_core::rules::config::Basis;
use costkit_core::text::Text;
use rust_decimal::Decimal;

fn record(id: &str, app: usize, day: i64, cost: i64) -> FocusRecord {
    let start = Utc
        .with_ymd_and_hms(2024, 9, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
        + Duration::days(day);
    let mut r = FocusRecord {
        charge_category: ChargeCategory::Usage,
        charge_period_start: start,
        charge_period_end: start + Duration::days(1),
        effective_cost: Decimal::new(cost, 4),
        billed_cost: Decimal::new(cost, 4),
        billing_currency: Currency::new("USD"),
        resource_id: Some(Text::from(id)),
        service_name: Text::from("Amazon Elastic Compute Cloud"),
        ..FocusRecord::default()
    };
    r.tags.insert("app", &format!("app-{app}"));
    r.tags.insert("team", &format!("team-{}", app % 10));
    r
}

fn ids(n: usize) -> Vec<(String, usize)> {
    // 40,000 instances, 40,000 volumes, 20,000 snapshots.
    (0..n)
        .map(|i| {
            let id = match i % 5 {
                0 | 1 => format!("i-{i:08x}"),
                2 | 3 => format!("vol-{i:08x}"),
                _ => format!("snap-{i:08x}"),
            };
            (id, i % 200)
        })
        .collect()
}

fn main() {
    let resources = ids(100_000);
    let mut inv = Inventory::default();
    for (i, (id, _)) in resources.iter().enumerate() {
        let rel = |from: &str, to: &str| Relation {
            from: from.to_string(),
            to: to.to_string(),
            relation: "attached".into(),
            source: EdgeSource::Csv,
        };
        match i % 5 {
            2 | 3 => {
                inv.relations.push(rel(&resources[i - 2].0, id));
                if i % 100 == 2 {
                    inv.relations.push(rel(&resources[(i + 3) % 100_000].0, id));
                }
            }
            4 => inv.relations.push(rel(&resources[i - 2].0, id)),
            _ => {}
        }
    }
    println!("inventory relations: {}", inv.relations.len());

    let t = Instant::now();
    let mut b = DepsBuilder::new(DepsOptions::default());
    b.add_inventory(inv);
    for day in 0..10 {
        for (j, (id, app)) in resources.iter().enumerate() {
            b.add(&record(id, *app, day, 1000 + (j as i64 % 977)));
        }
    }
    let fold = t.elapsed();
    let g = b.finish();
    let total = t.elapsed();
    println!(
        "deps: 1,000,000 records, {} nodes, {} edges: fold {:.2} s, build + roll-up {:.2} s, total {:.2} s",
        g.nodes.len(),
        g.edges.len(),
        fold.as_secs_f64(),
        (total - fold).as_secs_f64(),
        total.as_secs_f64()
    );

    for n in [100usize, 300, 1000] {
        let mut b = DepsBuilder::new(DepsOptions::default());
        let mut inv = Inventory::default();
        for i in 0..n {
            if i % 3 != 0 {
                inv.relations.push(Relation {
                    from: format!("i-{:04}", i - i % 3),
                    to: format!("vol-{i:04}"),
                    relation: "attached".into(),
                    source: EdgeSource::Csv,
                });
            }
        }
        b.add_inventory(inv);
        for i in (0..n).step_by(3) {
            b.add(&record(&format!("i-{i:04}"), i % 7, 0, 5000));
        }
        let g = b.finish();
        let t = Instant::now();
        let svg = to_svg(&g).map(|s| s.len()).unwrap_or(0);
        println!(
            "svg: {} nodes, {} edges: {:.3} s ({} bytes)",
            g.nodes.len(),
            g.edges.len(),
            t.elapsed().as_secs_f64(),
            svg
        );
    }

    let teams = TeamsFile {
        teams: (0..10)
            .map(|t| Team {
                name: format!("team-{t}"),
                tags: [("team".to_string(), Values(vec![format!("team-{t}")]))].into(),
                accounts: vec![],
            })
            .collect(),
        scoring: Scoring::default(),
    };
    let actions = ActionsFile {
        actions: (0..100)
            .map(|i| Action {
                id: format!("a{i}"),
                scope: Scope::Resource(resources[i * 997].0.clone()),
                done: NaiveDate::from_ymd_opt(2024, 9, 5).unwrap_or_default(),
                expected_monthly_savings: None,
                team: None,
            })
            .collect(),
    };
    let t = Instant::now();
    let mut lb = LeaderboardBuilder::new(&teams, &actions, Basis::Effective);
    for day in 0..10 {
        for (j, (id, app)) in resources.iter().enumerate() {
            lb.add(&record(id, *app, day, 1000 + (j as i64 % 977)));
        }
    }
    let board = lb.finish();
    println!(
        "leaderboard: 1,000,000 records, 100 actions, {} teams: {:.2} s",
        board.standings.len(),
        t.elapsed().as_secs_f64()
    );
}
