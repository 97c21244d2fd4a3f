//! Lowering and checking: the forward body becomes an SSA graph of primitive and layer calls,
//! and every shape that is written as a literal is checked here, with an error at the user's
//! line that names both numbers.

use std::collections::HashMap;

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::{BinOp, Expr, Ident, Lit, UnOp};

use crate::ast::{Body, DimDecl, Network, ShapeDecl};
use crate::dims::const_dim;
use crate::layers::{ArgValue, Args, Call, KnownLayer};
use crate::prims::{self, Unary};

/// Index of a node in [`Graph::nodes`].
pub type NodeId = usize;

/// One dim of a value: its type, and its size when the macro knows it as a number.
#[derive(Clone)]
pub struct DimInfo {
    pub ty: TokenStream,
    pub lit: Option<u64>,
    /// How to print it in docs and messages: `64`, `B`, or the alias name.
    pub text: String,
}

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
    /// Any other layer (e.g. another `network!` struct), called through the `Layer` trait.
    Opaque,
    /// A table layer whose type has an error (already reported): its calls produce values
    /// that no later check reports on.
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

/// What a node computes.
pub enum Op {
    Input,
    Linear {
        field: usize,
    },
    Layer {
        field: usize,
    },
    Unary {
        prim: &'static Unary,
        constant: Option<(TokenStream, String)>,
    },
    Add,
    Sub,
    Mul,
    Scale {
        factor: TokenStream,
        text: String,
    },
    Concat,
}

/// One SSA value.
pub struct Node {
    pub name: Ident,
    pub op: Op,
    pub inputs: Vec<NodeId>,
    pub dims: Vec<DimInfo>,
    /// For token ids (the input of a `tokens<V>` network): the vocabulary `V`. Such a value is
    /// a `nanotorch::Tokens`, not a tensor, and has no gradient.
    pub tokens: Option<DimInfo>,
    pub span: Span,
    /// Set once a shape error involved this value: later checks stay quiet about it, so one
    /// mistake gives one error.
    pub poisoned: bool,
    /// For `a + b`, `a - b`, `a * b` whose feature sizes the macro cannot compare: the
    /// `(have, want)` dims of `b` and `a`. The generated code views `b` with `a`'s type through
    /// `DimsAgree::rows_as`, so a mismatch is one trait error at the operator, and nothing else
    /// fails to type-check.
    pub retag_rhs: Option<(TokenStream, TokenStream)>,
    /// For a layer field other than `Linear` (a nested `network!`, an activation layer)
    /// applied to a `[B, F]` value: the `(have, want)` feature dims, `want` being the input
    /// features the layer declares (`codegen::Declared`). The generated code views
    /// the value with `want` through `FeaturesAgree::features_as`, so a mismatch is one trait
    /// error at the call and the nested network's types never see the wrong size.
    pub retag_input: Option<(TokenStream, TokenStream)>,
}

/// A check the macro cannot do with numbers (a dim is an alias or generic): emitted as a
/// trait-bound assertion spanned at the user's call.
pub struct DeferredCheck {
    pub have: TokenStream,
    pub want: TokenStream,
    pub span: Span,
}

pub struct Graph {
    pub fields: Vec<LayerField>,
    pub nodes: Vec<Node>,
    pub output: NodeId,
    pub input_dims: Vec<DimInfo>,
    pub output_dims: Vec<DimInfo>,
    pub deferred: Vec<DeferredCheck>,
}

/// Collected errors; the expansion reports all of them (each mistake once).
pub type Errors = Vec<syn::Error>;

