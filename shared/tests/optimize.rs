//! Commitment simulation and idle-resource rules: hand-computed examples and the FOCUS 1.2 spec's
//! commitment-discount scenario files.

use std::path::PathBuf;

use chrono::{DateTime, Duration, TimeZone, Utc};
use costkit_core::focus::{ChargeCategory, CommitmentDiscountStatus, FocusRecord, PricingCategory};
use costkit_core::input::Progress;
use costkit_core::normalize::plan;
use costkit_core::optimize::commitments::{
    recommend, CommitmentOptions, CommitmentType, Resolution, SeriesBuilder,
};
use costkit_core::optimize::idle::{IdleAnalyzer, IdleOptions};
use costkit_core::optimize::metrics::Metrics;
use costkit_core::optimize::simulate::{simulate_hours, Payment, Simulator, Terms};
use costkit_core::text::Text;
use rust_decimal::Decimal;

fn d(s: &str) -> Decimal {
    s.parse().expect(s)
}

fn sample(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../samples/focus/spec-1.2-examples")
        .join(format!("commitment_discount_scenarios__{name}.csv"))
}

fn read(path: &PathBuf) -> Vec<FocusRecord> {
    let jobs = plan(std::slice::from_ref(path), None).expect("plan");
    let mut out = Vec::new();
    for job in jobs {
        for r in job.open(&Progress::default()).expect("open") {
            out.push(r.expect("record"));
        }
    }
    out
}

/// The spec's usage scenarios show one hour of a 1.00 USD/hour spend commitment (purchase
/// scenario 2: Recurring, CommitmentDiscountQuantity 1.00) against different usage. Rebuilding the
/// hour's demand from the file (what the covered and on-demand rows consumed) and simulating the
/// commitment hour by hour must give the file's Used / Unused / on-demand EffectiveCost split.
#[test]
fn reproduces_the_focus_spec_commitment_scenarios() {
    let purchase = read(&sample("commitment_discount_purchase_scenario_2"));
    let hourly = purchase[0]
        .commitment_discount_quantity
        .expect("commitment quantity");
    assert_eq!(hourly, d("1.00"));
    for name in [
        "commitment_discount_usage_scenario_1",
        "commitment_discount_usage_scenario_2",
        "commitment_discount_usage_scenario_3",
        "commitment_discount_usage_scenario_4",
    ] {
        let recs = read(&sample(name));
        let sum = |f: &dyn Fn(&FocusRecord) -> bool| -> Decimal {
            recs.iter().filter(|r| f(r)).map(|r| r.effective_cost).sum()
        };
        let used = sum(&|r| r.commitment_discount_status == Some(CommitmentDiscountStatus::Used));
        let unused =
            sum(&|r| r.commitment_discount_status == Some(CommitmentDiscountStatus::Unused));
        let on_demand = sum(&|r| r.pricing_category == Some(PricingCategory::Standard));
        // The demand: everything consumed in the hour, at the prices the file shows (the spec's
        // examples price covered usage at the commitment rate, i.e. a discount of 0 here).
        let demand = used + on_demand;
        let hour = simulate_hours(&[demand], hourly, Decimal::ZERO)[0];
        assert_eq!(hour.used, used, "{name}: used");
        assert_eq!(hour.unused, unused, "{name}: unused");
        assert_eq!(hour.on_demand, on_demand, "{name}: on demand");
        // And the sorted simulator agrees: total cost = commitment + on-demand = Σ EffectiveCost.
        let sim = Simulator::new(
            &[demand],
            Terms::new(Decimal::ZERO, 1, Payment::NoUpfront).expect("terms"),
        );
        let p = sim.at_commitment(hourly);
        assert_eq!(
            p.cost,
            recs.iter().map(|r| r.effective_cost).sum::<Decimal>(),
            "{name}"
        );
        assert_eq!(
            (p.used, p.unused, p.on_demand),
            (used, unused, on_demand),
            "{name}"
        );
    }
}

/// Purchase scenarios 1 and 3: 1.00 USD/hour for a year, all upfront (8760.00 One-Time) and
/// partial upfront (4380.00 One-Time + 0.50 Recurring per hour).
#[test]
fn purchase_scenarios_match_the_payment_options() {
    let all = read(&sample("commitment_discount_purchase_scenario_1"));
    let t = Terms::new(d("0.3"), 1, Payment::AllUpfront).expect("terms");
    assert_eq!(t.upfront(d("1")), all[0].billed_cost);
    let partial = read(&sample("commitment_discount_purchase_scenario_3"));
    let t = Terms::new(d("0.3"), 1, Payment::PartialUpfront).expect("terms");
    let one_time: Vec<_> = partial
        .iter()
        .filter(|r| r.charge_period_end - r.charge_period_start > Duration::days(300))
        .collect();
    assert_eq!(one_time.len(), 1);
    assert_eq!(t.upfront(d("1")), one_time[0].billed_cost);
    for r in partial
        .iter()
        .filter(|r| r.charge_period_end - r.charge_period_start < Duration::days(300))
    {
        assert_eq!(t.recurring_hourly(d("1")), r.billed_cost);
    }
}

