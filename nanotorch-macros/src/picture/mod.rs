//! The picture of the graph `network!` differentiated, drawn at compile time as an SVG string:
//! the forward nodes with their shapes (top to bottom), the values backward reads (amber, with
//! a dashed line to the backward step that reads them), the gradients in reverse (bottom to
//! top, beside the values they belong to) with each fan-out sum drawn as a `Σ`, and the
//! parameters and their gradients at the sides. A stack or a scan is one box with a back edge.
//!
//! - `model.rs`: what to draw — boxes and edges, from the graph, the plan and the backward walk;
//! - `layout.rs`: where — rows by depth, an order within each row, coordinates;
//! - `svg.rs`: how — the SVG text.
//!
//! The string becomes both a `#[doc]` of the struct (rustdoc shows raw `<svg>` inline) and
//! the return value of the generated `graph_svg()`, so nothing is drawn at run time.

mod layout;
mod model;
mod svg;

use crate::autodiff::Backward;
use crate::plan::Plan;

/// The SVG picture of a checked network's forward and backward graph.
pub fn svg(plan: &Plan, backward: &Backward, name: &str) -> String {
    let scene = model::scene(plan, backward);
    let placed = layout::place(&scene);
    svg::render(&scene, &placed, name)
}
