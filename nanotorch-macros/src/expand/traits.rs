//! How an enclosing network calls this one: through `Layer` (and `Declared`, for `[B, F]`
//! inputs) when `forward` has one input and one output, through `Network` when it has several.
//! A network that reads token ids is a model, not a layer: it gets neither.

use proc_macro2::TokenStream;
use quote::quote;

use super::Names;
use super::methods::{Signature, one_or_tuple};
use crate::fields::FieldKind;
use crate::plan::{LAYER_CONTRACT, Plan, SAME_BATCH_CONTRACT};

pub fn impls(names: &Names, plan: &Plan) -> TokenStream {
    let sig = Signature::new(plan);
    if sig.token_input {
        return quote!();
    }
    let step_state = step_state(names, plan);
    if plan.graph.is_simple() {
        let declared = declared(names, plan);
        let layer = layer(names, &sig);
        quote!(#declared #layer #step_state)
    } else {
        let network = network(names, &sig);
        quote!(#network #step_state)
    }
}

/// `StepState`, so the network can be the cell of a scan: its own saved values, then those of
/// its nested networks. Only for networks whose fields are `Linear`s (whose saved inputs are
/// the network's own) and other networks.
fn step_state(names: &Names, plan: &Plan) -> TokenStream {
    let fields = &plan.graph.fields;
    let swappable = fields
        .iter()
        .all(|f| matches!(f.kind, FieldKind::Linear { .. } | FieldKind::Opaque));
    if !swappable {
        return quote!();
    }
    let (name, decl, args, saved) = (names.name, &names.decl, &names.args, &names.saved);
    let nested: Vec<&crate::fields::LayerField> = fields
        .iter()
        .filter(|f| matches!(f.kind, FieldKind::Opaque))
        .collect();
    let state = |f: &&crate::fields::LayerField| {
        let ty = &f.ty;
        quote!(<::core::marker::PhantomData<E> as ::nanotorch::codegen::NestedState<#ty>>)
    };
    let tys = nested.iter().map(|f| {
        let s = state(f);
        quote!(#s::Saved)
    });
    let bounds = nested.iter().map(|f| {
        let ty = &f.ty;
        quote!(::core::marker::PhantomData<E>: ::nanotorch::codegen::NestedState<#ty>,)
    });
    let swaps = nested.iter().enumerate().map(|(k, f)| {
        let (n, k, s) = (&f.name, syn::Index::from(k + 1), state(f));
        quote!(#s::swap(&mut self.#n, &mut saved.#k);)
    });
    quote! {
        impl<#decl> ::nanotorch::StepState for #name<#args>
        where
            #(#bounds)*
        {
            type Saved = (#saved<#args>, #(#tys,)*);

            fn swap_saved(&mut self, saved: &mut Self::Saved) {
                ::core::mem::swap(&mut self.saved, &mut saved.0);
                #(#swaps)*
            }
        }
    }
}

/// A network taking `[B, F]` tells an outer network its `F` (see `codegen::Declared`).
fn declared(names: &Names, plan: &Plan) -> TokenStream {
    let (name, decl, args) = (names.name, &names.decl, &names.args);
    match plan.graph.input_dims[0].as_slice() {
        [_, features] => {
            let f = &features.ty;
            quote! {
                impl<#decl> ::nanotorch::codegen::Declared for #name<#args> {
                    type InputFeatures = #f;
                }
            }
        }
        _ => quote!(),
    }
}

fn layer(names: &Names, sig: &Signature) -> TokenStream {
    let (name, decl, args) = (names.name, &names.decl, &names.args);
    let (x, in_ty) = &sig.inputs[0];
    let out_ty = &sig.output_tys[0];
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
}

/// `Network<(X, H)>`: the tuple-of-references form of the inherent methods.
fn network(names: &Names, sig: &Signature) -> TokenStream {
    let (name, decl, args) = (names.name, &names.decl, &names.args);
    let in_tys = sig.inputs.iter().map(|(_, t)| t);
    let inputs = quote!((#(#in_tys,)*));
    let out_tys = &sig.output_tys;
    let outputs = quote!((#(#out_tys,)*));
    let x_names = sig.input_names();
    let d_names = sig.d_output_names();
    let ys: Vec<TokenStream> = (0..out_tys.len())
        .map(|k| {
            let y = quote::format_ident!("y{}", k);
            quote!(#y)
        })
        .collect();
    let y_pattern = one_or_tuple(&ys);
    let dxs: Vec<TokenStream> = (0..sig.inputs.len())
        .map(|k| {
            let d = quote::format_ident!("dx{}", k);
            quote!(#d)
        })
        .collect();
    let dx_pattern = one_or_tuple(&dxs);
    // A network called inside another gets inputs of one batch (the enclosing network checked
    // its own), so the batch check of a fallible `forward` cannot fail here.
    let (forwarded, predicted) = if sig.fallible() {
        (
            quote!(Self::forward(self, #x_names).expect(#SAME_BATCH_CONTRACT)),
            quote!(Self::predict(self, #x_names).expect(#SAME_BATCH_CONTRACT)),
        )
    } else {
        (
            quote!(Self::forward(self, #x_names)),
            quote!(Self::predict(self, #x_names)),
        )
    };
    let predicted = if out_tys.len() == 1 {
        quote!((#predicted,))
    } else {
        predicted
    };
    let ks = (0..out_tys.len()).map(syn::Index::from);
    let ks2 = (0..sig.inputs.len()).map(syn::Index::from);
    quote! {
        impl<#decl, X0> ::nanotorch::NetworkIo<X0> for #name<#args> {
            type Outputs = #outputs;
        }

        impl<#decl> ::nanotorch::Network<#inputs> for #name<#args> {
            type Outputs = #outputs;

            fn forward_into(
                &mut self,
                (#x_names,): ::nanotorch::layer::Refs<'_, #inputs>,
                outputs: ::nanotorch::layer::Muts<'_, #outputs>,
            ) {
                let #y_pattern = #forwarded;
                #(outputs.#ks.assign(#ys);)*
            }

            fn backward_into(
                &mut self,
                (#d_names,): ::nanotorch::layer::Refs<'_, #outputs>,
                d_inputs: ::nanotorch::layer::Muts<'_, #inputs>,
            ) {
                let #dx_pattern = self.backward_with_input(#d_names).expect(#LAYER_CONTRACT);
                #(d_inputs.#ks2.assign(#dxs);)*
            }

            fn backward_params(&mut self, (#d_names,): ::nanotorch::layer::Refs<'_, #outputs>) {
                Self::backward(self, #d_names).expect(#LAYER_CONTRACT);
            }

            fn predict(&self, (#x_names,): ::nanotorch::layer::Refs<'_, #inputs>) -> #outputs {
                #predicted
            }
        }
    }
}
