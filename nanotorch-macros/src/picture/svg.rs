//! The SVG text of a placed scene. Colours are attributes, not a `<style>` (a stylesheet in an
//! inline SVG would apply to the whole documentation page), and every box has a light fill so
//! the text reads on rustdoc's light and dark themes alike. One element per line, no blank
//! line: rustdoc's markdown passes the block through as raw HTML. Attributes are in single
//! quotes, so the string literal in the generated `graph_svg()` needs no escapes.

use std::fmt::Write;

use super::layout::{LEGEND_H, Placed, Rect};
use super::model::{Item, Link, Look, Scene, Side};

/// Fill and stroke of a box.
fn colours(look: Look) -> (&'static str, &'static str) {
    match look {
        Look::Value => ("#eef3fb", "#4a6fa5"),
        Look::Saved => ("#fff1c9", "#b8860b"),
        Look::Gradient | Look::InputOnly => ("#fbeaea", "#b04a4a"),
        Look::Param | Look::ParamGrad => ("#e8f4ea", "#3a7d44"),
    }
}

/// The colour of an edge, and the letter of its arrowhead's marker.
fn edge_colour(link: Link) -> (&'static str, char) {
    match link {
        Link::Flow => ("#4a6fa5", 'f'),
        Link::Grad => ("#b04a4a", 'g'),
        Link::Saved => ("#b8860b", 's'),
        Link::Param => ("#3a7d44", 'p'),
    }
}

/// `<`, `>`, `&` and quotes as entities.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The SVG picture (no trailing newline).
pub fn render(scene: &Scene, placed: &Placed, name: &str) -> String {
    let (w, h) = (placed.width, placed.height);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns='http://www.w3.org/2000/svg' class='nanotorch-graph' width='{w:.0}' height='{h:.0}' viewBox='0 0 {w:.0} {h:.0}' style='max-width:100%;height:auto' font-family='monospace' font-size='11'>"
    );
    let _ = writeln!(
        out,
        "<title>{name}: the graph network! differentiated</title>"
    );
    markers(&mut out, name);
    for edge in &scene.edges {
        let (a, b) = (&placed.boxes[edge.from], &placed.boxes[edge.to]);
        let path = if edge.link == Link::Param && blocked(&placed.boxes, edge.from, edge.to) {
            around(a, b, scene.items[edge.to].side == Side::ParamGrads)
        } else {
            let rows = scene.items[edge.from]
                .row
                .abs_diff(scene.items[edge.to].row);
            route(edge.link, a, b, &scene.items[edge.to], rows > 1)
        };
        let (colour, m) = edge_colour(edge.link);
        let dash = if edge.link == Link::Saved {
            " stroke-dasharray='4 3'"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "<path d='{path}' fill='none' stroke='{colour}'{dash} marker-end='url(#ntg-{name}-{m})'/>"
        );
    }
    for (item, rect) in scene.items.iter().zip(&placed.boxes) {
        draw_box(&mut out, item, rect, name);
    }
    headings_and_legend(&mut out, placed);
    out.push_str("</svg>");
    out
}

/// The arrowheads, one per edge colour (ids carry the network's name: a page may show several
/// pictures).
fn markers(out: &mut String, name: &str) {
    out.push_str("<defs>\n");
    for link in [Link::Flow, Link::Grad, Link::Saved, Link::Param] {
        let (colour, m) = edge_colour(link);
        let _ = writeln!(
            out,
            "<marker id='ntg-{name}-{m}' viewBox='0 0 8 8' refX='8' refY='4' markerWidth='7' markerHeight='7' orient='auto'><path d='M0,0L8,4L0,8z' fill='{colour}'/></marker>"
        );
    }
    out.push_str("</defs>\n");
}