fn at(h: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 0, 0, 0)
        .single()
        .expect("t")
        + Duration::hours(h)
}

fn usage(id: &str, usage_type: &str, start: i64, hours: i64, cost: &str) -> FocusRecord {
    let mut r = FocusRecord {
        provider_name: Text::from("AWS"),
        service_name: Text::from("Amazon Elastic Compute Cloud"),
        charge_category: ChargeCategory::Usage,
        pricing_category: Some(PricingCategory::Standard),
        charge_period_start: at(start),
        charge_period_end: at(start + hours),
        effective_cost: d(cost),
        billed_cost: d(cost),
        resource_id: Some(Text::from(id)),
        region_id: Some(Text::from("us-east-1")),
        availability_zone: Some(Text::from("us-east-1a")),
        sub_account_id: Some(Text::from("111111111111")),
        ..FocusRecord::default()
    };
    r.extensions = vec![
        (Text::from("x_ServiceCode"), Text::from("AmazonEC2")),
        (Text::from("x_UsageType"), Text::from(usage_type)),
        (Text::from("x_Operation"), Text::from("RunInstances")),
    ];
    r
}

#[test]
fn builds_series_per_commitment_type_and_recommends_the_hand_computed_level() {
    // Two days. Hours 0-7 of each day run four m5.large (0.384/h), the other hours one (0.096).
    let mut b = SeriesBuilder::new();
    for h in 0..48 {
        let n = if h % 24 < 8 { 4 } else { 1 };
        for i in 0..n {
            b.add(&usage(
                &format!("i-{i}"),
                "USE1-BoxUsage:m5.large",
                h,
                1,
                "0.096",
            ));
        }
    }
    // Not eligible: spot, and commitment-covered usage.
    let mut spot = usage("i-9", "USE1-SpotUsage:m5.large", 0, 1, "0.03");
    spot.pricing_category = Some(PricingCategory::Dynamic);
    b.add(&spot);
    let mut covered = usage("i-8", "USE1-BoxUsage:m5.large", 0, 1, "0.05");
    covered.pricing_category = Some(PricingCategory::Committed);
    covered.commitment_discount_id = Some(Text::from("arn:sp"));
    b.add(&covered);
    let series = b.finish();
    assert_eq!(
        series.len(),
        2,
        "a Savings Plan and an m5 reservation series"
    );
    let ri = series
        .iter()
        .find(|s| s.key.commitment == CommitmentType::ReservedInstance)
        .expect("ri");
    assert_eq!(ri.key.family.as_deref(), Some("m5"));
    assert_eq!(ri.key.region.as_deref(), Some("us-east-1"));
    assert_eq!(ri.values.len(), 48);
    assert_eq!(ri.resolution, Resolution::Hourly);
    assert_eq!(
        ri.values.iter().copied().sum::<Decimal>(),
        d("0.096") * d("96")
    );

    let opts = CommitmentOptions {
        terms: Terms::new(d("0.4"), 1, Payment::NoUpfront).expect("terms"),
        types: vec![CommitmentType::ReservedInstance],
        min_utilization: d("0.95"),
        min_eligible: Decimal::ZERO,
    };
    let recs = recommend(&series, &opts);
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    // 40% discount: the optimum is the ⌈48 × 0.4⌉ = 20th smallest hour = 0.096 (32 hours have
    // one instance). Commitment 0.096 × 0.6 = 0.0576/h; savings = 48 × 0.096 × 0.4 = 1.8432.
    assert_eq!(
        r.max_savings.commitment,
        d("0.057"),
        "rounded down to 0.001"
    );
    let exact = Simulator::new(&ri.values, opts.terms).at_level(d("0.096"));
    assert_eq!(exact.savings, d("1.8432"));
    assert_eq!(exact.utilization, Decimal::ONE);
    assert_eq!(r.conservative.commitment, d("0.057"));
    // The curve's levels: the series has two distinct hourly values.
    let levels: Vec<Decimal> = r.curve.iter().map(|p| p.level).collect();
    assert_eq!(levels, vec![d("0.096"), d("0.384")]);
    assert!(r.curve[0].savings > r.curve[1].savings);
    let f = r.finding("max-savings", at(0)).expect("finding");
    assert_eq!(f.amount, Some(r.max_savings.monthly_savings.round_dp(2)));
    assert!(f
        .id
        .starts_with("recommendation:commitment:reserved-instance/AWS/AmazonEC2/m5/us-east-1"));
}

