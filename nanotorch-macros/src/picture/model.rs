//! What the picture shows: one box per forward value, per gradient, per layer's parameters
//! and per layer's parameter gradients, and the edges between them. Each kind of node says
//! here how its box reads (`forward_text`, `backward_text`): adding a kind of node adds one
//! arm to each of those two `match`es.

use crate::autodiff::Backward;
use crate::dims::dims_text;
use crate::fields::FieldKind;
use crate::graph::{NodeId, Op};
use crate::nodes;
use crate::plan::{Home, Plan};

/// The four columns, left to right.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Side {
    /// The layers' parameters.
    Params,
    /// The forward values, top to bottom.
    Forward,
    /// The gradients, bottom to top, each beside its value.
    Backward,
    /// The parameters' gradients.
    ParamGrads,
}

/// How a box is drawn.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Look {
    /// A forward value backward does not read.
    Value,
    /// A forward value backward reads (kept in `…Saved`).
    Saved,
    /// A gradient.
    Gradient,
    /// A gradient computed only by `backward_with_input`.
    InputOnly,
    /// A layer's parameters.
    Param,
    /// A layer's parameter gradients.
    ParamGrad,
}

/// One box: two lines of text in a column and a row.
pub struct Item {
    /// Its column.
    pub side: Side,
    /// Its row (the forward value's depth).
    pub row: usize,
    /// The name and shape, then what computes it.
    pub lines: [String; 2],
    /// How it is drawn.
    pub look: Look,
    /// How many contributions are summed into it (a `Σ` is drawn from 2 on).
    pub sum: usize,
    /// A back edge with this label (a stack's `×N`, a scan's `t`): a loop drawn once.
    pub back_edge: Option<String>,
    /// The node it stands for, for the order within a row.
    pub node: Option<NodeId>,
}

/// What an edge means.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Link {
    /// A value into the node that reads it (forward).
    Flow,
    /// A contribution to a gradient (backward).
    Grad,
    /// A saved value into the backward step that reads it.
    Saved,
    /// Parameters into their layer, or a backward step into the parameters' gradients.
    Param,
}

/// An edge between two items (indices into [`Scene::items`]).
pub struct Edge {
    /// The item the edge leaves.
    pub from: usize,
    /// The item the edge points at.
    pub to: usize,
    /// What it means (its colour and style).
    pub link: Link,
}

/// Everything to draw.
pub struct Scene {
    /// The boxes.
    pub items: Vec<Item>,
    /// The edges between them.
    pub edges: Vec<Edge>,
    /// The number of rows (the forward graph's depth + 1).
    pub rows: usize,
}

/// The scene of a checked network.
pub fn scene(plan: &Plan, backward: &Backward) -> Scene {
    let g = plan.graph;
    let rows_of = rows(plan);
    let mut scene = Scene {
        items: Vec::new(),
        edges: Vec::new(),
        rows: rows_of.iter().max().map_or(1, |r| r + 1),
    };
    let fwd: Vec<usize> = (0..g.nodes.len())
        .map(|id| scene.push(forward_item(plan, id, rows_of[id])))
        .collect();
    let bwd: Vec<Option<usize>> = (0..g.nodes.len())
        .map(|id| backward_item(plan, backward, id, rows_of[id]).map(|it| scene.push(it)))
        .collect();
    for (id, node) in g.nodes.iter().enumerate() {
        for &a in &node.inputs {
            scene.link(fwd[a], fwd[id], Link::Flow);
        }
        for &source in &backward.sources[id] {
            if let (Some(from), Some(to)) = (bwd[source], bwd[id]) {
                scene.link(from, to, Link::Grad);
            }
        }
        // A call's outputs' gradients flow into its backward.
        if let Op::Part { .. } = node.op
            && let (Some(from), Some(to)) = (bwd[id], bwd[node.inputs[0]])
        {
            scene.link(from, to, Link::Grad);
        }
        let (inputs, output) = nodes::reads(&node.op);
        let Some(reader) = bwd[id] else { continue };
        for &k in inputs {
            scene.link(fwd[node.inputs[k]], reader, Link::Saved);
        }
        if output {
            scene.link(fwd[id], reader, Link::Saved);
        }
    }
    parameters(plan, &mut scene, &rows_of, &fwd, &bwd);
    scene
}

impl Scene {
    fn push(&mut self, item: Item) -> usize {
        self.items.push(item);
        self.items.len() - 1
    }

