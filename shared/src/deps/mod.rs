//! Resource dependency maps with cost roll-up.
//!
//! A directed graph whose edge `a → b` means "b belongs to, or is used by, a": deleting `a` may
//! remove `b`. Edges come from what is really known:
//!
//! * **Billing ids**: the structure of a resource id names its parent for a few resource kinds
//!   ([`id_parent`]): an ECS service or task in its cluster, an EKS node group, Fargate profile or
//!   add-on in its cluster, a load balancer listener (and listener rule) in its load balancer, a
//!   DynamoDB index or stream in its table, and an Azure child resource in its parent
//!   (`.../servers/s/databases/d` in `.../servers/s`). Billing data has no other wiring: a CUR
//!   does not say which volume a snapshot came from, or which instance a volume is attached to.
//! * **Tags**: the first of the configured keys (`app`, `stack`, `service` by default) a
//!   resource carries puts it under an application node `key=value`.
//! * **Inventory files** ([`inventory`]): AWS Config relationships, Azure Resource Graph
//!   references, Cloud Asset Inventory parents, a CSV edge list.
//!
//! Costs are the resources' own charges from FOCUS records (EffectiveCost or BilledCost), exact.
//!
//! **Roll-up.** The cost of a node is Σ own cost of every node reachable from it, itself
//! included, each counted once however many paths lead to it. A node reachable from outside the
//! node's subtree too (a subnet used by two applications, a resource tagged for two apps over
//! time) is **shared**: it is counted in full in the roll-up of each node it is reachable from,
//! and that part is reported on its own (`shared_cost`), so the roll-up splits into what the node
//! alone carries and what it shares. **Deleting a node saves** its own cost plus the cost of the
//! nodes reachable only through it: the nodes it dominates (every path from a root to them passes
//! through it), computed with the dominator tree. The **grand total** is Σ own cost of the nodes,
//! each once, plus the cost of records without a ResourceId (`unattributed`): it equals the
//! records' total and never adds roll-ups together.

pub mod inventory;
pub mod svg;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use petgraph::algo::dominators::simple_fast;
use petgraph::graph::{DiGraph, NodeIndex};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::focus::FocusRecord;
use crate::money::Currency;
use crate::rules::config::Basis;
pub use inventory::{EdgeSource, Inventory, InventoryError, Item, Relation};

/// Amounts per currency (currencies are never added together).
pub type Money = BTreeMap<Currency, Decimal>;

fn add_money(into: &mut Money, from: &Money) {
    for (c, v) in from {
        *into.entry(c.clone()).or_default() += *v;
    }
}

fn sub_money(a: &Money, b: &Money) -> Money {
    let mut out = a.clone();
    for (c, v) in b {
        *out.entry(c.clone()).or_default() -= *v;
    }
    out.retain(|_, v| !v.is_zero());
    out
}

/// How the graph is built.
#[derive(Clone, Debug)]
pub struct DepsOptions {
    /// Tag keys naming a resource's application, in order of preference.
    pub tag_keys: Vec<String>,
    /// Which cost to roll up.
    pub basis: Basis,
}

impl Default for DepsOptions {
    fn default() -> Self {
        DepsOptions {
            tag_keys: vec!["app".into(), "stack".into(), "service".into()],
            basis: Basis::Effective,
        }
    }
}

/// What a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// An application: every resource tagged `key=value`.
    Application,
    /// A resource (from the billing data or an inventory).
    Resource,
}

#[derive(Debug, Default)]
struct Facts {
    name: Option<String>,
    service: Option<String>,
    cost: Money,
    apps: BTreeSet<(String, String)>,
}

/// Collects billing records and inventories, then builds the graph.
#[derive(Debug, Default)]
pub struct DepsBuilder {
    opts: DepsOptions,
    resources: BTreeMap<String, Facts>,
    unattributed: Money,
    total: Money,
    records: u64,
    inventories: Vec<Inventory>,
}

/// An Azure Resource Manager id (`/subscriptions/...`).
fn is_arm(id: &str) -> bool {
    id.get(..15)
        .is_some_and(|p| p.eq_ignore_ascii_case("/subscriptions/"))
}

/// Node key: ARM ids are case-insensitive (billing exports lowercase them), everything else is
/// compared exactly.
fn key(id: &str) -> String {
    if is_arm(id) {
        id.to_ascii_lowercase()
    } else {
        id.to_string()
    }
}