/// Where edges into a box that sums several contributions end: its `+` circle (below a
/// gradient, which receives from below; left of a parameter gradient).
fn sum_anchor(item: &Item, r: &Rect) -> Option<(f64, f64)> {
    if item.sum < 2 {
        return None;
    }
    Some(match item.side {
        Side::ParamGrads => (r.x - 9.0, r.mid_y()),
        _ => (r.center_x(), r.bottom() + 9.0),
    })
}

/// The path of an edge from box `a` to box `b` (`to` is `b`'s item; `skips`: rows lie
/// between them).
fn route(link: Link, a: &Rect, b: &Rect, to: &Item, skips: bool) -> String {
    let sum = sum_anchor(to, b);
    match link {
        Link::Flow => vertical(
            (a.center_x(), a.bottom()),
            (b.center_x(), b.y),
            -1.0,
            a.w,
            skips,
        ),
        Link::Grad => {
            let (x2, y2) = sum.map_or((b.center_x(), b.bottom()), |(x, y)| (x, y + 7.0));
            vertical((a.center_x(), a.y), (x2, y2), 1.0, a.w, skips)
        }
        Link::Saved | Link::Param => {
            // A saved value goes to the box (the backward step), not into its sum.
            let sum = sum.filter(|_| link == Link::Param);
            let (x2, y2) = sum.map_or((b.x, b.mid_y()), |(x, y)| (x - 7.0, y));
            let bend = ((x2 - a.right()) / 2.0).max(20.0);
            format!(
                "M{:.1},{:.1}C{:.1},{:.1} {:.1},{:.1} {x2:.1},{y2:.1}",
                a.right(),
                a.mid_y(),
                a.right() + bend,
                a.mid_y(),
                x2 - bend,
                y2
            )
        }
    }
}

/// Whether a box other than `from` and `to` stands between them, across the row of either.
fn blocked(boxes: &[Rect], from: usize, to: usize) -> bool {
    let (a, b) = (&boxes[from], &boxes[to]);
    let (left, right) = (a.right().min(b.right()), a.x.max(b.x));
    let (top, bottom) = (a.mid_y().min(b.mid_y()), a.mid_y().max(b.mid_y()));
    boxes.iter().enumerate().any(|(k, c)| {
        k != from
            && k != to
            && c.x < right
            && c.right() > left
            && c.y <= bottom
            && c.bottom() >= top
    })
}

/// A parameter edge that would cross a box: into the bottom of a value's box (from the
/// parameters), or out of the bottom of a gradient's box (into the parameters' gradients),
/// along the gap between rows.
fn around(a: &Rect, b: &Rect, out_of_bottom: bool) -> String {
    if out_of_bottom {
        let (x1, y1) = (a.right() - 14.0, a.bottom());
        let (x2, y2) = (b.x, b.mid_y());
        format!("M{x1:.1},{y1:.1}C{x1:.1},{y2:.1} {x1:.1},{y2:.1} {x2:.1},{y2:.1}")
    } else {
        let (x1, y1) = (a.right(), a.mid_y());
        let (x2, y2) = (b.x + 14.0, b.bottom());
        format!("M{x1:.1},{y1:.1}C{x2:.1},{y1:.1} {x2:.1},{y1:.1} {x2:.1},{y2:.1}")
    }
}

/// A curve between rows. An edge that skips rows in one column bulges to the `side` (−1
/// left, +1 right) so it passes beside the boxes between, not through them.
fn vertical((x1, y1): (f64, f64), (x2, y2): (f64, f64), side: f64, w: f64, skips: bool) -> String {
    let (c1, c2) = if skips && (x1 - x2).abs() < w {
        let off = side * (w / 2.0 + 14.0) * 4.0 / 3.0;
        (
            (x1 + off, (y1 * 2.0 + y2) / 3.0),
            (x2 + off, (y1 + y2 * 2.0) / 3.0),
        )
    } else {
        let bend = (y2 - y1) * 0.45;
        ((x1, y1 + bend), (x2, y2 - bend))
    };
    format!(
        "M{x1:.1},{y1:.1}C{:.1},{:.1} {:.1},{:.1} {x2:.1},{y2:.1}",
        c1.0, c1.1, c2.0, c2.1
    )
}

