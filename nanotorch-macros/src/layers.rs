//! The layer table: the layer types `network!` knows the shape rule of, besides `Linear`.
//!
//! Each entry says how the type is written (its sizes, then `name = value` options with their
//! defaults), which `nanotorch::layers` type it becomes, and how it maps an input shape to an
//! output shape — with the error, in decimal, when it cannot. The layers themselves (forward,
//! backward, what they save) live in `nanotorch`; the generated code calls them through the
//! `Layer` trait, so adding a layer here is one entry and touches nothing else in the macro.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use crate::dims::const_dim;
use crate::dims::{DimInfo, dims_text};

/// One argument of a layer type.
#[derive(Clone, Copy)]
pub enum Arg {
    /// A size that is part of the shape types (channels): a number or a type.
    Dim(&'static str),
    /// A number (kernel size): it picks the computation, so it must be written as a literal.
    Number(&'static str),
}

/// The default of an option.
#[derive(Clone, Copy)]
pub enum Default {
    Value(u64),
    /// The value of a positional argument (`MaxPool2d`'s stride is its kernel, as in PyTorch).
    SameAs(&'static str),
}

/// A layer type `network!` knows.
pub struct KnownLayer {
    pub name: &'static str,
    pub positional: &'static [Arg],
    pub options: &'static [(&'static str, Default)],
    /// The `nanotorch` type, from the arguments in `positional` then `options` order.
    pub ty: fn(&Args) -> TokenStream,
    /// The output dims for an input, or the error message.
    pub rule: fn(&Args, &Call) -> Result<Vec<DimInfo>, String>,
    /// A short description for the generated docs.
    pub describe: fn(&Args) -> String,
    /// Whether the layer has parameters (the generated derivation mentions them).
    pub has_params: bool,
    /// A check of the arguments alone (given the field's name), reported at the type.
    pub check: Option<fn(&Args, &str) -> Result<(), String>>,
}

/// The parsed arguments of a layer type, by name.
pub struct Args {
    pub values: Vec<(&'static str, ArgValue)>,
}

#[derive(Clone)]
pub enum ArgValue {
    Dim(DimInfo),
    Number(u64),
}

impl Args {
    fn dim(&self, name: &str) -> &DimInfo {
        match self.values.iter().find(|(n, _)| *n == name) {
            Some((_, ArgValue::Dim(d))) => d,
            _ => unreachable!("the table names its own dims"),
        }
    }
    fn num(&self, name: &str) -> u64 {
        match self.values.iter().find(|(n, _)| *n == name) {
            Some((_, ArgValue::Number(v))) => *v,
            _ => unreachable!("the table names its own numbers"),
        }
    }
    fn lit(&self, name: &str) -> TokenStream {
        let v = Literal::u64_unsuffixed(self.num(name));
        quote!(#v)
    }
}

/// The call being checked: the field's name, how the user wrote the argument, its dims.
pub struct Call<'a> {
    pub field: &'a str,
    pub value: &'a str,
    pub dims: &'a [DimInfo],
    /// The vocabulary when the value is token ids (`[B, T] tokens<V>`).
    pub tokens: Option<&'a DimInfo>,
}

pub const TABLE: &[KnownLayer] = &[
    KnownLayer {
        name: "Conv2d",
        positional: &[
            Arg::Dim("in_channels"),
            Arg::Dim("out_channels"),
            Arg::Number("kernel_size"),
        ],
        options: &[
            ("stride", Default::Value(1)),
            ("padding", Default::Value(0)),
            ("dilation", Default::Value(1)),
        ],
        ty: |a| {
            let (i, o) = (&a.dim("in_channels").ty, &a.dim("out_channels").ty);
            let (k, s, p, d) = (
                a.lit("kernel_size"),
                a.lit("stride"),
                a.lit("padding"),
                a.lit("dilation"),
            );
            quote!(::nanotorch::layers::Conv2d<#i, #o, #k, #s, #p, #d, E>)
        },
        rule: |a, call| {
            let [b, c, h, w] = image(call)?;
            channels(call, c, a.dim("in_channels"), "input channels")?;
            let win = Window {
                kernel: a.num("kernel_size"),
                stride: a.num("stride"),
                padding: a.num("padding"),
                dilation: a.num("dilation"),
            };
            let oh = win.out(call, h, "height", false)?;
            let ow = win.out(call, w, "width", false)?;
            Ok(vec![b.clone(), a.dim("out_channels").clone(), oh, ow])
        },
        describe: |a| {
            let mut s = format!(
                "{} → {} channels, {k}×{k} kernel",
                a.dim("in_channels").text,
                a.dim("out_channels").text,
                k = a.num("kernel_size")
            );
            options_text(a, &mut s, &[("stride", 1), ("padding", 0), ("dilation", 1)]);
            s
        },
        has_params: true,
        check: None,
    },
    KnownLayer {
        name: "MaxPool2d",
        positional: &[Arg::Number("kernel_size")],
        options: &[
            ("stride", Default::SameAs("kernel_size")),
            ("padding", Default::Value(0)),
        ],
        ty: |a| {
            let (k, s, p) = (a.lit("kernel_size"), a.lit("stride"), a.lit("padding"));
            quote!(::nanotorch::layers::MaxPool2d<#k, #s, #p>)
        },
        rule: pool_rule,
        describe: |a| pool_text("max", a),
        has_params: false,
        check: None,
    },
    KnownLayer {
        name: "AvgPool2d",
        positional: &[Arg::Number("kernel_size")],
        options: &[
            ("stride", Default::SameAs("kernel_size")),
            ("padding", Default::Value(0)),
        ],
        ty: |a| {
            let (k, s, p) = (a.lit("kernel_size"), a.lit("stride"), a.lit("padding"));
            quote!(::nanotorch::layers::AvgPool2d<#k, #s, #p>)
        },
        rule: pool_rule,
        describe: |a| pool_text("average", a),
        has_params: false,
        check: None,
    },
    KnownLayer {
        name: "GlobalAvgPool2d",
        positional: &[],
        options: &[],
        ty: |_| quote!(::nanotorch::layers::GlobalAvgPool2d),
        rule: |_, call| {
            let [b, c, _, _] = image(call)?;
            Ok(vec![b.clone(), c.clone()])
        },
        describe: |_| "the mean of each channel's map".into(),
        has_params: false,
        check: None,
    },
    KnownLayer {
        name: "BatchNorm2d",
        positional: &[Arg::Dim("num_features")],
        options: &[],
        ty: |a| {
            let c = &a.dim("num_features").ty;
            quote!(::nanotorch::layers::BatchNorm2d<#c, E>)
        },
        rule: |a, call| {
            let [_, c, _, _] = image(call)?;
            channels(call, c, a.dim("num_features"), "channels")?;
            Ok(call.dims.to_vec())
        },
        describe: |a| {
            format!(
                "batch normalisation of {} channels",
                a.dim("num_features").text
            )
        },
        has_params: true,
        check: None,
    },
    KnownLayer {
        name: "BatchNorm1d",
        positional: &[Arg::Dim("num_features")],
        options: &[],
        ty: |a| {
            let c = &a.dim("num_features").ty;
            quote!(::nanotorch::layers::BatchNorm1d<#c, E>)
        },
        rule: |a, call| {
            floats(call)?;
            if call.dims.len() != 2 {
                return Err(format!(
                    "`{}` normalises a batch of feature rows `[B, {}]`, but `{}` has shape {}; use `BatchNorm2d` on `[B, C, H, W]` maps",
                    call.field,
                    a.dim("num_features").text,
                    call.value,
                    dims_text(call.dims)
                ));
            }
            channels(call, &call.dims[1], a.dim("num_features"), "features")?;
            Ok(call.dims.to_vec())
        },
        describe: |a| {
            format!(
                "batch normalisation of {} features",
                a.dim("num_features").text
            )
        },
        has_params: true,
        check: None,
    },
    KnownLayer {
        name: "Embedding",
        positional: &[Arg::Dim("num_embeddings"), Arg::Dim("embedding_dim")],
        options: &[],
        ty: |a| {
            let (v, c) = (&a.dim("num_embeddings").ty, &a.dim("embedding_dim").ty);
            quote!(::nanotorch::layers::Embedding<#v, #c, E>)
        },
        rule: |a, call| {
            let Some(vocab) = call.tokens else {
                return Err(format!(
                    "`{}` looks up token ids, but `{}` is a float value of shape {}; declare the input as `[B, T] tokens<{}>`",
                    call.field,
                    call.value,
                    dims_text(call.dims),
                    a.dim("num_embeddings").text
                ));
            };
            let want = a.dim("num_embeddings");
            if let (Some(have), Some(w)) = (vocab.lit, want.lit)
                && have != w
            {
                return Err(format!(
                    "`{}` embeds a vocabulary of {w} tokens, but `{}` holds ids below {have}",
                    call.field, call.value
                ));
            }
            Ok(vec![
                call.dims[0].clone(),
                call.dims[1].clone(),
                a.dim("embedding_dim").clone(),
            ])
        },
        describe: |a| {
            format!(
                "a table of {} token vectors of {} features",
                a.dim("num_embeddings").text,
                a.dim("embedding_dim").text
            )
        },
        has_params: true,
        check: None,
    },
    KnownLayer {
        name: "PositionEmbedding",
        positional: &[Arg::Dim("max_len"), Arg::Dim("embedding_dim")],
        options: &[],
        ty: |a| {
            let (t, c) = (&a.dim("max_len").ty, &a.dim("embedding_dim").ty);
            quote!(::nanotorch::layers::PositionEmbedding<#t, #c, E>)
        },
        rule: |a, call| {
            let [_, t, c] = sequence(call, &a.dim("embedding_dim").text)?;
            let want_t = a.dim("max_len");
            if let (Some(have), Some(w)) = (t.lit, want_t.lit)
                && have != w
            {
                return Err(format!(
                    "`{}` has positions for sequences of {w}, but `{}` has {have} positions (shape {})",
                    call.field,
                    call.value,
                    dims_text(call.dims)
                ));
            }
            channels(call, c, a.dim("embedding_dim"), "features")?;
            Ok(call.dims.to_vec())
        },
        describe: |a| {
            format!(
                "learned positions 0..{}, {} features each",
                a.dim("max_len").text,
                a.dim("embedding_dim").text
            )
        },
        has_params: true,
        check: None,
    },
    KnownLayer {
        name: "LayerNorm",
        positional: &[Arg::Dim("normalized_shape")],
        options: &[],
        ty: |a| {
            let c = &a.dim("normalized_shape").ty;
            quote!(::nanotorch::layers::LayerNorm<#c, E>)
        },
        rule: |a, call| {
            floats(call)?;
            let want = a.dim("normalized_shape");
            if !(2..=3).contains(&call.dims.len()) {
                return Err(format!(
                    "`{}` normalises the last axis of `[B, {}]` or `[B, T, {}]` values, but `{}` has shape {}",
                    call.field,
                    want.text,
                    want.text,
                    call.value,
                    dims_text(call.dims)
                ));
            }
            let last = call.dims.last().expect("rank 2 or 3");
            channels(call, last, want, "features")?;
            Ok(call.dims.to_vec())
        },
        describe: |a| {
            format!(
                "layer normalisation over {} features",
                a.dim("normalized_shape").text
            )
        },
        has_params: true,
        check: None,
    },
    KnownLayer {
        name: "CausalSelfAttention",
        positional: &[Arg::Dim("embed_dim"), Arg::Number("num_heads")],
        options: &[],
        ty: |a| {
            let (c, h) = (&a.dim("embed_dim").ty, a.lit("num_heads"));
            quote!(::nanotorch::layers::CausalSelfAttention<#c, #h, E>)
        },
        rule: |a, call| {
            let width = a.dim("embed_dim");
            let [_, _, c] = sequence(call, &width.text)?;
            channels(call, c, width, "features")?;
            Ok(call.dims.to_vec())
        },
        describe: |a| {
            let heads = a.num("num_heads");
            match a.dim("embed_dim").lit {
                Some(w) => format!(
                    "causal self-attention over {w} features, {heads} heads of {}",
                    w / heads.max(1)
                ),
                None => format!(
                    "causal self-attention over {} features, {heads} heads",
                    a.dim("embed_dim").text
                ),
            }
        },
        has_params: true,
        check: Some(|a, field| {
            let heads = a.num("num_heads");
            if heads == 0 {
                return Err(format!("`{field}` needs at least 1 head"));
            }
            match a.dim("embed_dim").lit {
                Some(w) if w % heads != 0 => Err(format!(
                    "`{field}` splits {w} features into {heads} heads, but {w} is not divisible by {heads} ({w} = {heads}·{} + {})",
                    w / heads,
                    w % heads
                )),
                _ => Ok(()),
            }
        }),
    },
];

pub fn lookup(name: &str) -> Option<&'static KnownLayer> {
    TABLE.iter().find(|l| l.name == name)
}

/// The error for token ids given to a layer that takes floats.
fn floats(call: &Call) -> Result<(), String> {
    match call.tokens {
        Some(_) => Err(format!(
            "`{}` takes float values, but `{}` holds token ids; look them up in an `Embedding` first, e.g. `wte({})`",
            call.field, call.value, call.value
        )),
        None => Ok(()),
    }
}

/// The dims of a `[B, T, C]` value, or the error for any other rank.
fn sequence<'a>(call: &Call<'a>, what: &str) -> Result<[&'a DimInfo; 3], String> {
    floats(call)?;
    match call.dims {
        [b, t, c] => Ok([b, t, c]),
        _ => Err(format!(
            "`{}` takes sequences `[B, T, {what}]`, but `{}` has shape {}",
            call.field,
            call.value,
            dims_text(call.dims)
        )),
    }
}

/// The dims of a `[B, C, H, W]` value, or the error for any other rank.
fn image<'a>(call: &Call<'a>) -> Result<[&'a DimInfo; 4], String> {
    floats(call)?;
    match call.dims {
        [b, c, h, w] => Ok([b, c, h, w]),
        _ => Err(format!(
            "`{}` takes images `[B, C, H, W]`, but `{}` has shape {}",
            call.field,
            call.value,
            dims_text(call.dims)
        )),
    }
}

/// Compares the value's channel dim with the layer's, when both are numbers.
fn channels(call: &Call, have: &DimInfo, want: &DimInfo, what: &str) -> Result<(), String> {
    match (have.lit, want.lit) {
        (Some(h), Some(w)) if h != w => Err(format!(
            "`{}` expects {w} {what}, but `{}` has {h} (shape {})",
            call.field,
            call.value,
            dims_text(call.dims)
        )),
        _ => Ok(()),
    }
}

/// A square window along one axis.
struct Window {
    kernel: u64,
    stride: u64,
    padding: u64,
    dilation: u64,
}

impl Window {
    /// The output size along an axis of size `input`: a number when `input` is one (with the
    /// errors a learner can make), else the size computed in types.
    fn out(
        &self,
        call: &Call,
        input: &DimInfo,
        axis: &str,
        must_divide: bool,
    ) -> Result<DimInfo, String> {
        let (k, s, p, d) = (self.kernel, self.stride, self.padding, self.dilation);
        if k == 0 || s == 0 || d == 0 {
            return Err(format!(
                "`{}`: the kernel size, stride and dilation must be at least 1",
                call.field
            ));
        }
        let span = d * (k - 1) + 1;
        let Some(n) = input.lit else {
            let (kt, st, pt) = (const_dim(span), const_dim(s), const_dim(p));
            let it = &input.ty;
            return Ok(DimInfo {
                ty: quote!(::nanotorch::shape::ConvOut<#it, #kt, #st, #pt>),
                lit: None,
                text: format!("{}.out", call.field),
            });
        };
        let padded = n + 2 * p;
        let kernel_text = if d == 1 {
            format!("{k}")
        } else {
            format!("{k} (spanning {span} with dilation {d})")
        };
        if padded < span {
            return Err(format!(
                "`{}`'s kernel of {kernel_text} does not fit the {axis} of `{}`: {n} + 2·{p} padding = {padded} < {span} (shape {})",
                call.field,
                call.value,
                dims_text(call.dims)
            ));
        }
        if must_divide && (padded - span) % s != 0 {
            let dropped = (padded - span) % s;
            let what = match (axis, dropped) {
                ("height", 1) => "row".to_string(),
                ("height", n) => format!("{n} rows"),
                (_, 1) => "column".to_string(),
                (_, n) => format!("{n} columns"),
            };
            return Err(format!(
                "`{}`'s {k}-wide windows with stride {s} do not tile the {axis} of `{}`: ({n} + 2·{p} − {k}) = {} is not a multiple of {s}, so the last {what} would be dropped (shape {})",
                call.field,
                call.value,
                padded - span,
                dims_text(call.dims)
            ));
        }
        let out = (padded - span) / s + 1;
        Ok(DimInfo {
            ty: const_dim(out),
            lit: Some(out),
            text: out.to_string(),
        })
    }
}

fn pool_rule(a: &Args, call: &Call) -> Result<Vec<DimInfo>, String> {
    let [b, c, h, w] = image(call)?;
    let win = Window {
        kernel: a.num("kernel_size"),
        stride: a.num("stride"),
        padding: a.num("padding"),
        dilation: 1,
    };
    if 2 * win.padding > win.kernel {
        return Err(format!(
            "`{}`: padding {} is more than half the kernel size {}, so some windows would see only padding",
            call.field, win.padding, win.kernel
        ));
    }
    match (
        win.out(call, h, "height", true),
        win.out(call, w, "width", true),
    ) {
        (Ok(oh), Ok(ow)) => Ok(vec![b.clone(), c.clone(), oh, ow]),
        // One error for the layer, naming both axes when both are wrong.
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
        (Err(e), Err(_)) => Err(format!("{e}; the same holds for its width")),
    }
}

fn pool_text(kind: &str, a: &Args) -> String {
    let k = a.num("kernel_size");
    let mut s = format!("{kind} over {k}×{k} windows");
    options_text(a, &mut s, &[("stride", k), ("padding", 0)]);
    s
}

/// Appends the options that differ from their defaults: `, stride 2, padding 1`.
fn options_text(a: &Args, s: &mut String, defaults: &[(&str, u64)]) {
    for (name, default) in defaults {
        let v = a.num(name);
        if v != *default {
            s.push_str(&format!(", {name} {v}"));
        }
    }
}
