//! Code generation: the checked graph becomes a struct, its buffers, `forward`, `backward`,
//! `predict`, and the `Init`/`Module`/`Layer` impls — straight-line calls into `nanotorch`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;

use crate::ast::Network;
use crate::autodiff::{Backward, plan_backward};
use crate::graph::{FieldKind, Graph, Node, NodeId, Op, dims_text, tensor_type, value_type};
use crate::prims::Reads;

/// Where a value lives between `forward` and `backward`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Home {
    /// The `forward` argument itself (not kept).
    Argument,
    /// `self.saved`: backward reads it.
    Saved,
    /// `self.work`: a forward temporary, kept only so its memory is reused next step.
    Work,
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
    pub fn new(graph: &'g Graph) -> Self {
        let n = graph.nodes.len();
        let mut read = vec![false; n];
        for (id, node) in graph.nodes.iter().enumerate() {
            match &node.op {
                Op::Linear { .. } => read[node.inputs[0]] = true,
                Op::Mul => {
                    read[node.inputs[0]] = true;
                    read[node.inputs[1]] = true;
                }
                Op::Unary { prim, .. } => match prim.reads {
                    Reads::Input => read[node.inputs[0]] = true,
                    Reads::Output => read[id] = true,
                    _ => {}
                },
                _ => {}
            }
        }
        let home = graph
            .nodes
            .iter()
            .enumerate()
            .map(|(id, node)| match node.op {
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

    pub fn ty(&self, id: NodeId) -> TokenStream {
        let node = &self.graph.nodes[id];
        value_type(&node.dims, node.tokens.as_ref())
    }

    /// The value as forward reads it.
    pub fn value_in_forward(&self, id: NodeId) -> TokenStream {
        let name = &self.node(id).name;
        match self.home[id] {
            Home::Argument => quote!(#name),
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

const SAME_BATCH: &str = "every value in forward has the input's batch size";

/// For `flatten_as*`/`concat_as*`, whose width the macro computed from literal sizes.
pub const WIDTH_CHECKED: &str = "network! computed this width from the literal sizes";

/// A `flatten` or `concat` whose result width the macro computed from literal sizes: the
/// generated code names that width (`flatten_as`, `concat_as`) instead of having the compiler
/// compute it in types, which is limited to `nanotorch::shape::ARITH_LIMIT`.
pub fn has_literal_width(node: &Node) -> bool {
    node.dims.get(1).is_some_and(|d| d.lit.is_some())
}

/// The `Layer` trait's backward is called by an enclosing network with the gradient of the
/// value this network's forward returned, so the sizes agree by construction.
const LAYER_CONTRACT: &str =
    "a nested network's backward receives the gradient of its own forward's output";

fn field_of<'a>(plan: &'a Plan, node: &Node) -> Option<&'a Ident> {
    match node.op {
        Op::Linear { field } | Op::Layer { field } => Some(&plan.graph.fields[field].name),
        _ => None,
    }
}

/// The `nanotorch::ops` function for a linear layer's `base` operation (`linear_into`,
/// `linear_backward_params`, …): the `linear_seq*` form when the layer is applied to the last
/// axis of a `[B, T, F]` sequence.
pub fn linear_op(plan: &Plan, node: &Node, base: &str) -> Ident {
    let input = plan.node(node.inputs[0]);
    if input.dims.len() == 3 {
        format_ident!("{}", base.replacen("linear", "linear_seq", 1))
    } else {
        format_ident!("{}", base)
    }
}

/// One forward statement and its doc line.
fn forward_step(plan: &Plan, id: NodeId) -> (TokenStream, String) {
    let node = plan.node(id);
    let name = &node.name;
    let dst = plan.destination(id);
    let arg = |k: usize| plan.value_in_forward(node.inputs[k]);
    let nm = |k: usize| plan.node(node.inputs[k]).name.to_string();
    let span = node.span;
    let shape = dims_text(&node.dims);
    match &node.op {
        Op::Input => (quote!(), String::new()),
        Op::Linear { .. } => {
            let f = field_of(plan, node).expect("linear has a field");
            let a = arg(0);
            let op = linear_op(plan, node, "linear_into");
            (
                quote_spanned! {span=>
                    ::nanotorch::ops::#op(#a, &self.#f.weight.value, Some(&self.#f.bias.value), #dst)
                        .expect(#SAME_BATCH);
                },
                format!("{name} = {}·W_{f}ᵀ + b_{f}   {shape}", nm(0)),
            )
        }
        Op::Layer { .. } => {
            let f = field_of(plan, node).expect("layer has a field");
            let a = retag_input(node, arg(0), false);
            (
                quote_spanned! {span=>
                    ::nanotorch::Layer::forward_into(&mut self.#f, #a, #dst);
                },
                format!("{name} = {f}({})   {shape}", nm(0)),
            )
        }
        Op::Unary { prim, constant: c } => {
            let a = arg(0);
            let text = match c {
                Some((_, t)) => format!("{name} = {}({}, {t})   {shape}", prim.name, nm(0)),
                None => format!("{name} = {}({})   {shape}", prim.name, nm(0)),
            };
            let call = match (prim.name, c) {
                ("flatten", _) if has_literal_width(node) => quote_spanned! {span=>
                    ::nanotorch::ops::flatten_as_into(#a, #dst).expect(#WIDTH_CHECKED);
                },
                ("flatten", _) => quote_spanned! {span=>
                    ::nanotorch::ops::flatten_into(#a, #dst);
                },
                ("dropout", Some((p, _))) => {
                    let mask = format_ident!("{}_mask", name);
                    quote_spanned! {span=>
                        ::nanotorch::ops::dropout_into(#a, #p, self.training, &mut self.rng, #dst, &mut self.saved.#mask)
                            .expect("the dropout probability was checked by network!");
                    }
                }
                (_, Some((v, _))) => {
                    let f = format_ident!("{}_into", prim.name);
                    let v = constant(v);
                    quote_spanned! {span=> ::nanotorch::ops::#f(#a, #v, #dst); }
                }
                (_, None) => {
                    let f = format_ident!("{}_into", prim.name);
                    quote_spanned! {span=> ::nanotorch::ops::#f(#a, #dst); }
                }
            };
            (call, text)
        }
        Op::Add | Op::Sub | Op::Mul | Op::Concat => {
            let (a, b) = (arg(0), retag(node, arg(1), false));
            let (f, sym) = match node.op {
                Op::Add => ("add_into", format!("{} + {}", nm(0), nm(1))),
                Op::Sub => ("sub_into", format!("{} − {}", nm(0), nm(1))),
                Op::Mul => ("mul_into", format!("{} ⊙ {}", nm(0), nm(1))),
                _ if has_literal_width(node) => {
                    ("concat_as_into", format!("concat({}, {})", nm(0), nm(1)))
                }
                _ => ("concat_into", format!("concat({}, {})", nm(0), nm(1))),
            };
            let f = format_ident!("{}", f);
            (
                quote_spanned! {span=> ::nanotorch::ops::#f(#a, #b, #dst).expect(#SAME_BATCH); },
                format!("{name} = {sym}   {shape}"),
            )
        }
        Op::Scale { factor, text } => {
            let a = arg(0);
            let c = constant(factor);
            (
                quote_spanned! {span=> ::nanotorch::ops::scale_into(#a, #c, #dst); },
                format!("{name} = {text}·{}   {shape}", nm(0)),
            )
        }
    }
}

/// One `predict` statement (allocating, saves nothing).
fn predict_step(plan: &Plan, id: NodeId) -> TokenStream {
    let node = plan.node(id);
    let name = &node.name;
    let arg = |k: usize| {
        let input = plan.node(node.inputs[k]);
        let n = &input.name;
        if matches!(input.op, Op::Input) {
            quote!(#n)
        } else {
            quote!(&#n)
        }
    };
    let span = node.span;
    let value = match &node.op {
        Op::Input => return quote!(),
        Op::Linear { .. } => {
            let f = field_of(plan, node).expect("linear has a field");
            let a = arg(0);
            let op = linear_op(plan, node, "linear");
            quote_spanned! {span=>
                ::nanotorch::ops::#op(#a, &self.#f.weight.value, Some(&self.#f.bias.value)).expect(#SAME_BATCH)
            }
        }
        Op::Layer { .. } => {
            let f = field_of(plan, node).expect("layer has a field");
            let a = retag_input(node, arg(0), false);
            quote_spanned! {span=> ::nanotorch::Layer::predict(&self.#f, #a) }
        }
        Op::Unary { prim, constant: c } => {
            let a = arg(0);
            match (prim.name, c) {
                // Inference: dropout is the identity.
                ("dropout", _) => quote_spanned! {span=> ::core::clone::Clone::clone(#a) },
                ("flatten", _) if has_literal_width(node) => {
                    quote_spanned! {span=> ::nanotorch::ops::flatten_as(#a).expect(#WIDTH_CHECKED) }
                }
                ("flatten", _) => quote_spanned! {span=> ::nanotorch::ops::flatten(#a) },
                (_, Some((v, _))) => {
                    let f = format_ident!("{}", prim.name);
                    let v = constant(v);
                    quote_spanned! {span=> ::nanotorch::ops::#f(#a, #v) }
                }
                (_, None) => {
                    let f = format_ident!("{}", prim.name);
                    quote_spanned! {span=> ::nanotorch::ops::#f(#a) }
                }
            }
        }
        Op::Add | Op::Sub | Op::Mul | Op::Concat => {
            let (a, b) = (arg(0), retag(node, arg(1), false));
            let f = format_ident!(
                "{}",
                match node.op {
                    Op::Add => "add",
                    Op::Sub => "sub",
                    Op::Mul => "mul",
                    _ if has_literal_width(node) => "concat_as",
                    _ => "concat",
                }
            );
            quote_spanned! {span=> ::nanotorch::ops::#f(#a, #b).expect(#SAME_BATCH) }
        }
        Op::Scale { factor, .. } => {
            let a = arg(0);
            let c = constant(factor);
            quote_spanned! {span=> ::nanotorch::ops::scale(#a, #c) }
        }
    };
    let ty = plan.ty(id);
    quote!(let #name: #ty = #value;)
}

fn doc_lines(lines: &[String]) -> TokenStream {
    let docs = lines.iter().map(|l| {
        let l = format!(" {l}");
        quote!(#[doc = #l])
    });
    quote!(#(#docs)*)
}

/// The full expansion of a checked network.
pub fn expand(net: &Network, graph: &Graph) -> TokenStream {
    let name = &net.name;
    let vis = &net.vis;
    let attrs = &net.attrs;
    let plan = Plan::new(graph);
    let backward: Backward = plan_backward(&plan);

    let saved_name = format_ident!("{}Saved", name);
    let work_name = format_ident!("{}Work", name);
    let grads_name = format_ident!("{}Grads", name);

    let input = 0usize;
    let output = graph.output;
    let in_ty = plan.ty(input);
    let out_ty = plan.ty(output);
    let x = &plan.node(input).name;
    let out_name = &plan.node(output).name;
    let d_out = format_ident!("d_{}", out_name);

    // ---- fields of the user's struct ----
    let field_decls = graph.fields.iter().map(|f| {
        let fname = &f.name;
        let fty = &f.ty;
        let fattrs = &f.attrs;
        let doc = format!(
            " The layer `{}: {}`.",
            f.name,
            f.written
                .replace(" < ", "<")
                .replace(" >", ">")
                .replace(" ,", ",")
        );
        quote! {
            #(#fattrs)*
            #[doc = #doc]
            pub #fname: #fty,
        }
    });

    // ---- buffers ----
    let mut saved_fields = Vec::new();
    let mut work_fields = Vec::new();
    for (id, node) in graph.nodes.iter().enumerate() {
        let n = &node.name;
        let ty = plan.ty(id);
        match plan.home[id] {
            Home::Saved => {
                let doc = format!(" `{n}` {} — read by `backward`.", dims_text(&node.dims));
                saved_fields.push(quote!(#[doc = #doc] #n: #ty,));
            }
            Home::Work => {
                let doc = format!(
                    " `{n}` {} — not read by `backward`; kept to reuse its memory.",
                    dims_text(&node.dims)
                );
                work_fields.push(quote!(#[doc = #doc] #n: #ty,));
            }
            Home::Argument => {}
        }
        if let Op::Unary { prim, .. } = &node.op
            && prim.name == "dropout"
        {
            let mask = format_ident!("{}_mask", n);
            let doc = format!(
                " The dropout mask that produced `{n}` (0 or 1/(1−p)) — read by `backward`."
            );
            saved_fields.push(quote!(#[doc = #doc] #mask: #ty,));
        }
    }
    let grads_fields = backward.buffers.iter().map(|(field, ty, doc)| {
        let doc = format!(" {doc}");
        quote!(#[doc = #doc] #field: #ty,)
    });
    let params = &net.dim_params;
    // `<H: StaticDim, E: Element>` on impls, `<H, E>` on uses.
    let decl = quote!(#(#params: ::nanotorch::shape::StaticDim,)* E: ::nanotorch::Element);
    let args = quote!(#(#params,)* E);
    let phantom = |empty: bool| {
        if empty || !params.is_empty() {
            quote!(_types: ::core::marker::PhantomData<(#(#params,)* E)>,)
        } else {
            quote!()
        }
    };
    let main_phantom = if params.is_empty() {
        quote!()
    } else {
        quote!(
            /// Marks the size parameters (they may appear only in shapes).
            _types: ::core::marker::PhantomData<(#(#params,)*)>,
        )
    };
    let types_init = if params.is_empty() {
        quote!()
    } else {
        quote!(_types: ::core::marker::PhantomData,)
    };
    let saved_phantom = phantom(saved_fields.is_empty());
    let work_phantom = phantom(work_fields.is_empty());
    let grads_phantom = phantom(backward.buffers.is_empty());

    // ---- forward ----
    let mut forward_stmts = Vec::new();
    let mut forward_doc = Vec::new();
    for id in 1..graph.nodes.len() {
        let (stmt, doc) = forward_step(&plan, id);
        forward_stmts.push(stmt);
        forward_doc.push(doc);
    }
    let copy_input = if plan.read_by_backward[input] {
        quote!(self.saved.#x.assign(#x);)
    } else {
        quote!()
    };
    let out_home = match plan.home[output] {
        Home::Saved => quote!(self.saved),
        _ => quote!(self.work),
    };
    let dropout_note = if plan.has_dropout {
        "\n\nIn training mode (the default; see `Module::train`/`eval`) dropout draws a new mask from the network's own seeded generator."
    } else {
        ""
    };
    let forward_doc_text = format!(
        " Computes the output for a batch `{x}` {} and keeps what `backward` reads.\n\n Steps (the chain `backward` differentiates):\n\n```text\n{}\n```\n\n Saved for backward: {}.{dropout_note}",
        dims_text(&graph.input_dims),
        forward_doc
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
        saved_list(&plan),
    );

    // ---- predict ----
    let predict_stmts: Vec<TokenStream> = (1..graph.nodes.len())
        .map(|id| predict_step(&plan, id))
        .collect();

    // ---- backward ----
    let backward_stmts = &backward.statements;
    let backward_doc_text = format!(
        " Backpropagates `{d_out}` = ∂L/∂{out_name} through the network: **adds** every parameter's gradient into its `grad` (call `zero_grad` between steps) and computes no gradient for the input.\n\n # Errors\n\n [`nanotorch::ShapeError::Shape`] if `{d_out}` does not have the sizes of the last `forward`'s output (or no `forward` ran); nothing is changed then.\n\n Derivation (reverse order of forward; a value used twice gets the sum of both contributions):\n\n```text\n{}\n```",
        backward.derivation.join("\n")
    );
    let d_x = format_ident!("d_{}", x);
    let backward_input_doc = format!(
        " Like [`Self::backward`], and also returns ∂L/∂{x} (needed when this network is a layer inside another)."
    );

    // ---- module plumbing ----
    let visit = graph.fields.iter().map(|f| {
        let n = &f.name;
        quote!(::nanotorch::Module::<E>::visit_params(&mut self.#n, f);)
    });
    let visit_named = graph.fields.iter().map(|f| {
        let n = &f.name;
        let p = format!("{}.", n);
        quote!(::nanotorch::Module::<E>::visit_named_params(&mut self.#n, &::std::format!("{}{}", prefix, #p), f);)
    });
    let visit_buffers = graph.fields.iter().map(|f| {
        let n = &f.name;
        let p = format!("{}.", n);
        quote!(::nanotorch::Module::<E>::visit_named_buffers(&mut self.#n, &::std::format!("{}{}", prefix, #p), f);)
    });
    let set_training = graph.fields.iter().map(|f| {
        let n = &f.name;
        quote!(::nanotorch::Module::<E>::set_training(&mut self.#n, training);)
    });
    let init_fields = graph.fields.iter().map(|f| {
        let n = &f.name;
        quote!(#n: ::nanotorch::Init::init(rng),)
    });
    let (rng_field, rng_init) = if plan.has_dropout {
        (
            quote!(
                /// The generator dropout masks are drawn from (seeded from the constructor's).
                rng: ::nanotorch::SeededRng,
            ),
            quote!(rng: ::nanotorch::seeded_rng(::nanotorch::rand::RngCore::next_u64(rng)),),
        )
    } else {
        (quote!(), quote!())
    };

    let layers_doc = graph
        .fields
        .iter()
        .map(|f| {
            let kind = match &f.kind {
                FieldKind::Linear { input, output } => {
                    format!("{} → {} features", input.text, output.text)
                }
                FieldKind::Known { layer, args } => (layer.describe)(args),
                FieldKind::Opaque | FieldKind::Invalid => "a nested layer".to_string(),
            };
            format!(
                " - `{}`: `{}` ({kind})",
                f.name,
                f.written
                    .replace(" < ", "<")
                    .replace(" >", ">")
                    .replace(" ,", ",")
            )
        })
        .collect::<Vec<_>>();
    let struct_doc = doc_lines(
        &std::iter::once(String::new())
            .chain(std::iter::once("# Generated by `network!`".to_string()))
            .chain(std::iter::once(String::new()))
            .chain(std::iter::once(format!("Input {}, output {}. Layers:", dims_text(&graph.input_dims), dims_text(&graph.output_dims))))
            .chain(std::iter::once(String::new()))
            .chain(layers_doc.iter().map(|l| l.trim_start().to_string()))
            .chain(std::iter::once(String::new()))
            .chain(std::iter::once("See [`Self::forward`] for the computation and [`Self::backward`] for its derivative, derived at compile time by the chain rule.".to_string()))
            .collect::<Vec<_>>(),
    );
    let deferred = graph.deferred.iter().map(|c| {
        // Re-spanned so the compiler's error points at the user's call, not at the alias.
        let (have, want) = (respan(&c.have, c.span), respan(&c.want, c.span));
        quote_spanned! {c.span=>
            const _: () = {
                #[allow(dead_code)]
                fn check<#decl>() {
                    ::nanotorch::codegen::dims_agree::<#have, #want>();
                }
            };
        }
    });
    // A network taking `[B, F]` tells an outer network its `F` (see `codegen::Declared`).
    let declared = match graph.input_dims.as_slice() {
        [_, features] => {
            let f = &features.ty;
            quote! {
                impl<#decl> ::nanotorch::codegen::Declared for #name<#args> {
                    type InputFeatures = #f;
                }
            }
        }
        _ => quote!(),
    };
    let saved_doc =
        format!(" What [`{name}::forward`] keeps because [`{name}::backward`] reads it.");
    let work_doc = format!(
        " Forward temporaries of [`{name}`] that backward does not read; kept so each step reuses their memory."
    );
    let grads_doc = format!(" Gradient buffers of [`{name}::backward`], reused across steps.");

    // Token ids have no gradient: a network that reads them is a model, not a layer of
    // another network, so it has neither `backward_with_input` nor a `Layer` impl.
    let token_input = graph.nodes[input].tokens.is_some();
    let backward_with_input = if token_input {
        quote!()
    } else {
        quote! {
            #[doc = #backward_input_doc]
            pub fn backward_with_input(&mut self, #d_out: &#out_ty) -> ::core::result::Result<&#in_ty, ::nanotorch::ShapeError> {
                ::nanotorch::codegen::check_gradient(&#out_home.#out_name, #d_out)?;
                self.backward_pass(#d_out, true);
                Ok(&self.grads.#d_x)
            }

        }
    };
    let layer_impl = if token_input {
        quote!()
    } else {
        quote! {
        impl<#decl> ::nanotorch::Layer<#in_ty, E> for #name<#args> {
            type Output = #out_ty;

            fn forward(&mut self, #x: &#in_ty) -> #out_ty {
                ::core::clone::Clone::clone(Self::forward(self, #x))
            }

            fn forward_into(&mut self, #x: &#in_ty, y: &mut #out_ty) {
                y.assign(Self::forward(self, #x));
            }

            fn backward(&mut self, dy: &#out_ty) -> #in_ty {
                ::core::clone::Clone::clone(self.backward_with_input(dy).expect(#LAYER_CONTRACT))
            }

            fn backward_into(&mut self, dy: &#out_ty, dx: &mut #in_ty) {
                dx.assign(self.backward_with_input(dy).expect(#LAYER_CONTRACT));
            }

            fn backward_params(&mut self, dy: &#out_ty) {
                Self::backward(self, dy).expect(#LAYER_CONTRACT);
            }

            fn predict(&self, #x: &#in_ty) -> #out_ty {
                Self::predict(self, #x)
            }
        }
        }
    };

    quote! {
        #(#attrs)*
        #struct_doc
        #vis struct #name<#(#params: ::nanotorch::shape::StaticDim,)* E: ::nanotorch::Element = f32> {
            #(#field_decls)*
            saved: #saved_name<#args>,
            work: #work_name<#args>,
            grads: #grads_name<#args>,
            /// Training mode (dropout drops, batch norm uses batch statistics) or evaluation mode.
            training: bool,
            #rng_field
            #main_phantom
        }

        #[doc = #saved_doc]
        #[derive(Clone, Debug, Default)]
        #vis struct #saved_name<#decl> {
            #(#saved_fields)*
            #saved_phantom
        }

        #[doc = #work_doc]
        #[derive(Clone, Debug, Default)]
        #vis struct #work_name<#decl> {
            #(#work_fields)*
            #work_phantom
        }

        #[doc = #grads_doc]
        #[derive(Clone, Debug, Default)]
        #vis struct #grads_name<#decl> {
            #(#grads_fields)*
            #grads_phantom
        }

        #(#deferred)*

        impl<#decl> #name<#args> {
            /// A network with PyTorch's default initialisation, reproducible from `seed`.
            pub fn new(seed: u64) -> Self {
                <Self as ::nanotorch::Init>::init(&mut ::nanotorch::seeded_rng(seed))
            }

            #[doc = #forward_doc_text]
            pub fn forward(&mut self, #x: &#in_ty) -> &#out_ty {
                #copy_input
                #(#forward_stmts)*
                &#out_home.#out_name
            }

            #[doc = #backward_doc_text]
            pub fn backward(&mut self, #d_out: &#out_ty) -> ::core::result::Result<(), ::nanotorch::ShapeError> {
                ::nanotorch::codegen::check_gradient(&#out_home.#out_name, #d_out)?;
                self.backward_pass(#d_out, false);
                Ok(())
            }

            #backward_with_input

            /// The body of [`Self::backward`]; `input_grad` also computes ∂L/∂input.
            fn backward_pass(&mut self, #d_out: &#out_ty, input_grad: bool) {
                #(#backward_stmts)*
            }

            /// Inference: the output for `x`, saving nothing (dropout is the identity here).
            pub fn predict(&self, #x: &#in_ty) -> #out_ty {
                #(#predict_stmts)*
                #out_name
            }
        }

        impl<#decl> ::nanotorch::Init for #name<#args> {
            fn init<R: ::nanotorch::rand::Rng + ?Sized>(rng: &mut R) -> Self {
                Self {
                    #(#init_fields)*
                    saved: ::core::default::Default::default(),
                    work: ::core::default::Default::default(),
                    grads: ::core::default::Default::default(),
                    training: true,
                    #rng_init
                    #types_init
                }
            }
        }

        impl<#decl> ::nanotorch::Module<E> for #name<#args> {
            fn visit_params(&mut self, f: &mut dyn FnMut(::nanotorch::ParamMut<'_, E>)) {
                #(#visit)*
            }

            fn visit_named_params(
                &mut self,
                prefix: &str,
                f: &mut dyn FnMut(&str, &[usize], ::nanotorch::ParamMut<'_, E>),
            ) {
                #(#visit_named)*
            }

            fn visit_named_buffers(
                &mut self,
                prefix: &str,
                f: &mut dyn FnMut(&str, &[usize], ::nanotorch::BufferMut<'_, E>),
            ) {
                #(#visit_buffers)*
            }

            fn set_training(&mut self, training: bool) {
                self.training = training;
                #(#set_training)*
            }
        }

        #declared

        #layer_impl
    }
}

fn saved_list(plan: &Plan) -> String {
    let mut names: Vec<String> = Vec::new();
    for (id, node) in plan.graph.nodes.iter().enumerate() {
        if plan.home[id] == Home::Saved {
            names.push(format!("`{}`", node.name));
        }
        if let Op::Unary { prim, .. } = &node.op
            && prim.name == "dropout"
        {
            names.push(format!("the mask of `{}`", node.name));
        }
    }
    if names.is_empty() {
        "nothing".into()
    } else {
        names.join(", ")
    }
}

/// A stub with the declared signatures, emitted beside the errors so the user's other code
/// does not produce follow-on errors. It has no layer fields: a field's type may itself be the
/// mistake, and naming it again would repeat the error.
pub fn stub(net: &Network) -> TokenStream {
    let name = &net.name;
    let vis = &net.vis;
    let attrs = &net.attrs;
    let vocab = net
        .forward
        .input_tokens
        .as_ref()
        .map(crate::graph::feature_dim);
    let in_ty = value_type(
        &crate::graph::shape_dims(&net.forward.input_shape),
        vocab.as_ref(),
    );
    let out_ty = tensor_type(&crate::graph::shape_dims(&net.forward.output_shape));
    let params = &net.dim_params;
    let decl = quote!(#(#params: ::nanotorch::shape::StaticDim,)* E: ::nanotorch::Element);
    let args = quote!(#(#params,)* E);
    quote! {
        #(#attrs)*
        #vis struct #name<#(#params: ::nanotorch::shape::StaticDim,)* E: ::nanotorch::Element = f32> {
            _types: ::core::marker::PhantomData<(#(#params,)* E)>,
        }
        #[allow(unused_variables, clippy::all)]
        impl<#decl> #name<#args> {
            /// Not generated: the declaration has errors.
            pub fn new(seed: u64) -> Self { ::core::unreachable!() }
            /// Not generated: the declaration has errors.
            pub fn forward(&mut self, x: &#in_ty) -> &#out_ty { ::core::unreachable!() }
            /// Not generated: the declaration has errors.
            pub fn backward(&mut self, d: &#out_ty) -> ::core::result::Result<(), ::nanotorch::ShapeError> { ::core::unreachable!() }
            /// Not generated: the declaration has errors.
            pub fn backward_with_input(&mut self, d: &#out_ty) -> ::core::result::Result<&#in_ty, ::nanotorch::ShapeError> { ::core::unreachable!() }
            /// Not generated: the declaration has errors.
            pub fn predict(&self, x: &#in_ty) -> #out_ty { ::core::unreachable!() }
        }
        #[allow(unused_variables)]
        impl<#decl> ::nanotorch::Module<E> for #name<#args> {
            fn visit_params(&mut self, f: &mut dyn FnMut(::nanotorch::ParamMut<'_, E>)) {}
            fn visit_named_params(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &[usize], ::nanotorch::ParamMut<'_, E>)) {}
            fn set_training(&mut self, training: bool) {}
        }
    }
}

/// The same tokens with every span set to `span`.
fn respan(tokens: &TokenStream, span: Span) -> TokenStream {
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
