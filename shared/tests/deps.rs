//! Dependency maps: the fixture set under tests/fixtures/deps/ (FOCUS billing data, an AWS Config
//! snapshot, an Azure Resource Graph result, a Cloud Asset Inventory export and a CSV edge list).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::str::FromStr;

use costkit_core::deps::{svg::to_svg, DepGraph, DepsBuilder, DepsOptions, Inventory, Money};
use costkit_core::focus::FocusRecord;
use costkit_core::input::Progress;
use costkit_core::money::Currency;
use costkit_core::normalize::plan;
use costkit_core::output::{FocusSink, OutputError};
use costkit_core::pipeline;
use rust_decimal::Decimal;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/deps"
    ))
    .join(name)
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

fn usd(s: &str) -> Money {
    let mut m = Money::new();
    if !d(s).is_zero() {
        m.insert(Currency::new("USD"), d(s));
    }
    m
}

struct Collect(Vec<FocusRecord>);

impl FocusSink for Collect {
    fn write(&mut self, record: &FocusRecord) -> Result<(), OutputError> {
        self.0.push(record.clone());
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<u64, OutputError> {
        Ok(self.0.len() as u64)
    }
}

fn records() -> Vec<FocusRecord> {
    let jobs = plan(&[fixture("focus.csv")], None).expect("plan");
    let mut sink = Collect(Vec::new());
    pipeline::run(
        &jobs,
        &Progress::default(),
        Some(&mut sink),
        None,
        &mut || {},
    )
    .expect("normalize and reconcile");
    sink.0
}

fn graph() -> DepGraph {
    let mut b = DepsBuilder::new(DepsOptions::default());
    for f in [
        "aws-config-snapshot.json",
        "azure-resource-graph.json",
        "gcp-assets.ndjson",
        "edges.csv",
    ] {
        b.add_inventory(Inventory::load(&fixture(f)).expect(f));
    }
    for r in records() {
        b.add(&r);
    }
    b.finish()
}

fn node<'a>(g: &'a DepGraph, id: &str) -> &'a costkit_core::deps::Node {
    let i = g.find(id).unwrap_or_else(|| panic!("no node {id}"));
    &g.nodes[i]
}

const AZ: &str =
    "/subscriptions/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee/resourceGroups/rg-shop/providers/";

/// Every node's roll-up is the sum of the own costs of the nodes reachable from it, each once,
/// recomputed here with a plain breadth-first walk.
#[test]
fn every_roll_up_equals_the_sum_of_its_member_resources() {
    let g = graph();
    let mut children: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for e in &g.edges {
        children.entry(e.from).or_default().push(e.to);
    }
    for (i, n) in g.nodes.iter().enumerate() {
        let mut seen = BTreeSet::from([i]);
        let mut queue = vec![i];
        while let Some(x) = queue.pop() {
            for &c in children.get(&x).into_iter().flatten() {
                if seen.insert(c) {
                    queue.push(c);
                }
            }
        }
        let mut sum = Money::new();
        for &m in &seen {
            for (c, v) in &g.nodes[m].cost {
                *sum.entry(c.clone()).or_default() += *v;
            }
        }
        sum.retain(|_, v| !v.is_zero());
        assert_eq!(n.rolled_up, sum, "roll-up of {}", n.id);
        assert_eq!(n.members, seen.len() - 1, "members of {}", n.id);
    }
}

