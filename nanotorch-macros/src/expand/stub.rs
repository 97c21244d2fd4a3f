//! What is emitted beside the errors of a declaration that does not check: a struct with the
//! declared signatures, so the user's other code gives no follow-on errors.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::methods::one_or_tuple;
use crate::ast::Network;
use crate::dims::{feature_dim, shape_dims};
use crate::graph::{tensor_type, value_type};

/// A stub with the declared signatures. It has no layer fields: a field's type may itself be
/// the mistake, and naming it again would repeat the error.
pub fn stub(net: &Network) -> TokenStream {
    let (name, vis, attrs) = (&net.name, &net.vis, &net.attrs);
    let fwd = &net.forward;
    let in_tys: Vec<TokenStream> = fwd
        .inputs
        .iter()
        .map(|i| {
            let vocab = i.tokens.as_ref().map(feature_dim);
            value_type(&shape_dims(&i.shape), vocab.as_ref())
        })
        .collect();
    let out_tys: Vec<TokenStream> = fwd
        .outputs
        .iter()
        .map(|o| tensor_type(&shape_dims(o)))
        .collect();
    let xs = (0..in_tys.len()).map(|k| format_ident!("x{}", k));
    let inputs = quote!(#(#xs: &#in_tys),*);
    let ds = (0..out_tys.len()).map(|k| format_ident!("d{}", k));
    let d_outputs = quote!(#(#ds: &#out_tys),*);
    let refs = |tys: &[TokenStream]| {
        let r: Vec<TokenStream> = tys.iter().map(|t| quote!(&#t)).collect();
        one_or_tuple(&r)
    };
    let (out_refs, in_refs, outs) = (refs(&out_tys), refs(&in_tys), one_or_tuple(&out_tys));
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
            pub fn forward(&mut self, #inputs) -> #out_refs { ::core::unreachable!() }
            /// Not generated: the declaration has errors.
            pub fn backward(&mut self, #d_outputs) -> ::core::result::Result<(), ::nanotorch::ShapeError> { ::core::unreachable!() }
            /// Not generated: the declaration has errors.
            pub fn backward_with_input(&mut self, #d_outputs) -> ::core::result::Result<#in_refs, ::nanotorch::ShapeError> { ::core::unreachable!() }
            /// Not generated: the declaration has errors.
            pub fn predict(&self, #inputs) -> #outs { ::core::unreachable!() }
        }
        #[allow(unused_variables, clippy::all)]
        impl<#(#params: ::nanotorch::shape::StaticDim),*> #name<#(#params,)* f32> {
            /// Not generated: the declaration has errors.
            pub fn graph_svg() -> &'static str { "" }
        }
        #[allow(unused_variables)]
        impl<#decl> ::nanotorch::Module<E> for #name<#args> {
            fn visit_params(&mut self, f: &mut dyn FnMut(::nanotorch::ParamMut<'_, E>)) {}
            fn visit_named_params(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &[usize], ::nanotorch::ParamMut<'_, E>)) {}
            fn set_training(&mut self, training: bool) {}
        }
    }
}
