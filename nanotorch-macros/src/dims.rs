//! Static sizes as types: `Const<N>` written from the number, and the table that lets
//! `nanotorch` do size arithmetic (products, sums) with typenum behind the surface.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use crate::ast::{DimDecl, ShapeDecl};

/// The static dim for `n`: `::nanotorch::Const<n>`, which rustc prints in decimal.
pub fn const_dim(n: u64) -> TokenStream {
    let n = Literal::u64_unsuffixed(n);
    quote!(::nanotorch::Const<#n>)
}

/// typenum's binary type for `n` (`UInt<UInt<UTerm, B1>, B0>` is 2), as `nanotorch` names it
/// from inside the crate.
fn typenum(n: u64) -> TokenStream {
    let mut ty = quote!(typenum::UTerm);
    let bits = 64 - n.leading_zeros();
    for i in (0..bits).rev() {
        let bit = if (n >> i) & 1 == 1 {
            quote!(typenum::B1)
        } else {
            quote!(typenum::B0)
        };
        ty = quote!(typenum::UInt<#ty, #bit>);
    }
    ty
}

/// For `nanotorch::shape` only: the aliases `U0` … `U{limit}` of `Const<n>`, and the impls of
/// `FromTypenum` that turn typenum's result of a size computation back into `Const<n>`.
/// One impl per number is the only way stable Rust maps a type-level number to a const
/// generic; the table's length is what the size arithmetic can reach.
pub fn size_table(limit: u64) -> TokenStream {
    let rows = (0..=limit).map(|n| {
        let alias = format_ident!("U{}", n);
        let doc = format!("The static dim of size {n}: `Const<{n}>`.");
        let lit = Literal::u64_unsuffixed(n);
        let tn = typenum(n);
        quote! {
            #[doc = #doc]
            pub type #alias = Const<#lit>;
            impl FromTypenum for #tn {
                type Dim = Const<#lit>;
            }
        }
    });
    quote!(#(#rows)*)
}

/// One dim of a value: its type, and its size when the macro knows it as a number.
#[derive(Clone)]
pub struct DimInfo {
    pub ty: TokenStream,
    pub lit: Option<u64>,
    /// How to print it in docs and messages: `64`, `B`, or the alias name.
    pub text: String,
}

/// A dim known as a number.
pub fn lit_dim(n: u64) -> DimInfo {
    DimInfo {
        ty: const_dim(n),
        lit: Some(n),
        text: n.to_string(),
    }
}

/// The batch dim: a name means a runtime size (`Dyn`), a number a static one.
pub fn batch_dim(decl: &DimDecl) -> DimInfo {
    match decl {
        DimDecl::Lit(n) => lit_dim(*n),
        DimDecl::Name(name) if name == "Dyn" => DimInfo {
            ty: quote!(::nanotorch::Dyn),
            lit: None,
            text: "B".into(),
        },
        DimDecl::Name(name) => DimInfo {
            ty: quote!(::nanotorch::Dyn),
            lit: None,
            text: name.to_string(),
        },
    }
}

/// A feature dim: a number, `Dyn`, or a type (alias or generic) the compiler will check.
pub fn feature_dim(decl: &DimDecl) -> DimInfo {
    match decl {
        DimDecl::Lit(n) => lit_dim(*n),
        DimDecl::Name(name) if name == "Dyn" => DimInfo {
            ty: quote!(::nanotorch::Dyn),
            lit: None,
            text: "Dyn".into(),
        },
        DimDecl::Name(name) => DimInfo {
            ty: quote!(#name),
            lit: None,
            text: name.to_string(),
        },
    }
}

/// The dims of a declared shape: the batch, then the features.
pub fn shape_dims(decl: &ShapeDecl) -> Vec<DimInfo> {
    let mut dims = vec![batch_dim(&decl.dims[0])];
    dims.extend(decl.dims[1..].iter().map(feature_dim));
    dims
}

/// Formats dims for messages: `[B, 64]`.
pub fn dims_text(dims: &[DimInfo]) -> String {
    let inner: Vec<&str> = dims.iter().map(|d| d.text.as_str()).collect();
    format!("[{}]", inner.join(", "))
}

/// A size written as a generic argument (`Linear<784, H>`) or an array length
/// (`[Block; 4]`): an integer literal or a type.
pub fn generic_dim(arg: &syn::GenericArgument) -> Option<DimInfo> {
    match arg {
        syn::GenericArgument::Const(expr) => expr_dim(expr),
        syn::GenericArgument::Type(ty) => {
            let text = quote!(#ty).to_string().replace(' ', "");
            Some(DimInfo {
                ty: quote!(#ty),
                lit: None,
                text,
            })
        }
        _ => None,
    }
}

/// A size written as an expression: an integer literal, or a name (a size parameter or alias).
pub fn expr_dim(expr: &syn::Expr) -> Option<DimInfo> {
    match expr {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(i),
            ..
        }) => i.base10_parse::<u64>().ok().map(lit_dim),
        syn::Expr::Path(p) if p.path.get_ident().is_some() => {
            let ident = p.path.get_ident().expect("checked");
            Some(DimInfo {
                ty: quote!(#ident),
                lit: None,
                text: ident.to_string(),
            })
        }
        _ => None,
    }
}
