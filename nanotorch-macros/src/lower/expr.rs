//! Lowering expressions: names, primitive calls, `+ - *`, scaling by numbers, `concat`, and
//! the value `forward` returns.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{BinOp, Expr, Ident, Lit, UnOp};

use super::Lowering;
use crate::ast::Forward;
use crate::dims::{DimInfo, const_dim, dims_text};
use crate::graph::{DeferredCheck, Node, NodeId, Op};
use crate::prims::{self, Unary};

impl Lowering<'_> {
    pub(super) fn lower(&mut self, expr: &Expr) -> Option<NodeId> {
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
        let fname = self.callee(call)?;
        let span = fname.span();
        let args: Vec<&Expr> = call.args.iter().collect();
        if let Some(field) = self.fields.iter().position(|f| f.name == fname) {
            return self
                .lower_field_call(field, &fname, &args, 1, span)?
                .first()
                .copied();
        }
        if fname == "scan" {
            self.error(
                span,
                "`scan` gives the sequence of states and the last state(s): unpack them, `let (hs, h) = scan(cell, x, h0);`",
            );
            return None;
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
            return self.lower_prim_call(prim, &fname, &args, span);
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

    /// The name of the called layer or primitive.
    fn callee(&mut self, call: &syn::ExprCall) -> Option<Ident> {
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
        Some(fname.clone())
    }

    /// `relu(h)`, `leaky_relu(h, 0.1)`: the argument count, then the value and constant.
    fn lower_prim_call(
        &mut self,
        prim: &'static Unary,
        fname: &Ident,
        args: &[&Expr],
        span: Span,
    ) -> Option<NodeId> {
        let expected = 1 + usize::from(prim.constant.is_some());
        if args.len() != expected {
            let how = match prim.constant {
                Some(c) => {
                    format!("2 arguments: a value and the constant `{c}`, e.g. `{fname}(h, 0.1)`")
                }
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
        Some(self.lower_unary(prim, constant, a, span))
    }

    /// `let (a, b) = cell(x, h);`: a call of a network field with `count` outputs; or
    /// `let (hs, h) = scan(cell, x, h0);`.
    pub(super) fn lower_parts(&mut self, expr: &Expr, count: usize) -> Option<Vec<NodeId>> {
        let call = match expr {
            Expr::Call(call) => Some(call),
            _ => None,
        };
        if let Some(call) = call
            && matches!(&*call.func, Expr::Path(p) if p.path.is_ident("scan"))
        {
            return self.lower_scan(call, count);
        }
        let field = call.and_then(|c| match &*c.func {
            Expr::Path(p) => p
                .path
                .get_ident()
                .and_then(|f| self.fields.iter().position(|g| g.name == *f)),
            _ => None,
        });
        let (Some(call), Some(field)) = (call, field) else {
            self.error(
                syn::spanned::Spanned::span(expr),
                format!("only a call of a network field gives {count} values to unpack, e.g. `let (h, c) = cell(x, state);`"),
            );
            return None;
        };
        let fname = self.fields[field].name.clone();
        let span = match &*call.func {
            Expr::Path(p) => syn::spanned::Spanned::span(p),
            _ => Span::call_site(),
        };
        let args: Vec<&Expr> = call.args.iter().collect();
        self.lower_field_call(field, &fname, &args, count, span)
    }

    /// The returned value, or the tuple of returned values, checked against the declaration.
    pub(super) fn lower_result(&mut self, result: &Expr, fwd: &Forward) -> Option<Vec<NodeId>> {
        let declared = fwd.outputs.len();
        let items: Vec<&Expr> = match result {
            Expr::Tuple(t) => t.elems.iter().collect(),
            other => vec![other],
        };
        let is_tuple = matches!(result, Expr::Tuple(_));
        if items.len() != declared || is_tuple != fwd.tuple_output {
            let what = |n: usize, tuple: bool| match (n, tuple) {
                (1, false) => "1 value".to_string(),
                (n, _) => format!("a tuple of {n} values"),
            };
            self.error(
                syn::spanned::Spanned::span(result),
                format!(
                    "`forward` declares {} as its output, but returns {}",
                    what(declared, fwd.tuple_output),
                    what(items.len(), is_tuple)
                ),
            );
            for item in items {
                self.lower(item);
            }
            return None;
        }
        let ids: Vec<Option<NodeId>> = items.iter().map(|e| self.lower(e)).collect();
        ids.into_iter().collect()
    }

    /// The error for token ids given to a layer other than an embedding.
    pub(super) fn token_misuse(&self, fname: &Ident, a: NodeId, arg: &Expr) -> String {
        format!(
            "`{fname}` takes float values, but `{}` holds token ids; look them up in an `Embedding` first, e.g. `wte({})`",
            value_text(&self.nodes[a], arg),
            value_text(&self.nodes[a], arg)
        )
    }

    /// For a value made by `flatten`, how its width was computed: ` (32·5·5 = 800)`.
    pub(super) fn flatten_product(&self, id: NodeId) -> String {
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
        let ad = self.nodes[a].dims.clone();
        let (poisoned, retag) = self.check_same_shape(a, b, sym, span);
        let name = self.fresh_name(&format!("{}_{word}_{}", self.base_of(a), self.base_of(b)));
        let id = self.push(name, op, vec![a, b], ad, span, poisoned);
        self.nodes[id].retag_rhs = retag;
        Some(id)
    }

    /// The operands of `+`, `-`, `*` must have one shape: reports a difference once, naming both
    /// shapes; returns whether the result is poisoned, and the view of `b` with `a`'s type when
    /// only the compiler can compare their sizes (see `Node::retag_rhs`).
    fn check_same_shape(
        &mut self,
        a: NodeId,
        b: NodeId,
        sym: &str,
        span: Span,
    ) -> (bool, Option<(TokenStream, TokenStream)>) {
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
                let differs = ad
                    .iter()
                    .zip(&bd)
                    .skip(1)
                    .any(|(da, db)| matches!((da.lit, db.lit), (Some(x), Some(y)) if x != y));
                if differs {
                    let what = if ad.len() > 2 {
                        format!(
                            "`{}` is {} and `{}` is {}",
                            self.nodes[a].name,
                            dims_text(&ad),
                            self.nodes[b].name,
                            dims_text(&bd)
                        )
                    } else {
                        format!(
                            "`{}` has {} features and `{}` has {}",
                            self.nodes[a].name, ad[1].text, self.nodes[b].name, bd[1].text
                        )
                    };
                    self.error(
                        span,
                        format!("`{sym}` needs values of the same shape, but {what}"),
                    );
                    poisoned = true;
                } else {
                    for (da, db) in ad.iter().zip(&bd).skip(1) {
                        if da.lit.is_some() && db.lit.is_some() {
                            continue;
                        }
                        if ad.len() == 2 {
                            retag = Some((db.ty.clone(), da.ty.clone()));
                        } else {
                            self.deferred.push(DeferredCheck {
                                have: db.ty.clone(),
                                want: da.ty.clone(),
                                span,
                            });
                        }
                    }
                }
            }
        }
        (poisoned, retag)
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

/// How to name a value in a message: its let name, or the expression the user wrote.
pub(super) fn value_text(_node: &Node, arg: &Expr) -> String {
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
