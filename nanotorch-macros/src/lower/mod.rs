//! Lowering and checking: the forward body becomes an SSA graph of primitive and layer calls,
//! and every shape that is written as a literal is checked here, with an error at the user's
//! line that names both numbers.
//!
//! - `mod.rs` (this file): the lowering state and [`build`], from the declaration to the graph;
//! - `expr.rs`: expressions — names, primitives, `+ - *`, numbers, `concat`;
//! - `call.rs`: calls of layer fields — `Linear`, table layers, nested networks, stacks, and
//!   networks with several inputs or outputs;
//! - `finish.rs`: the checks of the whole body — declared outputs, unused layers and values.

mod call;
mod expr;
mod finish;

use std::collections::HashMap;

use proc_macro2::{Span, TokenStream};
use quote::format_ident;
use syn::{Expr, Ident};

use crate::ast::{Body, Network, Stmt};
use crate::dims::{DimInfo, batch_dim, feature_dim, shape_dims};
use crate::fields::{LayerField, classify_all};
use crate::graph::{DeferredCheck, Graph, Node, NodeId, Op};

/// Collected errors; the expansion reports all of them (each mistake once).
pub type Errors = Vec<syn::Error>;

/// The state of lowering one `forward`.
struct Lowering<'a> {
    fields: &'a [LayerField],
    nodes: Vec<Node>,
    /// The names in scope, latest last (a `let` may rebind a name).
    scope: Vec<(Ident, NodeId)>,
    used_fields: Vec<usize>,
    /// Layer fields that keep the saved values of one call, with the span of that call.
    single_calls: HashMap<usize, Span>,
    errors: Errors,
    deferred: Vec<DeferredCheck>,
    names_taken: HashMap<String, usize>,
    /// A `Linear` whose input size the macro cannot compare (an alias or generic) is typed
    /// with the size of the value it receives; the one spanned check then compares that size
    /// with the declared one, so a mismatch gives exactly one error.
    input_overrides: HashMap<usize, TokenStream>,
}

impl Lowering<'_> {
    /// A generated name not used before: `h`, then `h_2`, `h_3`, ….
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

    /// The name a derived value is named after: `fc1` for `fc1_out`.
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

    /// The names in scope, for messages: `` `x`, `h` ``.
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

    /// A value that stands for one that could not be computed (its error was reported), so
    /// later uses of its name report nothing more.
    fn placeholder(&mut self, name: &Ident, batch: &DimInfo) -> NodeId {
        self.push(
            name.clone(),
            Op::Input,
            vec![],
            vec![batch.clone()],
            name.span(),
            true,
        )
    }

    /// `let name = expr;` or `let (a, b) = call;`: binds the names, naming new values after them.
    fn bind(&mut self, stmt: &Stmt, batch: &DimInfo, let_nodes: &mut Vec<(Ident, NodeId)>) {
        let before = self.nodes.len();
        let ids = if stmt.tuple {
            self.lower_parts(&stmt.expr, stmt.names.len())
        } else {
            self.lower(&stmt.expr).map(|id| vec![id])
        };
        let Some(ids) = ids else {
            for name in &stmt.names {
                let placeholder = self.placeholder(name, batch);
                self.scope.push((name.clone(), placeholder));
            }
            return;
        };
        for (name, id) in stmt.names.iter().zip(ids) {
            if id >= before {
                // A new value: name it after the user's binding.
                let fresh = self.fresh_name(&name.to_string());
                self.nodes[id].name = fresh;
            }
            self.scope.push((name.clone(), id));
            let_nodes.push((name.clone(), id));
        }
    }
}

/// Lowers and checks the declaration. Returns the graph, or the errors (one per mistake).
pub fn build(net: &Network) -> Result<Graph, Errors> {
    let mut errors = Errors::new();
    let fields = classify_all(&net.fields, &mut errors);
    let fwd = &net.forward;
    let input_dims: Vec<Vec<DimInfo>> = fwd.inputs.iter().map(|i| shape_dims(&i.shape)).collect();
    let output_dims: Vec<Vec<DimInfo>> = fwd.outputs.iter().map(shape_dims).collect();
    let batch = batch_dim(&fwd.inputs[0].shape.dims[0]);

    let mut lowering = Lowering {
        fields: &fields,
        nodes: Vec::new(),
        scope: Vec::new(),
        used_fields: Vec::new(),
        single_calls: HashMap::new(),
        errors,
        deferred: Vec::new(),
        names_taken: HashMap::new(),
        input_overrides: HashMap::new(),
    };
    let mut inputs = Vec::new();
    for (input, dims) in fwd.inputs.iter().zip(&input_dims) {
        let name = lowering.fresh_name(&input.name.to_string());
        let id = lowering.push(
            name,
            Op::Input,
            vec![],
            dims.clone(),
            input.name.span(),
            false,
        );
        lowering.nodes[id].tokens = input.tokens.as_ref().map(feature_dim);
        lowering.scope.push((input.name.clone(), id));
        inputs.push(id);
    }
    let (stmts, result): (&[Stmt], &Expr) = match &fwd.body {
        Body::Block(stmts, result) => (stmts, result),
        Body::Sequential(expr) => (&[], expr),
    };
    let mut let_nodes: Vec<(Ident, NodeId)> = Vec::new();
    for stmt in stmts {
        lowering.bind(stmt, &batch, &mut let_nodes);
    }
    let outputs = lowering.lower_result(result, fwd);
    let lowered = finish::Lowered {
        nodes: lowering.nodes,
        used_fields: lowering.used_fields,
        errors: lowering.errors,
        deferred: lowering.deferred,
        input_overrides: lowering.input_overrides,
        inputs,
        outputs,
        let_nodes,
    };
    finish::finish(lowered, fields, net, input_dims, output_dims)
}
