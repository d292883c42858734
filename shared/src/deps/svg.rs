//! SVG rendering of a dependency graph with `layout-rs` (pure Rust, no Graphviz needed).
//!
//! The graph is handed to the layout library node by node rather than through its DOT parser:
//! each box's `<g>` then carries `data-node="<id>"` and `class="app|resource|shared"`, so a
//! reader (or a test) can find every node in the picture by its id.

use layout::backends::svg::SVGWriter;
use layout::core::base::Orientation;
use layout::core::color::Color;
use layout::core::style::StyleAttr;
use layout::std_shapes::render::get_shape_size;
use layout::std_shapes::shapes::{Arrow, Element, ShapeKind};
use layout::topo::layout::VisualGraph;

use super::{fill, DepGraph, NodeKind};

/// The layout library failed on this graph.
#[derive(Debug, thiserror::Error)]
#[error("could not lay out the dependency graph: {0}")]
pub struct SvgError(pub String);

const FONT: usize = 12;

/// Renders the graph as an SVG document (left to right, applications first).
pub fn to_svg(g: &DepGraph) -> Result<String, SvgError> {
    if g.nodes.is_empty() {
        return Ok(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"0\" height=\"0\"></svg>\n"
                .to_string(),
        );
    }
    let render = || {
        let dir = Orientation::LeftToRight;
        let mut vg = VisualGraph::new(dir);
        let handles: Vec<_> = g
            .nodes
            .iter()
            .map(|n| {
                let shape = ShapeKind::new_box(&g.node_text(n));
                let look = StyleAttr::new(
                    Color::fast("black"),
                    1,
                    Some(Color::fast(fill(n))),
                    if n.kind == NodeKind::Application {
                        8
                    } else {
                        0
                    },
                    FONT,
                );
                // Shapes are sized in the flipped direction, as the library's own DOT builder does.
                let size = get_shape_size(dir.flip(), &shape, FONT, false);
                let class = match (n.kind, n.shared) {
                    (NodeKind::Application, _) => "app",
                    (_, true) => "resource shared",
                    _ => "resource",
                };
                let props = format!("data-node=\"{}\" class=\"{class}\"", xml_escape(&n.id));
                vg.add_node(Element::create_with_properties(
                    shape,
                    look,
                    dir.flip(),
                    size,
                    props,
                ))
            })
            .collect();
        for e in &g.edges {
            vg.add_edge(Arrow::simple(""), handles[e.from], handles[e.to]);
        }
        let mut svg = SVGWriter::new();
        vg.do_it(false, false, false, &mut svg);
        svg.finalize()
    };
    // The library asserts its invariants with panics; one graph it cannot lay out must be an
    // error for the caller, not a crash.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(render)).map_err(|p| {
        SvgError(
            p.downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "the layout library panicked".into()),
        )
    })
}

/// Escapes text for an XML attribute value.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}