/// A box, its two lines, its `+` circle if it sums, and its back edge if it is a loop.
fn draw_box(out: &mut String, item: &Item, r: &Rect, name: &str) {
    let (fill, stroke) = colours(item.look);
    let dash = if item.look == Look::InputOnly {
        " stroke-dasharray='3 2'"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "<rect x='{:.1}' y='{:.1}' width='{:.1}' height='{:.1}' rx='4' fill='{fill}' stroke='{stroke}'{dash}/>",
        r.x, r.y, r.w, r.h
    );
    let x = r.center_x();
    let _ = writeln!(
        out,
        "<text x='{x:.1}' y='{:.1}' text-anchor='middle' fill='#1a1a1a'>{}</text>",
        r.y + 14.0,
        escape(&item.lines[0])
    );
    if !item.lines[1].is_empty() {
        let _ = writeln!(
            out,
            "<text x='{x:.1}' y='{:.1}' text-anchor='middle' fill='#555' font-size='10'>{}</text>",
            r.y + 28.0,
            escape(&item.lines[1])
        );
    }
    if let Some((cx, cy)) = sum_anchor(item, r) {
        let _ = writeln!(
            out,
            "<circle cx='{cx:.1}' cy='{cy:.1}' r='7' fill='#fff' stroke='{stroke}'/>\n<text x='{cx:.1}' y='{:.1}' text-anchor='middle' fill='{stroke}' font-weight='bold'>+</text>",
            cy + 4.0
        );
    }
    if let Some(label) = &item.back_edge {
        back_edge(out, item, r, label, stroke, name);
    }
}

/// A loop's back edge: from the box's bottom round its outer side to its top (forward: on the
/// left, running down then back up; backward: on the right), with the loop's label.
fn back_edge(out: &mut String, item: &Item, r: &Rect, label: &str, colour: &str, name: &str) {
    let (x, out_x, anchor, m) = if item.side == Side::Forward {
        (r.x + 8.0, r.x - 26.0, "end", 'f')
    } else {
        (r.right() - 8.0, r.right() + 26.0, "start", 'g')
    };
    let (start_y, end_y) = if item.side == Side::Forward {
        (r.bottom(), r.y)
    } else {
        (r.y, r.bottom())
    };
    let lead = if item.side == Side::Forward {
        8.0
    } else {
        -8.0
    };
    let _ = writeln!(
        out,
        "<path d='M{x:.1},{start_y:.1}C{out_x:.1},{:.1} {out_x:.1},{:.1} {x:.1},{end_y:.1}' fill='none' stroke='{colour}' stroke-width='1.5' marker-end='url(#ntg-{name}-{m})'/>",
        start_y + lead,
        end_y - lead
    );
    // The label sits above the middle of the box's side, clear of a parameter's edge.
    let lx = if item.side == Side::Forward {
        out_x - 2.0
    } else {
        out_x + 2.0
    };
    let _ = writeln!(
        out,
        "<text x='{lx:.1}' y='{:.1}' text-anchor='{anchor}' fill='{colour}' font-size='10'>{}</text>",
        r.y + 7.0,
        escape(label)
    );
}

/// The column headings above the first row and the legend below the last.
fn headings_and_legend(out: &mut String, placed: &Placed) {
    for (x, text) in &placed.headings {
        let _ = writeln!(
            out,
            "<text x='{x:.1}' y='16' text-anchor='middle' fill='#777' font-weight='bold'>{text}</text>"
        );
    }
    let _ = writeln!(
        out,
        "<text x='6' y='{:.1}' fill='#777' font-size='10'>{}</text>",
        placed.height - LEGEND_H / 2.0 + 2.0,
        escape(LEGEND)
    );
}

/// The legend line.
pub const LEGEND: &str = "amber: saved for backward (dashed: where it is read) · (+): a fan-out sum · an arc beside a box: a loop, drawn once";
