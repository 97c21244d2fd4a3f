//! Layer fields: what each field's type is — a `Linear`, a layer of the table, a nested
//! network, or a stack of one of those — checked once, at the type, with an error there.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Expr, Ident, Lit};

use crate::ast::Field;
use crate::dims::{DimInfo, expr_dim, generic_dim};
use crate::layers::{Arg, ArgValue, Args, Default, KnownLayer};

/// How a layer field is implemented.
pub enum FieldKind {
    /// `Linear<IN, OUT>`: the macro calls `nanotorch::ops::linear*` itself, so a `Linear`
    /// applied twice (weight sharing) keeps one saved input per application.
    Linear { input: DimInfo, output: DimInfo },
    /// A layer of the table in `layers.rs` (`Conv2d`, `MaxPool2d`, `BatchNorm2d`, …): called
    /// through the `Layer` trait, with its output shape computed here by the table's rule.
    Known {
        layer: &'static KnownLayer,
        args: Args,
    },
    /// Any other layer (e.g. another `network!` struct), called through the `Layer` trait, or
    /// through the `Network` trait when it takes several inputs or gives several outputs.
    Opaque,
    /// A built-in recurrent layer over a sequence (`Rnn`, `Lstm`, `Gru`): called like a nested
    /// network with several outputs, of which the first (the sequence) has the input's rank and
    /// the others (the last states) are `[B, H]`.
    Sequence,
    /// `[Block; N]`: `N` blocks applied in order (`nanotorch::Stack`), each keeping its
    /// input's shape; `element` is the block type.
    Stack {
        count: DimInfo,
        element: TokenStream,
    },
    /// A field whose type has an error (already reported): its calls produce values that no
    /// later check reports on.
    Invalid,
}

/// A layer field after classification.
pub struct LayerField {
    pub name: Ident,
    /// The type written into the generated struct.
    pub ty: TokenStream,
    /// The type as the user wrote it (for docs).
    pub written: String,
    pub kind: FieldKind,
    pub attrs: Vec<syn::Attribute>,
}

impl LayerField {
    /// The type as the user wrote it, spaced as Rust code is: `Linear<3, 5>`.
    pub fn written_tidy(&self) -> String {
        self.written
            .replace(" < ", "<")
            .replace(" >", ">")
            .replace(" ,", ",")
            .replace("[ ", "[")
            .replace(" ]", "]")
            .replace(" ;", ";")
    }
}

/// Classifies every field; reports each mistake once, at the field's type or name.
pub fn classify_all(fields: &[Field], errors: &mut Vec<syn::Error>) -> Vec<LayerField> {
    let classified = fields.iter().map(|f| classify(f, errors)).collect();
    for (k, f) in fields.iter().enumerate() {
        if fields[..k].iter().any(|g| g.name == f.name) {
            errors.push(syn::Error::new(
                f.name.span(),
                format!("the layer `{}` is declared twice", f.name),
            ));
        }
    }
    classified
}

