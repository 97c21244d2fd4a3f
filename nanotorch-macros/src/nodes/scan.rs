//! `let (hs, h) = scan(cell, x, h0)`: a network field run at every time step of a sequence
//! `x: [B, T, F]`, carrying its state — JAX's `lax.scan`. The cell takes the step `x[:, t, :]`
//! and the states, and returns the new states; `hs` is the sequence of the first state,
//! `[B, T, H]`, and the last states follow it.
//!
//! Forward is a loop over `t`. The cell keeps what its backward reads in its own saved values;
//! before step `t` the loop swaps in step `t`'s buffer of them (`StepState::swap_saved`), so
//! every step keeps its own while the weights are shared. Backward is the same loop in
//! reverse — backpropagation through time: the gradient carried into step `t`'s new state is
//! what step `t + 1` sent back plus `∂L/∂hs[:, t, :]`; the cell's backward turns it into the
//! gradients of step `t`'s input and old state (and adds its parameter gradients, so they sum
//! over the steps); what reaches step 0's old state is the initial state's gradient.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;

use super::{Extra, Gradients, Step, Store, is_read, parts};
use crate::dims::dims_text;
use crate::graph::{NodeId, Op};
use crate::plan::{Plan, respan};

/// The names and types a scan's code needs.
struct Scan {
    /// `<Cell<E> as ::nanotorch::codegen::ScanCell<(Xt, S…)>>`.
    network: TokenStream,
    cell_ty: TokenStream,
    /// The number of steps, `T::SIZE`.
    steps: TokenStream,
    /// The type of one step of `x`: `[B, F]`.
    step_ty: TokenStream,
    state_tys: Vec<TokenStream>,
    /// Buffers, named after the node.
    x_t: Ident,
    states: Vec<Ident>,
    saved_steps: Ident,
    d_x_t: Ident,
    carry: Vec<Ident>,
    d_prev: Vec<Ident>,
}

