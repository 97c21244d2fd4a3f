//! Static sizes as typenum types, built from the number.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// The typenum type for `n`: the named alias (`U784`) up to 1024, where typenum has one, and
/// otherwise the binary type built bit by bit (`UInt<UInt<UTerm, B1>, B0>` is 2).
pub fn typenum(n: u64) -> TokenStream {
    if n <= 1024 {
        let name = format_ident!("U{}", n);
        return quote!(::nanotorch::typenum::#name);
    }
    let mut ty = quote!(::nanotorch::typenum::UTerm);
    let bits = 64 - n.leading_zeros();
    for i in (0..bits).rev() {
        let bit = if (n >> i) & 1 == 1 {
            quote!(::nanotorch::typenum::B1)
        } else {
            quote!(::nanotorch::typenum::B0)
        };
        ty = quote!(::nanotorch::typenum::UInt<#ty, #bit>);
    }
    ty
}
