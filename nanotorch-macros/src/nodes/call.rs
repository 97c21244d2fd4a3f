//! `let (h, c) = cell(x, state)`: a network field with several inputs or outputs, called
//! through the `nanotorch::Network` trait with tuples of references. The call node has no
//! value of its own: its outputs are the `Part` nodes after it, and its backward hands the
//! cell the gradients of all its outputs at once and receives those of all its inputs.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};

use super::{Gradients, Step};
use crate::graph::{NodeId, Op};
use crate::plan::{Plan, respan};

/// `<Cell<E> as ::nanotorch::Network<(X, H)>>`: the trait the call goes through, with its
/// input types written out (they cannot be inferred from tuples of references).
fn network(plan: &Plan, id: NodeId) -> TokenStream {
    let node = plan.node(id);
    let Op::Call { field } = node.op else {
        unreachable!("a call node")
    };
    let fty = &plan.graph.fields[field].ty;
    let tys = node.inputs.iter().map(|&i| plan.ty(i));
    // Spanned at the call, so inputs the network does not take are reported there (once:
    // every use is the same `Network` bound at the same place).
    respan(
        &quote!(<#fty as ::nanotorch::Network<(#(#tys,)*)>>),
        node.span,
    )
}

pub fn forward(plan: &Plan, id: NodeId) -> Step {
    let node = plan.node(id);
    let (span, f, net) = (node.span, plan.field_of(node), network(plan, id));
    let args = node.inputs.iter().map(|&i| plan.value_in_forward(i));
    let outs: Vec<NodeId> = super::parts(plan, id);
    let dsts = outs.iter().map(|&p| plan.destination(p));
    let names = |ids: &[NodeId]| {
        ids.iter()
            .map(|&i| plan.node(i).name.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    Step {
        code: quote_spanned! {span=>
            #net::forward_into(&mut self.#f, (#(#args,)*), (#(#dsts,)*));
        },
        doc: format!("({}) = {f}({})", names(&outs), names(&node.inputs)),
    }
}

pub fn predict(plan: &Plan, id: NodeId) -> TokenStream {
    let node = plan.node(id);
    let (span, f, net) = (node.span, plan.field_of(node), network(plan, id));
    let args = node.inputs.iter().map(|&i| super::predict_arg(plan, i));
    let names = super::parts(plan, id)
        .into_iter()
        .map(|p| plan.node(p).name.clone());
    quote_spanned! {span=>
        let (#(#names,)*) = #net::predict(&self.#f, (#(#args,)*));
    }
}

pub fn backward<'g>(g: &mut dyn Gradients<'g>, n: NodeId, _field: usize) {
    let plan = g.plan();
    let node = plan.node(n);
    let (span, f, net) = (node.span, plan.field_of(node), network(plan, n));
    // An output nothing reads (`_c`) sends back zeros.
    let zeros: Vec<TokenStream> = super::parts(plan, n)
        .into_iter()
        .filter(|&p| !super::is_read(plan, p))
        .map(|p| {
            let (d, stored) = (crate::plan::d_name(plan.node(p)), plan.stored(p));
            quote!(::nanotorch::codegen::zeros_like_into(&mut self.grads.#d, &#stored);)
        })
        .collect();
    if !zeros.is_empty() {
        g.emit(false, quote!(#(#zeros)*));
    }
    let d_outs: Vec<TokenStream> = super::parts(plan, n)
        .into_iter()
        .map(|p| g.grad(p))
        .collect();
    let needs: Vec<Option<bool>> = node.inputs.iter().map(|&a| g.need(a)).collect();
    g.param_term(
        format!("∂L/∂({f}'s parameters)"),
        format!("by {f}'s own backward"),
    );
    if needs.iter().all(Option::is_none) {
        g.emit(
            false,
            quote_spanned! {span=> #net::backward_params(&mut self.#f, (#(#d_outs,)*)); },
        );
        return;
    }
    let input_only = needs.iter().all(|need| need.unwrap_or(true));
    let outs_text: Vec<String> = super::parts(plan, n)
        .into_iter()
        .map(|p| g.d_text(p))
        .collect();
    let mut dsts = Vec::new();
    let mut thens = Vec::new();
    for (k, (&a, need)) in node.inputs.iter().zip(&needs).enumerate() {
        let t = match need {
            Some(_) => g.target(a, n, format!("{f}.backward({})[{k}]", outs_text.join(", "))),
            None => {
                let unused = format_ident!("unused_{}_{}", node.name, k);
                g.scratch(
                    unused,
                    plan.ty(a),
                    "An input gradient of a call that nothing needs.",
                )
            }
        };
        dsts.push(t.dst);
        thens.push(t.then);
    }
    if input_only {
        // The cell's parameters need their gradients either way.
        g.emit(
            false,
            quote_spanned! {span=>
                if !input_grad {
                    #net::backward_params(&mut self.#f, (#(#d_outs,)*));
                }
            },
        );
    }
    g.emit(
        input_only,
        quote_spanned! {span=>
            #net::backward_into(&mut self.#f, (#(#d_outs,)*), (#(#dsts,)*));
            #(#thens)*
        },
    );
}
