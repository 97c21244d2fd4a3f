//! Reverse-mode differentiation at compile time.
//!
//! Walks the SSA graph from the output back to the input. For each node it emits the call to
//! its primitive's backward (the vector-Jacobian product lives in `nanotorch`; this module
//! only decides which one to call, with what, and into which buffer):
//!
//! - a value used once gets its gradient written straight into its buffer;
//! - a value used several times (fan-out) gets its first contribution written and every
//!   later one added (`accumulate`), never a zero-fill followed by additions;
//! - a value that does not depend on any parameter — the input, and anything computed from the
//!   input alone — gets no gradient unless `backward_with_input` asks for it.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;

use crate::expand::{
    Plan, WIDTH_CHECKED, constant, has_literal_width, linear_op, retag, retag_input,
};
use crate::graph::{FieldKind, NodeId, Op};

/// The generated backward.
pub struct Backward {
    pub statements: Vec<TokenStream>,
    /// Gradient buffers: field, type, doc.
    pub buffers: Vec<(Ident, TokenStream, String)>,
    /// The derivation, one line per gradient, for the docs.
    pub derivation: Vec<String>,
}

const SAME_BATCH: &str = "the gradient has the batch size of the forward pass";

/// Where one contribution to ∂L/∂a goes.
struct Target {
    /// The expression to write into (`&mut self.grads.…`).
    dst: TokenStream,
    /// Statement to run after writing, to add a temporary into the real buffer.
    then: TokenStream,
}

struct Walk<'p, 'g> {
    plan: &'p Plan<'g>,
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
    /// `Some(n)` when a value's only gradient contribution is the identity from `n` (it is an
    /// operand of `+`, or the left one of `-`): its gradient *is* `n`'s, with no buffer or copy.
    alias: Vec<Option<NodeId>>,
    /// How many contributions each value receives that are not identities.
    computed: Vec<usize>,
    /// Identity contributions held back until the value's computed ones have been written, so
    /// a fan-out writes one VJP straight into the buffer and adds the identities onto it.
    pending: Vec<Vec<(NodeId, usize)>>,
}

impl Walk<'_, '_> {
    fn name(&self, id: NodeId) -> String {
        self.plan.node(id).name.to_string()
    }

    fn d_field(&self, id: NodeId) -> Ident {
        format_ident!("d_{}", self.plan.node(id).name)
    }

