//! `a + b`, `a - b`, `a * b` (elementwise). Sums pass the gradient through unchanged (so an
//! operand can share the sum's gradient buffer); the product reads both operands:
//! `∂L/∂a = ∂L/∂y ⊙ b`, `∂L/∂b = ∂L/∂y ⊙ a`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote_spanned};

use super::{Gradients, Step};
use crate::dims::dims_text;
use crate::graph::{NodeId, Op};
use crate::plan::{Plan, SAME_BATCH, SAME_BATCH_GRAD, retag};

/// The product's backward reads both operands.
pub fn reads_mul() -> (&'static [usize], bool) {
    (&[0, 1], false)
}

/// The function's base name and the doc's formula.
fn op(plan: &Plan, id: NodeId) -> (&'static str, String) {
    let node = plan.node(id);
    let nm = |k: usize| plan.node(node.inputs[k]).name.to_string();
    match node.op {
        Op::Add => ("add", format!("{} + {}", nm(0), nm(1))),
        Op::Sub => ("sub", format!("{} − {}", nm(0), nm(1))),
        _ => ("mul", format!("{} ⊙ {}", nm(0), nm(1))),
    }
}

pub fn forward(plan: &Plan, id: NodeId) -> Step {
    let node = plan.node(id);
    let (span, dst) = (node.span, plan.destination(id));
    let a = plan.value_in_forward(node.inputs[0]);
    let b = retag(node, plan.value_in_forward(node.inputs[1]), false);
    let (base, formula) = op(plan, id);
    let f = format_ident!("{}_into", base);
    Step {
        code: quote_spanned! {span=> ::nanotorch::ops::#f(#a, #b, #dst).expect(#SAME_BATCH); },
        doc: format!("{} = {formula}   {}", node.name, dims_text(&node.dims)),
    }
}

pub fn predict(plan: &Plan, id: NodeId) -> TokenStream {
    let node = plan.node(id);
    let a = super::predict_arg(plan, node.inputs[0]);
    let b = retag(node, super::predict_arg(plan, node.inputs[1]), false);
    let f = format_ident!("{}", op(plan, id).0);
    let span = node.span;
    super::bind_predicted(
        plan,
        id,
        quote_spanned! {span=> ::nanotorch::ops::#f(#a, #b).expect(#SAME_BATCH) },
    )
}

/// `a ± b`: the gradient passes to `a` unchanged, to `b` unchanged or negated.
pub fn backward_add_sub<'g>(g: &mut dyn Gradients<'g>, n: NodeId) {
    let node = g.plan().node(n);
    let negate_b = matches!(node.op, Op::Sub);
    let inputs = node.inputs.clone();
    for (k, &a) in inputs.iter().enumerate() {
        if let Some(input_only) = g.need(a) {
            let stmt = g.pass_through(a, n, k, negate_b && k == 1);
            if !stmt.is_empty() {
                g.emit(input_only, stmt);
            }
        }
    }
}

/// `a ⊙ b`: each operand's gradient is the output's times the other operand.
pub fn backward_mul<'g>(g: &mut dyn Gradients<'g>, n: NodeId) {
    let plan = g.plan();
    let node = plan.node(n);
    let span = node.span;
    let (dn, dn_text) = (g.grad(n), g.d_text(n));
    for k in 0..2 {
        let (a, other) = (node.inputs[k], node.inputs[1 - k]);
        let Some(input_only) = g.need(a) else {
            continue;
        };
        let ov = plan.value_in_backward(other);
        let term = format!("{dn_text} ⊙ {}", plan.node(other).name);
        let t = g.target(a, n, term);
        let (ov, dst) = if k == 0 {
            (retag(node, ov, false), t.dst)
        } else {
            (ov, retag(node, t.dst, true))
        };
        let then = t.then;
        g.emit(
            input_only,
            quote_spanned! {span=>
                ::nanotorch::ops::mul_backward_into(#ov, #dn, #dst).expect(#SAME_BATCH_GRAD);
                #then
            },
        );
    }
}
