//! `Init` (PyTorch's initialisation, fields in declaration order from one generator) and
//! `Module` (parameters and buffers with their state-dict names, train/eval).

use proc_macro2::TokenStream;
use quote::quote;

use super::Names;
use crate::plan::Plan;

pub fn impls(names: &Names, plan: &Plan) -> TokenStream {
    let (name, decl, args) = (names.name, &names.decl, &names.args);
    let fields = &plan.graph.fields;
    let visit = fields.iter().map(|f| {
        let n = &f.name;
        quote!(::nanotorch::Module::<E>::visit_params(&mut self.#n, f);)
    });
    let visit_named = fields.iter().map(|f| {
        let n = &f.name;
        let p = format!("{}.", n);
        quote!(::nanotorch::Module::<E>::visit_named_params(&mut self.#n, &::std::format!("{}{}", prefix, #p), f);)
    });
    let visit_buffers = fields.iter().map(|f| {
        let n = &f.name;
        let p = format!("{}.", n);
        quote!(::nanotorch::Module::<E>::visit_named_buffers(&mut self.#n, &::std::format!("{}{}", prefix, #p), f);)
    });
    let set_training = fields.iter().map(|f| {
        let n = &f.name;
        quote!(::nanotorch::Module::<E>::set_training(&mut self.#n, training);)
    });
    let init_fields = fields.iter().map(|f| {
        let n = &f.name;
        quote!(#n: ::nanotorch::Init::init(rng),)
    });
    let rng_init = if plan.has_dropout {
        quote!(rng: ::nanotorch::seeded_rng(::nanotorch::rand::RngCore::next_u64(rng)),)
    } else {
        quote!()
    };
    let types_init = if names.net.dim_params.is_empty() {
        quote!()
    } else {
        quote!(_types: ::core::marker::PhantomData,)
    };
    quote! {
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
    }
}
