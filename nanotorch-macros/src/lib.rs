//! The `network!` macro of NanoTorch: a declaration of layers and a forward pass becomes a
//! plain struct whose `backward` was derived at compile time by the chain rule.
//!
//! The crate is split the way the data flows:
//!
//! ```text
//! ast (parse) → fields (what each field's type is) → lower (SSA graph, literal shapes checked)
//!   → plan (where each value lives) → autodiff (reverse walk) → picture (the graph as SVG)
//!   → expand (code generation)
//! ```
//!
//! `graph` is the data the stages share; `nodes/` holds, one file per kind of node, what its
//! forward, backward and saved values are; `layers.rs` and `prims.rs` are the tables of
//! layers and primitives; `dims.rs` writes sizes as types. Every module imports only from
//! modules to its left in that order (no import cycles). See the `nanotorch` crate docs for
//! the language.

use proc_macro::TokenStream;

mod ast;
mod autodiff;
mod dims;
mod expand;
mod fields;
mod graph;
mod layers;
mod lower;
mod nodes;
mod picture;
mod plan;
mod prims;

/// Declares a network: layers as fields, and a forward pass over them.
///
/// ```ignore
/// network! {
///     /// Fits y = x·[1, 2, 3].
///     pub struct Regressor {
///         fc1: Linear<3, 3>,
///         fc2: Linear<3, 5>,
///         fc3: Linear<5, 1>,
///     }
///     fn forward(x: [B, 3]) -> [B, 1] {
///         let h = sigmoid(fc1(x));
///         fc3(sigmoid(fc2(h)))
///     }
/// }
/// ```
///
/// See the `nanotorch` crate documentation (`nanotorch::network`) for the full language and
/// what the expansion contains.
#[proc_macro]
pub fn network(input: TokenStream) -> TokenStream {
    let net = syn::parse_macro_input!(input as ast::Network);
    match lower::build(&net) {
        Ok(graph) => expand::expand(&net, &graph).into(),
        Err(errors) => {
            let mut out = expand::stub(&net);
            for e in errors {
                out.extend(e.to_compile_error());
            }
            out.into()
        }
    }
}

/// The static dim of any size: `U![3136]` is `Const<3136>` (the aliases `U0` … `U1024` are
/// written out; this covers the sizes beyond).
#[proc_macro]
#[allow(non_snake_case)]
pub fn U(input: TokenStream) -> TokenStream {
    let lit = syn::parse_macro_input!(input as syn::LitInt);
    match lit.base10_parse::<u64>() {
        Ok(n) => dims::const_dim(n).into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Internal to `nanotorch::shape`: writes the aliases `U0` … `UN` and the typenum-to-`Const`
/// table for `N` given as a literal. Not for users.
#[doc(hidden)]
#[proc_macro]
pub fn __size_table(input: TokenStream) -> TokenStream {
    let lit = syn::parse_macro_input!(input as syn::LitInt);
    match lit.base10_parse::<u64>() {
        Ok(n) => dims::size_table(n).into(),
        Err(e) => e.to_compile_error().into(),
    }
}