impl DepsBuilder {
    /// An empty builder.
    pub fn new(opts: DepsOptions) -> DepsBuilder {
        DepsBuilder {
            opts,
            ..DepsBuilder::default()
        }
    }

    /// Adds an inventory's resources and relations.
    pub fn add_inventory(&mut self, inv: Inventory) {
        self.inventories.push(inv);
    }

    /// Adds one FOCUS record's cost to its resource (or to the unattributed cost).
    pub fn add(&mut self, r: &FocusRecord) {
        self.records += 1;
        let cost = match self.opts.basis {
            Basis::Effective => r.effective_cost,
            Basis::Billed => r.billed_cost,
        };
        *self.total.entry(r.billing_currency.clone()).or_default() += cost;
        let Some(id) = r.resource_id.as_ref().filter(|s| !s.is_empty()) else {
            *self
                .unattributed
                .entry(r.billing_currency.clone())
                .or_default() += cost;
            return;
        };
        let f = self.resources.entry(key(id)).or_default();
        *f.cost.entry(r.billing_currency.clone()).or_default() += cost;
        if f.name.is_none() {
            f.name = r.resource_name.as_ref().map(|s| s.to_string());
        }
        if f.service.is_none() {
            f.service = Some(r.service_name.to_string());
        }
        if let Some((k, v)) = self
            .opts
            .tag_keys
            .iter()
            .find_map(|k| r.tags.get(k).map(|v| (k, v.to_text())))
            .filter(|(_, v)| !v.is_empty())
        {
            if !f.apps.iter().any(|(ak, av)| ak == k && av == v.as_str()) {
                f.apps.insert((k.clone(), v.to_string()));
            }
        }
    }

    /// Builds the graph and computes every roll-up.
    pub fn finish(self) -> DepGraph {
        let mut g = Build::default();
        // Inventory items first: their aliases (resource id and ARN) must be known before the
        // billing ids are resolved.
        for inv in &self.inventories {
            for item in &inv.items {
                let Some(first) = item.ids.first() else {
                    continue;
                };
                let idx = g.resolve(first, NodeKind::Resource);
                for alias in &item.ids[1..] {
                    g.alias.entry(key(alias)).or_insert(idx);
                }
                let n = &mut g.nodes[idx];
                if n.resource_type.is_none() {
                    n.resource_type = item.resource_type.clone();
                }
                if n.name.is_none() {
                    n.name = item.name.clone();
                }
            }
        }
        for (id, f) in &self.resources {
            let idx = g.resolve(id, NodeKind::Resource);
            let n = &mut g.nodes[idx];
            add_money(&mut n.cost, &f.cost);
            n.in_billing = true;
            if n.name.is_none() {
                n.name = f.name.clone();
            }
            if n.resource_type.is_none() {
                n.resource_type = f.service.clone();
            }
            for (k, v) in &f.apps {
                let app = g.resolve(&format!("{k}={v}"), NodeKind::Application);
                g.edge(app, idx, "tag", EdgeSource::Tag);
            }
        }
        for inv in &self.inventories {
            for r in &inv.relations {
                let a = g.resolve(&r.from, NodeKind::Resource);
                let b = g.resolve(&r.to, NodeKind::Resource);
                g.edge(a, b, &r.relation, r.source);
            }
        }
        // Parents named by the ids themselves, up to the top (a listener rule's listener's load
        // balancer).
        let mut i = 0;
        while i < g.nodes.len() {
            if g.nodes[i].kind == NodeKind::Resource {
                if let Some((parent, rel)) = id_parent(&g.nodes[i].id) {
                    let p = g.resolve(&parent, NodeKind::Resource);
                    if g.nodes[p].name.is_none() {
                        g.nodes[p].name = parent.rsplit('/').next().map(str::to_string);
                    }
                    g.edge(p, i, rel, EdgeSource::BillingId);
                }
            }
            i += 1;
        }
        g.roll_up(self.unattributed, self.total, self.records)
    }
}

#[derive(Debug, Default)]
struct Build {
    nodes: Vec<Node>,
    index: HashMap<String, usize>,
    alias: HashMap<String, usize>,
    edges: Vec<DepEdge>,
    seen: HashSet<(usize, usize)>,
}

