//! `relu(x)`, `sigmoid(x)`, `leaky_relu(x, 0.1)`, `dropout(x, 0.5)`, `flatten(x)`, …: the
//! primitives of the table in `prims.rs`, each a `nanotorch::ops::<name>_into` and its
//! `<name>_backward_into`. Backward reads the primitive's input or its output (the table says
//! which), dropout its mask, flatten nothing.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};

use super::{Extra, Gradients, Step, Store};
use crate::dims::dims_text;
use crate::graph::NodeId;
use crate::plan::{Plan, WIDTH_CHECKED, constant, has_literal_width};
use crate::prims::{Reads, Unary};

/// What backward reads: the input or the output, by the table.
pub fn reads(prim: &Unary) -> (&'static [usize], bool) {
    match prim.reads {
        Reads::Input => (&[0], false),
        Reads::Output => (&[], true),
        Reads::Nothing | Reads::Mask => (&[], false),
    }
}

/// Dropout keeps its mask.
pub fn extra(plan: &Plan, id: NodeId, prim: &Unary) -> Vec<Extra> {
    if prim.name != "dropout" {
        return Vec::new();
    }
    let n = &plan.node(id).name;
    vec![Extra {
        store: Store::Saved,
        name: format_ident!("{}_mask", n),
        ty: plan.ty(id),
        doc: format!("The dropout mask that produced `{n}` (0 or 1/(1−p)) — read by `backward`."),
    }]
}

pub fn forward(plan: &Plan, id: NodeId, prim: &Unary, c: &Option<(TokenStream, String)>) -> Step {
    let node = plan.node(id);
    let (name, span, dst) = (&node.name, node.span, plan.destination(id));
    let a = plan.value_in_forward(node.inputs[0]);
    let x = &plan.node(node.inputs[0]).name;
    let shape = dims_text(&node.dims);
    let doc = match c {
        Some((_, t)) => format!("{name} = {}({x}, {t})   {shape}", prim.name),
        None => format!("{name} = {}({x})   {shape}", prim.name),
    };
    let code = match (prim.name, c) {
        ("flatten", _) if has_literal_width(node) => quote_spanned! {span=>
            ::nanotorch::ops::flatten_as_into(#a, #dst).expect(#WIDTH_CHECKED);
        },
        ("flatten", _) => quote_spanned! {span=>
            ::nanotorch::ops::flatten_into(#a, #dst);
        },
        ("dropout", Some((p, _))) => {
            let mask = format_ident!("{}_mask", name);
            quote_spanned! {span=>
                ::nanotorch::ops::dropout_into(#a, #p, self.training, &mut self.rng, #dst, &mut self.saved.#mask)
                    .expect("the dropout probability was checked by network!");
            }
        }
        (_, Some((v, _))) => {
            let f = format_ident!("{}_into", prim.name);
            let v = constant(v);
            quote_spanned! {span=> ::nanotorch::ops::#f(#a, #v, #dst); }
        }
        (_, None) => {
            let f = format_ident!("{}_into", prim.name);
            quote_spanned! {span=> ::nanotorch::ops::#f(#a, #dst); }
        }
    };
    Step { code, doc }
}

pub fn predict(
    plan: &Plan,
    id: NodeId,
    prim: &Unary,
    c: &Option<(TokenStream, String)>,
) -> TokenStream {
    let node = plan.node(id);
    let a = super::predict_arg(plan, node.inputs[0]);
    let span = node.span;
    let value = match (prim.name, c) {
        // Inference: dropout is the identity.
        ("dropout", _) => quote_spanned! {span=> ::core::clone::Clone::clone(#a) },
        ("flatten", _) if has_literal_width(node) => {
            quote_spanned! {span=> ::nanotorch::ops::flatten_as(#a).expect(#WIDTH_CHECKED) }
        }
        ("flatten", _) => quote_spanned! {span=> ::nanotorch::ops::flatten(#a) },
        (_, Some((v, _))) => {
            let f = format_ident!("{}", prim.name);
            let v = constant(v);
            quote_spanned! {span=> ::nanotorch::ops::#f(#a, #v) }
        }
        (_, None) => {
            let f = format_ident!("{}", prim.name);
            quote_spanned! {span=> ::nanotorch::ops::#f(#a) }
        }
    };
    super::bind_predicted(plan, id, value)
}

/// The local derivative as the derivation prints it: `∂L/∂y ⊙ y ⊙ (1 − y)`.
fn term(
    prim: &Unary,
    dn_text: &str,
    y: &str,
    x: &str,
    c: &Option<(TokenStream, String)>,
) -> String {
    match prim.name {
        "softmax" => format!("{y} ⊙ ({dn_text} − Σ_row({dn_text} ⊙ {y}))"),
        "log_softmax" => format!("{dn_text} − exp({y}) ⊙ Σ_row {dn_text}"),
        "flatten" => format!("reshape({dn_text}, shape of {x})"),
        _ => {
            let c_text = c.as_ref().map(|(_, t)| t.clone()).unwrap_or_default();
            let local = prim
                .derivative
                .replace("{y}", y)
                .replace("{x}", x)
                .replace("{c}", &c_text);
            format!("{dn_text} ⊙ {local}")
        }
    }
}

pub fn backward<'g>(
    g: &mut dyn Gradients<'g>,
    n: NodeId,
    prim: &Unary,
    c: &Option<(TokenStream, String)>,
) {
    let plan = g.plan();
    let node = plan.node(n);
    let span = node.span;
    let a = node.inputs[0];
    let Some(input_only) = g.need(a) else {
        return;
    };
    let (dn, dn_text) = (g.grad(n), g.d_text(n));
    let (yn, xn) = (node.name.to_string(), plan.node(a).name.to_string());
    let t = g.target(a, n, term(prim, &dn_text, &yn, &xn, c));
    let (dst, then) = (t.dst, t.then);
    let call = match (prim.name, c) {
        ("flatten", _) if has_literal_width(node) => {
            quote_spanned! {span=> ::nanotorch::ops::flatten_as_backward_into(#dn, #dst).expect(#WIDTH_CHECKED); }
        }
        ("flatten", _) => {
            quote_spanned! {span=> ::nanotorch::ops::flatten_backward_into(#dn, #dst); }
        }
        ("dropout", _) => {
            let mask = format_ident!("{}_mask", node.name);
            quote_spanned! {span=> ::nanotorch::ops::dropout_backward_into(&self.saved.#mask, #dn, #dst); }
        }
        (_, c) => {
            let f = format_ident!("{}_backward_into", prim.name);
            let saved = match prim.reads {
                Reads::Output => plan.value_in_backward(n),
                _ => plan.value_in_backward(a),
            };
            match c {
                Some((v, _)) => {
                    let v = constant(v);
                    quote_spanned! {span=> ::nanotorch::ops::#f(#saved, #dn, #v, #dst); }
                }
                None => quote_spanned! {span=> ::nanotorch::ops::#f(#saved, #dn, #dst); },
            }
        }
    };
    g.emit(input_only, quote!(#call #then));
}
