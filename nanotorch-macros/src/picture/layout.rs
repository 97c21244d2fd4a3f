//! Where each box goes: a layered layout. A forward value's row is its depth in the graph;
//! within a row, values are ordered by where their inputs are (the mean of their slots), so
//! edges cross little. A gradient sits in its value's row, in the mirrored column (the picture
//! is a butterfly: forward down the left half, backward up the right). Parameters sit beside
//! the first layer that uses them, and their gradients beside its gradient.

use super::model::{Link, Scene, Side};

/// Width of one character of the 11 px monospace font, in pixels.
pub const CHAR_W: f64 = 6.7;
/// Height of a box (two lines of text).
pub const BOX_H: f64 = 34.0;
/// Vertical distance between rows.
const ROW_PITCH: f64 = 58.0;
/// Horizontal space between two boxes of a column.
const SLOT_GAP: f64 = 14.0;
/// Vertical distance between two parameter boxes of one row (they stack in lanes).
const LANE_PITCH: f64 = BOX_H + 8.0;
/// Space between the parameter columns and the values.
const COL_GAP: f64 = 28.0;
/// Space between the forward and the backward halves (the dashed "saved" lines cross it).
const CENTER_GAP: f64 = 44.0;
/// The margin, and the height of the column headings above the first row.
const MARGIN: f64 = 6.0;
const TOP: f64 = 30.0;
/// The height of the legend below the last row.
pub const LEGEND_H: f64 = 26.0;

