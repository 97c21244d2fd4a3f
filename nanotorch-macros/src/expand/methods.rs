//! The inherent methods: `new`, `forward`, `backward`, `backward_with_input` and `predict`.
//! With one input and one output they take and return single values; with several, one
//! argument per input and tuples of outputs.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

use super::Names;
use super::docs::{backward_doc, forward_doc};
use crate::autodiff::Backward;
use crate::graph::NodeId;
use crate::nodes;
use crate::plan::Plan;

/// `(a, b)` for several items, `a` for one.
pub fn one_or_tuple(items: &[TokenStream]) -> TokenStream {
    match items {
        [one] => one.clone(),
        many => quote!((#(#many),*)),
    }
}

/// The argument names and types of the inputs, and of the output gradients.
pub struct Signature {
    pub inputs: Vec<(Ident, TokenStream)>,
    pub d_outputs: Vec<(Ident, TokenStream)>,
    pub output_tys: Vec<TokenStream>,
    pub token_input: bool,
}

impl Signature {
    pub fn new(plan: &Plan) -> Self {
        let g = plan.graph;
        let inputs = g
            .inputs
            .iter()
            .map(|&i| (plan.node(i).name.clone(), plan.ty(i)))
            .collect();
        let d_outputs = g
            .outputs
            .iter()
            .map(|&o| (format_ident!("d_{}", plan.node(o).name), plan.ty(o)))
            .collect();
        let output_tys = g.outputs.iter().map(|&o| plan.ty(o)).collect();
        let token_input = g.inputs.iter().any(|&i| plan.node(i).tokens.is_some());
        Signature {
            inputs,
            d_outputs,
            output_tys,
            token_input,
        }
    }

    /// `x: &X, h: &H`
    pub fn input_params(&self) -> TokenStream {
        let ps = self.inputs.iter().map(|(n, t)| quote!(#n: &#t));
        quote!(#(#ps),*)
    }

    /// Whether `forward` and `predict` return a `Result`: with several inputs, whose batch
    /// sizes are runtime values that can disagree.
    pub fn fallible(&self) -> bool {
        self.inputs.len() > 1
    }

    /// The checks at the top of a fallible `forward` or `predict`: every input's batch is the
    /// first input's (every value the network computes then has that batch).
    pub fn batch_checks(&self) -> TokenStream {
        let Some(((first, _), rest)) = self.inputs.split_first() else {
            return quote!();
        };
        let checks = rest.iter().map(|(n, _)| {
            let what = format!("the batch sizes of the inputs `{first}` and `{n}`");
            quote!(::nanotorch::codegen::same_batch(#first, #n, #what)?;)
        });
        quote!(#(#checks)*)
    }

    /// `ty`, or `Result<ty, ShapeError>` when [`Signature::fallible`].
    pub fn result_ty(&self, ty: TokenStream) -> TokenStream {
        if self.fallible() {
            quote!(::core::result::Result<#ty, ::nanotorch::ShapeError>)
        } else {
            ty
        }
    }

    /// `value`, or `Ok(value)` when [`Signature::fallible`].
    pub fn result(&self, value: TokenStream) -> TokenStream {
        if self.fallible() {
            quote!(Ok(#value))
        } else {
            value
        }
    }

    /// `d_y: &Y, d_c: &C`
    pub fn d_output_params(&self) -> TokenStream {
        let ps = self.d_outputs.iter().map(|(n, t)| quote!(#n: &#t));
        quote!(#(#ps),*)
    }

    /// `x, h`
    pub fn input_names(&self) -> TokenStream {
        let ns = self.inputs.iter().map(|(n, _)| n);
        quote!(#(#ns),*)
    }

    /// `d_y, d_c`
    pub fn d_output_names(&self) -> TokenStream {
        let ns = self.d_outputs.iter().map(|(n, _)| n);
        quote!(#(#ns),*)
    }
}

/// The `impl` block of the inherent methods.
pub fn methods(names: &Names, plan: &Plan, backward: &Backward) -> TokenStream {
    let (name, decl, args) = (names.name, &names.decl, &names.args);
    let sig = Signature::new(plan);
    let forward = forward(plan, &sig);
    let backward_fns = backward_fns(plan, &sig, backward);
    let predict = predict(plan, &sig);
    quote! {
        impl<#decl> #name<#args> {
            /// A network with PyTorch's default initialisation, reproducible from `seed`.
            pub fn new(seed: u64) -> Self {
                <Self as ::nanotorch::Init>::init(&mut ::nanotorch::seeded_rng(seed))
            }

            #forward

            #backward_fns

            #predict
        }
    }
}

fn forward(plan: &Plan, sig: &Signature) -> TokenStream {
    let g = plan.graph;
    let steps: Vec<nodes::Step> = (0..g.nodes.len())
        .map(|id| nodes::forward(plan, id))
        .collect();
    let mut doc = forward_doc(plan, &steps);
    if sig.fallible() {
        doc.push_str("\n\n # Errors\n A [`ShapeError`](::nanotorch::ShapeError) when the inputs' batch sizes differ (checked before anything runs).");
    }
    let copies = g
        .inputs
        .iter()
        .filter(|&&i| plan.read_by_backward[i])
        .map(|&i| {
            let x = &plan.node(i).name;
            quote!(self.saved.#x.assign(#x);)
        });
    let stmts = steps.iter().map(|s| &s.code);
    let params = sig.input_params();
    let out_tys: Vec<TokenStream> = sig.output_tys.iter().map(|t| quote!(&#t)).collect();
    let ret_ty = one_or_tuple(&out_tys);
    let rets: Vec<TokenStream> = g
        .outputs
        .iter()
        .map(|&o| {
            let stored = plan.stored(o);
            quote!(&#stored)
        })
        .collect();
    let (ret_ty, ret) = (sig.result_ty(ret_ty), sig.result(one_or_tuple(&rets)));
    let checks = sig.batch_checks();
    quote! {
        #[doc = #doc]
        pub fn forward(&mut self, #params) -> #ret_ty {
            #checks
            #(#copies)*
            #(#stmts)*
            #ret
        }
    }
}

/// `backward`, `backward_with_input` (unless an input is token ids) and `backward_pass`.
fn backward_fns(plan: &Plan, sig: &Signature, backward: &Backward) -> TokenStream {
    let g = plan.graph;
    let doc = backward_doc(plan, &backward.derivation);
    let checks: Vec<TokenStream> = g
        .outputs
        .iter()
        .zip(&sig.d_outputs)
        .map(|(&o, (d, _))| {
            let stored = plan.stored(o);
            quote!(::nanotorch::codegen::check_gradient(&#stored, #d)?;)
        })
        .collect();
    let (params, d_names) = (sig.d_output_params(), sig.d_output_names());
    let stmts = &backward.statements;
    let with_input = if sig.token_input {
        quote!()
    } else {
        let x_names: Vec<String> = sig.inputs.iter().map(|(n, _)| n.to_string()).collect();
        let doc = format!(
            " Like [`Self::backward`], and also returns ∂L/∂{} (needed when this network is a layer inside another).",
            x_names.join(", ∂L/∂")
        );
        let tys: Vec<TokenStream> = sig.inputs.iter().map(|(_, t)| quote!(&#t)).collect();
        let grads: Vec<TokenStream> = g
            .inputs
            .iter()
            .map(|&i| {
                let d = format_ident!("d_{}", plan.node(i).name);
                quote!(&self.grads.#d)
            })
            .collect();
        let (ret_ty, ret) = (one_or_tuple(&tys), one_or_tuple(&grads));
        quote! {
            #[doc = #doc]
            pub fn backward_with_input(&mut self, #params) -> ::core::result::Result<#ret_ty, ::nanotorch::ShapeError> {
                #(#checks)*
                self.backward_pass(#d_names, true);
                Ok(#ret)
            }

        }
    };
    quote! {
        #[doc = #doc]
        pub fn backward(&mut self, #params) -> ::core::result::Result<(), ::nanotorch::ShapeError> {
            #(#checks)*
            self.backward_pass(#d_names, false);
            Ok(())
        }

        #with_input

        /// The body of [`Self::backward`]; `input_grad` also computes ∂L/∂input.
        fn backward_pass(&mut self, #params, input_grad: bool) {
            #(#stmts)*
        }
    }
}

fn predict(plan: &Plan, sig: &Signature) -> TokenStream {
    let g = plan.graph;
    let stmts = (0..g.nodes.len()).map(|id| nodes::predict(plan, id));
    let params = sig.input_params();
    let ret_ty = one_or_tuple(&sig.output_tys);
    let rets: Vec<TokenStream> = g
        .outputs
        .iter()
        .map(|&o: &NodeId| {
            let n = &plan.node(o).name;
            quote!(#n)
        })
        .collect();
    let (ret_ty, ret) = (sig.result_ty(ret_ty), sig.result(one_or_tuple(&rets)));
    let checks = sig.batch_checks();
    let doc = if sig.fallible() {
        " Inference: the outputs, saving nothing (dropout is the identity here).\n\n # Errors\n A [`ShapeError`](::nanotorch::ShapeError) when the inputs' batch sizes differ."
    } else {
        " Inference: the output for `x`, saving nothing (dropout is the identity here)."
    };
    quote! {
        #[doc = #doc]
        pub fn predict(&self, #params) -> #ret_ty {
            #checks
            #(#stmts)*
            #ret
        }
    }
}