    fn link(&mut self, from: usize, to: usize, link: Link) {
        self.edges.push(Edge { from, to, link });
    }
}

/// Each node's row: inputs in row 0, every other node one below its deepest input.
fn rows(plan: &Plan) -> Vec<usize> {
    let mut rows: Vec<usize> = Vec::with_capacity(plan.graph.nodes.len());
    for node in &plan.graph.nodes {
        let deepest = node.inputs.iter().map(|&a| rows[a] + 1).max();
        rows.push(deepest.unwrap_or(0));
    }
    rows
}

/// At most this many characters on a line of a box.
const MAX_CHARS: usize = 30;

/// `text`, shortened to [`MAX_CHARS`] with an ellipsis.
fn clip(text: String) -> String {
    if text.chars().count() <= MAX_CHARS {
        return text;
    }
    let mut short: String = text.chars().take(MAX_CHARS - 1).collect();
    short.push('…');
    short
}

fn forward_item(plan: &Plan, id: NodeId, row: usize) -> Item {
    let node = plan.node(id);
    let first = if node.has_value() {
        format!("{} {}", node.name, dims_text(&node.dims))
    } else {
        node.name.to_string()
    };
    let saved = plan.home[id] == Home::Saved
        || matches!(&node.op, Op::Unary { prim, .. } if prim.name == "dropout");
    Item {
        side: Side::Forward,
        row,
        lines: [clip(first), clip(forward_text(plan, id))],
        look: if saved { Look::Saved } else { Look::Value },
        sum: 0,
        back_edge: back_edge(plan, id, false),
        node: Some(id),
    }
}

/// The names of a node's inputs, joined by `sep`.
fn args(plan: &Plan, id: NodeId, sep: &str) -> String {
    let node = plan.node(id);
    let names: Vec<String> = node
        .inputs
        .iter()
        .map(|&a| plan.node(a).name.to_string())
        .collect();
    names.join(sep)
}

/// The second line of a forward box: what computes the value.
fn forward_text(plan: &Plan, id: NodeId) -> String {
    let node = plan.node(id);
    let field = |f: usize| plan.graph.fields[f].name.to_string();
    let a = args(plan, id, ", ");
    match &node.op {
        Op::Input if node.tokens.is_some() => "input (token ids)".into(),
        Op::Input => "input".into(),
        Op::Linear { field: f } | Op::Layer { field: f } | Op::Call { field: f } => {
            format!("{}({a})", field(*f))
        }
        Op::Stack { field: f } => format!("{}({a})", field(*f)),
        Op::Scan { field: f } => format!("scan({}, {a})", field(*f)),
        Op::Zeros => "zeros (initial state)".into(),
        Op::Part { index } => format!("output {index} of {a}"),
        Op::Unary { prim, constant } => match constant {
            Some((_, c)) => format!("{}({a}, {c})", prim.name),
            None => format!("{}({a})", prim.name),
        },
        Op::Add => args(plan, id, " + "),
        Op::Sub => args(plan, id, " − "),
        Op::Mul => args(plan, id, " ⊙ "),
        Op::Scale { text, .. } => format!("{text}·{a}"),
        Op::Concat => format!("concat({a})"),
    }
}

/// The second line of a gradient box: how the node's own backward passes it on.
fn backward_text(plan: &Plan, id: NodeId) -> String {
    let node = plan.node(id);
    let field = |f: usize| plan.graph.fields[f].name.to_string();
    match &node.op {
        Op::Input => "the input's gradient".into(),
        Op::Linear { field: f } => format!("{}: ·W, ∂W, ∂b", field(*f)),
        Op::Layer { field: f } | Op::Call { field: f } => format!("{}'s backward", field(*f)),
        Op::Stack { field: f } => format!("{}: blocks in reverse", field(*f)),
        Op::Scan { field: f } => format!("{} backward through time", field(*f)),
        Op::Part { .. } => format!("into {}'s backward", args(plan, id, ", ")),
        Op::Zeros => String::new(),
        Op::Unary { prim, .. } => format!("{}′", prim.name),
        Op::Add => "passes to both".into(),
        Op::Sub => "to a, and −· to b".into(),
        Op::Mul => "⊙ other operand".into(),
        Op::Scale { text, .. } => format!("{text}·"),
        Op::Concat => "split in two".into(),
    }
}

