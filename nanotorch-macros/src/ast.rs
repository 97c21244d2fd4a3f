//! Parsing: the tokens of a `network!` invocation become this syntax tree.
//!
//! ```text
//! network! {
//!     /// docs and attributes
//!     pub struct Name {
//!         field: LayerType,
//!         ...
//!     }
//!     fn forward(x: [B, 3]) -> [B, 1] { let h = ...; expr }
//!     // or the sequential shorthand for a plain chain:
//!     fn forward(x: [B, 3]) -> [B, 1] = fc1 -> sigmoid -> fc2;
//!     // or several inputs and outputs:
//!     fn forward(x: [B, 64], h: [B, 128]) -> ([B, 128], [B, 128]) { ...; (a, b) }
//! }
//! ```

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{
    Attribute, Expr, Ident, LitInt, Token, Type, Visibility, braced, bracketed, parenthesized,
};

/// The whole declaration.
pub struct Network {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    /// Type parameters standing for sizes, e.g. `<H>` in `struct Mlp<H>`.
    pub dim_params: Vec<Ident>,
    pub fields: Vec<Field>,
    pub forward: Forward,
}

/// One layer field: `fc1: Linear<3, 3>`.
pub struct Field {
    pub attrs: Vec<Attribute>,
    pub name: Ident,
    pub ty: Type,
}

/// `fn forward(x: [B, 3]) -> [B, 1] { ... }`, or with several inputs and outputs
/// `fn forward(x: [B, 64], h: [B, 128]) -> ([B, 128], [B, 128]) { ... }`.
pub struct Forward {
    pub inputs: Vec<Input>,
    pub outputs: Vec<ShapeDecl>,
    /// Whether the outputs were written as a tuple `(…)` (then the result is a tuple too).
    pub tuple_output: bool,
    pub body: Body,
}

/// One input of `forward`: `x: [B, 3]`, or token ids `idx: [B, 11] tokens<3>`.
pub struct Input {
    pub name: Ident,
    pub shape: ShapeDecl,
    /// `tokens<V>` after the shape: the input is token ids below `V` (`nanotorch::Tokens`),
    /// not floats.
    pub tokens: Option<DimDecl>,
}

/// A declared shape such as `[B, 3]`: the first dim is the batch.
pub struct ShapeDecl {
    pub dims: Vec<DimDecl>,
    pub span: Span,
}

/// One declared dim.
#[derive(Clone)]
pub enum DimDecl {
    /// An integer literal: a static size.
    Lit(u64),
    /// A name: for the batch, a runtime size (`Dyn`) named for the reader; elsewhere a type
    /// (an alias such as `U64` or `Const<64>`, a size parameter, or `Dyn`).
    Name(Ident),
}

/// The forward pass.
pub enum Body {
    /// `{ let a = ...; ...; result }`
    Block(Vec<Stmt>, Expr),
    /// `= fc1 -> relu -> fc2;`, already turned into nested calls.
    Sequential(Expr),
}

/// `let name = expr;`, or `let (a, b) = expr;` for a call of a network with several outputs.
pub struct Stmt {
    pub names: Vec<Ident>,
    /// Whether the names were written as a tuple pattern.
    pub tuple: bool,
    pub expr: Expr,
}

impl Parse for Network {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        input.parse::<Token![struct]>()?;
        let name: Ident = input.parse()?;
        let generics: syn::Generics = input.parse()?;
        let mut dim_params = Vec::new();
        for param in &generics.params {
            match param {
                // Bounds written by the user are not needed: every size parameter is given
                // `StaticDim` by the expansion.
                syn::GenericParam::Type(t) => dim_params.push(t.ident.clone()),
                other => {
                    return Err(syn::Error::new_spanned(
                        other,
                        "a network's generic parameters are sizes (types such as `H`), e.g. `struct Mlp<H> { fc1: Linear<784, H>, ... }`",
                    ));
                }
            }
        }
        let content;
        braced!(content in input);
        let mut fields = Vec::new();
        while !content.is_empty() {
            let attrs = content.call(Attribute::parse_outer)?;
            // Fields are always `pub` in the generated struct; accept a written `pub` too.
            let _vis: Visibility = content.parse()?;
            let name: Ident = content.parse()?;
            content.parse::<Token![:]>()?;
            let ty: Type = content.parse()?;
            fields.push(Field { attrs, name, ty });
            if content.is_empty() {
                break;
            }
            content.parse::<Token![,]>()?;
        }
        let forward: Forward = input.parse()?;
        if !input.is_empty() {
            return Err(input.error(
                "unexpected tokens after `fn forward`: a `network!` holds one struct and one `fn forward`",
            ));
        }
        Ok(Network {
            attrs,
            vis,
            name,
            dim_params,
            fields,
            forward,
        })
    }
}

