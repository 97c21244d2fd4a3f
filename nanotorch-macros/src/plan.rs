//! Where each value lives between `forward` and `backward`, and how generated code names it.
//! Every generator (`nodes`, `autodiff`, `expand`) reads values through a [`Plan`].

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;

use crate::graph::{Graph, Node, NodeId, Op, value_type};

/// Where a value lives between `forward` and `backward`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Home {
    /// A `forward` argument itself (not kept).
    Argument,
    /// `self.saved`: backward reads it.
    Saved,
    /// `self.work`: a forward temporary, kept only so its memory is reused next step.
    Work,
    /// Not a value: a call of a network with several outputs (its outputs are values).
    Nowhere,
}

/// Facts about each node that every generator needs.
pub struct Plan<'g> {
    pub graph: &'g Graph,
    pub home: Vec<Home>,
    /// True if backward reads this value.
    pub read_by_backward: Vec<bool>,
    pub has_dropout: bool,
}

impl<'g> Plan<'g> {
    /// The plan for `graph`, given which values backward reads (`nodes::read_by_backward`).
    pub fn new(graph: &'g Graph, read: Vec<bool>) -> Self {
        let home = graph
            .nodes
            .iter()
            .enumerate()
            .map(|(id, node)| match node.op {
                Op::Call { .. } | Op::Scan { .. } => Home::Nowhere,
                Op::Input if !read[id] => Home::Argument,
                _ if read[id] => Home::Saved,
                _ => Home::Work,
            })
            .collect();
        let has_dropout = graph
            .nodes
            .iter()
            .any(|n| matches!(&n.op, Op::Unary { prim, .. } if prim.name == "dropout"));
        Plan {
            graph,
            home,
            read_by_backward: read,
            has_dropout,
        }
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.graph.nodes[id]
    }

    /// The value's type.
    pub fn ty(&self, id: NodeId) -> TokenStream {
        let node = &self.graph.nodes[id];
        value_type(&node.dims, node.tokens.as_ref())
    }

    /// The value as forward reads it.
    pub fn value_in_forward(&self, id: NodeId) -> TokenStream {
        let name = &self.node(id).name;
        match self.home[id] {
            Home::Argument | Home::Nowhere => quote!(#name),
            _ if matches!(self.node(id).op, Op::Input) => quote!(#name),
            Home::Saved => quote!(&self.saved.#name),
            Home::Work => quote!(&self.work.#name),
        }
    }

    /// The value as backward reads it (always saved).
    pub fn value_in_backward(&self, id: NodeId) -> TokenStream {
        let name = &self.node(id).name;
        quote!(&self.saved.#name)
    }

    /// Where forward writes the value.
    pub fn destination(&self, id: NodeId) -> TokenStream {
        let name = &self.node(id).name;
        match self.home[id] {
            Home::Saved => quote!(&mut self.saved.#name),
            _ => quote!(&mut self.work.#name),
        }
    }

    /// The value where forward left it, for `forward`'s return and `backward`'s check.
    pub fn stored(&self, id: NodeId) -> TokenStream {
        let name = &self.node(id).name;
        match self.home[id] {
            Home::Saved => quote!(self.saved.#name),
            _ => quote!(self.work.#name),
        }
    }

    /// The layer field a node calls.
    pub fn field_of(&self, node: &Node) -> &Ident {
        match node.op {
            Op::Linear { field }
            | Op::Layer { field }
            | Op::Stack { field }
            | Op::Call { field }
            | Op::Scan { field } => &self.graph.fields[field].name,
            _ => unreachable!("only layer calls have a field"),
        }
    }
}

/// `value` viewed with the left operand's type when the node compares sizes through
/// `DimsAgree` (see `Node::retag_rhs`); otherwise `value` unchanged. `mutable` picks
/// `rows_as_mut` (for gradient destinations).
pub fn retag(node: &Node, value: TokenStream, mutable: bool) -> TokenStream {
    let Some((have, want)) = &node.retag_rhs else {
        return value;
    };
    let span = node.span;
    let (have, want) = (respan(have, span), respan(want, span));
    if mutable {
        quote_spanned! {span=> <#have as ::nanotorch::shape::DimsAgree<#want>>::rows_as_mut(#value) }
    } else {
        quote_spanned! {span=> <#have as ::nanotorch::shape::DimsAgree<#want>>::rows_as(#value) }
    }
}

/// `value` viewed with the input features a nested network declares (see
/// `Node::retag_input`); otherwise `value` unchanged. `mutable` is for gradient destinations.
pub fn retag_input(node: &Node, value: TokenStream, mutable: bool) -> TokenStream {
    let Some((have, want)) = &node.retag_input else {
        return value;
    };
    let span = node.span;
    let (have, want) = (respan(have, span), respan(want, span));
    if mutable {
        quote_spanned! {span=> <#have as ::nanotorch::shape::FeaturesAgree<#want>>::features_as_mut(#value) }
    } else {
        quote_spanned! {span=> <#have as ::nanotorch::shape::FeaturesAgree<#want>>::features_as(#value) }
    }
}

/// `<E as Element>::cast(0.1)`.
pub fn constant(c: &TokenStream) -> TokenStream {
    quote!(<E as ::nanotorch::Element>::cast(#c))
}

/// For calls whose batch sizes agree by construction.
pub const SAME_BATCH: &str = "every value in forward has the input's batch size";

/// A network with several inputs called inside another: the enclosing network's values all
/// have the batch of its inputs, which its own `forward` checked agree.
pub const SAME_BATCH_CONTRACT: &str =
    "a nested network's inputs are values of the enclosing network, which share its batch";

/// For a backward call, whose gradient has the forward value's sizes.
pub const SAME_BATCH_GRAD: &str = "the gradient has the batch size of the forward pass";

/// For `flatten_as*`/`concat_as*`, whose width the macro computed from literal sizes.
pub const WIDTH_CHECKED: &str = "network! computed this width from the literal sizes";

/// The `Layer` trait's backward is called by an enclosing network with the gradient of the
/// value this network's forward returned, so the sizes agree by construction.
pub const LAYER_CONTRACT: &str =
    "a nested network's backward receives the gradient of its own forward's output";

/// A `flatten` or `concat` whose result width the macro computed from literal sizes: the
/// generated code names that width (`flatten_as`, `concat_as`) instead of having the compiler
/// compute it in types, which is limited to `nanotorch::shape::ARITH_LIMIT`.
pub fn has_literal_width(node: &Node) -> bool {
    node.dims.get(1).is_some_and(|d| d.lit.is_some())
}

/// The same tokens with every span set to `span`.
pub fn respan(tokens: &TokenStream, span: Span) -> TokenStream {
    tokens
        .clone()
        .into_iter()
        .map(|mut tt| {
            if let proc_macro2::TokenTree::Group(g) = &tt {
                let mut group = proc_macro2::Group::new(g.delimiter(), respan(&g.stream(), span));
                group.set_span(span);
                tt = proc_macro2::TokenTree::Group(group);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}

/// `d_h`: the name of a value's gradient buffer.
pub fn d_name(node: &Node) -> Ident {
    format_ident!("d_{}", node.name)
}
