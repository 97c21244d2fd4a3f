//! The zero initial state of a scan given none (`let (hs, h) = scan(cell, x)`): `[B, H]`
//! zeros with the batch of the sequence `x` (its one input, read for its size only) and the
//! width of the cell's state. No gradient flows into it or through it.

use proc_macro2::TokenStream;
use quote::quote_spanned;

use super::Step;
use crate::dims::dims_text;
use crate::graph::NodeId;
use crate::plan::Plan;

pub fn forward(plan: &Plan, id: NodeId) -> Step {
    let node = plan.node(id);
    let (span, dst) = (node.span, plan.destination(id));
    let like = plan.value_in_forward(node.inputs[0]);
    Step {
        code: quote_spanned! {span=> ::nanotorch::codegen::zeros_rows_into(#like, #dst); },
        doc: format!("{} = 0   {}", node.name, dims_text(&node.dims)),
    }
}

pub fn predict(plan: &Plan, id: NodeId) -> TokenStream {
    let node = plan.node(id);
    let like = super::predict_arg(plan, node.inputs[0]);
    let span = node.span;
    super::bind_predicted(
        plan,
        id,
        quote_spanned! {span=> ::nanotorch::codegen::zeros_rows(#like) },
    )
}
