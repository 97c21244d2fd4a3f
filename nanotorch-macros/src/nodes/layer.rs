//! `conv(x)`, `block(x)`: a one-input layer field other than `Linear` — a layer of the table
//! (`Conv2d`, `LayerNorm`, …) or a nested network — called through the `Layer` trait. The
//! layer keeps what its own backward reads, so the enclosing network saves nothing for it.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};

use super::{Gradients, Step};
use crate::dims::dims_text;
use crate::fields::FieldKind;
use crate::graph::NodeId;
use crate::plan::{Plan, retag_input};

pub fn forward(plan: &Plan, id: NodeId) -> Step {
    let node = plan.node(id);
    let (name, span, dst) = (&node.name, node.span, plan.destination(id));
    let f = plan.field_of(node);
    let a = retag_input(node, plan.value_in_forward(node.inputs[0]), false);
    Step {
        code: quote_spanned! {span=>
            ::nanotorch::Layer::forward_into(&mut self.#f, #a, #dst);
        },
        doc: format!(
            "{name} = {f}({})   {}",
            plan.node(node.inputs[0]).name,
            dims_text(&node.dims)
        ),
    }
}

pub fn predict(plan: &Plan, id: NodeId) -> TokenStream {
    let node = plan.node(id);
    let f = plan.field_of(node);
    let a = retag_input(node, super::predict_arg(plan, node.inputs[0]), false);
    let span = node.span;
    super::bind_predicted(
        plan,
        id,
        quote_spanned! {span=> ::nanotorch::Layer::predict(&self.#f, #a) },
    )
}

pub fn backward<'g>(g: &mut dyn Gradients<'g>, n: NodeId, field: usize) {
    let plan = g.plan();
    let node = plan.node(n);
    let span = node.span;
    let layer_field = &plan.graph.fields[field];
    let f = &layer_field.name;
    let a = node.inputs[0];
    let (dn, dn_text) = (g.grad(n), g.d_text(n));
    // A table layer (a convolution, a pooling) maps several input sizes to the same output
    // size, so its input type is named: `backward_params` alone would leave it open.
    let layer = match &layer_field.kind {
        FieldKind::Known { .. } => {
            let (fty, xty) = (&layer_field.ty, plan.ty(a));
            quote!(<#fty as ::nanotorch::Layer<#xty, E>>)
        }
        _ => quote!(::nanotorch::Layer),
    };
    match g.need(a) {
        Some(input_only) => {
            let t = g.target(a, n, format!("{f}.backward({dn_text})"));
            let (dst, then) = (retag_input(node, t.dst, true), t.then);
            if input_only {
                // The layer's parameters need their gradients either way.
                g.emit(
                    false,
                    quote_spanned! {span=>
                        if !input_grad {
                            #layer::backward_params(&mut self.#f, #dn);
                        }
                    },
                );
            }
            g.emit(
                input_only,
                quote_spanned! {span=>
                    #layer::backward_into(&mut self.#f, #dn, #dst);
                    #then
                },
            );
        }
        None => g.emit(
            false,
            quote_spanned! {span=> #layer::backward_params(&mut self.#f, #dn); },
        ),
    }
    let has_params = match &layer_field.kind {
        FieldKind::Known { layer, .. } => layer.has_params,
        _ => true,
    };
    if has_params {
        g.param_term(
            format!("∂L/∂({f}'s parameters)"),
            format!("by {f}'s own backward"),
        );
    }
}
