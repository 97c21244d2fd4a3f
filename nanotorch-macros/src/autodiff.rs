//! Reverse-mode differentiation at compile time.
//!
//! Walks the SSA graph from the outputs back to the inputs. For each node, the node's own file
//! in `nodes/` emits the call to its backward (the vector-Jacobian product lives in
//! `nanotorch`); this module decides where each gradient lives:
//!
//! - a value used once gets its gradient written straight into its buffer;
//! - a value used several times (fan-out) gets its first contribution written and every
//!   later one added (`accumulate`), never a zero-fill followed by additions;
//! - a value whose only contribution is an identity (an operand of `+`) shares the sum's
//!   gradient, with no buffer and no copy;
//! - a returned value is given its gradient as an argument; if other values also read it (an
//!   LSTM's `c` is returned and feeds `h`), the argument is copied into its buffer first;
//! - a value that does not depend on any parameter — the inputs, and anything computed from
//!   them alone — gets no gradient unless `backward_with_input` asks for it.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

use crate::graph::{NodeId, Op};
use crate::nodes::{self, Gradients, Target};
use crate::plan::{Plan, d_name, retag};

/// The generated backward.
pub struct Backward {
    pub statements: Vec<TokenStream>,
    /// Gradient buffers: field, type, doc.
    pub buffers: Vec<(Ident, TokenStream, String)>,
    /// The derivation, one line per gradient, for the docs.
    pub derivation: Vec<String>,
    /// For each value, the nodes whose backward contributed to its gradient, in the order
    /// backward runs them (two or more: a fan-out sum). For the picture (`picture/`).
    pub sources: Vec<Vec<NodeId>>,
    /// For each value, whether its gradient is computed only by `backward_with_input`.
    pub input_only: Vec<bool>,
    /// For each value, whether its gradient starts as `backward`'s argument (a returned value).
    pub given: Vec<bool>,
}

struct Walk<'p> {
    plan: &'p Plan<'p>,
    /// Gradient needed without the input gradient (depends on a parameter).
    for_params: Vec<bool>,
    /// Gradient needed when the input's gradient is asked for.
    for_input: Vec<bool>,
    /// How many contributions each value's gradient has received so far in the walk.
    received: Vec<usize>,
    buffers: Vec<(Ident, TokenStream, String)>,
    /// Terms of each value's gradient, for the derivation.
    terms: Vec<Vec<String>>,
    /// Unconditional and input-only statements, in order.
    statements: Vec<(bool, TokenStream)>,
    /// Parameter-gradient lines for the derivation.
    param_terms: Vec<(String, String)>,
    /// The nodes whose backward contributed to each value's gradient.
    sources: Vec<Vec<NodeId>>,
    /// `Some(n)` when a value's only gradient contribution is the identity from `n` (it is an
    /// operand of `+`, or the left one of `-`): its gradient *is* `n`'s, with no buffer or copy.
    alias: Vec<Option<NodeId>>,
    /// Returned values whose gradient is the argument itself (nothing else reads them).
    given: Vec<bool>,
    /// How many contributions each value receives that are computed (not identities): an
    /// identity waits for them, to be added onto what they wrote.
    computed: Vec<usize>,
    /// Identity contributions held back until the value's computed ones have been written, so
    /// a fan-out writes one VJP straight into the buffer and adds the identities onto it.
    pending: Vec<Vec<(NodeId, usize)>>,
}

