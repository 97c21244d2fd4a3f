//! `concat(a, b)`: `[B, Fa]` and `[B, Fb]` joined into `[B, Fa + Fb]`. Backward reads nothing:
//! it splits `∂L/∂y` into the two halves.

use proc_macro2::TokenStream;
use quote::{format_ident, quote_spanned};

use super::{Gradients, Step, Target};
use crate::dims::dims_text;
use crate::graph::NodeId;
use crate::plan::{Plan, SAME_BATCH, WIDTH_CHECKED, has_literal_width};

/// `concat_as*` when the macro computed the width from numbers, `concat*` otherwise.
fn base(plan: &Plan, id: NodeId) -> &'static str {
    if has_literal_width(plan.node(id)) {
        "concat_as"
    } else {
        "concat"
    }
}

pub fn forward(plan: &Plan, id: NodeId) -> Step {
    let node = plan.node(id);
    let (span, dst) = (node.span, plan.destination(id));
    let (a, b) = (
        plan.value_in_forward(node.inputs[0]),
        plan.value_in_forward(node.inputs[1]),
    );
    let f = format_ident!("{}_into", base(plan, id));
    Step {
        code: quote_spanned! {span=> ::nanotorch::ops::#f(#a, #b, #dst).expect(#SAME_BATCH); },
        doc: format!(
            "{} = concat({}, {})   {}",
            node.name,
            plan.node(node.inputs[0]).name,
            plan.node(node.inputs[1]).name,
            dims_text(&node.dims)
        ),
    }
}

pub fn predict(plan: &Plan, id: NodeId) -> TokenStream {
    let node = plan.node(id);
    let a = super::predict_arg(plan, node.inputs[0]);
    let b = super::predict_arg(plan, node.inputs[1]);
    let f = format_ident!("{}", base(plan, id));
    let span = node.span;
    super::bind_predicted(
        plan,
        id,
        quote_spanned! {span=> ::nanotorch::ops::#f(#a, #b).expect(#SAME_BATCH) },
    )
}

pub fn backward<'g>(g: &mut dyn Gradients<'g>, n: NodeId) {
    let plan = g.plan();
    let node = plan.node(n);
    let span = node.span;
    let (a, b) = (node.inputs[0], node.inputs[1]);
    let (na, nb) = (g.need(a), g.need(b));
    if na.is_none() && nb.is_none() {
        return;
    }
    let input_only = na.unwrap_or(true) && nb.unwrap_or(true);
    let (dn, dn_text) = (g.grad(n), g.d_text(n));
    let width = plan.node(a).dims[1].text.clone();
    let mut side = |x: NodeId, term: String, k: usize| -> Target {
        if g.need(x).is_some() {
            return g.target(x, n, term);
        }
        let unused = format_ident!("unused_{}_{}", node.name, k);
        let ty = g.plan().ty(x);
        g.scratch(
            unused,
            ty,
            "A half of a concat gradient that nothing needs.",
        )
    };
    let ta = side(a, format!("{dn_text}[:, ..{width}]"), 0);
    let tb = side(b, format!("{dn_text}[:, {width}..]"), 1);
    let (da, then_a, db, then_b) = (ta.dst, ta.then, tb.dst, tb.then);
    let split = if has_literal_width(node) {
        quote_spanned! {span=> ::nanotorch::ops::concat_as_backward_into(#dn, #da, #db).expect(#WIDTH_CHECKED); }
    } else {
        quote_spanned! {span=> ::nanotorch::ops::concat_backward_into(#dn, #da, #db); }
    };
    g.emit(
        input_only,
        quote_spanned! {span=>
            #split
            #then_a
            #then_b
        },
    );
}