impl Parse for Forward {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        // Doc comments on `forward` are accepted; the generated `forward` carries its own.
        let _attrs = input.call(Attribute::parse_outer)?;
        input.parse::<Token![fn]>()?;
        let fn_name: Ident = input.parse()?;
        if fn_name != "forward" {
            return Err(syn::Error::new(
                fn_name.span(),
                format!("expected `fn forward`, found `fn {fn_name}`"),
            ));
        }
        let args;
        parenthesized!(args in input);
        let inputs: Vec<Input> = Punctuated::<Input, Token![,]>::parse_terminated(&args)?
            .into_iter()
            .collect();
        if inputs.is_empty() {
            return Err(
                args.error("`forward` takes at least one input, e.g. `fn forward(x: [B, 784])`")
            );
        }
        input.parse::<Token![->]>()?;
        let (outputs, tuple_output) = if input.peek(syn::token::Paren) {
            let content;
            let paren = parenthesized!(content in input);
            let shapes: Vec<ShapeDecl> =
                Punctuated::<ShapeDecl, Token![,]>::parse_terminated(&content)?
                    .into_iter()
                    .collect();
            if shapes.is_empty() {
                return Err(syn::Error::new(
                    paren.span.join(),
                    "`forward` returns at least one value",
                ));
            }
            (shapes, true)
        } else {
            (vec![input.parse::<ShapeDecl>()?], false)
        };
        let body = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            if inputs.len() != 1 || tuple_output {
                return Err(input.error(
                    "the sequential shorthand `= a -> b -> c;` is for one input and one output; write a block `{ ... }` for several",
                ));
            }
            let chain = parse_chain(input, &inputs[0].name)?;
            input.parse::<Token![;]>()?;
            Body::Sequential(chain)
        } else {
            parse_block(input)?
        };
        Ok(Forward {
            inputs,
            outputs,
            tuple_output,
            body,
        })
    }
}

impl Parse for Input {
    fn parse(args: ParseStream) -> syn::Result<Self> {
        let name: Ident = args.parse()?;
        args.parse::<Token![:]>()?;
        let shape: ShapeDecl = args.parse()?;
        let tokens = if args.peek(Ident) {
            let word: Ident = args.parse()?;
            if word != "tokens" {
                return Err(syn::Error::new(
                    word.span(),
                    format!(
                        "expected `tokens<VOCAB>` after the input shape (token-id input, e.g. `idx: [B, 11] tokens<3>`), found `{word}`"
                    ),
                ));
            }
            args.parse::<Token![<]>()?;
            let vocab: DimDecl = args.parse()?;
            args.parse::<Token![>]>()?;
            if shape.dims.len() != 2 {
                return Err(syn::Error::new(
                    shape.span,
                    "token ids come as `[B, T] tokens<VOCAB>`: a batch of sequences of T ids",
                ));
            }
            Some(vocab)
        } else {
            None
        };
        Ok(Input {
            name,
            shape,
            tokens,
        })
    }
}

/// `{ let a = ...; let (b, c) = ...; result }`.
fn parse_block(input: ParseStream) -> syn::Result<Body> {
    let content;
    braced!(content in input);
    let mut stmts = Vec::new();
    while content.peek(Token![let]) {
        content.parse::<Token![let]>()?;
        let (names, tuple) = if content.peek(syn::token::Paren) {
            let pattern;
            parenthesized!(pattern in content);
            let names: Vec<Ident> = Punctuated::<Ident, Token![,]>::parse_terminated(&pattern)?
                .into_iter()
                .collect();
            (names, true)
        } else {
            (vec![content.parse::<Ident>()?], false)
        };
        content.parse::<Token![=]>()?;
        let expr: Expr = content.parse()?;
        content.parse::<Token![;]>()?;
        stmts.push(Stmt { names, tuple, expr });
    }
    if content.is_empty() {
        return Err(
            content.error("`forward` must end with the expression it returns (no trailing `;`)")
        );
    }
    let result: Expr = content.parse()?;
    if !content.is_empty() {
        return Err(content.error(
            "expected the end of `forward`: statements are `let name = expr;`, and the last line is the returned expression",
        ));
    }
    Ok(Body::Block(stmts, result))
}

/// `fc1 -> relu -> leaky_relu(0.1) -> fc2` becomes `fc2(leaky_relu(relu(fc1(x)), 0.1))`.
fn parse_chain(input: ParseStream, x: &Ident) -> syn::Result<Expr> {
    let mut expr: Expr = syn::parse_quote!(#x);
    loop {
        let step: Ident = input.parse()?;
        let extra: Vec<Expr> = if input.peek(syn::token::Paren) {
            let args;
            parenthesized!(args in input);
            Punctuated::<Expr, Token![,]>::parse_terminated(&args)?
                .into_iter()
                .collect()
        } else {
            Vec::new()
        };
        let span = step.span();
        let mut call: syn::ExprCall = syn::parse_quote_spanned!(span=> #step(#expr));
        call.args.extend(extra);
        expr = Expr::Call(call);
        if input.peek(Token![->]) {
            input.parse::<Token![->]>()?;
        } else {
            break;
        }
    }
    Ok(expr)
}

impl Parse for ShapeDecl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let content;
        let bracket = bracketed!(content in input);
        let dims = Punctuated::<DimDecl, Token![,]>::parse_terminated(&content)?;
        let dims: Vec<DimDecl> = dims.into_iter().collect();
        if dims.len() < 2 {
            return Err(syn::Error::new(
                bracket.span.join(),
                "a network's input and output shapes are `[batch, features...]`, e.g. `[B, 784]`",
            ));
        }
        Ok(ShapeDecl {
            dims,
            span: bracket.span.join(),
        })
    }
}

impl Parse for DimDecl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(LitInt) {
            let lit: LitInt = input.parse()?;
            let n = lit.base10_parse::<u64>()?;
            Ok(DimDecl::Lit(n))
        } else {
            let ident: Ident = input.parse()?;
            Ok(DimDecl::Name(ident))
        }
    }
}