impl Build {
    fn resolve(&mut self, id: &str, kind: NodeKind) -> usize {
        let k = match kind {
            NodeKind::Application => format!("app:{id}"),
            NodeKind::Resource => key(id),
        };
        if let Some(&i) = self.index.get(&k).or_else(|| self.alias.get(&k)) {
            return i;
        }
        let i = self.nodes.len();
        self.nodes.push(Node {
            id: id.to_string(),
            kind,
            name: None,
            resource_type: None,
            in_billing: false,
            cost: Money::new(),
            rolled_up: Money::new(),
            deletion_saves: Money::new(),
            shared_cost: Money::new(),
            members: 0,
            parents: 0,
            shared: false,
            root: false,
        });
        self.index.insert(k, i);
        i
    }

    fn edge(&mut self, from: usize, to: usize, relation: &str, source: EdgeSource) {
        if from == to || !self.seen.insert((from, to)) {
            return;
        }
        self.edges.push(DepEdge {
            from,
            to,
            relation: relation.to_string(),
            source,
        });
    }

    fn roll_up(mut self, unattributed: Money, total: Money, records: u64) -> DepGraph {
        let n = self.nodes.len();
        let mut graph: DiGraph<(), ()> = DiGraph::with_capacity(n + 1, self.edges.len() + n);
        for _ in 0..n {
            graph.add_node(());
        }
        let mut children = vec![Vec::new(); n];
        let mut indegree = vec![0usize; n];
        for e in &self.edges {
            graph.add_edge(NodeIndex::new(e.from), NodeIndex::new(e.to), ());
            children[e.from].push(e.to);
            indegree[e.to] += 1;
        }
        // A virtual root above every node nothing points to; a cycle nothing enters gets its
        // first node (in build order, which is deterministic) as a root.
        let vroot = graph.add_node(());
        let mut visited = vec![false; n];
        let mut stack = Vec::new();
        let mut roots: Vec<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
        let mut next = 0;
        loop {
            for &r in &roots[next..] {
                if !visited[r] {
                    visited[r] = true;
                    stack.push(r);
                }
                while let Some(x) = stack.pop() {
                    for &c in &children[x] {
                        if !visited[c] {
                            visited[c] = true;
                            stack.push(c);
                        }
                    }
                }
            }
            next = roots.len();
            match visited.iter().position(|v| !v) {
                Some(i) => roots.push(i),
                None => break,
            }
        }
        for &r in &roots {
            graph.add_edge(vroot, NodeIndex::new(r), ());
            self.nodes[r].root = true;
        }
        // Deleting a node removes what it dominates.
        let dom = simple_fast(&graph, vroot);
        let mut dom_children = vec![Vec::new(); n];
        let mut top = Vec::new();
        for i in 0..n {
            match dom.immediate_dominator(NodeIndex::new(i)) {
                Some(d) if d != vroot => dom_children[d.index()].push(i),
                _ => top.push(i),
            }
        }
        let mut order = Vec::with_capacity(n);
        let mut st: Vec<usize> = top.clone();
        while let Some(x) = st.pop() {
            order.push(x);
            st.extend(dom_children[x].iter().copied());
        }
        // Children come after their dominator in `order`: sum bottom-up.
        let mut saves: Vec<Money> = self.nodes.iter().map(|x| x.cost.clone()).collect();
        for &x in order.iter().rev() {
            let sum: Vec<Money> = dom_children[x].iter().map(|&c| saves[c].clone()).collect();
            for s in &sum {
                add_money(&mut saves[x], s);
            }
        }
        // Roll-up: each reachable node once (a stamp per walk instead of a fresh set).
        let mut stamp = vec![usize::MAX; n];
        for i in 0..n {
            let mut rolled = Money::new();
            let mut members = 0usize;
            stamp[i] = i;
            stack.push(i);
            while let Some(x) = stack.pop() {
                add_money(&mut rolled, &self.nodes[x].cost);
                members += 1;
                for &c in &children[x] {
                    if stamp[c] != i {
                        stamp[c] = i;
                        stack.push(c);
                    }
                }
            }
            rolled.retain(|_, v| !v.is_zero());
            let node = &mut self.nodes[i];
            node.members = members - 1;
            node.parents = indegree[i];
            node.shared = indegree[i] > 1;
            node.shared_cost = sub_money(&rolled, &saves[i]);
            saves[i].retain(|_, v| !v.is_zero());
            node.deletion_saves = std::mem::take(&mut saves[i]);
            node.rolled_up = rolled;
        }
        let mut resources = Money::new();
        for node in &self.nodes {
            add_money(&mut resources, &node.cost);
        }
        let mut index = self.index;
        for (k, v) in self.alias {
            index.entry(k).or_insert(v);
        }
        DepGraph {
            nodes: self.nodes,
            edges: self.edges,
            index,
            totals: Totals {
                resources,
                unattributed,
                total,
                records,
            },
        }
    }
}