fn classify(field: &Field, errors: &mut Vec<syn::Error>) -> LayerField {
    let written = {
        let ty = &field.ty;
        quote!(#ty).to_string()
    };
    let (ty, kind) = match &field.ty {
        syn::Type::Array(array) => stack_type(array, &field.name, errors),
        ty => element_type(ty, &field.name, errors),
    };
    LayerField {
        name: field.name.clone(),
        ty,
        written,
        kind,
        attrs: field.attrs.clone(),
    }
}

/// `[Block; 4]` or `[Block; L]`: a `nanotorch::Stack` of the element type.
fn stack_type(
    array: &syn::TypeArray,
    field: &Ident,
    errors: &mut Vec<syn::Error>,
) -> (TokenStream, FieldKind) {
    let (element, kind) = element_type(&array.elem, field, errors);
    if matches!(kind, FieldKind::Invalid) {
        return (quote!(()), FieldKind::Invalid);
    }
    if matches!(kind, FieldKind::Stack { .. }) {
        errors.push(syn::Error::new_spanned(
            &array.elem,
            "a stack's blocks are layers, not stacks: declare a `network!` block that holds the inner stack",
        ));
        return (quote!(()), FieldKind::Invalid);
    }
    let Some(count) = expr_dim(&array.len) else {
        errors.push(syn::Error::new_spanned(
            &array.len,
            "a stack's length is a number or a size parameter of the network: `[Block; 4]`, `[Block; L]`",
        ));
        return (quote!(()), FieldKind::Invalid);
    };
    if count.lit == Some(0) {
        errors.push(syn::Error::new_spanned(
            &array.len,
            "a stack holds at least one block",
        ));
        return (quote!(()), FieldKind::Invalid);
    }
    let n = &count.ty;
    (
        quote!(::nanotorch::Stack<#element, #n>),
        FieldKind::Stack { count, element },
    )
}

/// The type and kind of a single layer (a field, or a stack's element).
fn element_type(
    ty: &syn::Type,
    field: &Ident,
    errors: &mut Vec<syn::Error>,
) -> (TokenStream, FieldKind) {
    let written = quote!(#ty).to_string();
    let syn::Type::Path(path) = ty else {
        errors.push(syn::Error::new_spanned(
            ty,
            "a layer field's type must be a layer: `Linear<IN, OUT>`, a `network!` struct, or a stack `[Block; N]`",
        ));
        return (quote!(#ty), FieldKind::Opaque);
    };
    let Some(last) = path.path.segments.last() else {
        return (quote!(#ty), FieldKind::Opaque);
    };
    let ident = last.ident.to_string();
    if let Some(layer) = crate::layers::lookup(&ident) {
        return match known_args(layer, &last.arguments, &field.to_string()) {
            Ok(args) => ((layer.ty)(&args), FieldKind::Known { layer, args }),
            Err(e) => {
                errors.push(e);
                (quote!(()), FieldKind::Invalid)
            }
        };
    }
    if ident == "Linear" {
        return linear_type(ty, &last.arguments, errors);
    }
    if let Some(sequence) = recurrent_kind(&ident, &last.arguments) {
        return recurrent_type(&ident, sequence, ty, &last.arguments, errors);
    }
    // Types that are certainly not layers get one clear error here, instead of a trait error
    // at every place the generated code uses the field.
    if NOT_LAYERS.contains(&ident.as_str()) {
        errors.push(syn::Error::new_spanned(
            ty,
            format!(
                "`{}` is not a layer: a field must be `Linear<IN, OUT>`, another `network!` struct, or a type implementing `nanotorch::Layer`",
                written.replace(' ', "")
            ),
        ));
        return (quote!(#ty), FieldKind::Opaque);
    }
    if edit_distance(&ident.to_lowercase(), "linear") <= 2 {
        errors.push(syn::Error::new_spanned(
            &last.ident,
            format!("unknown layer type `{ident}`; did you mean `Linear`?"),
        ));
        return (quote!(#ty), FieldKind::Opaque);
    }
    // A bare name such as `Block` is taken to be a `network!` struct: it gets the element
    // type `E` as its generic argument. A type written with arguments is used as written.
    if matches!(last.arguments, syn::PathArguments::None) {
        (quote!(#ty<E>), FieldKind::Opaque)
    } else {
        (quote!(#ty), FieldKind::Opaque)
    }
}

fn linear_type(
    ty: &syn::Type,
    arguments: &syn::PathArguments,
    errors: &mut Vec<syn::Error>,
) -> (TokenStream, FieldKind) {
    let args: Vec<&syn::GenericArgument> = match arguments {
        syn::PathArguments::AngleBracketed(a) => a.args.iter().collect(),
        _ => Vec::new(),
    };
    let dims: Vec<Option<DimInfo>> = args.iter().map(|a| generic_dim(a)).collect();
    if let [Some(input), Some(output)] = dims.as_slice() {
        let (i, o) = (&input.ty, &output.ty);
        return (
            quote!(::nanotorch::Linear<#i, #o, E>),
            FieldKind::Linear {
                input: input.clone(),
                output: output.clone(),
            },
        );
    }
    errors.push(syn::Error::new_spanned(
        ty,
        "`Linear` takes two sizes, input features then output features: `Linear<784, 128>`",
    ));
    (
        quote!(::nanotorch::Linear<::nanotorch::shape::U1, ::nanotorch::shape::U1, E>),
        FieldKind::Opaque,
    )
}

/// Whether `ident` with `arguments` names a built-in recurrent layer (`Some(true)`: `Rnn`,
/// `Lstm`, `Gru`) or cell (`Some(false)`: `RnnCell`, `LstmCell`, `GruCell`). Only with
/// arguments: a bare `LstmCell` is the learner's own `network!` of that name.
fn recurrent_kind(ident: &str, arguments: &syn::PathArguments) -> Option<bool> {
    if matches!(arguments, syn::PathArguments::None) {
        return None;
    }
    match ident {
        "Rnn" | "Lstm" | "Gru" => Some(true),
        "RnnCell" | "LstmCell" | "GruCell" => Some(false),
        _ => None,
    }
}

/// `Lstm<I, H>` and its kin: PyTorch's recurrent layers and cells, called with several values
/// (`lstm(x, h0, c0)`, `gru(x)`, `cell(x_t, h)`) through the `Network` trait, as a nested
/// network with several inputs is.
fn recurrent_type(
    ident: &str,
    sequence: bool,
    ty: &syn::Type,
    arguments: &syn::PathArguments,
    errors: &mut Vec<syn::Error>,
) -> (TokenStream, FieldKind) {
    let args: Vec<&syn::GenericArgument> = match arguments {
        syn::PathArguments::AngleBracketed(a) => a.args.iter().collect(),
        _ => Vec::new(),
    };
    let dims: Vec<Option<DimInfo>> = args.iter().map(|a| generic_dim(a)).collect();
    if let [Some(input), Some(hidden)] = dims.as_slice() {
        let (i, h) = (&input.ty, &hidden.ty);
        let name = syn::Ident::new(ident, proc_macro2::Span::call_site());
        let kind = if sequence {
            FieldKind::Sequence
        } else {
            FieldKind::Opaque
        };
        return (quote!(::nanotorch::layers::#name<#i, #h, E>), kind);
    }
    errors.push(syn::Error::new_spanned(
        ty,
        format!(
            "`{ident}` takes two sizes, input features then hidden features: `{ident}<64, 256>`"
        ),
    ));
    (quote!(()), FieldKind::Invalid)
}

/// How a table layer is written, for messages: `` `Conv2d<in_channels, …, stride = …>` ``.
fn usage(layer: &KnownLayer) -> String {
    let mut parts: Vec<String> = layer
        .positional
        .iter()
        .map(|a| match a {
            Arg::Dim(n) | Arg::Number(n) => n.to_string(),
        })
        .collect();
    parts.extend(layer.options.iter().map(|(n, _)| format!("{n} = …")));
    format!("`{}<{}>`", layer.name, parts.join(", "))
}

/// The arguments of a table layer as written, `Conv2d<1, 16, 5, padding = 2>`: the sizes in
/// order, then `name = number` options in any order; options left out take their defaults.
/// The layer's own check of its arguments (attention's heads dividing its width) runs here, so
/// its error points at the type.
fn known_args(
    layer: &'static KnownLayer,
    arguments: &syn::PathArguments,
    field: &str,
) -> syn::Result<Args> {
    let list: Vec<&syn::GenericArgument> = match arguments {
        syn::PathArguments::AngleBracketed(a) => a.args.iter().collect(),
        syn::PathArguments::None => Vec::new(),
        other => {
            return Err(syn::Error::new_spanned(
                other,
                format!("`{}` is written {}", layer.name, usage(layer)),
            ));
        }
    };
    let (positional, options): (Vec<_>, Vec<_>) = list
        .into_iter()
        .partition(|a| !matches!(a, syn::GenericArgument::AssocConst(_)));
    if positional.len() != layer.positional.len() {
        let span = match arguments {
            syn::PathArguments::AngleBracketed(b) => syn::spanned::Spanned::span(b),
            _ => Span::call_site(),
        };
        return Err(syn::Error::new(
            span,
            format!(
                "`{}` takes {} size{} before its options: {}",
                layer.name,
                layer.positional.len(),
                if layer.positional.len() == 1 { "" } else { "s" },
                usage(layer)
            ),
        ));
    }
    let mut values = positional_args(layer, &positional)?;
    let given = option_args(layer, &options)?;
    for (name, default) in layer.options {
        let value = match given.iter().find(|(n, _)| n == name) {
            Some((_, v)) => *v,
            None => match default {
                Default::Value(v) => *v,
                Default::SameAs(other) => match values.iter().find(|(n, _)| n == other) {
                    Some((_, ArgValue::Number(v))) => *v,
                    _ => unreachable!("a default names a number argument"),
                },
            },
        };
        values.push((*name, ArgValue::Number(value)));
    }
    let args = Args { values };
    if let Some(check) = layer.check
        && let Err(message) = check(&args, field)
    {
        return Err(syn::Error::new_spanned(arguments, message));
    }
    Ok(args)
}

/// The sizes before the options, each a size (a number or a type) or a number.
fn positional_args(
    layer: &KnownLayer,
    positional: &[&syn::GenericArgument],
) -> syn::Result<Vec<(&'static str, ArgValue)>> {
    let mut values = Vec::new();
    for (arg, kind) in positional.iter().zip(layer.positional) {
        match kind {
            Arg::Dim(name) => match generic_dim(arg) {
                Some(d) => values.push((*name, ArgValue::Dim(d))),
                None => {
                    return Err(syn::Error::new_spanned(
                        arg,
                        format!(
                            "`{name}` of `{}` is a size: a number or a size type",
                            layer.name
                        ),
                    ));
                }
            },
            Arg::Number(name) => match generic_dim(arg).and_then(|d| d.lit) {
                Some(n) => values.push((*name, ArgValue::Number(n))),
                None => {
                    return Err(syn::Error::new_spanned(
                        arg,
                        format!("`{name}` of `{}` must be written as a number", layer.name),
                    ));
                }
            },
        }
    }
    Ok(values)
}

/// The `name = number` options, each known to the layer and given at most once.
fn option_args(
    layer: &KnownLayer,
    options: &[&syn::GenericArgument],
) -> syn::Result<Vec<(String, u64)>> {
    let mut given: Vec<(String, u64)> = Vec::new();
    for opt in options {
        let syn::GenericArgument::AssocConst(ac) = opt else {
            unreachable!("partitioned by the caller")
        };
        let name = ac.ident.to_string();
        if !layer.options.iter().any(|(n, _)| *n == name) {
            let names: Vec<String> = layer
                .options
                .iter()
                .map(|(n, _)| format!("`{n}`"))
                .collect();
            return Err(syn::Error::new_spanned(
                &ac.ident,
                if names.is_empty() {
                    format!("`{}` has no options", layer.name)
                } else {
                    format!(
                        "`{}` has no option `{name}`; its options are {}",
                        layer.name,
                        names.join(", ")
                    )
                },
            ));
        }
        let value = match &ac.value {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Int(i), ..
            }) => i.base10_parse::<u64>().ok(),
            _ => None,
        };
        let Some(value) = value else {
            return Err(syn::Error::new_spanned(
                &ac.value,
                format!("`{name}` of `{}` must be written as a number", layer.name),
            ));
        };
        if given.iter().any(|(n, _)| *n == name) {
            return Err(syn::Error::new_spanned(
                &ac.ident,
                format!("`{name}` is given twice"),
            ));
        }
        given.push((name, value));
    }
    Ok(given)
}

/// Standard types a learner might put in a field by mistake.
const NOT_LAYERS: &[&str] = &[
    "Vec", "String", "Option", "Box", "HashMap", "Tensor", "f32", "f64", "i32", "i64", "u32",
    "u64", "usize", "bool", "u8",
];

/// Levenshtein distance, for "did you mean" suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