impl<'p> Gradients<'p> for Walk<'p> {
    fn plan(&self) -> &'p Plan<'p> {
        self.plan
    }

    fn need(&self, a: NodeId) -> Option<bool> {
        if self.for_params[a] {
            Some(false)
        } else if self.for_input[a] {
            Some(true)
        } else {
            None
        }
    }

    fn grad(&self, id: NodeId) -> TokenStream {
        if let Some(source) = self.alias[id] {
            return self.grad(source);
        }
        let d = d_name(self.plan.node(id));
        if self.given[id] {
            quote!(#d)
        } else {
            quote!(&self.grads.#d)
        }
    }

    fn d_text(&self, id: NodeId) -> String {
        format!("∂L/∂{}", self.plan.node(id).name)
    }

    fn target(&mut self, a: NodeId, via: NodeId, term: String) -> Target {
        self.terms[a].push(term);
        self.sources[a].push(via);
        self.received[a] += 1;
        let d = d_name(self.plan.node(a));
        if self.received[a] == 1 {
            return Target {
                dst: quote!(&mut self.grads.#d),
                then: quote!(),
            };
        }
        let tmp = format_ident!("{}_via_{}", d, self.plan.node(via).name);
        let doc = format!(
            "The contribution to ∂L/∂{} through `{}` (added into `{}`).",
            self.plan.node(a).name,
            self.plan.node(via).name,
            d
        );
        self.buffers.push((tmp.clone(), self.plan.ty(a), doc));
        Target {
            dst: quote!(&mut self.grads.#tmp),
            then: quote!(::nanotorch::codegen::accumulate(&mut self.grads.#d, &self.grads.#tmp);),
        }
    }

    fn pass_through(&mut self, a: NodeId, n: NodeId, k: usize, negate: bool) -> TokenStream {
        let dn = self.grad(n);
        let node = self.plan.node(n);
        // The right operand's gradient may need viewing with the left's type (see `retag`).
        let view = |dst: TokenStream| if k == 1 { retag(node, dst, true) } else { dst };
        if negate {
            // `target` records `n` as a source.
            let t = self.target(a, n, format!("−{}", self.d_text(n)));
            let (dst, then) = (view(t.dst), t.then);
            return quote!(::nanotorch::ops::neg_into(#dn, #dst); #then);
        }
        let text = self.d_text(n);
        self.terms[a].push(text);
        self.sources[a].push(n);
        if self.alias[a] == Some(n) {
            self.received[a] += 1;
            return quote!();
        }
        if self.computed[a] > 0 {
            self.pending[a].push((n, k));
            return quote!();
        }
        self.received[a] += 1;
        let d = d_name(self.plan.node(a));
        let grad = view(quote!(&mut self.grads.#d));
        if self.received[a] == 1 {
            quote!(::nanotorch::Tensor::assign(#grad, #dn);)
        } else {
            quote!(::nanotorch::codegen::accumulate(#grad, #dn);)
        }
    }

    fn scratch(&mut self, name: Ident, ty: TokenStream, doc: &str) -> Target {
        self.buffers.push((name.clone(), ty, doc.to_string()));
        Target {
            dst: quote!(&mut self.grads.#name),
            then: quote!(),
        }
    }

    fn emit(&mut self, input_only: bool, stmt: TokenStream) {
        self.statements.push((input_only, stmt));
    }

    fn param_term(&mut self, lhs: String, rhs: String) {
        self.param_terms.push((lhs, rhs));
    }
}

impl Walk<'_> {
    /// Identity contributions held back for value `n`: added now, after the computed ones
    /// were written and before `n`'s own backward reads its gradient.
    fn flush_pending(&mut self, n: NodeId) {
        let pending = std::mem::take(&mut self.pending[n]);
        for (source, k) in pending {
            self.received[n] += 1;
            let d = d_name(self.plan.node(n));
            let ds = self.grad(source);
            let own = quote!(&mut self.grads.#d);
            let own = if k == 1 {
                retag(self.plan.node(source), own, true)
            } else {
                own
            };
            let input_only = !self.for_params[n];
            self.emit(
                input_only,
                quote!(::nanotorch::codegen::accumulate(#own, #ds);),
            );
        }
    }

    /// A returned value that other values also read: its buffer starts as the given gradient.
    fn start_from_given(&mut self, out: NodeId) {
        let d = d_name(self.plan.node(out));
        self.received[out] = 1;
        self.terms[out].push("given".into());
        let input_only = !self.for_params[out];
        self.emit(
            input_only,
            quote!(::nanotorch::Tensor::assign(&mut self.grads.#d, #d);),
        );
    }

    /// The derivation: each value's gradient as the sum of its contributions, in reverse order.
    fn derivation(&self) -> Vec<String> {
        let g = self.plan.graph;
        let mut lines = Vec::new();
        for (id, node) in g.nodes.iter().enumerate().rev() {
            if self.given[id] {
                lines.push(format!("∂L/∂{} = given (the argument)", node.name));
            } else if !self.terms[id].is_empty() {
                let only = if self.for_params[id] {
                    ""
                } else {
                    "   (only with the input gradient)"
                };
                lines.push(format!(
                    "∂L/∂{} = {}{only}",
                    node.name,
                    self.terms[id].join(" + ")
                ));
            }
        }
        for (lhs, rhs) in &self.param_terms {
            lines.push(format!("{lhs} += {rhs}"));
        }
        lines
    }
}

/// Which values need a gradient: for the parameters' sake, or only for the inputs'.
fn needs(plan: &Plan) -> (Vec<bool>, Vec<bool>) {
    let g = plan.graph;
    let n = g.nodes.len();
    let mut for_params = vec![false; n];
    let mut for_input = vec![false; n];
    for (id, node) in g.nodes.iter().enumerate() {
        let has_params = nodes::has_params(&node.op);
        for_params[id] = has_params || node.inputs.iter().any(|&i| for_params[i]);
        // Token ids and a scan's zero state have no gradient.
        let float_input = matches!(node.op, Op::Input) && node.tokens.is_none();
        let constant = matches!(node.op, Op::Zeros);
        for_input[id] =
            !constant && (float_input || has_params || node.inputs.iter().any(|&i| for_input[i]));
        for_params[id] &= !constant;
    }
    (for_params, for_input)
}

/// How many contributions each value's gradient receives, how many are computed (not
/// identities), and the values whose one contribution is an identity (they share a buffer).
fn contributions(plan: &Plan, for_input: &[bool]) -> (Vec<usize>, Vec<usize>, Vec<Option<NodeId>>) {
    let g = plan.graph;
    let n = g.nodes.len();
    let mut total = vec![0usize; n];
    let mut computed = vec![0usize; n];
    let mut only_identity_from = vec![None; n];
    for (c, node) in g.nodes.iter().enumerate() {
        for (k, &a) in node.inputs.iter().enumerate() {
            if !for_input[a] || !g.nodes[a].has_value() {
                continue;
            }
            total[a] += 1;
            // A right operand viewed through `DimsAgree` keeps its own (differently typed) buffer.
            let retagged = k == 1 && node.retag_rhs.is_some();
            match (nodes::is_identity(&node.op, k), retagged) {
                (true, false) => only_identity_from[a] = Some(c),
                // An identity into a buffer of its own: not a computed contribution either.
                (true, true) => {}
                (false, _) => computed[a] += 1,
            }
        }
    }
    let alias = (0..n)
        .map(|a| {
            let aliasable =
                total[a] == 1 && !matches!(g.nodes[a].op, Op::Input) && !g.outputs.contains(&a);
            if aliasable {
                only_identity_from[a]
            } else {
                None
            }
        })
        .collect();
    (total, computed, alias)
}

/// Plans and emits the backward pass.
pub fn plan_backward<'p>(plan: &'p Plan<'p>) -> Backward {
    let g = plan.graph;
    let n = g.nodes.len();
    let (for_params, for_input) = needs(plan);
    let (total, computed, alias) = contributions(plan, &for_input);
    let given: Vec<bool> = (0..n)
        .map(|id| g.outputs.contains(&id) && total[id] == 0)
        .collect();
    let mut walk = Walk {
        plan,
        for_params,
        for_input,
        alias,
        given,
        computed,
        pending: vec![Vec::new(); n],
        received: vec![0; n],
        buffers: Vec::new(),
        terms: vec![Vec::new(); n],
        statements: Vec::new(),
        param_terms: Vec::new(),
        sources: vec![Vec::new(); n],
    };
    // Gradient buffers for every value that can receive one (a returned value's is the
    // argument, unless other values read it too).
    for (id, node) in g.nodes.iter().enumerate() {
        if node.has_value() && !walk.given[id] && walk.for_input[id] && walk.alias[id].is_none() {
            let doc = if walk.for_params[id] {
                format!("∂L/∂{}.", node.name)
            } else {
                format!(
                    "∂L/∂{} (computed only by `backward_with_input`).",
                    node.name
                )
            };
            walk.buffers.push((d_name(node), plan.ty(id), doc));
        }
    }
    for &out in &g.outputs {
        if !walk.given[out] {
            walk.start_from_given(out);
        }
    }
    for id in (0..n).rev() {
        walk.flush_pending(id);
        nodes::backward(&mut walk, id);
    }
    let derivation = walk.derivation();
    let given = (0..n).map(|id| g.outputs.contains(&id)).collect();
    let input_only = (0..n)
        .map(|id| walk.for_input[id] && !walk.for_params[id])
        .collect();
    Backward {
        statements: group_input_only(walk.statements),
        buffers: walk.buffers,
        derivation,
        sources: walk.sources,
        input_only,
        given,
    }
}

/// Groups consecutive input-only statements under one `if input_grad { … }`.
fn group_input_only(statements: Vec<(bool, TokenStream)>) -> Vec<TokenStream> {
    let mut out = Vec::new();
    let mut pending: Vec<TokenStream> = Vec::new();
    for (input_only, stmt) in statements {
        if input_only {
            pending.push(stmt);
            continue;
        }
        if !pending.is_empty() {
            out.push(quote!(if input_grad { #(#pending)* }));
            pending.clear();
        }
        out.push(stmt);
    }
    if !pending.is_empty() {
        out.push(quote!(if input_grad { #(#pending)* }));
    }
    out
}