#[test]
fn roll_ups_match_hand_computed_values() {
    let g = graph();
    // app=shop: i-0web1 (60 + 40) with vol-0web1 (20, AWS Config), its snapshot (5, edge list)
    // and the multi-attached vol-0shared (15); i-0web2 (80); the Azure VM (40) and its disk (8).
    let shop = node(&g, "app=shop");
    assert_eq!(shop.rolled_up, usd("268.00"));
    assert_eq!(shop.deletion_saves, usd("268.00"));
    assert_eq!(shop.shared_cost, usd("0"));
    assert_eq!(
        shop.members, 9,
        "7 resources with cost and two network interfaces"
    );

    // vol-0shared hangs under both instances: in full in each roll-up, flagged, and not saved by
    // deleting either one alone.
    let web1 = node(&g, "i-0web1");
    assert_eq!(web1.cost, usd("100.00"));
    assert_eq!(web1.rolled_up, usd("140.00"));
    assert_eq!(web1.deletion_saves, usd("125.00"));
    assert_eq!(web1.shared_cost, usd("15.00"));
    let web2 = node(&g, "i-0web2");
    assert_eq!(web2.rolled_up, usd("95.00"));
    assert_eq!(web2.deletion_saves, usd("80.00"));
    let shared = node(&g, "vol-0shared");
    assert!(shared.shared);
    assert_eq!(shared.parents, 2);
    // The ARN alias from AWS Config resolves to the same node.
    assert_eq!(
        g.find("arn:aws:ec2:us-east-1:000123456789:instance/i-0web1"),
        g.find("i-0web1")
    );

    // The ECS service is named under its cluster by its own ARN and tagged app=api.
    let api = node(&g, "app=api");
    assert_eq!(api.rolled_up, usd("50.00"));
    assert_eq!(api.deletion_saves, usd("0"));
    assert_eq!(api.shared_cost, usd("50.00"));
    let cluster = node(
        &g,
        "arn:aws:ecs:us-east-1:000123456789:cluster/prod-cluster",
    );
    assert_eq!(cluster.rolled_up, usd("60.00"));
    assert_eq!(cluster.deletion_saves, usd("10.00"));

    // Azure: the lowercase billing id and the Resource Graph's mixed case are one node; the
    // database sits under its server by its id; the NIC's subnet is placement, not ownership.
    let vm = node(
        &g,
        &format!("{AZ}Microsoft.Compute/virtualMachines/vm-shop-1"),
    );
    assert_eq!(vm.rolled_up, usd("48.00"));
    assert!(vm.in_billing);
    let server = node(
        &g,
        &format!("{AZ}microsoft.sql/servers/sql-shop").to_ascii_lowercase(),
    );
    assert!(!server.in_billing);
    assert_eq!(server.rolled_up, usd("60.00"));
    assert!(g
        .find(&format!(
            "{AZ}Microsoft.Network/virtualNetworks/vnet-shop/subnets/default"
        ))
        .is_none());

    // Google Cloud: the billing global name (numeric instance id) is the asset's alias; the
    // organization rolls up its folder, project and instance.
    let org = node(&g, "organizations/333333333333");
    assert_eq!(org.rolled_up, usd("25.00"));
    assert_eq!(org.deletion_saves, usd("25.00"));
    assert_eq!(org.members, 3);

    // No network containers from AWS Config either.
    assert!(g.find("vpc-0main").is_none());
    assert!(g.find("sg-0web").is_none());
}

/// The grand total is each resource once plus the records without a ResourceId, and equals the
/// records' own total.
#[test]
fn the_grand_total_counts_every_resource_once() {
    let recs = records();
    let total: Decimal = recs.iter().map(|r| r.effective_cost).sum();
    let g = graph();
    assert_eq!(g.totals.total, usd(&total.to_string()));
    assert_eq!(g.totals.total, usd("425.34"));
    assert_eq!(g.totals.resources, usd("413.00"));
    assert_eq!(g.totals.unattributed, usd("12.34"));
    let own: Decimal = g.nodes.iter().flat_map(|n| n.cost.values()).copied().sum();
    assert_eq!(own + d("12.34"), total);
    // Summing the roots' roll-ups would count vol-0shared-like nodes more than once; the
    // shared service under app=api and the cluster shows it.
    let roots: Decimal = g
        .nodes
        .iter()
        .filter(|n| n.root)
        .flat_map(|n| n.rolled_up.values())
        .copied()
        .sum();
    assert!(roots > own, "roots {roots} vs own {own}");
}

#[test]
fn the_graph_renders_to_svg_with_every_node() {
    let g = graph();
    let svg = to_svg(&g).expect("layout");
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let ids: BTreeSet<&str> = doc
        .descendants()
        .filter_map(|n| n.attribute("data-node"))
        .collect();
    let expected: BTreeSet<&str> = g.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, expected);
    // The tag value with quotes, an ampersand and angle brackets survives as text.
    let text: String = doc
        .descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect();
    assert!(text.contains("app app=data \"orders\" & <co>"), "{text}");
    assert!(text.contains("268.00 USD"), "{svg}");
    // One path per edge at least (arrows are paths).
    let paths = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "path")
        .count();
    assert!(
        paths >= g.edges.len(),
        "{paths} paths, {} edges",
        g.edges.len()
    );
}

