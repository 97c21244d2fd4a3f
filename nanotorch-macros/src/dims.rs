//! Static sizes as types: `Const<N>` written from the number, and the table that lets
//! `nanotorch` do size arithmetic (products, sums) with typenum behind the surface.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

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
