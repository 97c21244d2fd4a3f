//! What each kind of node computes: one file per kind, each with the same four parts —
//!
//! - `reads`: which values its backward reads (so `forward` saves them, and nothing else);
//! - `forward`: the statement `forward` runs, and its line in the docs;
//! - `predict`: the statement of the allocating, saving-nothing `predict`;
//! - `backward`: its vector-Jacobian products, emitted through [`Gradients`], which says where
//!   each gradient lives and sums the contributions of a value used several times.
//!
//! The math of every primitive lives in `nanotorch::ops`; a node only names which function
//! to call with which values. Adding a kind of node is one file here, one variant of
//! `graph::Op`, its shape rule in `lower`, and one line in each `match` below.

mod arith;
mod call;
mod concat;
mod layer;
mod linear;
mod scale;
mod scan;
mod stack;
mod unary;
mod zeros;

use proc_macro2::TokenStream;
use syn::Ident;

use crate::graph::{Graph, NodeId, Op};
use crate::plan::Plan;

/// One `forward` statement and its line in the docs.
pub struct Step {
    pub code: TokenStream,
    pub doc: String,
}

/// Where a node kind keeps a buffer besides its value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// `self.saved`: backward reads it (dropout's mask).
    Saved,
    /// `self.work`: forward temporaries (the values between a stack's blocks).
    Work,
    /// `self.grads`: backward temporaries (their gradients).
    Grads,
}

/// A buffer a node kind keeps besides its value.
pub struct Extra {
    pub store: Store,
    pub name: Ident,
    pub ty: TokenStream,
    pub doc: String,
}

/// Where one contribution to a gradient goes: write into `dst`, then run `then` (which adds a
/// temporary into the real buffer when the value already had a contribution).
pub struct Target {
    pub dst: TokenStream,
    pub then: TokenStream,
}

/// What the backward walk (`autodiff`) offers a node kind emitting its backward.
pub trait Gradients<'g> {
    fn plan(&self) -> &'g Plan<'g>;
    /// Whether value `a`'s gradient is needed: `Some(true)` only for the input gradient,
    /// `Some(false)` always, `None` never.
    fn need(&self, a: NodeId) -> Option<bool>;
    /// ∂L/∂node as backward reads it.
    fn grad(&self, id: NodeId) -> TokenStream;
    /// `∂L/∂h`, for the derivation.
    fn d_text(&self, id: NodeId) -> String;
    /// The buffer for the next contribution to ∂L/∂a through node `via`; `term` is its
    /// formula for the derivation.
    fn target(&mut self, a: NodeId, via: NodeId, term: String) -> Target;
    /// An identity contribution ∂L/∂a += ∂L/∂n (`negate`: −∂L/∂n) from operand `k` of `n`.
    fn pass_through(&mut self, a: NodeId, n: NodeId, k: usize, negate: bool) -> TokenStream;
    /// A gradient buffer that nothing reads (a half of a `concat` no value needs).
    fn scratch(&mut self, name: Ident, ty: TokenStream, doc: &str) -> Target;
    /// Adds a statement; `input_only` ones run only when the input's gradient is asked for.
    fn emit(&mut self, input_only: bool, stmt: TokenStream);
    /// A parameter gradient's line in the derivation.
    fn param_term(&mut self, lhs: String, rhs: String);
}

/// What a node's backward reads from the network's buffers: which of its inputs (by
/// position), and whether its own value. (Layers, stacks and calls keep what their own
/// backward reads inside the field.)
pub fn reads(op: &Op) -> (&'static [usize], bool) {
    match op {
        Op::Linear { .. } => linear::reads(),
        Op::Unary { prim, .. } => unary::reads(prim),
        Op::Mul => arith::reads_mul(),
        _ => (&[][..], false),
    }
}

/// Which values backward reads.
pub fn read_by_backward(graph: &Graph) -> Vec<bool> {
    let mut read = vec![false; graph.nodes.len()];
    for (id, node) in graph.nodes.iter().enumerate() {
        let (inputs, output) = reads(&node.op);
        for &k in inputs {
            read[node.inputs[k]] = true;
        }
        read[id] |= output;
    }
    read
}

/// The buffers node `id` keeps besides its value.
pub fn extra_buffers(plan: &Plan, id: NodeId) -> Vec<Extra> {
    match &plan.node(id).op {
        Op::Unary { prim, .. } => unary::extra(plan, id, prim),
        Op::Stack { .. } => stack::extra(plan, id),
        Op::Scan { .. } => scan::extra(plan, id),
        _ => Vec::new(),
    }
}

