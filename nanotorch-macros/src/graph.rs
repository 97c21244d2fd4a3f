//! The graph `forward` lowers to: SSA values (nodes), each computed by one operation from
//! earlier values. This module is data only; `lower` builds it and checks its shapes, `nodes`
//! says what each operation's forward, backward and saved values are.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Ident;

use crate::dims::DimInfo;
use crate::fields::LayerField;
use crate::prims::Unary;

/// Index of a node in [`Graph::nodes`].
pub type NodeId = usize;

/// What a node computes. Each kind's code lives in `nodes/<kind>.rs`.
pub enum Op {
    /// An input of `forward`.
    Input,
    /// A `Linear` field applied to a value (`nodes/linear.rs`).
    Linear { field: usize },
    /// Any other one-input layer field, through the `Layer` trait (`nodes/layer.rs`).
    Layer { field: usize },
    /// A stack field: its blocks applied in order, as loops (`nodes/stack.rs`).
    Stack { field: usize },
    /// A network field called with several inputs or giving several outputs, through the
    /// `Network` trait (`nodes/call.rs`). It has no value of its own: its outputs are the
    /// [`Op::Part`] nodes that follow it.
    Call { field: usize },
    /// `scan(cell, x, h0, …)`: a network field run at every time step of `x`, carrying its
    /// state (`nodes/scan.rs`). No value of its own: its outputs are the [`Op::Part`] nodes
    /// after it — the sequence of first states, then each last state.
    Scan { field: usize },
    /// Zeros `[B, H]` with the batch of this node's input: the initial state of a scan given
    /// none (`nodes/zeros.rs`). It has no gradient.
    Zeros,
    /// Output `index` of the [`Op::Call`] or [`Op::Scan`] that is this node's input.
    Part { index: usize },
    /// `relu(x)`, `leaky_relu(x, 0.1)`, `flatten(x)`, … (`nodes/unary.rs`).
    Unary {
        prim: &'static Unary,
        constant: Option<(TokenStream, String)>,
    },
    /// `a + b` (`nodes/arith.rs`).
    Add,
    /// `a - b` (`nodes/arith.rs`).
    Sub,
    /// `a * b`, elementwise (`nodes/arith.rs`).
    Mul,
    /// `c * a`, `a / c` for a number `c` (`nodes/scale.rs`).
    Scale { factor: TokenStream, text: String },
    /// `concat(a, b)` along the features (`nodes/concat.rs`).
    Concat,
}

/// One SSA value.
pub struct Node {
    pub name: Ident,
    pub op: Op,
    pub inputs: Vec<NodeId>,
    pub dims: Vec<DimInfo>,
    /// For token ids (an input declared `tokens<V>`): the vocabulary `V`. Such a value is a
    /// `nanotorch::Tokens`, not a tensor, and has no gradient.
    pub tokens: Option<DimInfo>,
    pub span: Span,
    /// Set once a shape error involved this value: later checks stay quiet about it, so one
    /// mistake gives one error.
    pub poisoned: bool,
    /// For `a + b`, `a - b`, `a * b` whose feature sizes the macro cannot compare: the
    /// `(have, want)` dims of `b` and `a`. The generated code views `b` with `a`'s type through
    /// `DimsAgree::rows_as`, so a mismatch is one trait error at the operator, and nothing else
    /// fails to type-check.
    pub retag_rhs: Option<(TokenStream, TokenStream)>,
    /// For a layer field other than `Linear` (a nested `network!`, an activation layer)
    /// applied to a `[B, F]` value: the `(have, want)` feature dims, `want` being the input
    /// features the layer declares (`codegen::Declared`). The generated code views
    /// the value with `want` through `FeaturesAgree::features_as`, so a mismatch is one trait
    /// error at the call and the nested network's types never see the wrong size.
    pub retag_input: Option<(TokenStream, TokenStream)>,
}

impl Node {
    /// Whether the node is a value (every node but a `Call`, whose values are its parts).
    pub fn has_value(&self) -> bool {
        !matches!(self.op, Op::Call { .. } | Op::Scan { .. })
    }
}

/// A check the macro cannot do with numbers (a dim is an alias or generic): emitted as a
/// trait-bound assertion spanned at the user's call.
pub struct DeferredCheck {
    pub have: TokenStream,
    pub want: TokenStream,
    pub span: Span,
}

/// The checked graph of a `forward`.
pub struct Graph {
    pub fields: Vec<LayerField>,
    pub nodes: Vec<Node>,
    /// The input nodes, in declaration order.
    pub inputs: Vec<NodeId>,
    /// The returned values, in declaration order.
    pub outputs: Vec<NodeId>,
    pub input_dims: Vec<Vec<DimInfo>>,
    pub output_dims: Vec<Vec<DimInfo>>,
    pub deferred: Vec<DeferredCheck>,
}

impl Graph {
    /// Whether `forward` has one input and one output (the `Layer`-shaped API).
    pub fn is_simple(&self) -> bool {
        self.inputs.len() == 1 && self.outputs.len() == 1
    }
}

/// The type of a value: `::nanotorch::Tensor<(B, F), E>`, or `::nanotorch::Tokens<T, V>` for
/// token ids.
pub fn value_type(dims: &[DimInfo], tokens: Option<&DimInfo>) -> TokenStream {
    match (tokens, dims) {
        (Some(vocab), [_, len]) => {
            let (t, v) = (&len.ty, &vocab.ty);
            quote!(::nanotorch::Tokens<#t, #v>)
        }
        _ => tensor_type(dims),
    }
}

/// The tensor type of a value: `::nanotorch::Tensor<(B, F), E>`.
pub fn tensor_type(dims: &[DimInfo]) -> TokenStream {
    let tys = dims.iter().map(|d| &d.ty);
    quote!(::nanotorch::Tensor<(#(#tys,)*), E>)
}
