//! Benchmark, run by hand (never in CI): `cargo bench -p costkit-core --bench optimize`.
//!
//! * commitment simulation over one year of hourly data (8,760 hours): sort, prefix sums, the
//!   savings curve and the max-savings and conservative points, all in exact decimals;
//! * the same year built from 8,760 × 20 FOCUS records through the series builder;
//! * 50 rules over 1,000,000 FOCUS records generated in memory (parse, compile, stream,
//!   evaluate).

use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use costkit_core::focus::{ChargeCategory, FocusRecord, PricingCategory, ServiceCategory};
use costkit_core::optimize::commitments::{
    recommend, CommitmentOptions, CommitmentType, SeriesBuilder,
};
use costkit_core::optimize::simulate::{Payment, Simulator, Terms};
use costkit_core::rules::{Engine, RulesFile};
use costkit_core::text::Text;
use rust_decimal::Decimal;

/// A deterministic pseudo-random sequence (no dependency needed for a benchmark's data).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn hourly_year(rng: &mut Lcg) -> Vec<Decimal> {
    (0..8760)
        .map(|h| {
            let base = if (h % 24) >= 8 && (h % 24) < 20 {
                4000
            } else {
                1500
            };
            Decimal::new(base + (rng.next() % 700) as i64, 3) // dollars with 3 decimals
        })
        .collect()
}

/// This process's CPU time (user + system) in seconds, from /proc (Linux; 0 elsewhere). The
/// machine is shared, so wall time alone over-states the cost when other jobs run.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which is in parentheses): utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::MAX;
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(r);
    }
    (best, out.expect("ran"))
}

fn simulation() {
    let mut rng = Lcg(42);
    let values = hourly_year(&mut rng);
    let terms = Terms::new(Decimal::new(28, 2), 1, Payment::PartialUpfront).expect("terms");
    let min = Decimal::new(95, 2);
    let (secs, (best, safe, curve)) = best_of(5, || {
        let sim = Simulator::new(&values, terms);
        let curve: Vec<_> = sim
            .curve_levels(min)
            .into_iter()
            .map(|l| sim.at_level(l))
            .collect();
        let best = sim.at_level(sim.max_savings_level());
        let safe = sim.at_level(sim.conservative_level(min));
        (best, safe, curve.len())
    });
    println!(
        "simulation, 1 year hourly (8760 h), {curve} curve points + 2: {:.1} ms (best of 5); max savings {}/h saves {} at {:.1}% utilization; conservative {}/h at {:.1}%",
        secs * 1e3,
        best.commitment.round_dp(3),
        best.savings.round_dp(2),
        best.utilization * Decimal::ONE_HUNDRED,
        safe.commitment.round_dp(3),
        safe.utilization * Decimal::ONE_HUNDRED,
    );

    // The same year from records: 20 instances' hourly rows.
    let start = Utc
        .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .expect("t");
    let mut recs = Vec::with_capacity(8760 * 20);
    for h in 0..8760i64 {
        for i in 0..20 {
            if (h % 24 < 8 || h % 24 >= 20) && i >= 8 {
                continue;
            }
            let mut r = FocusRecord {
                provider_name: Text::from("AWS"),
                service_name: Text::from("Amazon Elastic Compute Cloud"),
                charge_category: ChargeCategory::Usage,
                pricing_category: Some(PricingCategory::Standard),
                charge_period_start: start + Duration::hours(h),
                charge_period_end: start + Duration::hours(h + 1),
                effective_cost: Decimal::new(192, 3),
                billed_cost: Decimal::new(192, 3),
                region_id: Some(Text::from("us-east-1")),
                ..FocusRecord::default()
            };
            r.extensions = vec![
                (Text::from("x_ServiceCode"), Text::from("AmazonEC2")),
                (Text::from("x_UsageType"), Text::from("BoxUsage:m5.xlarge")),
            ];
            recs.push(r);
        }
    }
    let opts = CommitmentOptions {
        terms,
        types: vec![
            CommitmentType::SavingsPlan,
            CommitmentType::ReservedInstance,
        ],
        min_utilization: min,
        min_eligible: Decimal::ZERO,
    };
    let (secs, n) = best_of(3, || {
        let mut b = SeriesBuilder::new();
        for r in &recs {
            b.add(r);
        }
        recommend(&b.finish(), &opts).len()
    });
    println!(
        "series + recommendations from {} records (1 year hourly, SP and RI): {:.1} ms, {n} recommendations",
        recs.len(),
        secs * 1e3
    );
}

const SERVICES: &[&str] = &[
    "Amazon Elastic Compute Cloud",
    "Amazon Simple Storage Service",
    "Amazon Relational Database Service",
    "AWS Lambda",
    "Amazon DynamoDB",
    "Amazon CloudWatch",
    "AWS Data Transfer",
    "Amazon Elastic Kubernetes Service",
];
const TEAMS: &[&str] = &["web", "data", "ml", "platform", "search"];

