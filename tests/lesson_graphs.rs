//! Keeps the graph pictures of the lessons (`lessons/graphs/*.svg`) equal to what `network!`
//! draws for the lessons' networks (`Net::graph_svg()`), and each one shown by its lesson.
//!
//! After a change to the macro's picture, refresh them with
//! `LESSONS=overwrite cargo test --release --test lesson_graphs` and review the diff.

use std::fs;
use std::path::PathBuf;

use nanotorch_suite::lessons::{
    l03_chain_rule, l07_fan_out, l11_generated_code, l15_convolution, l20_attention, l22_recurrence,
};

/// Each picture: its file under `lessons/graphs/`, the lesson page that shows it, and the SVG
/// the macro drew.
fn pictures() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        (
            "03-two-layer.svg",
            "03-chain-rule.md",
            l03_chain_rule::TwoLayer::graph_svg(),
        ),
        (
            "07-residual-gate.svg",
            "07-fan-out.md",
            l07_fan_out::ResidualGate::graph_svg(),
        ),
        (
            "11-explained.svg",
            "11-generated-code.md",
            l11_generated_code::Explained::graph_svg(),
        ),
        (
            "15-small-conv.svg",
            "15-convolution.md",
            l15_convolution::SmallConv::graph_svg(),
        ),
        (
            "20-previous.svg",
            "20-attention.md",
            l20_attention::Previous::graph_svg(),
        ),
        (
            "22-rnn.svg",
            "22-recurrence.md",
            l22_recurrence::Rnn::graph_svg(),
        ),
    ]
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn committed_pictures_are_what_the_macro_draws() {
    let overwrite = std::env::var("LESSONS").is_ok_and(|v| v == "overwrite");
    let dir = root().join("lessons/graphs");
    let mut stale = Vec::new();
    for (file, _, svg) in pictures() {
        let path = dir.join(file);
        let want = format!("{svg}\n");
        if fs::read_to_string(&path).ok().as_deref() == Some(want.as_str()) {
            continue;
        }
        if overwrite {
            fs::create_dir_all(&dir).expect("lessons/graphs can be created");
            fs::write(&path, &want).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        } else {
            stale.push(file);
        }
    }
    assert!(
        stale.is_empty(),
        "lessons/graphs/{stale:?} differ from what network! draws; refresh them with \
         LESSONS=overwrite cargo test --release --test lesson_graphs"
    );
}

#[test]
fn every_picture_is_shown_by_its_lesson() {
    for (file, page, _) in pictures() {
        let text = fs::read_to_string(root().join("lessons").join(page)).expect("the page exists");
        assert!(
            text.contains(&format!("](graphs/{file})")),
            "lessons/{page} does not show graphs/{file}"
        );
    }
}

#[test]
fn no_picture_is_left_over() {
    let listed: Vec<&str> = pictures().iter().map(|p| p.0).collect();
    for entry in fs::read_dir(root().join("lessons/graphs")).expect("lessons/graphs exists") {
        let name = entry.expect("readable entry").file_name();
        let name = name.to_string_lossy();
        assert!(
            listed.contains(&name.as_ref()),
            "lessons/graphs/{name} is not drawn by any lesson's network"
        );
    }
}

#[test]
fn pictures_are_well_formed_and_show_what_backward_reads() {
    for (file, _, svg) in pictures() {
        assert!(
            svg.starts_with("<svg ") && svg.ends_with("</svg>"),
            "{file}"
        );
        // Balanced elements (every open tag closed or self-closed).
        let opens = svg.matches('<').count();
        let closes = svg.matches("</").count() + svg.matches("/>").count();
        assert_eq!(
            opens,
            2 * svg.matches("</").count() + svg.matches("/>").count(),
            "{file}"
        );
        assert!(closes > 0, "{file}");
        // No blank line: rustdoc's markdown would end the raw HTML block there.
        assert!(!svg.contains("\n\n"), "{file}");
        assert!(
            svg.contains("backward ↑") && svg.contains("forward ↓"),
            "{file}"
        );
    }
    // The RNN's scan is drawn once, with its loop over time forward and reversed.
    let rnn = l22_recurrence::Rnn::graph_svg();
    assert!(rnn.contains(">t=0…39<") && rnn.contains(">t=39…0<"));
    // Lesson 7's h feeds three values: its gradient is a sum of three.
    assert!(l07_fan_out::ResidualGate::graph_svg().contains("∂L/∂h = Σ of 3"));
}