/// A node with its costs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Node {
    /// Resource id (as first seen) or `key=value` for an application.
    pub id: String,
    /// Application or resource.
    pub kind: NodeKind,
    /// ResourceName or the inventory's name.
    pub name: Option<String>,
    /// The inventory's resource type, else the billing ServiceName.
    pub resource_type: Option<String>,
    /// Whether the billing data has charges for it.
    pub in_billing: bool,
    /// Its own charges.
    pub cost: Money,
    /// Σ own cost of every node reachable from it, itself included, each once.
    pub rolled_up: Money,
    /// What deleting it saves: its own cost plus the nodes reachable only through it.
    pub deletion_saves: Money,
    /// The part of the roll-up that is reachable from outside its subtree too
    /// (`rolled_up − deletion_saves`).
    pub shared_cost: Money,
    /// How many nodes are reachable from it (itself not counted).
    pub members: usize,
    /// How many nodes point to it.
    pub parents: usize,
    /// More than one parent: counted in full under each of them.
    pub shared: bool,
    /// Nothing points to it (or it heads a cycle nothing enters).
    pub root: bool,
}

impl Node {
    /// A short label: the name (when it differs from the id) and the id.
    pub fn label(&self) -> String {
        match (&self.name, self.kind) {
            (_, NodeKind::Application) => format!("app {}", self.id),
            // ARM ids and asset names end with the name: the name alone reads better.
            (Some(n), _) if self.id.ends_with(&format!("/{n}")) => n.clone(),
            (Some(n), _) if n != &self.id => format!("{n} ({})", self.id),
            _ => self.id.clone(),
        }
    }
}

/// An edge between nodes (indices into [`DepGraph::nodes`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DepEdge {
    /// The owning or using node.
    pub from: usize,
    /// The owned or used node.
    pub to: usize,
    /// The relation, as its source names it.
    pub relation: String,
    /// Where the relation came from.
    pub source: EdgeSource,
}

/// The totals that reconcile with the records.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Totals {
    /// Σ own cost of every node, each once.
    pub resources: Money,
    /// Records without a ResourceId (not in the graph).
    pub unattributed: Money,
    /// Σ cost of every record: `resources + unattributed`.
    pub total: Money,
    /// Records read.
    pub records: u64,
}

/// The dependency graph with its roll-ups.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DepGraph {
    /// Nodes in build order.
    pub nodes: Vec<Node>,
    /// Edges, each once.
    pub edges: Vec<DepEdge>,
    /// Totals.
    pub totals: Totals,
    /// Node keys and aliases (resource id, ARN, numeric GCP name) to indices.
    #[serde(skip)]
    index: HashMap<String, usize>,
}

impl DepGraph {
    /// The index of the node with this id or alias (ARM ids case-insensitive); applications are
    /// found by `key=value`.
    pub fn find(&self, id: &str) -> Option<usize> {
        self.index
            .get(&key(id))
            .or_else(|| self.index.get(&format!("app:{id}")))
            .copied()
    }