    /// ∂L/∂node as backward reads it.
    fn grad(&self, id: NodeId) -> TokenStream {
        if let Some(source) = self.alias[id] {
            return self.grad(source);
        }
        let d = self.d_field(id);
        if id == self.plan.graph.output {
            quote!(#d)
        } else {
            quote!(&self.grads.#d)
        }
    }

    fn d_text(&self, id: NodeId) -> String {
        format!("∂L/∂{}", self.name(id))
    }

    /// Whether node `a`'s gradient is needed, and whether only for the input gradient.
    fn need(&self, a: NodeId) -> Option<bool> {
        if self.for_params[a] {
            Some(false)
        } else if self.for_input[a] {
            Some(true)
        } else {
            None
        }
    }

    /// The buffer for the next contribution to ∂L/∂a from `via` (a temporary after the first).
    fn target(&mut self, a: NodeId, via: NodeId, term: String) -> Target {
        self.terms[a].push(term);
        self.received[a] += 1;
        let d = self.d_field(a);
        let ty = self.plan.ty(a);
        if self.received[a] == 1 {
            Target {
                dst: quote!(&mut self.grads.#d),
                then: quote!(),
            }
        } else {
            let tmp = format_ident!("{}_via_{}", d, self.plan.node(via).name);
            let doc = format!(
                "The contribution to ∂L/∂{} through `{}` (added into `{}`).",
                self.name(a),
                self.name(via),
                d
            );
            self.buffers.push((tmp.clone(), ty, doc));
            Target {
                dst: quote!(&mut self.grads.#tmp),
                then: quote!(::nanotorch::codegen::accumulate(&mut self.grads.#d, &self.grads.#tmp);),
            }
        }
    }

    /// An identity contribution ∂L/∂a += ∂L/∂n: a copy first, an addition after.
    fn pass_through(&mut self, a: NodeId, n: NodeId, k: usize, negate: bool) -> TokenStream {
        let dn = self.grad(n);
        let node = self.plan.node(n);
        // The right operand's gradient may need viewing with the left's type (see `retag`).
        let view = |dst: TokenStream| if k == 1 { retag(node, dst, true) } else { dst };
        if !negate {
            let text = self.d_text(n);
            if self.alias[a] == Some(n) {
                self.terms[a].push(text);
                self.received[a] += 1;
                return quote!();
            }
            if self.computed[a] > 0 {
                self.terms[a].push(text);
                self.pending[a].push((n, k));
                return quote!();
            }
        }
        let term = if negate {
            format!("−{}", self.d_text(n))
        } else {
            self.d_text(n)
        };
        if negate {
            let t = self.target(a, n, term);
            let (dst, then) = (view(t.dst), t.then);
            return quote!(::nanotorch::ops::neg_into(#dn, #dst); #then);
        }
        self.terms[a].push(term);
        self.received[a] += 1;
        let d = self.d_field(a);
        let grad = view(quote!(&mut self.grads.#d));
        if self.received[a] == 1 {
            quote!(::nanotorch::Tensor::assign(#grad, #dn);)
        } else {
            quote!(::nanotorch::codegen::accumulate(#grad, #dn);)
        }
    }

    fn emit(&mut self, input_only: bool, stmt: TokenStream) {
        self.statements.push((input_only, stmt));
    }

    fn node(&mut self, n: NodeId) {
        let plan = self.plan;
        let node = plan.node(n);
        let span = node.span;
        let dn = self.grad(n);
        let dn_text = self.d_text(n);
        let inputs = node.inputs.clone();
        // Identity contributions held back for this value: add them now, after the computed
        // ones were written and before this value's own backward reads its gradient.
        let pending = std::mem::take(&mut self.pending[n]);
        for (source, k) in pending {
            self.received[n] += 1;
            let d = self.d_field(n);
            let ds = self.grad(source);
            let own = quote!(&mut self.grads.#d);
            let own = if k == 1 {
                retag(plan.node(source), own, true)
            } else {
                own
            };
            let input_only = !self.for_params[n];
            self.emit(
                input_only,
                quote!(::nanotorch::codegen::accumulate(#own, #ds);),
            );
        }
        match &node.op {
            Op::Input => {}
            Op::Linear { field } => {
                let f = &plan.graph.fields[*field].name;
                let a = inputs[0];
                let x = plan.value_in_backward(a);
                let xn = self.name(a);
                let params_op = linear_op(plan, node, "linear_backward_params");
                let input_op = linear_op(plan, node, "linear_backward_input_into");
                self.emit(
                    false,
                    quote_spanned! {span=>
                        ::nanotorch::ops::#params_op(#x, #dn, &mut self.#f.weight.grad, Some(&mut self.#f.bias.grad))
                            .expect(#SAME_BATCH);
                    },
                );
                self.terms_param(f, format!("({dn_text})ᵀ·{xn}"), format!("Σ_rows {dn_text}"));
                if let Some(input_only) = self.need(a) {
                    let t = self.target(a, n, format!("{dn_text}·W_{f}"));
                    let (dst, then) = (t.dst, t.then);
                    self.emit(
                        input_only,
                        quote_spanned! {span=>
                            ::nanotorch::ops::#input_op(&self.#f.weight.value, #dn, #dst);
                            #then
                        },
                    );
                }
            }
            Op::Layer { field } => {
                let f = &plan.graph.fields[*field].name;
                let a = inputs[0];
                // A table layer (a convolution, a pooling) maps several input sizes to the same
                // output size, so its input type is named: `backward_params` alone would leave
                // it open.
                let layer = match &plan.graph.fields[*field].kind {
                    FieldKind::Known { .. } => {
                        let (fty, xty) = (&plan.graph.fields[*field].ty, plan.ty(a));
                        quote!(<#fty as ::nanotorch::Layer<#xty, E>>)
                    }
                    _ => quote!(::nanotorch::Layer),
                };
                match self.need(a) {
                    Some(input_only) => {
                        let t = self.target(a, n, format!("{f}.backward({dn_text})"));
                        let (dst, then) = (retag_input(node, t.dst, true), t.then);
                        if input_only {
                            // The layer's parameters need their gradients either way.
                            self.emit(
                                false,
                                quote_spanned! {span=>
                                    if !input_grad {
                                        #layer::backward_params(&mut self.#f, #dn);
                                    }
                                },
                            );
                        }
                        self.emit(
                            input_only,
                            quote_spanned! {span=>
                                #layer::backward_into(&mut self.#f, #dn, #dst);
                                #then
                            },
                        );
                    }
                    None => self.emit(
                        false,
                        quote_spanned! {span=> #layer::backward_params(&mut self.#f, #dn); },
                    ),
                }
                let has_params = match &plan.graph.fields[*field].kind {
                    FieldKind::Known { layer, .. } => layer.has_params,
                    _ => true,
                };
                if has_params {
                    self.terms_nested(f);
                }
            }
            Op::Unary { prim, constant: c } => {
                let a = inputs[0];
                let Some(input_only) = self.need(a) else {
                    return;
                };
                let (yn, xn) = (self.name(n), self.name(a));
                let term = match prim.name {
                    "softmax" => format!("{yn} ⊙ ({dn_text} − Σ_row({dn_text} ⊙ {yn}))"),
                    "log_softmax" => format!("{dn_text} − exp({yn}) ⊙ Σ_row {dn_text}"),
                    "flatten" => format!("reshape({dn_text}, shape of {xn})"),
                    _ => {
                        let c_text = c.as_ref().map(|(_, t)| t.clone()).unwrap_or_default();
                        let local = prim
                            .derivative
                            .replace("{y}", &yn)
                            .replace("{x}", &xn)
                            .replace("{c}", &c_text);
                        format!("{dn_text} ⊙ {local}")
                    }
                };
                let t = self.target(a, n, term);
                let (dst, then) = (t.dst, t.then);
                let call = match (prim.name, c) {
                    ("flatten", _) if has_literal_width(node) => {
                        quote_spanned! {span=> ::nanotorch::ops::flatten_as_backward_into(#dn, #dst).expect(#WIDTH_CHECKED); }
                    }
                    ("flatten", _) => {
                        quote_spanned! {span=> ::nanotorch::ops::flatten_backward_into(#dn, #dst); }
                    }
                    ("dropout", _) => {
                        let mask = format_ident!("{}_mask", plan.node(n).name);
                        quote_spanned! {span=> ::nanotorch::ops::dropout_backward_into(&self.saved.#mask, #dn, #dst); }
                    }
                    (_, c) => {
                        let f = format_ident!("{}_backward_into", prim.name);
                        let saved = match prim.reads {
                            crate::prims::Reads::Output => plan.value_in_backward(n),
                            _ => plan.value_in_backward(a),
                        };
                        match c {
                            Some((v, _)) => {
                                let v = constant(v);
                                quote_spanned! {span=> ::nanotorch::ops::#f(#saved, #dn, #v, #dst); }
                            }
                            None => {
                                quote_spanned! {span=> ::nanotorch::ops::#f(#saved, #dn, #dst); }
                            }
                        }
                    }
                };
                self.emit(input_only, quote!(#call #then));
            }
            Op::Add | Op::Sub => {
                let negate_b = matches!(node.op, Op::Sub);
                for (k, &a) in inputs.iter().enumerate() {
                    if let Some(input_only) = self.need(a) {
                        let stmt = self.pass_through(a, n, k, negate_b && k == 1);
                        if !stmt.is_empty() {
                            self.emit(input_only, stmt);
                        }
                    }
                }
            }
            Op::Mul => {
                for k in 0..2 {
                    let (a, other) = (inputs[k], inputs[1 - k]);
                    if let Some(input_only) = self.need(a) {
                        let ov = plan.value_in_backward(other);
                        let t = self.target(a, n, format!("{dn_text} ⊙ {}", self.name(other)));
                        let (ov, dst, then) = if k == 0 {
                            (retag(plan.node(n), ov, false), t.dst, t.then)
                        } else {
                            (ov, retag(plan.node(n), t.dst, true), t.then)
                        };
                        self.emit(
                            input_only,
                            quote_spanned! {span=>
                                ::nanotorch::ops::mul_backward_into(#ov, #dn, #dst).expect(#SAME_BATCH);
                                #then
                            },
                        );
                    }
                }
            }
            Op::Scale { factor, text } => {
                let a = inputs[0];
                if let Some(input_only) = self.need(a) {
                    let t = self.target(a, n, format!("{text}·{dn_text}"));
                    let (dst, then) = (t.dst, t.then);
                    let c = constant(factor);
                    self.emit(
                        input_only,
                        quote_spanned! {span=> ::nanotorch::ops::scale_into(#dn, #c, #dst); #then },
                    );
                }
            }
            Op::Concat => {
                let (a, b) = (inputs[0], inputs[1]);
                let (na, nb) = (self.need(a), self.need(b));
                if na.is_none() && nb.is_none() {
                    return;
                }
                let input_only = na.unwrap_or(true) && nb.unwrap_or(true);
                let width = plan.node(a).dims[1].text.clone();
                let side = |walk: &mut Self,
                            x: NodeId,
                            need: Option<bool>,
                            term: String,
                            k: usize| match need {
                    Some(_) => walk.target(x, n, term),
                    None => {
                        let unused = format_ident!("unused_{}_{}", walk.plan.node(n).name, k);
                        let ty = walk.plan.ty(x);
                        walk.buffers.push((
                            unused.clone(),
                            ty,
                            "A half of a concat gradient that nothing needs.".into(),
                        ));
                        Target {
                            dst: quote!(&mut self.grads.#unused),
                            then: quote!(),
                        }
                    }
                };
                let ta = side(self, a, na, format!("{dn_text}[:, ..{width}]"), 0);
                let tb = side(self, b, nb, format!("{dn_text}[:, {width}..]"), 1);
                let (da, then_a, db, then_b) = (ta.dst, ta.then, tb.dst, tb.then);
                let split = if has_literal_width(node) {
                    quote_spanned! {span=> ::nanotorch::ops::concat_as_backward_into(#dn, #da, #db).expect(#WIDTH_CHECKED); }
                } else {
                    quote_spanned! {span=> ::nanotorch::ops::concat_backward_into(#dn, #da, #db); }
                };
                self.emit(
                    input_only,
                    quote_spanned! {span=>
                        #split
                        #then_a
                        #then_b
                    },
                );
            }
        }
    }

    fn terms_param(&mut self, f: &Ident, dw: String, db: String) {
        self.param_terms.push((format!("∂L/∂W_{f}"), dw));
        self.param_terms.push((format!("∂L/∂b_{f}"), db));
    }

    fn terms_nested(&mut self, f: &Ident) {
        self.param_terms.push((
            format!("∂L/∂({f}'s parameters)"),
            format!("by {f}'s own backward"),
        ));
    }
}

/// Plans and emits the backward pass.
pub fn plan_backward(plan: &Plan) -> Backward {
    let g = plan.graph;
    let n = g.nodes.len();
    let mut for_params = vec![false; n];
    let mut for_input = vec![false; n];
    for (id, node) in g.nodes.iter().enumerate() {
        let has_params = matches!(node.op, Op::Linear { .. } | Op::Layer { .. });
        for_params[id] = has_params || node.inputs.iter().any(|&i| for_params[i]);
        // Token ids have no gradient.
        let float_input = matches!(node.op, Op::Input) && node.tokens.is_none();
        for_input[id] = float_input || has_params || node.inputs.iter().any(|&i| for_input[i]);
    }
    // Count each value's gradient contributions, and whether they are identities.
    let mut total = vec![0usize; n];
    let mut computed = vec![0usize; n];
    let mut only_identity_from = vec![None; n];
    for (c, node) in g.nodes.iter().enumerate() {
        for (k, &a) in node.inputs.iter().enumerate() {
            if !for_input[a] {
                continue;
            }
            total[a] += 1;
            let identity = matches!(node.op, Op::Add) || (matches!(node.op, Op::Sub) && k == 0);
            // A right operand viewed through `DimsAgree` keeps its own (differently typed) buffer.
            let retagged = k == 1 && node.retag_rhs.is_some();
            if identity && !retagged {
                only_identity_from[a] = Some(c);
            } else {
                computed[a] += 1;
            }
        }
    }
    let alias: Vec<Option<NodeId>> = (0..n)
        .map(|a| {
            let aliasable = total[a] == 1 && !matches!(g.nodes[a].op, Op::Input);
            if aliasable {
                only_identity_from[a]
            } else {
                None
            }
        })
        .collect();
    let mut walk = Walk {
        plan,
        for_params,
        for_input,
        alias,
        computed,
        pending: vec![Vec::new(); n],
        received: vec![0; n],
        buffers: Vec::new(),
        terms: vec![Vec::new(); n],
        statements: Vec::new(),
        param_terms: Vec::new(),
    };
    // Gradient buffers for every value that can receive one (the output's is the argument).
    for id in 0..n {
        if id != g.output && walk.for_input[id] && walk.alias[id].is_none() {
            let d = walk.d_field(id);
            let doc = if walk.for_params[id] {
                format!("∂L/∂{}.", walk.name(id))
            } else {
                format!(
                    "∂L/∂{} (computed only by `backward_with_input`).",
                    walk.name(id)
                )
            };
            walk.buffers.push((d, plan.ty(id), doc));
        }
    }
    let mut derivation = Vec::new();
    for id in (0..n).rev() {
        walk.node(id);
    }
    // The derivation: each value's gradient as the sum of its contributions, in reverse order.
    derivation.push(format!(
        "∂L/∂{} = given (the argument)",
        walk.name(g.output)
    ));
    for id in (0..n).rev() {
        if !walk.terms[id].is_empty() {
            let only = if walk.for_params[id] {
                ""
            } else {
                "   (only with the input gradient)"
            };
            derivation.push(format!(
                "∂L/∂{} = {}{only}",
                walk.name(id),
                walk.terms[id].join(" + ")
            ));
        }
    }
    for (lhs, rhs) in &walk.param_terms {
        derivation.push(format!("{lhs} += {rhs}"));
    }
    // Group input-only statements under one `if input_grad`.
    let mut statements = Vec::new();
    let mut pending: Vec<TokenStream> = Vec::new();
    for (input_only, stmt) in walk.statements {
        if input_only {
            pending.push(stmt);
        } else {
            if !pending.is_empty() {
                statements.push(quote!(if input_grad { #(#pending)* }));
                pending.clear();
            }
            statements.push(stmt);
        }
    }
    if !pending.is_empty() {
        statements.push(quote!(if input_grad { #(#pending)* }));
    }
    Backward {
        statements,
        buffers: walk.buffers,
        derivation,
    }
}
