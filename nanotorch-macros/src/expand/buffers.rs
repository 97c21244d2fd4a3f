//! The network struct and its three buffer structs: `…Saved` (what backward reads), `…Work`
//! (forward temporaries kept to reuse their memory) and `…Grads` (gradient buffers).

use proc_macro2::TokenStream;
use quote::quote;

use super::Names;
use crate::autodiff::Backward;
use crate::dims::dims_text;
use crate::nodes::{Store, extra_buffers};
use crate::plan::{Home, Plan};

/// The struct and its buffer structs.
pub fn structs(names: &Names, plan: &Plan, backward: &Backward) -> TokenStream {
    let (mut saved, mut work) = (Vec::new(), Vec::new());
    let mut grads: Vec<TokenStream> = backward
        .buffers
        .iter()
        .map(|(field, ty, doc)| {
            let doc = format!(" {doc}");
            quote!(#[doc = #doc] #field: #ty,)
        })
        .collect();
    for (id, node) in plan.graph.nodes.iter().enumerate() {
        let (n, ty) = (&node.name, plan.ty(id));
        match plan.home[id] {
            Home::Saved => {
                let doc = format!(" `{n}` {} — read by `backward`.", dims_text(&node.dims));
                saved.push(quote!(#[doc = #doc] #n: #ty,));
            }
            Home::Work => {
                let doc = format!(
                    " `{n}` {} — not read by `backward`; kept to reuse its memory.",
                    dims_text(&node.dims)
                );
                work.push(quote!(#[doc = #doc] #n: #ty,));
            }
            Home::Argument | Home::Nowhere => {}
        }
        for extra in extra_buffers(plan, id) {
            let (name, ty, doc) = (&extra.name, &extra.ty, format!(" {}", extra.doc));
            let field = quote!(#[doc = #doc] #name: #ty,);
            match extra.store {
                Store::Saved => saved.push(field),
                Store::Work => work.push(field),
                Store::Grads => grads.push(field),
            }
        }
    }
    let main = main_struct(names, plan);
    let (vis, decl, params) = (&names.net.vis, &names.decl, &names.net.dim_params);
    let phantom = |empty: bool| {
        if empty || !params.is_empty() {
            quote!(_types: ::core::marker::PhantomData<(#(#params,)* E)>,)
        } else {
            quote!()
        }
    };
    let (saved_phantom, work_phantom, grads_phantom) = (
        phantom(saved.is_empty()),
        phantom(work.is_empty()),
        phantom(grads.is_empty()),
    );
    let name = names.name;
    let (saved_name, work_name, grads_name) = (&names.saved, &names.work, &names.grads);
    let saved_doc =
        format!(" What [`{name}::forward`] keeps because [`{name}::backward`] reads it.");
    let work_doc = format!(
        " Forward temporaries of [`{name}`] that backward does not read; kept so each step reuses their memory."
    );
    let grads_doc = format!(" Gradient buffers of [`{name}::backward`], reused across steps.");
    quote! {
        #main

        #[doc = #saved_doc]
        #[derive(Clone, Debug, Default)]
        #vis struct #saved_name<#decl> {
            #(#saved)*
            #saved_phantom
        }

        #[doc = #work_doc]
        #[derive(Clone, Debug, Default)]
        #vis struct #work_name<#decl> {
            #(#work)*
            #work_phantom
        }

        #[doc = #grads_doc]
        #[derive(Clone, Debug, Default)]
        #vis struct #grads_name<#decl> {
            #(#grads)*
            #grads_phantom
        }
    }
}

/// The user's struct: the layer fields, then the buffers.
fn main_struct(names: &Names, plan: &Plan) -> TokenStream {
    let net = names.net;
    let (attrs, vis, name, params) = (&net.attrs, &net.vis, names.name, &net.dim_params);
    let args = &names.args;
    let field_decls = plan.graph.fields.iter().map(|f| {
        let (fname, fty, fattrs) = (&f.name, &f.ty, &f.attrs);
        let doc = format!(" The layer `{}: {}`.", f.name, f.written_tidy());
        quote! {
            #(#fattrs)*
            #[doc = #doc]
            pub #fname: #fty,
        }
    });
    let rng_field = if plan.has_dropout {
        quote!(
            /// The generator dropout masks are drawn from (seeded from the constructor's).
            rng: ::nanotorch::SeededRng,
        )
    } else {
        quote!()
    };
    let main_phantom = if params.is_empty() {
        quote!()
    } else {
        quote!(
            /// Marks the size parameters (they may appear only in shapes).
            _types: ::core::marker::PhantomData<(#(#params,)*)>,
        )
    };
    let struct_doc = super::docs::struct_doc(plan, &names.picture);
    let (saved_name, work_name, grads_name) = (&names.saved, &names.work, &names.grads);
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
    }
}