/// Node `id`'s `forward` statement.
pub fn forward(plan: &Plan, id: NodeId) -> Step {
    let node = plan.node(id);
    match &node.op {
        Op::Input | Op::Part { .. } => Step {
            code: TokenStream::new(),
            doc: String::new(),
        },
        Op::Linear { .. } => linear::forward(plan, id),
        Op::Layer { .. } => layer::forward(plan, id),
        Op::Stack { .. } => stack::forward(plan, id),
        Op::Call { .. } => call::forward(plan, id),
        Op::Scan { .. } => scan::forward(plan, id),
        Op::Zeros => zeros::forward(plan, id),
        Op::Unary { prim, constant } => unary::forward(plan, id, prim, constant),
        Op::Add | Op::Sub | Op::Mul => arith::forward(plan, id),
        Op::Scale { factor, text } => scale::forward(plan, id, factor, text),
        Op::Concat => concat::forward(plan, id),
    }
}

/// Node `id`'s `predict` statement.
pub fn predict(plan: &Plan, id: NodeId) -> TokenStream {
    let node = plan.node(id);
    match &node.op {
        Op::Input | Op::Part { .. } => TokenStream::new(),
        Op::Linear { .. } => linear::predict(plan, id),
        Op::Layer { .. } => layer::predict(plan, id),
        Op::Stack { .. } => stack::predict(plan, id),
        Op::Call { .. } => call::predict(plan, id),
        Op::Scan { .. } => scan::predict(plan, id),
        Op::Zeros => zeros::predict(plan, id),
        Op::Unary { prim, constant } => unary::predict(plan, id, prim, constant),
        Op::Add | Op::Sub | Op::Mul => arith::predict(plan, id),
        Op::Scale { factor, .. } => scale::predict(plan, id, factor),
        Op::Concat => concat::predict(plan, id),
    }
}

/// Node `id`'s backward: its contributions to its inputs' gradients.
pub fn backward<'g>(g: &mut dyn Gradients<'g>, id: NodeId) {
    let plan = g.plan();
    let graph = plan.graph;
    let node = &graph.nodes[id];
    match &node.op {
        Op::Input | Op::Part { .. } | Op::Zeros => {}
        Op::Linear { field } => linear::backward(g, id, *field),
        Op::Layer { field } => layer::backward(g, id, *field),
        Op::Stack { field } => stack::backward(g, id, *field),
        Op::Call { field } => call::backward(g, id, *field),
        Op::Scan { .. } => scan::backward(g, id),
        Op::Unary { prim, constant } => unary::backward(g, id, prim, constant),
        Op::Add | Op::Sub => arith::backward_add_sub(g, id),
        Op::Mul => arith::backward_mul(g, id),
        Op::Scale { factor, text } => scale::backward(g, id, factor, text),
        Op::Concat => concat::backward(g, id),
    }
}

/// Whether operand `k` of `op` receives the node's gradient unchanged (`a + b`, and `a` in
/// `a - b`): such a value can share the node's gradient buffer.
pub fn is_identity(op: &Op, k: usize) -> bool {
    matches!(op, Op::Add) || (matches!(op, Op::Sub) && k == 0)
}

/// Whether the node holds parameters (its gradient is needed for their sake).
pub fn has_params(op: &Op) -> bool {
    matches!(
        op,
        Op::Linear { .. } | Op::Layer { .. } | Op::Stack { .. } | Op::Call { .. } | Op::Scan { .. }
    )
}

/// A value as `predict` reads it: an argument by name, a computed value by reference.
fn predict_arg(plan: &Plan, id: NodeId) -> TokenStream {
    let node = plan.node(id);
    let n = &node.name;
    if matches!(node.op, Op::Input) {
        quote::quote!(#n)
    } else {
        quote::quote!(&#n)
    }
}

/// `let name: Type = value;` in `predict`.
fn bind_predicted(plan: &Plan, id: NodeId, value: TokenStream) -> TokenStream {
    let name = &plan.node(id).name;
    let ty = plan.ty(id);
    quote::quote!(let #name: #ty = #value;)
}

/// The outputs of a call or scan node, in order.
fn parts(plan: &Plan, id: NodeId) -> Vec<NodeId> {
    let mut parts: Vec<(usize, NodeId)> = plan
        .graph
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(p, node)| match node.op {
            Op::Part { index } if node.inputs[0] == id => Some((index, p)),
            _ => None,
        })
        .collect();
    parts.sort();
    parts.into_iter().map(|(_, p)| p).collect()
}

/// Whether a value is returned or read by another node.
pub(super) fn is_read(plan: &Plan, id: NodeId) -> bool {
    plan.graph.outputs.contains(&id) || plan.graph.nodes.iter().any(|n| n.inputs.contains(&id))
}
