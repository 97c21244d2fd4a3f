//! The checks of the whole body, once every statement is lowered: the returned values against
//! the declared outputs, and layers or values that are never used.

use std::collections::HashMap;

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Ident;

use super::Errors;
use crate::ast::{DimDecl, Forward, Network};
use crate::dims::{DimInfo, dims_text};
use crate::fields::{FieldKind, LayerField};
use crate::graph::{DeferredCheck, Graph, Node, NodeId};

/// What lowering the body produced.
pub(super) struct Lowered {
    pub nodes: Vec<Node>,
    pub used_fields: Vec<usize>,
    pub errors: Errors,
    pub deferred: Vec<DeferredCheck>,
    pub input_overrides: HashMap<usize, TokenStream>,
    pub inputs: Vec<NodeId>,
    /// The returned values, or `None` if the result did not lower.
    pub outputs: Option<Vec<NodeId>>,
    /// The values bound by `let`, with their names.
    pub let_nodes: Vec<(Ident, NodeId)>,
}

/// Turns the lowered body into the graph, or the errors.
pub(super) fn finish(
    lowered: Lowered,
    mut fields: Vec<LayerField>,
    net: &Network,
    input_dims: Vec<Vec<DimInfo>>,
    output_dims: Vec<Vec<DimInfo>>,
) -> Result<Graph, Errors> {
    let Lowered {
        nodes,
        used_fields,
        mut errors,
        mut deferred,
        input_overrides,
        inputs,
        outputs,
        let_nodes,
    } = lowered;
    for (k, have) in input_overrides {
        if let FieldKind::Linear { output, .. } = &fields[k].kind {
            let o = &output.ty;
            fields[k].ty = quote!(::nanotorch::Linear<#have, #o, E>);
        }
    }
    let fwd = &net.forward;
    let Some(outputs) = outputs else {
        if errors.is_empty() {
            errors.push(syn::Error::new(
                Span::call_site(),
                "`forward` has no result",
            ));
        }
        return Err(errors);
    };
    if errors.is_empty() && outputs.iter().any(|o| inputs.contains(o)) {
        let input = &fwd.inputs[0].name;
        errors.push(syn::Error::new(
            input.span(),
            "`forward` returns its input unchanged: apply at least one layer",
        ));
        return Err(errors);
    }
    check_outputs(&nodes, &outputs, &output_dims, fwd, &mut errors);
    if errors.is_empty() {
        check_unused(
            &fields,
            &used_fields,
            &nodes,
            &outputs,
            &let_nodes,
            &mut errors,
        );
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // The declared output dims that are not literals are checked by the compiler too.
    for (k, &output) in outputs.iter().enumerate() {
        for (g, d) in nodes[output].dims.iter().zip(&output_dims[k]).skip(1) {
            if g.lit.is_none() || d.lit.is_none() {
                deferred.push(DeferredCheck {
                    have: g.ty.clone(),
                    want: d.ty.clone(),
                    span: fwd.outputs[k].span,
                });
            }
        }
    }
    Ok(Graph {
        fields,
        nodes,
        inputs,
        outputs,
        input_dims,
        output_dims,
        deferred,
    })
}

/// Each returned value against its declared shape, with the batch of the first input.
fn check_outputs(
    nodes: &[Node],
    outputs: &[NodeId],
    output_dims: &[Vec<DimInfo>],
    fwd: &Forward,
    errors: &mut Errors,
) {
    for (k, &output) in outputs.iter().enumerate() {
        let out = &nodes[output];
        if out.poisoned {
            continue;
        }
        let (got, declared) = (&out.dims, &output_dims[k]);
        let mismatch = got.len() != declared.len()
            || got
                .iter()
                .zip(declared)
                .skip(1)
                .any(|(g, d)| matches!((g.lit, d.lit), (Some(x), Some(y)) if x != y));
        let batch_mismatch =
            batch_decl_differs(&fwd.inputs[0].shape.dims[0], &fwd.outputs[k].dims[0]);
        if mismatch || batch_mismatch {
            let which = if outputs.len() > 1 {
                format!("output {k} as ")
            } else {
                "output shape ".to_string()
            };
            errors.push(syn::Error::new(
                fwd.outputs[k].span,
                format!(
                    "`forward` declares the {which}{}, but its result `{}` has shape {}",
                    dims_text(declared),
                    out.name,
                    dims_text(got)
                ),
            ));
        }
    }
}

/// Layers declared but never used, and values computed but never used.
fn check_unused(
    fields: &[LayerField],
    used_fields: &[usize],
    nodes: &[Node],
    outputs: &[NodeId],
    let_nodes: &[(Ident, NodeId)],
    errors: &mut Errors,
) {
    for (k, f) in fields.iter().enumerate() {
        if !used_fields.contains(&k) {
            errors.push(syn::Error::new(
                f.name.span(),
                format!(
                    "the layer `{}` is declared but never used in `forward`",
                    f.name
                ),
            ));
        }
    }
    let mut used = vec![false; nodes.len()];
    for &o in outputs {
        used[o] = true;
    }
    for n in nodes {
        for &i in &n.inputs {
            used[i] = true;
        }
    }
    for (name, id) in let_nodes {
        // A call's or a scan's outputs come together: one the caller does not need is named
        // `_h` (its gradient is zero).
        let part = matches!(nodes[*id].op, crate::graph::Op::Part { .. });
        let unused_on_purpose = part && name.to_string().starts_with('_');
        if !used[*id] && !unused_on_purpose {
            errors.push(syn::Error::new(
                name.span(),
                format!("`{name}` is computed but never used"),
            ));
        }
    }
}

/// The output batch must be the input's: the same name or the same number.
fn batch_decl_differs(input: &DimDecl, output: &DimDecl) -> bool {
    match (input, output) {
        (DimDecl::Lit(a), DimDecl::Lit(b)) => a != b,
        (DimDecl::Name(a), DimDecl::Name(b)) => a != b,
        _ => true,
    }
}