/// A box's position and size.
#[derive(Clone, Copy, Debug)]
pub struct Rect {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

impl Rect {
    /// The horizontal centre.
    pub fn center_x(&self) -> f64 {
        self.x + self.w / 2.0
    }
    /// The vertical middle.
    pub fn mid_y(&self) -> f64 {
        self.y + self.h / 2.0
    }
    /// The bottom edge.
    pub fn bottom(&self) -> f64 {
        self.y + self.h
    }
    /// The right edge.
    pub fn right(&self) -> f64 {
        self.x + self.w
    }
}

/// The placed scene: one rectangle per item, the canvas size and the column headings.
pub struct Placed {
    /// The rectangle of each item, in the scene's order.
    pub boxes: Vec<Rect>,
    /// The canvas width.
    pub width: f64,
    /// The canvas height.
    pub height: f64,
    /// `(x of the centre, text)` of each column's heading.
    pub headings: Vec<(f64, &'static str)>,
}

/// The width of a box for the widest line of any item on `side`.
fn box_width(scene: &Scene, side: Side) -> f64 {
    let chars = scene
        .items
        .iter()
        .filter(|it| it.side == side)
        .flat_map(|it| it.lines.iter().map(|l| l.chars().count()))
        .max()
        .unwrap_or(0);
    (chars as f64 * CHAR_W + 16.0).max(84.0)
}

/// Each item's slot (its position within its row and column), and how many slots each
/// column needs. Parameter boxes of one row stack in lanes below each other (the column
/// stays one box wide); values and gradients sit side by side.
fn slots(scene: &Scene) -> (Vec<usize>, [usize; 4]) {
    let n = scene.items.len();
    let mut slot = vec![0usize; n];
    let mut count = [0usize; 4];
    let column = |side: Side| side as usize;
    for row in 0..scene.rows {
        for side in [Side::Params, Side::Forward, Side::ParamGrads] {
            let mut here: Vec<(f64, usize)> = (0..n)
                .filter(|&i| scene.items[i].side == side && scene.items[i].row == row)
                .map(|i| (order_key(scene, &slot, i), i))
                .collect();
            here.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for (s, &(_, i)) in here.iter().enumerate() {
                slot[i] = s;
            }
            let wide = if side == Side::Forward {
                here.len()
            } else {
                here.len().min(1)
            };
            count[column(side)] = count[column(side)].max(wide);
        }
    }
    // A gradient takes the slot of its value.
    for i in 0..n {
        if scene.items[i].side == Side::Backward {
            let node = scene.items[i].node;
            let twin = (0..n)
                .find(|&j| scene.items[j].side == Side::Forward && scene.items[j].node == node);
            slot[i] = twin.map_or(0, |j| slot[j]);
        }
    }
    count[column(Side::Backward)] = count[column(Side::Forward)];
    (slot, count)
}

/// Where an item goes in its row: the mean slot of the values flowing into it (rows above are
/// placed first), else its node's index.
fn order_key(scene: &Scene, slot: &[usize], i: usize) -> f64 {
    let from: Vec<f64> = scene
        .edges
        .iter()
        .filter(|e| e.to == i && e.link == Link::Flow)
        .map(|e| slot[e.from] as f64)
        .collect();
    if from.is_empty() {
        scene.items[i].node.map_or(0.0, |n| n as f64 * 1e-3)
    } else {
        from.iter().sum::<f64>() / from.len() as f64
            + scene.items[i].node.unwrap_or(0) as f64 * 1e-6
    }
}

/// Room beside the value columns for loops' back edges and their labels (10 px text).
fn loop_room(scene: &Scene) -> f64 {
    let label = scene
        .items
        .iter()
        .filter_map(|it| it.back_edge.as_ref())
        .map(|l| l.chars().count() + 2)
        .max();
    label.map_or(8.0, |chars| chars as f64 * 6.2 + 28.0)
}

/// The top of each row: a row whose parameters stack in several lanes is taller.
fn row_tops(scene: &Scene, slot: &[usize]) -> Vec<f64> {
    let mut lanes = vec![1usize; scene.rows];
    for (i, it) in scene.items.iter().enumerate() {
        if matches!(it.side, Side::Params | Side::ParamGrads) {
            lanes[it.row] = lanes[it.row].max(slot[i] + 1);
        }
    }
    let mut tops = Vec::with_capacity(scene.rows + 1);
    let mut y = TOP;
    for lane in lanes {
        tops.push(y);
        y += ROW_PITCH + (lane - 1) as f64 * LANE_PITCH;
    }
    tops.push(y);
    tops
}

/// Places every item.
pub fn place(scene: &Scene) -> Placed {
    let loop_space = loop_room(scene);
    let (slot, count) = slots(scene);
    let tops = row_tops(scene, &slot);
    let widths = [
        Side::Params,
        Side::Forward,
        Side::Backward,
        Side::ParamGrads,
    ]
    .map(|side| box_width(scene, side));
    let span = |c: usize| {
        if count[c] == 0 {
            0.0
        } else {
            count[c] as f64 * (widths[c] + SLOT_GAP) - SLOT_GAP
        }
    };
    let has_params = count[0] > 0;
    let mut left = [0.0; 4];
    left[0] = MARGIN;
    left[1] = left[0] + if has_params { span(0) + COL_GAP } else { 0.0 } + loop_space;
    left[2] = left[1] + span(1) + CENTER_GAP;
    left[3] = left[2] + span(2) + loop_space + if has_params { COL_GAP } else { 0.0 };
    let legend = super::svg::LEGEND.chars().count() as f64 * 6.2 + 2.0 * MARGIN;
    let width = (left[3] + if has_params { span(3) } else { 0.0 } + MARGIN).max(legend);
    let boxes = scene
        .items
        .iter()
        .enumerate()
        .map(|(i, it)| {
            let c = it.side as usize;
            // The backward half mirrors the forward one; parameters stack in lanes.
            let (s, lane) = match it.side {
                Side::Backward => (count[c] - 1 - slot[i], 0),
                Side::Forward => (slot[i], 0),
                Side::Params | Side::ParamGrads => (0, slot[i]),
            };
            Rect {
                x: left[c] + s as f64 * (widths[c] + SLOT_GAP),
                y: tops[it.row] + lane as f64 * LANE_PITCH,
                w: widths[c],
                h: BOX_H,
            }
        })
        .collect();
    let mut headings = vec![
        (left[1] + span(1) / 2.0, "forward ↓"),
        (left[2] + span(2) / 2.0, "backward ↑"),
    ];
    if has_params {
        headings.insert(0, (left[0] + span(0) / 2.0, "parameters"));
        headings.push((left[3] + span(3) / 2.0, "their gradients"));
    }
    let height = tops[scene.rows] - ROW_PITCH + BOX_H + LEGEND_H + MARGIN;
    Placed {
        boxes,
        width,
        height,
        headings,
    }
}