/// The back edge of a loop: a stack's blocks, a scan's time steps (`reverse` in backward).
fn back_edge(plan: &Plan, id: NodeId, reverse: bool) -> Option<String> {
    let node = plan.node(id);
    match node.op {
        Op::Stack { field } => match &plan.graph.fields[field].kind {
            FieldKind::Stack { count, .. } => {
                let last = count.lit.map_or(format!("{}−1", count.text), |n| {
                    n.saturating_sub(1).to_string()
                });
                Some(if reverse {
                    format!("k={last}…0")
                } else {
                    format!("k=0…{last}")
                })
            }
            _ => None,
        },
        Op::Scan { .. } => {
            let steps = plan.node(node.inputs[0]).dims.get(1);
            let last = match steps {
                Some(d) => d.lit.map_or(format!("{}−1", d.text), |n| {
                    n.saturating_sub(1).to_string()
                }),
                None => "T−1".into(),
            };
            Some(if reverse {
                format!("t={last}…0")
            } else {
                format!("t=0…{last}")
            })
        }
        _ => None,
    }
}

/// The gradient box of node `id`, if backward computes one (or, for a call or scan, runs its
/// backward).
fn backward_item(plan: &Plan, backward: &Backward, id: NodeId, row: usize) -> Option<Item> {
    let node = plan.node(id);
    let sources = backward.sources[id].len();
    let runs = !node.has_value()
        && plan
            .graph
            .nodes
            .iter()
            .enumerate()
            .any(|(p, n)| n.inputs.first() == Some(&id) && !backward.sources[p].is_empty());
    if !(runs || backward.given[id] || sources > 0) {
        return None;
    }
    // A returned value that other values also read starts from the given gradient.
    let total = sources + usize::from(backward.given[id]);
    let first = if !node.has_value() {
        format!("∂ through {}", node.name)
    } else if backward.given[id] && sources == 0 {
        format!("∂L/∂{} (given)", node.name)
    } else if total >= 2 {
        format!("∂L/∂{} = Σ of {total}", node.name)
    } else {
        format!("∂L/∂{}", node.name)
    };
    let look = if backward.input_only[id] {
        Look::InputOnly
    } else {
        Look::Gradient
    };
    Some(Item {
        side: Side::Backward,
        row,
        lines: [clip(first), clip(backward_text(plan, id))],
        look,
        sum: total,
        back_edge: back_edge(plan, id, true),
        node: Some(id),
    })
}

/// The parameters of each layer field that holds some, and their gradients, with their edges.
fn parameters(
    plan: &Plan,
    scene: &mut Scene,
    rows: &[usize],
    fwd: &[usize],
    bwd: &[Option<usize>],
) {
    for (f, field) in plan.graph.fields.iter().enumerate() {
        let users: Vec<NodeId> = (0..plan.graph.nodes.len())
            .filter(|&id| field_of(&plan.node(id).op) == Some(f))
            .collect();
        let Some(&first) = users.first() else {
            continue;
        };
        let name = &field.name;
        let (value, grad) = match &field.kind {
            FieldKind::Linear { input, output } => (
                [
                    format!("{name}.weight [{}, {}]", output.text, input.text),
                    format!("{name}.bias [{}]", output.text),
                ],
                [format!("∂L/∂{name}.weight"), format!("∂L/∂{name}.bias")],
            ),
            FieldKind::Known { layer, .. } if !layer.has_params => continue,
            _ => (
                [
                    format!("{name}: {}", field.written_tidy()),
                    "parameters".into(),
                ],
                [format!("∂L/∂{name}.*"), "added into .grad".into()],
            ),
        };
        let row = rows[first];
        let item = |side, lines: [String; 2], look, sum| Item {
            side,
            row,
            lines: lines.map(clip),
            look,
            sum,
            back_edge: None,
            node: Some(first),
        };
        let p = scene.push(item(Side::Params, value, Look::Param, 0));
        let readers: Vec<usize> = users.iter().filter_map(|&u| bwd[u]).collect();
        let pg = scene.push(item(Side::ParamGrads, grad, Look::ParamGrad, readers.len()));
        for &u in &users {
            scene.link(p, fwd[u], Link::Param);
        }
        for r in readers {
            scene.link(r, pg, Link::Param);
        }
    }
}

/// The field a node calls, if it holds parameters.
fn field_of(op: &Op) -> Option<usize> {
    match *op {
        Op::Linear { field }
        | Op::Layer { field }
        | Op::Stack { field }
        | Op::Call { field }
        | Op::Scan { field } => Some(field),
        _ => None,
    }
}