#[test]
fn daily_records_are_spread_exactly() {
    let mut b = SeriesBuilder::new();
    b.add(&usage("i-1", "BoxUsage:m5.large", 0, 24, "10.00"));
    let s = b.finish();
    let sp = &s[0];
    assert_eq!(sp.resolution, Resolution::Spread);
    assert_eq!(sp.values.len(), 24);
    assert_eq!(sp.values.iter().copied().sum::<Decimal>(), d("10.00"));
}

#[test]
fn idle_rules_flag_merge_and_price_resources() {
    // 40 days of data ending 2024-04-10. Zone a: an instance that stopped on day 20 and a volume
    // billing all along. Zone b: a volume and no instance ever. An idle address, a quiet NAT
    // gateway and a busy one, and an instance with metrics.
    let mut a = IdleAnalyzer::new();
    let day = 24;
    for dd in 0..40 {
        let h = dd * day;
        if dd < 20 {
            a.add(&usage(
                "i-stopped",
                "USE1-BoxUsage:m5.large",
                h,
                24,
                "2.304",
            ));
        }
        a.add(&usage("vol-a", "USE1-EBS:VolumeUsage.gp3", h, 24, "0.50"));
        let mut vb = usage("vol-b", "USE1-EBS:VolumeUsage.gp3", h, 24, "0.25");
        vb.availability_zone = Some(Text::from("us-east-1b"));
        a.add(&vb);
        a.add(&usage(
            "eipalloc-1",
            "USE1-ElasticIP:IdleAddress",
            h,
            24,
            "0.12",
        ));
        a.add(&usage("nat-quiet", "USE1-NatGateway-Hours", h, 24, "1.08"));
        let mut bytes = usage("nat-quiet", "USE1-NatGateway-Bytes", h, 24, "0.0045");
        bytes.consumed_quantity = Some(d("0.1"));
        a.add(&bytes);
        a.add(&usage("nat-busy", "USE1-NatGateway-Hours", h, 24, "1.08"));
        let mut busy = usage("nat-busy", "USE1-NatGateway-Bytes", h, 24, "0.45");
        busy.consumed_quantity = Some(d("10"));
        a.add(&busy);
        let mut web = usage("i-web", "USE1-BoxUsage:m5.large", h, 24, "2.304");
        web.availability_zone = Some(Text::from("us-east-1c"));
        a.add(&web);
    }
    let metrics = Metrics::parse(
        "resource_id,timestamp,cpu_max,io_ops\ni-web,2024-04-05T00:00:00Z,12.5,\ni-web,2024-04-09T00:00:00Z,20,\nvol-b,2024-04-08T00:00:00Z,,0\n",
        "metrics.csv",
    )
    .expect("metrics");
    let recs = a.recommend(&IdleOptions::default(), Some(&metrics));
    let get = |id: &str| recs.iter().find(|r| r.resource_id == id);
    let rules =
        |id: &str| -> Vec<&str> { get(id).expect(id).hits.iter().map(|h| h.rule).collect() };
    assert_eq!(rules("vol-a"), vec!["ebs-stopped-instance"]);
    // vol-b is flagged by the billing rule and by its metrics: one recommendation, savings not
    // added up.
    assert_eq!(rules("vol-b"), vec!["ebs-unattached", "ebs-no-io"]);
    assert_eq!(get("vol-b").expect("vol-b").monthly_savings, d("7.50"));
    assert_eq!(get("vol-a").expect("vol-a").monthly_savings, d("15.00"));
    assert_eq!(rules("eipalloc-1"), vec!["eip-idle"]);
    assert_eq!(get("eipalloc-1").expect("eip").monthly_savings, d("3.60"));
    // 30 days × 0.1 GB = 3 GB < 10 GB: idle; 30 × (1.08 + 0.0045).
    assert_eq!(rules("nat-quiet"), vec!["nat-low-traffic"]);
    assert_eq!(get("nat-quiet").expect("nat").monthly_savings, d("32.535"));
    assert!(get("nat-busy").is_none());
    // Max CPU 20% with 20% headroom: 20 × 1.2 = 24 <= 50 → half of 30 × 2.304.
    assert_eq!(rules("i-web"), vec!["instance-downsize"]);
    assert_eq!(get("i-web").expect("web").monthly_savings, d("34.56"));
    // The stopped instance costs nothing now and is not a recommendation of its own.
    assert!(get("i-stopped").is_none());
    let f = get("vol-b").expect("vol-b").finding(at(0));
    assert_eq!(f.id, "recommendation:idle:vol-b:2024-04-09");
    assert_eq!(f.amount, Some(d("7.50")));
    // Deterministic: the same data gives the same recommendations.
    assert_eq!(recs, a.recommend(&IdleOptions::default(), Some(&metrics)));
}