fn records(n: usize) -> Vec<FocusRecord> {
    let mut rng = Lcg(7);
    let start = Utc
        .with_ymd_and_hms(2024, 8, 1, 0, 0, 0)
        .single()
        .expect("t");
    (0..n)
        .map(|i| {
            let res = rng.next() % 50_000;
            let service = SERVICES[(res % SERVICES.len() as u64) as usize];
            let day = (rng.next() % 60) as i64;
            let cost = Decimal::new((rng.next() % 100_000) as i64, 4);
            let mut r = FocusRecord {
                provider_name: Text::from("AWS"),
                service_name: Text::from(service),
                service_category: ServiceCategory::Compute,
                charge_category: ChargeCategory::Usage,
                pricing_category: Some(PricingCategory::Standard),
                charge_period_start: start + Duration::days(day),
                charge_period_end: start + Duration::days(day + 1),
                effective_cost: cost,
                billed_cost: cost,
                region_id: Some(Text::from(["us-east-1", "eu-west-1", "ap-south-1"][i % 3])),
                sub_account_id: Some(Text::from(format!("{:012}", res % 40))),
                resource_id: Some(Text::from(format!(
                    "arn:aws:ec2:us-east-1:123456789012:instance/i-{res:017x}"
                ))),
                ..FocusRecord::default()
            };
            if !res.is_multiple_of(4) {
                r.tags.insert("team", TEAMS[(res % 5) as usize]);
            }
            if res.is_multiple_of(3) {
                r.tags.insert("env", "prod");
            }
            r.extensions = vec![(
                Text::from("x_UsageType"),
                Text::from("USE1-BoxUsage:m5.large"),
            )];
            r
        })
        .collect()
}

/// 50 rules: resources and cost series with different groupings, record scopes, and/or/not
/// filters with tags, fields, cost windows and percent changes.
fn rules_yaml() -> String {
    let mut y = String::from("version: 1\nrules:\n");
    for i in 0..50 {
        let service = SERVICES[i % SERVICES.len()];
        let team = TEAMS[i % TEAMS.len()];
        let body = match i % 5 {
            0 => format!(
                "    select: resources\n    records: {{ field: ServiceName, op: eq, value: \"{service}\" }}\n    filter:\n      and:\n        - tag: team\n          present: false\n        - cost: {{ op: gt, value: {}, window: 30d }}\n",
                20 + i
            ),
            1 => format!(
                "    select: cost_series\n    by: [ServiceName, RegionId]\n    filter:\n      or:\n        - change: {{ op: gt, value: {}, window: 7d }}\n        - cost: {{ op: gt, value: 100000, window: 7d }}\n",
                5 + i
            ),
            2 => format!(
                "    select: resources\n    filter:\n      and:\n        - tag: team\n          op: eq\n          value: {team}\n        - not: {{ tag: env, present: true }}\n        - cost: {{ op: ge, value: {}, window: 14d }}\n",
                10 + i
            ),
            3 => format!(
                "    select: cost_series\n    by: [SubAccountId, \"tag:team\"]\n    records: {{ field: RegionId, op: in, values: [us-east-1, eu-west-1] }}\n    filter:\n      and:\n        - cost: {{ op: gt, value: {} }}\n        - change: {{ op: lt, value: -5, window: 14d }}\n",
                100 + i
            ),
            _ => format!(
                "    select: resources\n    records:\n      and:\n        - field: ServiceName\n          op: ne\n          value: \"{service}\"\n        - field: EffectiveCost\n          op: gt\n          value: 1\n    filter:\n      or:\n        - field: x_UsageType\n          op: contains\n          value: SpotUsage\n        - cost: {{ op: gt, value: {}, window: 30d, basis: billed }}\n",
                60 + i
            ),
        };
        y.push_str(&format!(
            "  - name: rule-{i:02}\n{body}    actions:\n      - notify: finops\n      - finding: {{ severity: warning }}\n"
        ));
    }
    y
}

fn rules() {
    let recs = records(1_000_000);
    let yaml = rules_yaml();
    let mut cpu = f64::MAX;
    let (secs, (n, matches)) = best_of(3, || {
        let c0 = cpu_seconds();
        let file = RulesFile::parse(&yaml, "bench.yaml").expect("rules");
        let mut e = Engine::new(&file);
        for r in &recs {
            e.add(r);
        }
        let out = (file.rules.len(), e.evaluate(None));
        cpu = cpu.min(cpu_seconds() - c0);
        out
    });
    // A digest of every match (in output order), so runs before and after an engine change can
    // be compared: same count, same total and same hash mean the same findings.
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for m in &matches {
        let line = format!("{}|{}|{}|{}\n", m.rule, m.subject, m.currency, m.amount);
        for b in line.bytes() {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    let total: Decimal = matches.iter().map(|m| m.amount).sum();
    println!(
        "rules: {n} rules over {} records (50,000 resources, 60 days): {:.2} s wall, {:.2} s CPU (best of 3), {} matches, total {total}, digest {hash:016x}",
        recs.len(),
        secs,
        cpu,
        matches.len()
    );
}

fn main() {
    let which = std::env::args().nth(1).unwrap_or_default();
    if which.is_empty() || which.contains("sim") || which == "--bench" {
        simulation();
    }
    if which.is_empty() || which.contains("rules") || which == "--bench" {
        rules();
    }
}
