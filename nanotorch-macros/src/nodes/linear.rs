//! `fc(x)` for a `Linear` field: `y = x·Wᵀ + b` on `[B, F]`, or on the last axis of
//! `[B, T, F]`. The macro calls `nanotorch::ops::linear*` itself (not the `Layer` trait), so a
//! `Linear` applied twice keeps one saved input per application.
//!
//! Backward reads the input `x`: `∂L/∂W += (∂L/∂y)ᵀ·x`, `∂L/∂b += Σ_rows ∂L/∂y`,
//! `∂L/∂x = ∂L/∂y·W`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote_spanned};
use syn::Ident;

use super::{Gradients, Step};
use crate::dims::dims_text;
use crate::graph::{Node, NodeId};
use crate::plan::{Plan, SAME_BATCH, SAME_BATCH_GRAD};

/// Backward reads the input.
pub fn reads() -> (&'static [usize], bool) {
    (&[0], false)
}

/// The `nanotorch::ops` function for the operation `base` (`linear_into`,
/// `linear_backward_params`, …): the `linear_seq*` form when the layer is applied to the last
/// axis of a `[B, T, F]` sequence.
fn op(plan: &Plan, node: &Node, base: &str) -> Ident {
    let input = plan.node(node.inputs[0]);
    if input.dims.len() == 3 {
        format_ident!("{}", base.replacen("linear", "linear_seq", 1))
    } else {
        format_ident!("{}", base)
    }
}

pub fn forward(plan: &Plan, id: NodeId) -> Step {
    let node = plan.node(id);
    let (name, span, dst) = (&node.name, node.span, plan.destination(id));
    let f = plan.field_of(node);
    let a = plan.value_in_forward(node.inputs[0]);
    let op = op(plan, node, "linear_into");
    Step {
        code: quote_spanned! {span=>
            ::nanotorch::ops::#op(#a, &self.#f.weight.value, Some(&self.#f.bias.value), #dst)
                .expect(#SAME_BATCH);
        },
        doc: format!(
            "{name} = {}·W_{f}ᵀ + b_{f}   {}",
            plan.node(node.inputs[0]).name,
            dims_text(&node.dims)
        ),
    }
}

pub fn predict(plan: &Plan, id: NodeId) -> TokenStream {
    let node = plan.node(id);
    let f = plan.field_of(node);
    let a = super::predict_arg(plan, node.inputs[0]);
    let op = op(plan, node, "linear");
    let span = node.span;
    let value = quote_spanned! {span=>
        ::nanotorch::ops::#op(#a, &self.#f.weight.value, Some(&self.#f.bias.value)).expect(#SAME_BATCH)
    };
    super::bind_predicted(plan, id, value)
}

pub fn backward<'g>(g: &mut dyn Gradients<'g>, n: NodeId, field: usize) {
    let plan = g.plan();
    let node = plan.node(n);
    let span = node.span;
    let f = &plan.graph.fields[field].name;
    let a = node.inputs[0];
    let (x, dn, dn_text) = (plan.value_in_backward(a), g.grad(n), g.d_text(n));
    let xn = plan.node(a).name.to_string();
    let params_op = op(plan, node, "linear_backward_params");
    let input_op = op(plan, node, "linear_backward_input_into");
    g.emit(
        false,
        quote_spanned! {span=>
            ::nanotorch::ops::#params_op(#x, #dn, &mut self.#f.weight.grad, Some(&mut self.#f.bias.grad))
                .expect(#SAME_BATCH_GRAD);
        },
    );
    g.param_term(format!("∂L/∂W_{f}"), format!("({dn_text})ᵀ·{xn}"));
    g.param_term(format!("∂L/∂b_{f}"), format!("Σ_rows {dn_text}"));
    if let Some(input_only) = g.need(a) {
        let t = g.target(a, n, format!("{dn_text}·W_{f}"));
        let (dst, then) = (t.dst, t.then);
        g.emit(
            input_only,
            quote_spanned! {span=>
                ::nanotorch::ops::#input_op(&self.#f.weight.value, #dn, #dst);
                #then
            },
        );
    }
}
