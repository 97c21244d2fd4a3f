//! Lowering calls of layer fields. Each kind of field has its shape rule here: `Linear`
//! (checked with numbers), a table layer (its rule in `layers.rs`), a nested network (checked
//! by the compiler through a spanned view), a stack (each block keeps its input's shape), and
//! a network called with several inputs or giving several outputs.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Expr, Ident};

use super::Lowering;
use super::expr::value_text;
use crate::dims::{DimInfo, dims_text};
use crate::fields::FieldKind;
use crate::graph::{DeferredCheck, NodeId, Op, value_type};
use crate::layers::Call;

impl Lowering<'_> {
    /// `field(args…)` giving `count` values: checks the argument count for the field's kind,
    /// lowers the arguments and the call.
    pub(super) fn lower_field_call(
        &mut self,
        field: usize,
        fname: &Ident,
        args: &[&Expr],
        count: usize,
        span: Span,
    ) -> Option<Vec<NodeId>> {
        let network_call = match self.fields[field].kind {
            FieldKind::Opaque => args.len() != 1 || count != 1,
            FieldKind::Sequence => true,
            _ => false,
        };
        if network_call {
            let inputs: Vec<Option<NodeId>> = args.iter().map(|a| self.lower(a)).collect();
            let inputs: Vec<NodeId> = inputs.into_iter().collect::<Option<_>>()?;
            self.used_fields.push(field);
            return Some(self.lower_network_call(field, &inputs, count, span));
        }
        if args.len() != 1 {
            self.error(
                span,
                format!(
                    "the layer `{fname}` takes 1 argument (a value), found {}",
                    args.len()
                ),
            );
            return None;
        }
        if count != 1 {
            self.error(
                span,
                format!(
                    "the layer `{fname}` gives 1 value, not {count}: write `let name = {fname}(…);`"
                ),
            );
            return None;
        }
        let a = self.lower(args[0])?;
        self.used_fields.push(field);
        Some(vec![self.lower_layer(field, a, span, args[0])])
    }

    fn lower_layer(&mut self, field: usize, a: NodeId, span: Span, arg: &Expr) -> NodeId {
        let fname = self.fields[field].name.clone();
        let name = self.fresh_name(&format!("{fname}_out"));
        match &self.fields[field].kind {
            FieldKind::Linear { input, output } => {
                let (input, output) = (input.clone(), output.clone());
                self.lower_linear(field, &fname, name, a, &input, output, span, arg)
            }
            FieldKind::Invalid => {
                let dims = self.nodes[a].dims.clone();
                self.push(name, Op::Layer { field }, vec![a], dims, span, true)
            }
            FieldKind::Known { .. } => self.lower_known(field, &fname, name, a, span, arg),
            FieldKind::Opaque | FieldKind::Sequence => {
                self.lower_opaque(field, &fname, name, a, span)
            }
            FieldKind::Stack { .. } => self.lower_stack(field, &fname, name, a, span),
        }
    }

    /// A second call of a layer that keeps one call's saved values is an error.
    fn single_call(&mut self, field: usize, fname: &Ident, span: Span, what: &str, or: &str) {
        if self.single_calls.contains_key(&field) {
            self.error(
                span,
                format!("`{fname}` is applied twice, but {what} keeps the saved values of one call only; declare a second field of the same type{or}"),
            );
        }
        self.single_calls.insert(field, span);
    }

    /// `Linear` on `[B, F]` or on the last axis of `[B, T, F]`: `F` must be its input size.
    #[allow(clippy::too_many_arguments)]
    fn lower_linear(
        &mut self,
        field: usize,
        fname: &Ident,
        name: Ident,
        a: NodeId,
        input: &DimInfo,
        output: DimInfo,
        span: Span,
        arg: &Expr,
    ) -> NodeId {
        let a_dims = self.nodes[a].dims.clone();
        let poisoned = self.nodes[a].poisoned;
        let rank_ok = a_dims.len() == 2 || a_dims.len() == 3;
        let bad = poisoned || !self.check_linear_input(field, fname, a, input, span, arg);
        let mut dims: Vec<DimInfo> = if rank_ok && !bad {
            a_dims[..a_dims.len() - 1].to_vec()
        } else {
            a_dims.first().cloned().into_iter().collect()
        };
        dims.push(output);
        self.push(name, Op::Linear { field }, vec![a], dims, span, bad)
    }

    /// Reports a value a `Linear` cannot take; returns whether the value is fine.
    fn check_linear_input(
        &mut self,
        field: usize,
        fname: &Ident,
        a: NodeId,
        input: &DimInfo,
        span: Span,
        arg: &Expr,
    ) -> bool {
        let a_dims = self.nodes[a].dims.clone();
        if self.nodes[a].tokens.is_some() {
            self.error(span, self.token_misuse(fname, a, arg));
            return false;
        }
        if a_dims.len() != 2 && a_dims.len() != 3 {
            let value = self.nodes[a].name.clone();
            self.error(
                span,
                format!(
                    "`{fname}` takes a batch of feature rows `[B, {}]` (or sequences `[B, T, {}]`), but `{value}` has shape {}; flatten it first: `{fname}(flatten({value}))`",
                    input.text,
                    input.text,
                    dims_text(&a_dims),
                ),
            );
            return false;
        }
        let last = a_dims.last().expect("rank 2 or 3").clone();
        match (last.lit, input.lit) {
            (Some(have), Some(want)) if have != want => {
                self.error(
                    span,
                    format!(
                        "`{fname}` expects {want} input features, but `{}` has {have}{}",
                        value_text(&self.nodes[a], arg),
                        self.flatten_product(a)
                    ),
                );
                false
            }
            (Some(_), Some(_)) => true,
            _ => {
                self.deferred.push(DeferredCheck {
                    have: last.ty.clone(),
                    want: input.ty.clone(),
                    span,
                });
                self.input_overrides
                    .entry(field)
                    .or_insert_with(|| last.ty.clone());
                true
            }
        }
    }

    /// A layer of the table: its output shape by the table's rule, or the rule's error.
    fn lower_known(
        &mut self,
        field: usize,
        fname: &Ident,
        name: Ident,
        a: NodeId,
        span: Span,
        arg: &Expr,
    ) -> NodeId {
        let FieldKind::Known { layer, args } = &self.fields[field].kind else {
            unreachable!("called for table layers")
        };
        let (layer, poisoned) = (*layer, self.nodes[a].poisoned);
        self.single_call(field, fname, span, "a layer", "");
        let a_dims = self.nodes[a].dims.clone();
        let field_text = fname.to_string();
        let value = value_text(&self.nodes[a], arg);
        let tokens = self.nodes[a].tokens.clone();
        let call = Call {
            field: &field_text,
            value: &value,
            dims: &a_dims,
            tokens: tokens.as_ref(),
        };
        let (dims, bad) = match (layer.rule)(args, &call) {
            Ok(dims) => (dims, poisoned),
            Err(message) => {
                if !poisoned {
                    self.error(span, message);
                }
                (a_dims.clone(), true)
            }
        };
        self.push(name, Op::Layer { field }, vec![a], dims, span, bad)
    }

    /// A nested network (or any `Layer`): the compiler checks its input through a spanned
    /// view, and its output type is named through the `Layer` trait.
    fn lower_opaque(
        &mut self,
        field: usize,
        fname: &Ident,
        name: Ident,
        a: NodeId,
        span: Span,
    ) -> NodeId {
        self.single_call(
            field,
            fname,
            span,
            "a nested network",
            ", or share a `Linear` (which can be applied twice)",
        );
        let f_ty = self.fields[field].ty.clone();
        // A layer applied to `[B, F]` is called with the value viewed as its declared input,
        // after one spanned feature check.
        let a_dims = &self.nodes[a].dims;
        let retag_input = (a_dims.len() == 2 && self.nodes[a].tokens.is_none()).then(|| {
            (
                a_dims[1].ty.clone(),
                quote!(::nanotorch::codegen::InputFeatures<#f_ty>),
            )
        });
        let a_ty = value_type(
            &a_ty_dims(a_dims, &retag_input),
            self.nodes[a].tokens.as_ref(),
        );
        let out_ty = quote!(<#f_ty as ::nanotorch::Layer<#a_ty, E>>::Output);
        let dims = same_rank_dims(&self.nodes[a].dims, &out_ty, &format!("{fname}.out"));
        let poisoned = self.nodes[a].poisoned;
        let id = self.push(name, Op::Layer { field }, vec![a], dims, span, poisoned);
        self.nodes[id].retag_input = retag_input;
        id
    }

    /// A stack: each block maps a value to one of the same shape, so the output has the
    /// input's shape (the compiler checks the blocks, at this call).
    fn lower_stack(
        &mut self,
        field: usize,
        fname: &Ident,
        name: Ident,
        a: NodeId,
        span: Span,
    ) -> NodeId {
        self.single_call(field, fname, span, "a stack", "");
        let poisoned = self.nodes[a].poisoned;
        if self.nodes[a].tokens.is_some() && !poisoned {
            let value = self.nodes[a].name.clone();
            self.error(
                span,
                format!("the stack `{fname}` takes float values, but `{value}` holds token ids; look them up in an `Embedding` first"),
            );
        }
        let dims = self.nodes[a].dims.clone();
        self.push(name, Op::Stack { field }, vec![a], dims, span, poisoned)
    }

    /// A network called with several inputs or giving several outputs: a `Call` node and one
    /// `Part` per output, typed through the `Network` trait (which checks the inputs, at this
    /// call).
    fn lower_network_call(
        &mut self,
        field: usize,
        inputs: &[NodeId],
        count: usize,
        span: Span,
    ) -> Vec<NodeId> {
        let fname = self.fields[field].name.clone();
        self.single_call(field, &fname, span, "a nested network", "");
        let poisoned = inputs.iter().any(|&i| self.nodes[i].poisoned);
        let f_ty = self.fields[field].ty.clone();
        let name = self.fresh_name(&format!("{fname}_call"));
        let call = self.push(
            name,
            Op::Call { field },
            inputs.to_vec(),
            Vec::new(),
            span,
            poisoned,
        );
        let first = &self.nodes[inputs[0]];
        let x0 = value_type(&first.dims, first.tokens.as_ref());
        (0..count)
            .map(|index| {
                let k = proc_macro2::Literal::usize_unsuffixed(index);
                let out_ty =
                    crate::plan::respan(&quote!(::nanotorch::codegen::Out<#f_ty, #x0, #k>), span);
                // Output k is taken to have input k's rank (a cell's new state, its old one's;
                // a recurrent layer's sequence, its input's), or the last input's; a recurrent
                // layer's last states are [B, H].
                let text = format!("{fname}.{index}");
                let dims = if index > 0 && matches!(self.fields[field].kind, FieldKind::Sequence) {
                    let batch = self.nodes[inputs[0]].dims[0].clone();
                    vec![
                        batch,
                        DimInfo {
                            ty: quote!(::nanotorch::codegen::Features<#out_ty>),
                            lit: None,
                            text,
                        },
                    ]
                } else {
                    let like = &self.nodes[inputs[index.min(inputs.len() - 1)]].dims;
                    same_rank_dims(like, &out_ty, &text)
                };
                let name = self.fresh_name(&format!("{fname}_{index}"));
                self.push(name, Op::Part { index }, vec![call], dims, span, poisoned)
            })
            .collect()
    }

    /// `scan(cell, x, h0, …)`, unpacked into `count` names: a network field run at every time
    /// step of `x: [B, T, F]`, carrying the states `h0, …` (each `[B, H]`). Gives the sequence
    /// of the first state, `[B, T, H]`, then the last value of each state. The cell's inputs
    /// and outputs are checked by the compiler, at this call (`Network`).
    pub(super) fn lower_scan(&mut self, call: &syn::ExprCall, count: usize) -> Option<Vec<NodeId>> {
        let span = syn::spanned::Spanned::span(&call.func);
        let args: Vec<&Expr> = call.args.iter().collect();
        if args.len() < 2 {
            self.error(
                span,
                format!("`scan` takes the cell, the sequence and, unless they start at zero, the initial states: `scan(cell, x, h0)` or `scan(cell, x)`; found {} argument{}", args.len(), if args.len() == 1 { "" } else { "s" }),
            );
            return None;
        }
        let field = self.scan_cell(&args, count, span)?;
        let inputs: Vec<Option<NodeId>> = args[1..].iter().map(|a| self.lower(a)).collect();
        let mut inputs: Vec<NodeId> = inputs.into_iter().collect::<Option<_>>()?;
        self.used_fields.push(field);
        let fname = self.fields[field].name.clone();
        self.single_call(field, &fname, span, "a scanned cell", "");
        let mut poisoned = inputs.iter().any(|&i| self.nodes[i].poisoned);
        let x = inputs[0];
        if !poisoned && (self.nodes[x].dims.len() != 3 || self.nodes[x].tokens.is_some()) {
            let (name, dims) = (self.nodes[x].name.clone(), dims_text(&self.nodes[x].dims));
            self.error(
                syn::spanned::Spanned::span(args[1]),
                format!("`scan` runs over the time axis of a sequence `[B, T, F]` of floats, but `{name}` has shape {dims}"),
            );
            poisoned = true;
        }
        for (k, &state) in inputs[1..].iter().enumerate() {
            if !poisoned && self.nodes[state].dims.len() != 2 {
                let (name, dims) = (
                    self.nodes[state].name.clone(),
                    dims_text(&self.nodes[state].dims),
                );
                self.error(
                    syn::spanned::Spanned::span(args[k + 2]),
                    format!("a state of `scan` is a batch of vectors `[B, H]`, but `{name}` has shape {dims}"),
                );
                poisoned = true;
            }
        }
        if args.len() == 2 && !poisoned {
            let zeros = self.zero_states(field, x, count - 1, span);
            inputs.extend(zeros);
        }
        if inputs.len() < 2 {
            // The sequence was already reported; there is no state to type the outputs with.
            return None;
        }
        let name = self.fresh_name(&format!("{fname}_scan"));
        let scan = self.push(
            name,
            Op::Scan { field },
            inputs.clone(),
            Vec::new(),
            span,
            poisoned,
        );
        let state0 = &self.nodes[inputs[1]].dims;
        let mut seq_dims = vec![state0[0].clone()];
        if let Some(t) = self.nodes[x].dims.get(1) {
            seq_dims.push(t.clone());
        }
        seq_dims.extend(state0.get(1).cloned());
        let seq_name = self.fresh_name(&format!("{fname}_sequence"));
        let mut ids = vec![self.push(
            seq_name,
            Op::Part { index: 0 },
            vec![scan],
            seq_dims,
            span,
            poisoned,
        )];
        for k in 0..inputs.len() - 1 {
            let dims = self.nodes[inputs[k + 1]].dims.clone();
            let name = self.fresh_name(&format!("{fname}_last_{k}"));
            ids.push(self.push(
                name,
                Op::Part { index: k + 1 },
                vec![scan],
                dims,
                span,
                poisoned,
            ));
        }
        Some(ids)
    }

    /// The zero initial states of `scan(cell, x)`: `[B, H]` zeros, as wide as the cell's
    /// states, with `x`'s batch.
    fn zero_states(&mut self, field: usize, x: NodeId, states: usize, span: Span) -> Vec<NodeId> {
        let fname = self.fields[field].name.clone();
        let mut zeros = Vec::new();
        // No initial states: zeros, as wide as the cell's states.
        let f_ty = self.fields[field].ty.clone();
        let x_dims = &self.nodes[x].dims;
        let step_ty = crate::graph::tensor_type(&[x_dims[0].clone(), x_dims[2].clone()]);
        for k in 0..states {
            let k_lit = proc_macro2::Literal::usize_unsuffixed(k);
            let width = crate::plan::respan(
                &quote!(::nanotorch::codegen::Features<::nanotorch::codegen::Out<#f_ty, #step_ty, #k_lit>>),
                span,
            );
            let dims = vec![
                self.nodes[x].dims[0].clone(),
                DimInfo {
                    ty: width,
                    lit: None,
                    text: format!("{fname}.{k}"),
                },
            ];
            let name = self.fresh_name(&format!("{fname}_zeros_{k}"));
            zeros.push(self.push(name, Op::Zeros, vec![x], dims, span, false));
        }
        zeros
    }

    /// The cell of `scan(cell, x, h0, …)`, once the call gives as many values as `count`
    /// names unpack: a network field, and one value per state plus the sequence.
    fn scan_cell(&mut self, args: &[&Expr], count: usize, span: Span) -> Option<usize> {
        let field = match args[0] {
            Expr::Path(p) => p
                .path
                .get_ident()
                .and_then(|f| self.fields.iter().position(|g| g.name == *f)),
            _ => None,
        };
        let Some(field) = field.filter(|&k| matches!(self.fields[k].kind, FieldKind::Opaque))
        else {
            self.error(
                syn::spanned::Spanned::span(args[0]),
                "the first argument of `scan` is the cell: a field holding a `network!` that takes a step and the states and returns the new states",
            );
            return None;
        };
        if args.len() == 2 {
            if count < 2 {
                self.error(span, "`scan` gives the sequence of states and the last state(s): unpack at least two names, `let (hs, h) = scan(cell, x);`");
                return None;
            }
            return Some(field);
        }
        let states = args.len() - 2;
        if count != states + 1 {
            self.error(
                span,
                format!(
                    "`scan` with {states} state{} gives {} values — the sequence of the first state, then the last value of each state — but {count} names unpack it",
                    if states == 1 { "" } else { "s" },
                    states + 1
                ),
            );
            return None;
        }
        Some(field)
    }
}

/// The dims of a layer's output of type `out_ty`, assumed of the input's rank: the input's
/// leading dims, then the output's last dim named through the type.
fn same_rank_dims(input: &[DimInfo], out_ty: &TokenStream, text: &str) -> Vec<DimInfo> {
    let mut dims = input.to_vec();
    let rank = dims.len().max(1);
    dims.truncate(rank - 1);
    let last = if rank >= 3 {
        quote!(::nanotorch::codegen::LastAxis<#out_ty>)
    } else {
        quote!(::nanotorch::codegen::Features<#out_ty>)
    };
    dims.push(DimInfo {
        ty: last,
        lit: None,
        text: text.to_string(),
    });
    dims
}

/// The dims a nested layer is called with: the value's, or `[B, declared features]` when the
/// value is viewed with the layer's declared input (see `Node::retag_input`).
fn a_ty_dims(a_dims: &[DimInfo], retag: &Option<(TokenStream, TokenStream)>) -> Vec<DimInfo> {
    match retag {
        Some((_, want)) => vec![
            a_dims[0].clone(),
            DimInfo {
                ty: want.clone(),
                lit: None,
                text: String::new(),
            },
        ],
        None => a_dims.to_vec(),
    }
}
