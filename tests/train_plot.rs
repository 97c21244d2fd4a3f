//! Training curves are written as an SVG file with a line per series.

use std::time::Duration;

use nanotorch::train::{EpochSummary, History, PlotError};

fn history(epochs: usize, with_accuracy: bool) -> History {
    let mut h = History::new();
    for e in 1..=epochs {
        let loss = 1.0 / e as f64;
        let mut s = EpochSummary::new(e, epochs, loss, Duration::from_millis(10));
        if with_accuracy {
            s = s
                .with_train_accuracy(1.0 - loss / 2.0)
                .with_test(loss * 1.1, Some(0.9 - loss / 2.0));
        }
        h.push(s);
    }
    h
}

/// Number of drawn lines (plotters draws a line series as a `<polyline>` or `<path>`).
fn lines(svg: &str) -> usize {
    svg.matches("<polyline").count() + svg.matches("<path").count()
}

#[test]
fn writes_an_svg_file_with_the_curves() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("curves.svg");
    history(6, true).write_svg(&path).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(
        svg.starts_with("<svg") || svg.contains("<svg "),
        "not an SVG document"
    );
    assert!(svg.trim_end().ends_with("</svg>"));
    // 4 curves + 4 legend marks at least.
    assert!(lines(&svg) >= 8, "found {} line elements", lines(&svg));
    for text in ["Loss", "Accuracy", "epoch", "train", "test"] {
        assert!(svg.contains(text), "missing {text}");
    }
}

#[test]
fn loss_only_runs_get_one_panel_and_non_finite_values_are_skipped() {
    let mut h = history(4, false);
    h.push(EpochSummary::new(5, 5, f64::NAN, Duration::ZERO));
    let svg = h.to_svg().unwrap();
    assert!(!svg.contains("Accuracy"));
    assert!(!svg.contains("NaN"));
    assert!(lines(&svg) >= 2);
}

#[test]
fn an_empty_history_is_an_error() {
    assert!(matches!(History::new().to_svg(), Err(PlotError::Empty)));
    let dir = tempfile::tempdir().unwrap();
    let err = history(2, false)
        .write_svg(dir.path().join("no/such/dir.svg"))
        .unwrap_err();
    assert!(matches!(err, PlotError::Io { .. }), "{err}");
}