fn lit_dim(n: u64) -> DimInfo {
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

/// A generic argument of `Linear<..>`: an integer literal or a type.
fn generic_dim(arg: &syn::GenericArgument) -> Option<DimInfo> {
    match arg {
        syn::GenericArgument::Const(Expr::Lit(syn::ExprLit {
            lit: Lit::Int(i), ..
        })) => i.base10_parse::<u64>().ok().map(lit_dim),
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

fn classify_field(field: &crate::ast::Field, errors: &mut Errors) -> LayerField {
    let ty = &field.ty;
    let written = quote!(#ty).to_string();
    let opaque = |ty: TokenStream| LayerField {
        name: field.name.clone(),
        ty,
        written: written.clone(),
        kind: FieldKind::Opaque,
        attrs: field.attrs.clone(),
    };
    let syn::Type::Path(path) = ty else {
        errors.push(syn::Error::new_spanned(
            ty,
            "a layer field's type must be a layer: `Linear<IN, OUT>` or a `network!` struct",
        ));
        return opaque(quote!(#ty));
    };
    let Some(last) = path.path.segments.last() else {
        return opaque(quote!(#ty));
    };
    if let Some(layer) = crate::layers::lookup(&last.ident.to_string()) {
        return match known_args(layer, &last.arguments) {
            Ok(args) => LayerField {
                name: field.name.clone(),
                ty: (layer.ty)(&args),
                written,
                kind: FieldKind::Known { layer, args },
                attrs: field.attrs.clone(),
            },
            Err(e) => {
                errors.push(e);
                LayerField {
                    kind: FieldKind::Invalid,
                    ..opaque(quote!(()))
                }
            }
        };
    }
    if last.ident == "Linear" {
        let args: Vec<&syn::GenericArgument> = match &last.arguments {
            syn::PathArguments::AngleBracketed(a) => a.args.iter().collect(),
            _ => Vec::new(),
        };
        let dims: Vec<Option<DimInfo>> = args.iter().map(|a| generic_dim(a)).collect();
        if let [Some(input), Some(output)] = dims.as_slice() {
            let (i, o) = (&input.ty, &output.ty);
            return LayerField {
                name: field.name.clone(),
                ty: quote!(::nanotorch::Linear<#i, #o, E>),
                written,
                kind: FieldKind::Linear {
                    input: input.clone(),
                    output: output.clone(),
                },
                attrs: field.attrs.clone(),
            };
        }
        errors.push(syn::Error::new_spanned(
            ty,
            "`Linear` takes two sizes, input features then output features: `Linear<784, 128>`",
        ));
        return opaque(
            quote!(::nanotorch::Linear<::nanotorch::shape::U1, ::nanotorch::shape::U1, E>),
        );
    }
    // Types that are certainly not layers get one clear error here, instead of a trait error
    // at every place the generated code uses the field.
    let ident = last.ident.to_string();
    if NOT_LAYERS.contains(&ident.as_str()) {
        errors.push(syn::Error::new_spanned(
            ty,
            format!(
                "`{}` is not a layer: a field must be `Linear<IN, OUT>`, another `network!` struct, or a type implementing `nanotorch::Layer`",
                written.replace(' ', "")
            ),
        ));
        return opaque(quote!(#ty));
    }
    if ident != "Linear" && edit_distance(&ident.to_lowercase(), "linear") <= 2 {
        errors.push(syn::Error::new_spanned(
            &last.ident,
            format!("unknown layer type `{ident}`; did you mean `Linear`?"),
        ));
        return opaque(quote!(#ty));
    }
    // A bare name such as `Block` is taken to be a `network!` struct: it gets the element
    // type `E` as its generic argument. A type written with arguments is used as written.
    if matches!(last.arguments, syn::PathArguments::None) {
        opaque(quote!(#ty<E>))
    } else {
        opaque(quote!(#ty))
    }
}

/// The arguments of a table layer as written, `Conv2d<1, 16, 5, padding = 2>`: the sizes in
/// order, then `name = number` options in any order; options left out take their defaults.
fn known_args(layer: &'static KnownLayer, arguments: &syn::PathArguments) -> syn::Result<Args> {
    use crate::layers::{Arg, Default};
    let usage = || {
        let mut parts: Vec<String> = layer
            .positional
            .iter()
            .map(|a| match a {
                Arg::Dim(n) | Arg::Number(n) => n.to_string(),
            })
            .collect();
        parts.extend(layer.options.iter().map(|(n, _)| format!("{n} = …")));
        format!("`{}<{}>`", layer.name, parts.join(", "))
    };
    let list: Vec<&syn::GenericArgument> = match arguments {
        syn::PathArguments::AngleBracketed(a) => a.args.iter().collect(),
        syn::PathArguments::None => Vec::new(),
        other => {
            return Err(syn::Error::new_spanned(
                other,
                format!("`{}` is written {}", layer.name, usage()),
            ));
        }
    };
    let (positional, options): (Vec<_>, Vec<_>) = list
        .into_iter()
        .partition(|a| !matches!(a, syn::GenericArgument::AssocConst(_)));
    if positional.len() != layer.positional.len() {
        let span_of = |a: &syn::PathArguments| match a {
            syn::PathArguments::AngleBracketed(b) => syn::spanned::Spanned::span(b),
            _ => Span::call_site(),
        };
        return Err(syn::Error::new(
            span_of(arguments),
            format!(
                "`{}` takes {} size{} before its options: {}",
                layer.name,
                layer.positional.len(),
                if layer.positional.len() == 1 { "" } else { "s" },
                usage()
            ),
        ));
    }
    let mut values = Vec::new();
    for (arg, kind) in positional.into_iter().zip(layer.positional) {
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
    let mut given: Vec<(String, u64)> = Vec::new();
    for opt in options {
        let syn::GenericArgument::AssocConst(ac) = opt else {
            unreachable!("partitioned above")
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
    Ok(Args { values })
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

struct Lowering<'a> {
    fields: &'a [LayerField],
    nodes: Vec<Node>,
    scope: Vec<(Ident, NodeId)>,
    used_fields: Vec<usize>,
    opaque_calls: HashMap<usize, Span>,
    errors: Errors,
    deferred: Vec<DeferredCheck>,
    names_taken: HashMap<String, usize>,
    /// A `Linear` whose input size the macro cannot compare (an alias or generic) is typed
    /// with the size of the value it receives; the one spanned check then compares that size
    /// with the declared one, so a mismatch gives exactly one error.
    input_overrides: HashMap<usize, TokenStream>,
}

impl Lowering<'_> {
    fn fresh_name(&mut self, base: &str) -> Ident {
        let base = base.trim_start_matches('_');
        let base = if base.is_empty() { "value" } else { base };
        let count = self.names_taken.entry(base.to_string()).or_insert(0);
        *count += 1;
        if *count == 1 {
            format_ident!("{}", base)
        } else {
            format_ident!("{}_{}", base, *count)
        }
    }

    fn push(
        &mut self,
        name: Ident,
        op: Op,
        inputs: Vec<NodeId>,
        dims: Vec<DimInfo>,
        span: Span,
        poisoned: bool,
    ) -> NodeId {
        self.nodes.push(Node {
            name,
            op,
            inputs,
            dims,
            span,
            poisoned,
            tokens: None,
            retag_rhs: None,
            retag_input: None,
        });
        self.nodes.len() - 1
    }

    fn base_of(&self, id: NodeId) -> String {
        let name = self.nodes[id].name.to_string();
        name.strip_suffix("_out")
            .map(str::to_string)
            .unwrap_or(name)
    }

    fn error(&mut self, span: Span, message: impl std::fmt::Display) {
        self.errors.push(syn::Error::new(span, message));
    }

    fn lookup(&self, name: &Ident) -> Option<NodeId> {
        self.scope
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, id)| *id)
    }

    fn scope_list(&self) -> String {
        let mut names: Vec<String> = Vec::new();
        for (n, _) in &self.scope {
            let n = n.to_string();
            if !names.contains(&n) {
                names.push(n);
            }
        }
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn lower(&mut self, expr: &Expr) -> Option<NodeId> {
        match expr {
            Expr::Paren(p) => self.lower(&p.expr),
            Expr::Group(g) => self.lower(&g.expr),
            Expr::Path(p) if p.path.get_ident().is_some() => {
                let ident = p.path.get_ident().expect("checked");
                if let Some(id) = self.lookup(ident) {
                    return Some(id);
                }
                if self.fields.iter().any(|f| f.name == *ident) {
                    self.error(
                        ident.span(),
                        format!("`{ident}` is a layer, not a value: call it on a value, e.g. `{ident}({})`", self.scope[0].0),
                    );
                } else {
                    self.error(
                        ident.span(),
                        format!(
                            "cannot find value `{ident}` in `forward`; the values in scope are {}",
                            self.scope_list()
                        ),
                    );
                }
                None
            }
            Expr::Call(call) => self.lower_call(call),
            Expr::Binary(bin) => self.lower_binary(bin),
            Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) => {
                let a = self.lower(&u.expr)?;
                let dims = self.nodes[a].dims.clone();
                let poisoned = self.nodes[a].poisoned;
                let name = self.fresh_name(&format!("neg_{}", self.base_of(a)));
                Some(self.push(
                    name,
                    Op::Scale {
                        factor: quote!(-1.0),
                        text: "−1".into(),
                    },
                    vec![a],
                    dims,
                    syn::spanned::Spanned::span(u),
                    poisoned,
                ))
            }
            other => {
                self.error(
                    syn::spanned::Spanned::span(other),
                    "unsupported expression in `forward`: use names, calls of layers and primitives, `+`, `-`, `*` (elementwise, or by a number), and `/` by a number",
                );
                None
            }
        }
    }

    fn lower_call(&mut self, call: &syn::ExprCall) -> Option<NodeId> {
        let Expr::Path(func) = &*call.func else {
            self.error(
                syn::spanned::Spanned::span(&call.func),
                "expected a layer field or a primitive name here",
            );
            return None;
        };
        let Some(fname) = func.path.get_ident() else {
            self.error(
                syn::spanned::Spanned::span(&call.func),
                format!("expected a layer field or a primitive, not a path; primitives are called by their bare names: {}", prims::allowed_list()),
            );
            return None;
        };
        let span = fname.span();
        let args: Vec<&Expr> = call.args.iter().collect();

        if let Some(field) = self.fields.iter().position(|f| f.name == *fname) {
            if args.len() != 1 {
                self.error(
                    span,
                    format!(
                        "the layer `{fname}` takes 1 argument (a value), found {}",
                        args.len()
                    ),
                );
                return None;
            }
            let a = self.lower(args[0])?;
            self.used_fields.push(field);
            return Some(self.lower_layer(field, a, span, args[0]));
        }
        if fname == "concat" {
            if args.len() != 2 {
                self.error(span, format!("`concat` takes 2 arguments (the values to join along the feature axis), found {}", args.len()));
                return None;
            }
            let a = self.lower(args[0]);
            let b = self.lower(args[1]);
            let (a, b) = (a?, b?);
            return Some(self.lower_concat(a, b, span));
        }
        if let Some(prim) = prims::unary(&fname.to_string()) {
            let expected = 1 + usize::from(prim.constant.is_some());
            if args.len() != expected {
                let how = match prim.constant {
                    Some(c) => format!(
                        "2 arguments: a value and the constant `{c}`, e.g. `{fname}(h, 0.1)`"
                    ),
                    None => "1 argument".to_string(),
                };
                self.error(span, format!("`{fname}` takes {how}; found {}", args.len()));
                return None;
            }
            let a = self.lower(args[0])?;
            let constant = match prim.constant {
                None => None,
                Some(cname) => Some(self.constant(args[1], prim.name, cname)?),
            };
            return Some(self.lower_unary(prim, constant, a, span));
        }
        let layers: Vec<String> = self
            .fields
            .iter()
            .map(|f| format!("`{}`", f.name))
            .collect();
        self.error(
            span,
            format!(
                "unknown function `{fname}` in `forward`; call one of the layers ({}) or a primitive: {}",
                layers.join(", "),
                prims::allowed_list()
            ),
        );
        None
    }

    /// The error for token ids given to a layer other than an embedding.
    fn token_misuse(&self, fname: &Ident, a: NodeId, arg: &Expr) -> String {
        format!(
            "`{fname}` takes float values, but `{}` holds token ids; look them up in an `Embedding` first, e.g. `wte({})`",
            value_text(&self.nodes[a], arg),
            value_text(&self.nodes[a], arg)
        )
    }

    /// For a value made by `flatten`, how its width was computed: ` (32·5·5 = 800)`.
    fn flatten_product(&self, id: NodeId) -> String {
        let node = &self.nodes[id];
        let Op::Unary { prim, .. } = &node.op else {
            return String::new();
        };
        if prim.name != "flatten" {
            return String::new();
        }
        let source = &self.nodes[node.inputs[0]].dims;
        let factors: Option<Vec<String>> = source[1..]
            .iter()
            .map(|d| d.lit.map(|n| n.to_string()))
            .collect();
        match (factors, node.dims.get(1).and_then(|d| d.lit)) {
            (Some(f), Some(total)) if f.len() > 1 => format!(" ({} = {total})", f.join("·")),
            _ => String::new(),
        }
    }

    /// A numeric constant argument (`0.1`, `-0.2`, `1`), checked where the macro can.
    fn constant(&mut self, expr: &Expr, prim: &str, cname: &str) -> Option<(TokenStream, String)> {
        let Some(value) = numeric_literal(expr) else {
            self.error(
                syn::spanned::Spanned::span(expr),
                format!("`{cname}` of `{prim}` must be a number literal, e.g. `0.1`"),
            );
            return None;
        };
        if prim == "dropout" && !(0.0..=1.0).contains(&value) {
            self.error(
                syn::spanned::Spanned::span(expr),
                format!("dropout probability must be between 0 and 1, found {value}"),
            );
            return None;
        }
        Some((float_tokens(value), format_number(value)))
    }

    fn lower_layer(&mut self, field: usize, a: NodeId, span: Span, arg: &Expr) -> NodeId {
        let fname = self.fields[field].name.clone();
        let poisoned = self.nodes[a].poisoned;
        let name = self.fresh_name(&format!("{fname}_out"));
        match &self.fields[field].kind {
            FieldKind::Linear { input, output } => {
                let (input, output) = (input.clone(), output.clone());
                let a_dims = self.nodes[a].dims.clone();
                let mut bad = poisoned;
                // `[B, F]`, or `[B, T, F]` (the layer applied to the last axis, as PyTorch).
                let rank_ok = a_dims.len() == 2 || a_dims.len() == 3;
                if !poisoned {
                    if self.nodes[a].tokens.is_some() {
                        self.error(span, self.token_misuse(&fname, a, arg));
                        bad = true;
                    } else if !rank_ok {
                        self.error(
                            span,
                            format!(
                                "`{fname}` takes a batch of feature rows `[B, {}]` (or sequences `[B, T, {}]`), but `{}` has shape {}; flatten it first: `{fname}(flatten({}))`",
                                input.text,
                                input.text,
                                self.nodes[a].name,
                                dims_text(&a_dims),
                                self.nodes[a].name
                            ),
                        );
                        bad = true;
                    } else {
                        let last = a_dims.last().expect("rank 2 or 3").clone();
                        match (last.lit, input.lit) {
                            (Some(have), Some(want)) if have != want => {
                                self.error(
                                    span,
                                    format!(
                                        "`{fname}` expects {want} input features, but `{}` has {have}{}",
                                        value_text(&self.nodes[a], arg),
                                        self.flatten_product(a)
                                    ),
                                );
                                bad = true;
                            }
                            (Some(_), Some(_)) => {}
                            _ => {
                                self.deferred.push(DeferredCheck {
                                    have: last.ty.clone(),
                                    want: input.ty.clone(),
                                    span,
                                });
                                self.input_overrides
                                    .entry(field)
                                    .or_insert_with(|| last.ty.clone());
                            }
                        }
                    }
                }
                let mut dims: Vec<DimInfo> = if rank_ok && !bad {
                    a_dims[..a_dims.len() - 1].to_vec()
                } else {
                    a_dims.first().cloned().into_iter().collect()
                };
                dims.push(output);
                self.push(name, Op::Linear { field }, vec![a], dims, span, bad)
            }
            FieldKind::Invalid => {
                let dims = self.nodes[a].dims.clone();
                self.push(name, Op::Layer { field }, vec![a], dims, span, true)
            }
            FieldKind::Known { layer, args } => {
                if self.opaque_calls.contains_key(&field) {
                    self.error(
                        span,
                        format!("`{fname}` is applied twice, but a layer keeps the saved values of one call only; declare a second field of the same type"),
                    );
                }
                self.opaque_calls.insert(field, span);
                let a_dims = self.nodes[a].dims.clone();
                let field_text = fname.to_string();
                let value = value_text(&self.nodes[a], arg);
                let tokens = self.nodes[a].tokens.clone();
                let call = Call {
                    field: &field_text,
                    value: &value,
                    dims: &a_dims,
                    tokens: tokens.as_ref(),
                };
                let (dims, bad) = match (layer.rule)(args, &call) {
                    Ok(dims) => (dims, poisoned),
                    Err(message) => {
                        if !poisoned {
                            self.error(span, message);
                        }
                        (a_dims.clone(), true)
                    }
                };
                self.push(name, Op::Layer { field }, vec![a], dims, span, bad)
            }
            FieldKind::Opaque => {
                if self.opaque_calls.contains_key(&field) {
                    self.error(
                        span,
                        format!("`{fname}` is applied twice, but a nested network keeps the saved values of one call only; declare a second field of the same type, or share a `Linear` (which can be applied twice)"),
                    );
                }
                self.opaque_calls.insert(field, span);
                let f_ty = self.fields[field].ty.clone();
                // A layer (a nested `network!`, an activation layer) applied to `[B, F]` is
                // called with the value viewed as its declared input, after one spanned
                // feature check.
                let a_dims = &self.nodes[a].dims;
                let retag_input =
                    (a_dims.len() == 2 && self.nodes[a].tokens.is_none()).then(|| {
                        (
                            a_dims[1].ty.clone(),
                            quote!(::nanotorch::codegen::InputFeatures<#f_ty>),
                        )
                    });
                let a_ty = value_type(
                    &a_ty_dims(a_dims, &retag_input),
                    self.nodes[a].tokens.as_ref(),
                );
                let out_ty = quote!(<#f_ty as ::nanotorch::Layer<#a_ty, E>>::Output);
                // `[B, F]` → `[B, F']`; a sequence `[B, T, F]` → `[B, T, F']` (a transformer
                // block keeps the batch and the length; a nested layer that does not gives a
                // type error at its call).
                let mut dims = self.nodes[a].dims.clone();
                let rank = dims.len().max(1);
                dims.truncate(rank - 1);
                let (alias, what) = if rank >= 3 {
                    (quote!(::nanotorch::codegen::LastAxis<#out_ty>), "last")
                } else {
                    (quote!(::nanotorch::codegen::Features<#out_ty>), "out")
                };
                dims.push(DimInfo {
                    ty: alias,
                    lit: None,
                    text: format!("{fname}.{what}"),
                });
                let id = self.push(name, Op::Layer { field }, vec![a], dims, span, poisoned);
                self.nodes[id].retag_input = retag_input;
                id
            }
        }
    }

    fn lower_unary(
        &mut self,
        prim: &'static Unary,
        constant: Option<(TokenStream, String)>,
        a: NodeId,
        span: Span,
    ) -> NodeId {
        let a_dims = self.nodes[a].dims.clone();
        let mut poisoned = self.nodes[a].poisoned;
        if self.nodes[a].tokens.is_some() && !poisoned {
            self.error(
                span,
                format!(
                    "`{}` takes float values, but `{}` holds token ids; look them up in an `Embedding` first",
                    prim.name, self.nodes[a].name
                ),
            );
            poisoned = true;
        }
        let dims = if prim.name == "flatten" {
            if a_dims.len() < 2 {
                poisoned = true;
                a_dims.clone()
            } else {
                let rest = &a_dims[1..];
                let lit = rest.iter().try_fold(1u64, |acc, d| d.lit.map(|n| acc * n));
                // A product of numbers is written as the number; only sizes the macro cannot
                // see are multiplied by the compiler.
                let ty = match lit {
                    Some(n) => const_dim(n),
                    None => {
                        let mut ty = rest[0].ty.clone();
                        for d in &rest[1..] {
                            let t = &d.ty;
                            ty = quote!(::nanotorch::shape::Prod<#ty, #t>);
                        }
                        ty
                    }
                };
                let text = match lit {
                    Some(n) => n.to_string(),
                    None => rest
                        .iter()
                        .map(|d| d.text.clone())
                        .collect::<Vec<_>>()
                        .join("·"),
                };
                vec![a_dims[0].clone(), DimInfo { ty, lit, text }]
            }
        } else {
            a_dims
        };
        let name = self.fresh_name(&format!("{}_{}", prim.name, self.base_of(a)));
        self.push(
            name,
            Op::Unary { prim, constant },
            vec![a],
            dims,
            span,
            poisoned,
        )
    }

    fn lower_concat(&mut self, a: NodeId, b: NodeId, span: Span) -> NodeId {
        let (ad, bd) = (self.nodes[a].dims.clone(), self.nodes[b].dims.clone());
        let mut poisoned = self.nodes[a].poisoned || self.nodes[b].poisoned;
        if !poisoned && (ad.len() != 2 || bd.len() != 2) {
            self.error(
                span,
                format!(
                    "`concat` joins two `[B, features]` values, but got {} and {}",
                    dims_text(&ad),
                    dims_text(&bd)
                ),
            );
            poisoned = true;
        }
        let dims = if ad.len() == 2 && bd.len() == 2 {
            let (ta, tb) = (&ad[1].ty, &bd[1].ty);
            let lit = ad[1].lit.zip(bd[1].lit).map(|(x, y)| x + y);
            vec![
                ad[0].clone(),
                DimInfo {
                    ty: lit
                        .map(const_dim)
                        .unwrap_or_else(|| quote!(::nanotorch::shape::Sum<#ta, #tb>)),
                    lit,
                    text: lit
                        .map(|n| n.to_string())
                        .unwrap_or_else(|| format!("{}+{}", ad[1].text, bd[1].text)),
                },
            ]
        } else {
            ad
        };
        let name = self.fresh_name(&format!("concat_{}_{}", self.base_of(a), self.base_of(b)));
        self.push(name, Op::Concat, vec![a, b], dims, span, poisoned)
    }

    fn lower_binary(&mut self, bin: &syn::ExprBinary) -> Option<NodeId> {
        let span = match bin.op {
            BinOp::Add(t) => t.span,
            BinOp::Sub(t) => t.span,
            BinOp::Mul(t) => t.span,
            BinOp::Div(t) => t.span,
            _ => syn::spanned::Spanned::span(&bin.op),
        };
        // A number on either side of `*` (or on the right of `/`) is a scalar scale.
        let (left_num, right_num) = (numeric_literal(&bin.left), numeric_literal(&bin.right));
        match (&bin.op, left_num, right_num) {
            (BinOp::Mul(_), Some(c), None) | (BinOp::Mul(_), None, Some(c)) => {
                let value_expr = if left_num.is_some() {
                    &bin.right
                } else {
                    &bin.left
                };
                let a = self.lower(value_expr)?;
                return Some(self.scale(a, c, format_number(c), span));
            }
            (BinOp::Div(_), None, Some(c)) => {
                if c == 0.0 {
                    self.error(span, "division by the constant 0");
                    return None;
                }
                let a = self.lower(&bin.left)?;
                return Some(self.scale(a, 1.0 / c, format!("1/{}", format_number(c)), span));
            }
            (BinOp::Add(_) | BinOp::Sub(_) | BinOp::Mul(_), _, _) => {}
            _ => {
                self.error(span, "only `+`, `-`, `*` between values (elementwise) and `*` or `/` by a number are supported in `forward`");
                return None;
            }
        }
        let a = self.lower(&bin.left);
        let b = self.lower(&bin.right);
        let (a, b) = (a?, b?);
        let (op, word, sym) = match bin.op {
            BinOp::Add(_) => (Op::Add, "plus", "+"),
            BinOp::Sub(_) => (Op::Sub, "minus", "-"),
            _ => (Op::Mul, "times", "*"),
        };
        let (ad, bd) = (self.nodes[a].dims.clone(), self.nodes[b].dims.clone());
        let mut poisoned = self.nodes[a].poisoned || self.nodes[b].poisoned;
        let mut retag = None;
        if !poisoned {
            if ad.len() != bd.len() {
                self.error(
                    span,
                    format!(
                        "`{sym}` needs values of the same shape, but `{}` is {} and `{}` is {}",
                        self.nodes[a].name,
                        dims_text(&ad),
                        self.nodes[b].name,
                        dims_text(&bd)
                    ),
                );
                poisoned = true;
            } else {
                for (k, (da, db)) in ad.iter().zip(&bd).enumerate().skip(1) {
                    match (da.lit, db.lit) {
                        (Some(x), Some(y)) if x != y => {
                            self.error(
                                span,
                                format!(
                                    "`{sym}` needs values of the same shape, but `{}` has {x} features and `{}` has {y}{}",
                                    self.nodes[a].name,
                                    self.nodes[b].name,
                                    if ad.len() > 2 { format!(" (axis {k})") } else { String::new() }
                                ),
                            );
                            poisoned = true;
                        }
                        (Some(_), Some(_)) => {}
                        _ if ad.len() == 2 => retag = Some((db.ty.clone(), da.ty.clone())),
                        _ => self.deferred.push(DeferredCheck {
                            have: db.ty.clone(),
                            want: da.ty.clone(),
                            span,
                        }),
                    }
                }
            }
        }
        let name = self.fresh_name(&format!("{}_{word}_{}", self.base_of(a), self.base_of(b)));
        let id = self.push(name, op, vec![a, b], ad, span, poisoned);
        self.nodes[id].retag_rhs = retag;
        Some(id)
    }

    fn scale(&mut self, a: NodeId, c: f64, text: String, span: Span) -> NodeId {
        let dims = self.nodes[a].dims.clone();
        let poisoned = self.nodes[a].poisoned;
        let name = self.fresh_name(&format!("scaled_{}", self.base_of(a)));
        self.push(
            name,
            Op::Scale {
                factor: float_tokens(c),
                text,
            },
            vec![a],
            dims,
            span,
            poisoned,
        )
    }
}

/// The dims a nested layer is called with: the value's, or `[B, declared features]` when the
/// value is viewed with the layer's declared input (see `Node::retag_input`).
fn a_ty_dims(a_dims: &[DimInfo], retag: &Option<(TokenStream, TokenStream)>) -> Vec<DimInfo> {
    match retag {
        Some((_, want)) => vec![
            a_dims[0].clone(),
            DimInfo {
                ty: want.clone(),
                lit: None,
                text: String::new(),
            },
        ],
        None => a_dims.to_vec(),
    }
}

/// How to name a value in a message: its let name, or the expression the user wrote.
fn value_text(_node: &Node, arg: &Expr) -> String {
    match arg {
        // The name as written: a rebound `h` is `h` to the reader, whatever the macro calls it.
        Expr::Path(p) => quote!(#p).to_string(),
        _ => quote!(#arg)
            .to_string()
            .replace(" (", "(")
            .replace("( ", "(")
            .replace(" )", ")"),
    }
}

/// `0.1`, `-0.2`, `3` as a number.
fn numeric_literal(expr: &Expr) -> Option<f64> {
    match expr {
        Expr::Lit(l) => match &l.lit {
            Lit::Float(f) => f.base10_parse::<f64>().ok(),
            Lit::Int(i) => i.base10_parse::<f64>().ok(),
            _ => None,
        },
        Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) => numeric_literal(&u.expr).map(|v| -v),
        Expr::Paren(p) => numeric_literal(&p.expr),
        _ => None,
    }
}

fn float_tokens(v: f64) -> TokenStream {
    let lit = proc_macro2::Literal::f64_unsuffixed(v);
    quote!(#lit)
}

fn format_number(v: f64) -> String {
    format!("{v}")
}

/// The type of a value: `::nanotorch::Tensor<(B, F), E>`, or `::nanotorch::Tokens<T, V>` for
/// token ids.
pub fn value_type(dims: &[DimInfo], tokens: Option<&DimInfo>) -> TokenStream {
    match (tokens, dims) {
        (Some(vocab), [_, len]) => {
            let (t, v) = (&len.ty, &vocab.ty);
            quote!(::nanotorch::Tokens<#t, #v>)
        }
        _ => tensor_type(dims),
    }
}

/// The tensor type of a value: `::nanotorch::Tensor<(B, F), E>`.
pub fn tensor_type(dims: &[DimInfo]) -> TokenStream {
    let tys = dims.iter().map(|d| &d.ty);
    quote!(::nanotorch::Tensor<(#(#tys,)*), E>)
}

/// Lowers and checks the declaration. Returns the graph, or the errors (one per mistake).
pub fn build(net: &Network) -> Result<Graph, Errors> {
    let mut errors = Errors::new();
    let fields: Vec<LayerField> = net
        .fields
        .iter()
        .map(|f| classify_field(f, &mut errors))
        .collect();
    for (k, f) in net.fields.iter().enumerate() {
        if net.fields[..k].iter().any(|g| g.name == f.name) {
            errors.push(syn::Error::new(
                f.name.span(),
                format!("the layer `{}` is declared twice", f.name),
            ));
        }
    }
    let fwd = &net.forward;
    let input_dims = shape_dims(&fwd.input_shape);
    let output_dims = shape_dims(&fwd.output_shape);
    let batch = input_dims[0].clone();

    let mut lowering = Lowering {
        fields: &fields,
        nodes: Vec::new(),
        scope: Vec::new(),
        used_fields: Vec::new(),
        opaque_calls: HashMap::new(),
        errors,
        deferred: Vec::new(),
        names_taken: HashMap::new(),
        input_overrides: HashMap::new(),
    };
    let input_name = lowering.fresh_name(&fwd.input.to_string());
    let input = lowering.push(
        input_name,
        Op::Input,
        vec![],
        input_dims.clone(),
        fwd.input.span(),
        false,
    );
    lowering.nodes[input].tokens = fwd.input_tokens.as_ref().map(feature_dim);
    lowering.scope.push((fwd.input.clone(), input));

    let (stmts, result): (&[crate::ast::Stmt], &Expr) = match &fwd.body {
        Body::Block(stmts, result) => (stmts, result),
        Body::Sequential(expr) => (&[], expr),
    };
    let mut let_nodes: Vec<(Ident, NodeId)> = Vec::new();
    for stmt in stmts {
        let before = lowering.nodes.len();
        let Some(id) = lowering.lower(&stmt.expr) else {
            // Bind the name anyway so later uses do not report a second, follow-on error.
            let placeholder = lowering.push(
                stmt.name.clone(),
                Op::Input,
                vec![],
                vec![batch.clone()],
                stmt.name.span(),
                true,
            );
            lowering.scope.push((stmt.name.clone(), placeholder));
            continue;
        };
        if id >= before {
            // A new value: name it after the user's binding.
            let name = lowering.fresh_name(&stmt.name.to_string());
            lowering.nodes[id].name = name;
        }
        lowering.scope.push((stmt.name.clone(), id));
        let_nodes.push((stmt.name.clone(), id));
    }
    let output = lowering.lower(result);

    let Lowering {
        nodes,
        used_fields,
        mut errors,
        deferred,
        input_overrides,
        ..
    } = lowering;
    let mut fields = fields;
    for (k, have) in input_overrides {
        if let FieldKind::Linear { output, .. } = &fields[k].kind {
            let o = &output.ty;
            fields[k].ty = quote!(::nanotorch::Linear<#have, #o, E>);
        }
    }

    let Some(output) = output else {
        if errors.is_empty() {
            errors.push(syn::Error::new(
                Span::call_site(),
                "`forward` has no result",
            ));
        }
        return Err(errors);
    };

    if output == input && errors.is_empty() {
        errors.push(syn::Error::new(
            fwd.input.span(),
            "`forward` returns its input unchanged: apply at least one layer",
        ));
        return Err(errors);
    }

    // Declared output shape vs the computed one.
    let out = &nodes[output];
    if !out.poisoned {
        let got = &out.dims;
        let same_rank = got.len() == output_dims.len();
        let mismatch = !same_rank
            || got
                .iter()
                .zip(&output_dims)
                .skip(1)
                .any(|(g, d)| matches!((g.lit, d.lit), (Some(x), Some(y)) if x != y));
        let batch_mismatch =
            batch_decl_differs(&fwd.input_shape.dims[0], &fwd.output_shape.dims[0]);
        if mismatch || batch_mismatch {
            errors.push(syn::Error::new(
                fwd.output_shape.span,
                format!(
                    "`forward` declares the output shape {}, but its result `{}` has shape {}",
                    dims_text(&output_dims),
                    out.name,
                    dims_text(got)
                ),
            ));
        }
    }

    // Layers declared but never used, and values computed but never used.
    if errors.is_empty() {
        for (k, f) in fields.iter().enumerate() {
            if !used_fields.contains(&k) {
                errors.push(syn::Error::new(
                    f.name.span(),
                    format!(
                        "the layer `{}` is declared but never used in `forward`",
                        f.name
                    ),
                ));
            }
        }
        let mut used = vec![false; nodes.len()];
        used[output] = true;
        for n in &nodes {
            for &i in &n.inputs {
                used[i] = true;
            }
        }
        for (name, id) in &let_nodes {
            if !used[*id] {
                errors.push(syn::Error::new(
                    name.span(),
                    format!("`{name}` is computed but never used"),
                ));
            }
        }
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    let mut deferred = deferred;
    // The declared output dims that are not literals are checked by the compiler too.
    for (g, d) in nodes[output].dims.iter().zip(&output_dims).skip(1) {
        if g.lit.is_none() || d.lit.is_none() {
            deferred.push(DeferredCheck {
                have: g.ty.clone(),
                want: d.ty.clone(),
                span: fwd.output_shape.span,
            });
        }
    }
    Ok(Graph {
        fields,
        nodes,
        output,
        input_dims,
        output_dims,
        deferred,
    })
}

/// The output batch must be the input's: the same name or the same number.
fn batch_decl_differs(input: &DimDecl, output: &DimDecl) -> bool {
    match (input, output) {
        (DimDecl::Lit(a), DimDecl::Lit(b)) => a != b,
        (DimDecl::Name(a), DimDecl::Name(b)) => a != b,
        _ => true,
    }
}
