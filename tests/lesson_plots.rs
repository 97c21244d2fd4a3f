//! The plots in the lessons are drawn by the code, not by hand: each committed picture is
//! compared with what the measurement it shows draws now (lesson 24's, whose timings change from
//! run to run, with what the tables on its page draw). `LESSONS=overwrite cargo test
//! --release --test lesson_plots` redraws them.

use std::path::Path;

use nanotorch::train::log_curves_svg;
use nanotorch_suite::lessons::l22_recurrence::gradient_norms;
use nanotorch_suite::lessons::l24_fast_convolution::roofline_from_tables;

/// Compares `svg` with the committed `lessons/<file>`, or writes it under `LESSONS=overwrite`.
fn check(file: &str, svg: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("lessons")
        .join(file);
    if std::env::var("LESSONS").as_deref() == Ok("overwrite") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, svg).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (LESSONS=overwrite draws it)", path.display()));
    assert!(
        committed == svg,
        "{} is not what the measurement draws now; LESSONS=overwrite redraws it",
        path.display()
    );
}

/// Lesson 22: ‖∂L/∂x_t‖ against t for the RNN and the LSTM (and the LSTM with open forget
/// gates), on a log scale. Its shape is asserted here as on the page: the RNN's curve falls
/// by more than ×10 every 5 steps back, the LSTM's stays above it, the open gate's above 1e-2.
#[test]
fn l22_gradient_norms() {
    let [rnn, lstm, open] = gradient_norms().unwrap();
    assert!((0..7).all(|k| rnn[5 * k] < 0.1 * rnn[5 * k + 5]));
    assert!((0..39).all(|t| lstm[t] > rnn[t]));
    assert!(open.iter().all(|&v| v > 1e-2));
    let svg = log_curves_svg(
        "How much gradient reaches step t (relative to the last step)",
        ("time step t", "‖∂L/∂x_t‖"),
        &[
            ("RNN", &rnn),
            ("LSTM", &lstm),
            ("LSTM, forget gate open", &open),
        ],
    )
    .unwrap();
    check("plots/l22_gradient_norms.svg", &svg);
}

/// Lesson 24: the roofline of LeNet's convolutions, stage by stage. Timings change from run to
/// run, so the picture is not compared with a new measurement: it must be what
/// `roofline_from_tables` draws from the tables pasted on the page — as
/// `cargo run --release --example conv_stages` draws it from the tables it prints — so the
/// picture and the page's numbers come from the same run.
#[test]
fn l24_roofline() {
    let page = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons/24-fast-convolution.md"),
    )
    .unwrap();
    let svg = roofline_from_tables(&page).unwrap();
    check("plots/l24_roofline.svg", &svg);
}
