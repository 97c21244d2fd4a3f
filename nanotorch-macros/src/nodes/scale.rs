//! `c * a`, `a * c`, `a / c`, `-a` for a number `c`: `y = c·a`, `∂L/∂a = c·∂L/∂y`. Backward
//! reads nothing.

use proc_macro2::TokenStream;
use quote::quote_spanned;

use super::{Gradients, Step};
use crate::dims::dims_text;
use crate::graph::NodeId;
use crate::plan::{Plan, constant};

pub fn forward(plan: &Plan, id: NodeId, factor: &TokenStream, text: &str) -> Step {
    let node = plan.node(id);
    let (span, dst) = (node.span, plan.destination(id));
    let a = plan.value_in_forward(node.inputs[0]);
    let c = constant(factor);
    Step {
        code: quote_spanned! {span=> ::nanotorch::ops::scale_into(#a, #c, #dst); },
        doc: format!(
            "{} = {text}·{}   {}",
            node.name,
            plan.node(node.inputs[0]).name,
            dims_text(&node.dims)
        ),
    }
}

pub fn predict(plan: &Plan, id: NodeId, factor: &TokenStream) -> TokenStream {
    let node = plan.node(id);
    let a = super::predict_arg(plan, node.inputs[0]);
    let c = constant(factor);
    let span = node.span;
    super::bind_predicted(
        plan,
        id,
        quote_spanned! {span=> ::nanotorch::ops::scale(#a, #c) },
    )
}

pub fn backward<'g>(g: &mut dyn Gradients<'g>, n: NodeId, factor: &TokenStream, text: &str) {
    let node = g.plan().node(n);
    let (a, span) = (node.inputs[0], node.span);
    let Some(input_only) = g.need(a) else {
        return;
    };
    let (dn, dn_text) = (g.grad(n), g.d_text(n));
    let t = g.target(a, n, format!("{text}·{dn_text}"));
    let (dst, then) = (t.dst, t.then);
    let c = constant(factor);
    g.emit(
        input_only,
        quote_spanned! {span=> ::nanotorch::ops::scale_into(#dn, #c, #dst); #then },
    );
}