    /// The part of the graph reachable from `roots` (indices), with the roll-ups computed on the
    /// whole graph (a shared node keeps its full-graph flags); totals stay those of the whole data.
    pub fn reachable_from(&self, roots: &[usize]) -> DepGraph {
        let mut children = vec![Vec::new(); self.nodes.len()];
        for e in &self.edges {
            children[e.from].push(e.to);
        }
        let mut keep = vec![false; self.nodes.len()];
        let mut stack: Vec<usize> = roots
            .iter()
            .copied()
            .filter(|&r| r < self.nodes.len())
            .collect();
        for &r in &stack {
            keep[r] = true;
        }
        while let Some(x) = stack.pop() {
            for &c in &children[x] {
                if !keep[c] {
                    keep[c] = true;
                    stack.push(c);
                }
            }
        }
        let mut map = vec![usize::MAX; self.nodes.len()];
        let mut nodes = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if keep[i] {
                map[i] = nodes.len();
                nodes.push(n.clone());
            }
        }
        let edges = self
            .edges
            .iter()
            .filter(|e| keep[e.from] && keep[e.to])
            .map(|e| DepEdge {
                from: map[e.from],
                to: map[e.to],
                ..e.clone()
            })
            .collect();
        let index = self
            .index
            .iter()
            .filter(|(_, &i)| keep[i])
            .map(|(k, &i)| (k.clone(), map[i]))
            .collect();
        DepGraph {
            nodes,
            edges,
            index,
            totals: self.totals.clone(),
        }
    }

    /// Graphviz DOT, one box per node labelled with its costs; labels are escaped, node names
    /// are `n<index>` so no id needs quoting.
    pub fn to_dot(&self) -> String {
        let mut out = String::from(
            "digraph costkit {\n  rankdir=LR;\n  node [shape=box, style=filled, fontsize=12];\n",
        );
        for (i, n) in self.nodes.iter().enumerate() {
            out.push_str(&format!(
                "  n{i} [label=\"{}\", fillcolor=\"{}\"];\n",
                dot_escape(&self.node_text(n)),
                fill(n)
            ));
        }
        for e in &self.edges {
            out.push_str(&format!(
                "  n{} -> n{} [label=\"{}\"];\n",
                e.from,
                e.to,
                dot_escape(&e.relation)
            ));
        }
        out.push_str("}\n");
        out
    }

    /// The text in a node's box: label, type, own and rolled-up cost (rounded to cents: the
    /// picture is for reading, JSON has the exact amounts).
    pub fn node_text(&self, n: &Node) -> String {
        let mut lines = vec![n.label()];
        if let Some(t) = &n.resource_type {
            lines.push(t.clone());
        }
        let money = |m: &Money| {
            if m.is_empty() {
                "0".to_string()
            } else {
                m.iter()
                    .map(|(c, v)| format!("{:.2} {c}", v.round_dp(2)))
                    .collect::<Vec<_>>()
                    .join(" + ")
            }
        };
        if n.members > 0 {
            lines.push(format!(
                "own {} | total {}",
                money(&n.cost),
                money(&n.rolled_up)
            ));
        } else {
            lines.push(money(&n.cost));
        }
        if n.shared {
            lines.push(format!("shared by {}", n.parents));
        }
        lines.join("\n")
    }
}

fn fill(n: &Node) -> &'static str {
    match (n.kind, n.shared, n.in_billing) {
        (NodeKind::Application, _, _) => "lightblue",
        (_, true, _) => "orange",
        (_, _, true) => "lightyellow",
        _ => "lightgray",
    }
}

/// Escapes text for a double-quoted DOT string (backslash, quote, newline).
pub fn dot_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// The parent a resource id names, and the relation, for the id shapes that carry one.
pub fn id_parent(id: &str) -> Option<(String, &'static str)> {
    if let Some(rest) = id.strip_prefix("arn:") {
        // arn:partition:service:region:account:resource
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        if parts.len() != 5 {
            return None;
        }
        let (service, resource) = (parts[1], parts[4]);
        let prefix = &id[..id.len() - resource.len()];
        let segs: Vec<&str> = resource.split('/').collect();
        let parent = match (service, segs.as_slice()) {
            // service/cluster/name, task/cluster/id (the long ARN format)
            ("ecs", ["service" | "task", cluster, _]) => format!("cluster/{cluster}"),
            ("eks", ["nodegroup" | "fargateprofile" | "addon", cluster, ..]) => {
                format!("cluster/{cluster}")
            }
            ("elasticloadbalancing", ["listener", kind, name, lb, _]) => {
                format!("loadbalancer/{kind}/{name}/{lb}")
            }
            ("elasticloadbalancing", ["listener-rule", kind, name, lb, listener, _]) => {
                format!("listener/{kind}/{name}/{lb}/{listener}")
            }
            ("dynamodb", ["table", table, "index" | "stream", ..]) => format!("table/{table}"),
            _ => return None,
        };
        return Some((format!("{prefix}{parent}"), "contains"));
    }
    if is_arm(id) {
        // /subscriptions/s/resourceGroups/g/providers/Ns.Rp/type/name[/subtype/subname]...
        let lower = id.to_ascii_lowercase();
        let p = lower.find("/providers/")?;
        let after: Vec<&str> = id[p + "/providers/".len()..].split('/').collect();
        // namespace, then type/name pairs: a child has at least two pairs.
        if after.len() >= 5 && after.len() % 2 == 1 {
            let cut = id.len() - after[after.len() - 1].len() - after[after.len() - 2].len() - 2;
            return Some((id[..cut].to_string(), "contains"));
        }
    }
    None
}
