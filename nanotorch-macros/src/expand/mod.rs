//! Code generation: the checked graph becomes a struct, its buffers, `forward`, `backward`,
//! `predict`, and the `Init`/`Module`/`Layer`/`Network` impls — straight-line calls into
//! `nanotorch`, and a loop for each stack.
//!
//! - `mod.rs` (this file): the whole expansion, assembled;
//! - `buffers.rs`: the `…Saved`, `…Work` and `…Grads` structs;
//! - `methods.rs`: `new`, `forward`, `backward`, `backward_with_input`, `predict`;
//! - `module.rs`: `Init` and `Module` (parameters, buffers, names, train/eval);
//! - `traits.rs`: `Layer` and `Declared` (one input, one output), `Network` (several);
//! - `docs.rs`: the docs of the struct and of its methods;
//! - `stub.rs`: what is emitted beside errors.

mod buffers;
mod docs;
mod methods;
mod module;
mod stub;
mod traits;

pub use stub::stub;

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;

use crate::ast::Network;
use crate::autodiff::plan_backward;
use crate::graph::Graph;
use crate::plan::{Plan, respan};

/// The names every part of the expansion shares.
pub struct Names<'a> {
    pub net: &'a Network,
    pub name: &'a Ident,
    pub saved: Ident,
    pub work: Ident,
    pub grads: Ident,
    /// `<H: StaticDim, E: Element>` on impls.
    pub decl: TokenStream,
    /// `<H, E>` on uses.
    pub args: TokenStream,
    /// The picture of the graph, as SVG (`picture/`).
    pub picture: String,
}

/// The full expansion of a checked network.
pub fn expand(net: &Network, graph: &Graph) -> TokenStream {
    let plan = Plan::new(graph, crate::nodes::read_by_backward(graph));
    let backward = plan_backward(&plan);
    let picture = crate::picture::svg(&plan, &backward, &net.name.to_string());
    let params = &net.dim_params;
    let names = Names {
        net,
        name: &net.name,
        saved: format_ident!("{}Saved", net.name),
        work: format_ident!("{}Work", net.name),
        grads: format_ident!("{}Grads", net.name),
        decl: quote!(#(#params: ::nanotorch::shape::StaticDim,)* E: ::nanotorch::Element),
        args: quote!(#(#params,)* E),
        picture,
    };
    let structs = buffers::structs(&names, &plan, &backward);
    let deferred = deferred_checks(&names, graph);
    let methods = methods::methods(&names, &plan, &backward);
    let module = module::impls(&names, &plan);
    let traits = traits::impls(&names, &plan);
    let graph_svg = graph_svg(&names);
    quote! {
        #structs
        #(#deferred)*
        #methods
        #graph_svg
        #module
        #traits
    }
}

/// `graph_svg()`: the picture in the struct's docs, as a string. On the `f32` network (the
/// default element type) so that `Net::graph_svg()` needs no type annotation.
fn graph_svg(names: &Names) -> TokenStream {
    let (name, params) = (names.name, &names.net.dim_params);
    let svg = &names.picture;
    let doc = format!(
        " The graph `network!` differentiated for [`{name}`], as an SVG picture drawn at compile time (the one in the struct's docs): the forward values and their shapes, the values `backward` reads, the gradients in reverse with their fan-out sums, the parameters and their gradients. Write it to a `.svg` file to view it."
    );
    quote! {
        impl<#(#params: ::nanotorch::shape::StaticDim),*> #name<#(#params,)* f32> {
            #[doc = #doc]
            pub fn graph_svg() -> &'static str {
                #svg
            }
        }
    }
}

/// The checks the compiler does for sizes the macro cannot compare (aliases, generics), each
/// re-spanned so the error points at the user's call, not at the alias.
fn deferred_checks(names: &Names, graph: &Graph) -> Vec<TokenStream> {
    let decl = &names.decl;
    graph
        .deferred
        .iter()
        .map(|c| {
            let (have, want) = (respan(&c.have, c.span), respan(&c.want, c.span));
            quote_spanned! {c.span=>
                const _: () = {
                    #[allow(dead_code)]
                    fn check<#decl>() {
                        ::nanotorch::codegen::dims_agree::<#have, #want>();
                    }
                };
            }
        })
        .collect()
}
