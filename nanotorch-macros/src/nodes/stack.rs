//! `blocks(h)` for a stack field `blocks: [Block; N]`: the blocks applied in order, each
//! reading the previous one's output. Forward is a `for` loop over the blocks; backward is
//! the same loop run in reverse, each block turning ∂L/∂(its output) into ∂L/∂(its input).
//! Each block keeps what its own backward reads; the network keeps the `N − 1` values between
//! the blocks (and their gradients) in two buffers reused from step to step.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;

use super::{Extra, Gradients, Step, Store};
use crate::dims::dims_text;
use crate::fields::FieldKind;
use crate::graph::NodeId;
use crate::plan::{Plan, respan};

fn between(plan: &Plan, id: NodeId) -> Ident {
    format_ident!("{}_between", plan.node(id).name)
}

fn d_between(plan: &Plan, id: NodeId) -> Ident {
    format_ident!("d_{}_between", plan.node(id).name)
}

/// The values between the blocks, and their gradients.
pub fn extra(plan: &Plan, id: NodeId) -> Vec<Extra> {
    let node = plan.node(id);
    let (f, ty) = (plan.field_of(node), plan.ty(id));
    let shape = dims_text(&node.dims);
    vec![
        Extra {
            store: Store::Work,
            name: between(plan, id),
            ty: quote!(::std::vec::Vec<#ty>),
            doc: format!(
                "The outputs of `{f}[0]` … `{f}[N−2]`, each {shape}: the inputs of the blocks after them."
            ),
        },
        Extra {
            store: Store::Grads,
            name: d_between(plan, id),
            ty: quote!(::std::vec::Vec<#ty>),
            doc: format!("∂L/∂ the values between the blocks of `{f}`."),
        },
    ]
}

/// The block type and the value type, spanned at the stack's call so that a block that changes
/// the shape is reported there (once: every use is the same `StackBlock` bound at the same
/// place).
fn block_and_value(plan: &Plan, id: NodeId) -> (TokenStream, TokenStream) {
    let node = plan.node(id);
    let crate::graph::Op::Stack { field } = node.op else {
        unreachable!("a stack node")
    };
    let FieldKind::Stack { element, .. } = &plan.graph.fields[field].kind else {
        unreachable!("a stack field")
    };
    (respan(element, node.span), respan(&plan.ty(id), node.span))
}

/// `blocks[2](blocks[1](blocks[0](x)))` for a few blocks, `blocks[L−1](… blocks[0](x))` otherwise.
fn applied(f: &str, count: &str, x: &str) -> String {
    match count.parse::<usize>() {
        Ok(n) if n <= 4 => (0..n).fold(x.to_string(), |inner, k| format!("{f}[{k}]({inner})")),
        _ => format!("{f}[{count}−1](… {f}[0]({x}))"),
    }
}

/// `4 blocks` or `L blocks`, for the docs.
fn count_text(plan: &Plan, id: NodeId) -> String {
    let node = plan.node(id);
    let crate::graph::Op::Stack { field } = node.op else {
        unreachable!("a stack node")
    };
    match &plan.graph.fields[field].kind {
        FieldKind::Stack { count, .. } => count.text.clone(),
        _ => "N".into(),
    }
}

pub fn forward(plan: &Plan, id: NodeId) -> Step {
    let node = plan.node(id);
    let (span, dst) = (node.span, plan.destination(id));
    let f = plan.field_of(node);
    let a = plan.value_in_forward(node.inputs[0]);
    let between = between(plan, id);
    let x = &plan.node(node.inputs[0]).name;
    let (block, ty) = block_and_value(plan, id);
    Step {
        code: quote_spanned! {span=>
            for k in 0..self.#f.len() {
                let (input, output) = ::nanotorch::codegen::chain_links(#a, &mut self.work.#between, #dst, k, self.#f.len());
                <#block as ::nanotorch::codegen::StackBlock<#ty, E>>::block_forward(&mut self.#f[k], input, output);
            }
        },
        doc: format!(
            "{} = {}   {}   (a loop over the blocks)",
            node.name,
            applied(&f.to_string(), &count_text(plan, id), &x.to_string()),
            dims_text(&node.dims)
        ),
    }
}

pub fn predict(plan: &Plan, id: NodeId) -> TokenStream {
    let node = plan.node(id);
    let (name, span) = (&node.name, node.span);
    let (block, ty) = block_and_value(plan, id);
    let f = plan.field_of(node);
    let a = super::predict_arg(plan, node.inputs[0]);
    quote_spanned! {span=>
        let mut #name: #ty = ::core::clone::Clone::clone(#a);
        for block in self.#f.iter() {
            #name = <#block as ::nanotorch::codegen::StackBlock<#ty, E>>::block_predict(block, &#name);
        }
    }
}

pub fn backward<'g>(g: &mut dyn Gradients<'g>, n: NodeId, _field: usize) {
    let plan = g.plan();
    let node = plan.node(n);
    let span = node.span;
    let f = plan.field_of(node);
    let a = node.inputs[0];
    let (dn, dn_text) = (g.grad(n), g.d_text(n));
    let need = g.need(a);
    let t = match need {
        Some(_) => g.target(
            a,
            n,
            format!("{f}[0].backward(… {f}[N−1].backward({dn_text}))"),
        ),
        None => {
            let unused = format_ident!("unused_{}", node.name);
            g.scratch(
                unused,
                plan.ty(a),
                "The input gradient of a stack's first block, which nothing needs.",
            )
        }
    };
    let (dst, d_between) = (t.dst, d_between(plan, n));
    let (block, ty) = block_and_value(plan, n);
    let links = quote_spanned! {span=>
        let (d_output, d_input) = ::nanotorch::codegen::chain_links_back(#dn, &mut self.grads.#d_between, #dst, k, self.#f.len());
    };
    let backward = quote_spanned! {span=>
        <#block as ::nanotorch::codegen::StackBlock<#ty, E>>::block_backward(&mut self.#f[k], d_output, d_input);
    };
    let params_only = quote_spanned! {span=>
        <#block as ::nanotorch::codegen::StackBlock<#ty, E>>::block_backward_params(&mut self.#f[k], d_output);
    };
    // Block 0 writes ∂L/∂(the stack's input) only when something reads it.
    let (body, then) = match need {
        Some(false) => (backward, t.then),
        Some(true) => {
            let then = t.then;
            (
                quote!(if k > 0 || input_grad { #backward } else { #params_only }),
                quote!(if input_grad { #then }),
            )
        }
        None => (
            quote!(if k > 0 { #backward } else { #params_only }),
            quote!(),
        ),
    };
    g.emit(
        false,
        quote_spanned! {span=>
            for k in (0..self.#f.len()).rev() {
                #links
                #body
            }
            #then
        },
    );
    g.param_term(
        format!("∂L/∂({f}[k]'s parameters)"),
        format!("by {f}[k]'s own backward, k = N−1 … 0"),
    );
}