#[test]
fn the_dot_output_is_escaped_and_parses() {
    let g = graph();
    let dot = g.to_dot();
    assert!(dot.contains(r#"app app=data \"orders\" & <co>"#), "{dot}");
    // The layout library's own DOT parser reads it back with every node and edge.
    let mut parser = layout::gv::DotParser::new(&dot);
    let ast = parser.process().expect("valid DOT");
    let mut builder = layout::gv::GraphBuilder::new();
    builder.visit_graph(&ast);
    let vg = builder.get();
    assert_eq!(vg.num_nodes(), g.nodes.len());
    for (i, n) in g.nodes.iter().enumerate() {
        assert!(dot.contains(&format!("  n{i} [label=\"")), "{}", n.id);
    }
    assert_eq!(
        dot.matches(" -> ").count(),
        g.edges.len(),
        "one DOT edge per graph edge"
    );
}

#[test]
fn inventory_errors_name_the_file_line_and_field() {
    let e = Inventory::parse("from,to\nvol-1,\n", "edges.csv").expect_err("empty to");
    assert_eq!(e.to_string(), "edges.csv:2: column `to`: empty");
    let e = Inventory::parse("a,b\n1,2\n", "edges.csv").expect_err("header");
    assert!(e
        .to_string()
        .starts_with("edges.csv:1: a CSV edge list needs the header"));
    let e = Inventory::parse(
        r#"{"configurationItems": [{"relationships": [], "resourceType": "AWS::EC2::Volume"}]}"#,
        "config.json",
    )
    .expect_err("no resourceId");
    assert_eq!(
        e.to_string(),
        "config.json:0: [0].resourceId: missing or not a string"
    );
    let e = Inventory::parse("{\"name\": \"x\"}\n{broken\n", "assets.ndjson").expect_err("json");
    assert!(
        e.to_string().starts_with("assets.ndjson:2: not valid JSON"),
        "{e}"
    );
    let e = Inventory::parse(r#"[{"foo": 1}]"#, "x.json").expect_err("unknown");
    assert!(e.to_string().contains("unknown inventory row"), "{e}");
}

#[test]
fn ids_name_their_parents_only_where_the_id_carries_one() {
    use costkit_core::deps::id_parent;
    assert_eq!(
        id_parent("arn:aws:elasticloadbalancing:us-east-1:1:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2")
            .map(|p| p.0),
        Some("arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/web/50dc6c495c0c9188".into())
    );
    assert_eq!(
        id_parent("arn:aws:dynamodb:us-east-1:1:table/orders/index/by-date").map(|p| p.0),
        Some("arn:aws:dynamodb:us-east-1:1:table/orders".into())
    );
    assert_eq!(
        id_parent("arn:aws:eks:us-east-1:1:nodegroup/prod/ng-1/abcd").map(|p| p.0),
        Some("arn:aws:eks:us-east-1:1:cluster/prod".into())
    );
    // A snapshot's ARN does not name its volume; an instance has no parent in its id.
    assert_eq!(id_parent("arn:aws:ec2:us-east-1:1:snapshot/snap-1"), None);
    assert_eq!(id_parent("i-0abc"), None);
    // Ids are not ASCII-only: no byte slicing inside a character.
    assert_eq!(id_parent("/subscriptiöns/ü/x"), None);
    assert_eq!(id_parent("ünïcödé-résöurce-nämé"), None);
    assert_eq!(
        id_parent(
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/vm1"
        ),
        None
    );
    assert_eq!(
        id_parent(
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.Sql/servers/s1/databases/d1"
        )
        .map(|p| p.0),
        Some("/subscriptions/s/resourceGroups/g/providers/Microsoft.Sql/servers/s1".into())
    );
}

#[test]
fn a_cycle_without_an_entry_still_rolls_up_once() {
    let inv =
        Inventory::parse("from,to,relation\na,b,uses\nb,a,uses\nb,c,uses\n", "e.csv").expect("csv");
    let mut b = DepsBuilder::new(DepsOptions::default());
    b.add_inventory(inv);
    let g = b.finish();
    let a = node(&g, "a");
    assert!(a.root);
    assert_eq!(a.members, 2);
    assert_eq!(node(&g, "b").members, 2);
}