fn scan(plan: &Plan, id: NodeId) -> Scan {
    let node = plan.node(id);
    let Op::Scan { field } = node.op else {
        unreachable!("a scan node")
    };
    let x = plan.node(node.inputs[0]);
    let (b, t, f) = (&x.dims[0].ty, &x.dims[1].ty, &x.dims[2].ty);
    let step_ty = quote!(::nanotorch::Tensor<(#b, #f), E>);
    let state_tys: Vec<TokenStream> = node.inputs[1..].iter().map(|&s| plan.ty(s)).collect();
    let cell_ty = plan.graph.fields[field].ty.clone();
    let network = respan(
        &quote!(<#cell_ty as ::nanotorch::codegen::ScanCell<(#step_ty, #(#state_tys,)*)>>),
        node.span,
    );
    let n = &node.name;
    let k = 0..state_tys.len();
    Scan {
        network,
        cell_ty: respan(&cell_ty, node.span),
        // The number of steps as written (`0..4`), or through the length's type.
        steps: match x.dims[1].lit {
            Some(n) => {
                let n = proc_macro2::Literal::usize_unsuffixed(n as usize);
                quote!(#n)
            }
            None => quote!(<#t as ::nanotorch::shape::StaticDim>::SIZE),
        },
        step_ty,
        x_t: format_ident!("{}_x_t", n),
        states: k
            .clone()
            .map(|k| format_ident!("{}_states_{}", n, k))
            .collect(),
        saved_steps: format_ident!("{}_steps", n),
        d_x_t: format_ident!("d_{}_x_t", n),
        carry: k
            .clone()
            .map(|k| format_ident!("d_{}_carry_{}", n, k))
            .collect(),
        d_prev: k.map(|k| format_ident!("d_{}_prev_{}", n, k)).collect(),
        state_tys,
    }
}

/// The step buffer, the states after each step, each step's saved values, and the backward
/// loop's carried gradients.
pub fn extra(plan: &Plan, id: NodeId) -> Vec<Extra> {
    let s = scan(plan, id);
    let f = plan.field_of(plan.node(id));
    let (step_ty, cell_ty) = (&s.step_ty, &s.cell_ty);
    let mut out = vec![
        Extra {
            store: Store::Work,
            name: s.x_t.clone(),
            ty: step_ty.clone(),
            doc: format!("The time step `{f}` reads, `x[:, t, :]`."),
        },
        Extra {
            store: Store::Saved,
            name: s.saved_steps.clone(),
            ty: quote!(::std::vec::Vec<<#cell_ty as ::nanotorch::StepState>::Saved>),
            doc: format!("What `{f}`'s backward reads, for each time step — read by `backward`."),
        },
        Extra {
            store: Store::Grads,
            name: s.d_x_t.clone(),
            ty: step_ty.clone(),
            doc: format!("∂L/∂x[:, t, :] from `{f}`'s backward at step t."),
        },
    ];
    for (k, ty) in s.state_tys.iter().enumerate() {
        out.push(Extra {
            store: Store::Work,
            name: s.states[k].clone(),
            ty: quote!(::std::vec::Vec<#ty>),
            doc: format!("State {k} after each time step of `{f}`."),
        });
        for (name, what) in [
            (
                &s.carry[k],
                "carried into the new state of the step being differentiated",
            ),
            (&s.d_prev[k], "of the old state, from that step's backward"),
        ] {
            out.push(Extra {
                store: Store::Grads,
                name: name.clone(),
                ty: ty.clone(),
                doc: format!("∂L/∂(state {k}) {what}."),
            });
        }
    }
    out
}

pub fn forward(plan: &Plan, id: NodeId) -> Step {
    let node = plan.node(id);
    let (span, f) = (node.span, plan.field_of(node));
    let s = scan(plan, id);
    let (network, steps, x_t, saved_steps) = (&s.network, &s.steps, &s.x_t, &s.saved_steps);
    let x = plan.value_in_forward(node.inputs[0]);
    let outs = parts(plan, id);
    let links = node.inputs[1..].iter().enumerate().map(|(k, &init)| {
        let (init, states) = (plan.value_in_forward(init), &s.states[k]);
        let (prev, next) = (format_ident!("prev_{}", k), format_ident!("next_{}", k));
        quote_spanned! {span=>
            let (#prev, #next) = ::nanotorch::codegen::step_links(#init, &mut self.work.#states, t);
        }
    });
    let prevs = (0..s.states.len()).map(|k| format_ident!("prev_{}", k));
    let nexts = (0..s.states.len()).map(|k| format_ident!("next_{}", k));
    let ensure = s
        .states
        .iter()
        .map(|v| quote!(::nanotorch::codegen::ensure_len(&mut self.work.#v, #steps);));
    let sequence = plan.destination(outs[0]);
    let first = &s.states[0];
    let lasts = node.inputs[1..].iter().enumerate().map(|(k, &init)| {
        let (init, states, dst) = (plan.value_in_forward(init), &s.states[k], plan.destination(outs[k + 1]));
        quote!(::nanotorch::Tensor::assign(#dst, ::nanotorch::codegen::last_state(#init, &self.work.#states));)
    });
    let names: Vec<String> = outs
        .iter()
        .map(|&p| plan.node(p).name.to_string())
        .collect();
    let ins: Vec<String> = node
        .inputs
        .iter()
        .map(|&i| plan.node(i).name.to_string())
        .collect();
    Step {
        code: quote_spanned! {span=>
            ::nanotorch::codegen::ensure_len(&mut self.saved.#saved_steps, #steps);
            #(#ensure)*
            for t in 0..#steps {
                ::nanotorch::ops::time_step_into(#x, t, &mut self.work.#x_t);
                #(#links)*
                ::nanotorch::StepState::swap_saved(&mut self.#f, &mut self.saved.#saved_steps[t]);
                #network::step_forward(&mut self.#f, (&self.work.#x_t, #(#prevs,)*), (#(#nexts,)*));
                ::nanotorch::StepState::swap_saved(&mut self.#f, &mut self.saved.#saved_steps[t]);
            }
            for t in 0..#steps {
                ::nanotorch::ops::set_time_step(&self.work.#first[t], t, #sequence);
            }
            #(#lasts)*
        },
        doc: format!(
            "({}) = scan({f}, {})   {}   (a loop over the time steps)",
            names.join(", "),
            ins.join(", "),
            dims_text(&plan.node(outs[0]).dims)
        ),
    }
}

pub fn predict(plan: &Plan, id: NodeId) -> TokenStream {
    let node = plan.node(id);
    let (span, f) = (node.span, plan.field_of(node));
    let s = scan(plan, id);
    let (network, steps, step_ty) = (&s.network, &s.steps, &s.step_ty);
    let x = super::predict_arg(plan, node.inputs[0]);
    let outs = parts(plan, id);
    let state: Vec<Ident> = (0..s.states.len())
        .map(|k| format_ident!("state_{}", k))
        .collect();
    let inits = node.inputs[1..]
        .iter()
        .map(|&i| super::predict_arg(plan, i));
    let tys = &s.state_tys;
    let (seq, seq_ty) = (&plan.node(outs[0]).name, plan.ty(outs[0]));
    let lasts = outs[1..].iter().map(|&p| &plan.node(p).name);
    let first = &state[0];
    quote_spanned! {span=>
        let mut #seq: #seq_ty = ::core::default::Default::default();
        #(let mut #state: #tys = ::core::clone::Clone::clone(#inits);)*
        for t in 0..#steps {
            let mut x_t: #step_ty = ::core::default::Default::default();
            ::nanotorch::ops::time_step_into(#x, t, &mut x_t);
            (#(#state,)*) = #network::step_predict(&self.#f, (&x_t, #(&#state,)*));
            ::nanotorch::ops::set_time_step(&#first, t, &mut #seq);
        }
        let (#(#lasts,)*) = (#(#state,)*);
    }
}

pub fn backward<'g>(g: &mut dyn Gradients<'g>, n: NodeId) {
    let plan = g.plan();
    let node = plan.node(n);
    let (span, f) = (node.span, plan.field_of(node));
    let s = scan(plan, n);
    let (network, steps, saved_steps, d_x_t) = (&s.network, &s.steps, &s.saved_steps, &s.d_x_t);
    let outs = parts(plan, n);
    let (carry, d_prev) = (&s.carry, &s.d_prev);
    // A last state nothing reads (`_h`) sends back zeros; a sequence nothing reads, nothing.
    let starts: Vec<TokenStream> = outs[1..]
        .iter()
        .zip(carry)
        .map(|(&p, c)| {
            if is_read(plan, p) {
                let d_last = g.grad(p);
                quote!(::nanotorch::Tensor::assign(&mut self.grads.#c, #d_last);)
            } else {
                let last = plan.stored(p);
                quote!(::nanotorch::codegen::zeros_like_into(&mut self.grads.#c, &#last);)
            }
        })
        .collect();
    let carry0 = &carry[0];
    let add_sequence = if is_read(plan, outs[0]) {
        let d_seq = g.grad(outs[0]);
        quote!(::nanotorch::ops::add_time_step_into(#d_seq, t, &mut self.grads.#carry0);)
    } else {
        quote!()
    };
    let text = format!("{f} through time");
    // Where the gradients of `x` and of the initial states go, if anything reads them.
    let mut x_write = quote!();
    let mut finals = Vec::new();
    for (k, &a) in node.inputs.iter().enumerate() {
        let Some(only) = g.need(a) else { continue };
        let t = g.target(a, n, format!("{text}[{k}]"));
        let (dst, then) = (t.dst, t.then);
        let gate = |code: TokenStream| {
            if only {
                quote!(if input_grad { #code })
            } else {
                code
            }
        };
        if k == 0 {
            x_write = gate(quote!(::nanotorch::ops::set_time_step(&self.grads.#d_x_t, t, #dst);));
            finals.push(gate(then));
        } else {
            let c = &carry[k - 1];
            finals.push(gate(
                quote!(::nanotorch::Tensor::assign(#dst, &self.grads.#c); #then),
            ));
        }
    }
    g.param_term(
        format!("∂L/∂({f}'s parameters)"),
        format!("Σ_t {f}.backward at step t (t = T−1 … 0)"),
    );
    g.emit(
        false,
        quote_spanned! {span=>
            #(#starts)*
            for t in (0..#steps).rev() {
                #add_sequence
                ::nanotorch::StepState::swap_saved(&mut self.#f, &mut self.saved.#saved_steps[t]);
                #network::step_backward(
                    &mut self.#f,
                    (#(&self.grads.#carry,)*),
                    (&mut self.grads.#d_x_t, #(&mut self.grads.#d_prev,)*),
                );
                ::nanotorch::StepState::swap_saved(&mut self.#f, &mut self.saved.#saved_steps[t]);
                #x_write
                #(::core::mem::swap(&mut self.grads.#carry, &mut self.grads.#d_prev);)*
            }
            #(#finals)*
        },
    );
}
