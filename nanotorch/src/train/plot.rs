//! [`History`]: a run's epoch summaries, and its loss and accuracy curves as an SVG file.

use std::path::{Path, PathBuf};

use plotters::prelude::*;
use thiserror::Error;

use super::summary::EpochSummary;

/// Why the curves could not be drawn or written.
#[derive(Debug, Error)]
pub enum PlotError {
    /// There is nothing to draw: no epoch with a finite loss.
    #[error("no epochs with a finite loss to plot")]
    Empty,
    /// The plotting library failed.
    #[error("cannot draw the chart: {0}")]
    Draw(String),
    /// The file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

fn draw_err<E: std::fmt::Debug>(e: E) -> PlotError {
    PlotError::Draw(format!("{e:?}"))
}

/// The summaries of a training run, one per epoch, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// The epochs so far.
    pub epochs: Vec<EpochSummary>,
}

/// One curve: a name, a colour, and `(epoch, value)` points (non-finite values left out).
struct Curve {
    name: &'static str,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

const TRAIN: RGBColor = RGBColor(31, 119, 180);
const TEST: RGBColor = RGBColor(255, 127, 14);

impl History {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an epoch's summary.
    pub fn push(&mut self, summary: EpochSummary) {
        self.epochs.push(summary);
    }

    fn curve(
        &self,
        name: &'static str,
        color: RGBColor,
        value: impl Fn(&EpochSummary) -> Option<f64>,
    ) -> Curve {
        let points = self
            .epochs
            .iter()
            .filter_map(|s| value(s).map(|v| (s.epoch as f64, v)))
            .filter(|(_, v)| v.is_finite())
            .collect();
        Curve {
            name,
            color,
            points,
        }
    }

    /// Draws the curves as an SVG document: loss (train and test) on the left, accuracy in
    /// percent on the right when the run measured it. Non-finite values (a diverged run) are
    /// left out rather than breaking the scale.
    pub fn to_svg(&self) -> Result<String, PlotError> {
        let loss = [
            self.curve("train", TRAIN, |s| Some(s.train_loss)),
            self.curve("test", TEST, |s| s.test_loss),
        ];
        let acc = [
            self.curve("train", TRAIN, |s| s.train_accuracy.map(|a| 100.0 * a)),
            self.curve("test", TEST, |s| s.test_accuracy.map(|a| 100.0 * a)),
        ];
        if loss.iter().all(|c| c.points.is_empty()) {
            return Err(PlotError::Empty);
        }
        let has_acc = acc.iter().any(|c| !c.points.is_empty());
        let mut svg = String::new();
        {
            let width = if has_acc { 1000 } else { 560 };
            let root = SVGBackend::with_string(&mut svg, (width, 400)).into_drawing_area();
            root.fill(&WHITE).map_err(draw_err)?;
            if has_acc {
                let (left, right) = root.split_horizontally(width / 2);
                panel(&left, "Loss", ("epoch", "loss"), &loss, None)?;
                panel(&right, "Accuracy", ("epoch", "accuracy (%)"), &acc, None)?;
            } else {
                panel(&root, "Loss", ("epoch", "loss"), &loss, None)?;
            }
            root.present().map_err(draw_err)?;
        }
        Ok(svg)
    }

    /// Writes [`History::to_svg`] to `path`.
    pub fn write_svg(&self, path: impl AsRef<Path>) -> Result<(), PlotError> {
        let path = path.as_ref();
        let svg = self.to_svg()?;
        std::fs::write(path, svg).map_err(|source| PlotError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Curves of positive values against their index (`0, 1, …`) on a logarithmic y axis, as an
/// SVG document: for quantities that shrink or grow geometrically, such as a gradient's norm
/// through the steps of a recurrent network (lesson 22). Values that are not finite and
/// positive are left out.
///
/// # Errors
/// [`PlotError::Empty`] when no curve has a point; [`PlotError::Draw`] if drawing fails.
pub fn log_curves_svg(
    title: &str,
    (x_label, y_label): (&str, &str),
    series: &[(&'static str, &[f64])],
) -> Result<String, PlotError> {
    const COLORS: [RGBColor; 4] = [TRAIN, TEST, RGBColor(44, 160, 44), RGBColor(214, 39, 40)];
    let curves: Vec<Curve> = series
        .iter()
        .zip(COLORS.iter().cycle())
        .map(|(&(name, values), &color)| Curve {
            name,
            color,
            points: values
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite() && **v > 0.0)
                .map(|(t, v)| (t as f64, v.log10()))
                .collect(),
        })
        .collect();
    if curves.iter().all(|c| c.points.is_empty()) {
        return Err(PlotError::Empty);
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let power_of_ten = |v: &f64| format!("1e{v:.0}");
        panel(
            &root,
            title,
            (x_label, y_label),
            &curves,
            Some(&power_of_ten),
        )?;
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

/// Range of the values with a 5 % margin (and a non-empty span for a flat curve).
fn padded(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let span = if hi > lo { hi - lo } else { hi.abs().max(1.0) };
    (lo - 0.05 * span)..(hi + 0.05 * span)
}

/// A chart of `curves` on `area`: the x and y axes' descriptions, and what writes the y
/// axis' tick labels (`None`: the plain values).
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    (x_label, y_label): (&str, &str),
    curves: &[Curve],
    y_format: Option<&dyn Fn(&f64) -> String>,
) -> Result<(), PlotError> {
    let all = || curves.iter().flat_map(|c| c.points.iter().copied());
    let x_max = all().map(|(x, _)| x).fold(1.0, f64::max);
    let x_min = all()
        .map(|(x, _)| x)
        .fold(x_max, f64::min)
        .min(x_max - 1.0)
        .max(0.0);
    let y = padded(all().map(|(_, y)| y));
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(x_min..x_max, y)
        .map_err(draw_err)?;
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(x_label)
        .y_desc(y_label)
        .x_label_formatter(&|x| format!("{x:.0}"));
    if let Some(format) = y_format {
        mesh.y_label_formatter(format);
    }
    mesh.draw().map_err(draw_err)?;
    for c in curves.iter().filter(|c| !c.points.is_empty()) {
        let color = c.color;
        chart
            .draw_series(LineSeries::new(
                c.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(draw_err)?
            .label(c.name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(draw_err)?;
    Ok(())
}

/// A **roofline** chart as an SVG document, both axes logarithmic: x is arithmetic intensity
/// (FLOPs per byte moved), y is the measured rate (GFLOP/s).
///
/// Each roof `(name, peak GFLOP/s, bandwidth GB/s)` is drawn as the line `min(peak,
/// bandwidth·x)`: the rate a computation of intensity `x` can reach at most, limited by memory
/// left of the ridge `x = peak / bandwidth` and by arithmetic right of it. Each series
/// `(name, points)` is a colour; each point `(label, intensity, GFLOP/s)` is a dot with its
/// label beside it. Points whose coordinates are not finite and positive (a copy, with no
/// FLOPs) are left out.
///
/// ```
/// use nanotorch::train::roofline_svg;
///
/// let roofs = [("1 thread", 150.0, 30.0)]; // 150 GFLOP/s, 30 GB/s: the ridge at 5 FLOP/B
/// let svg = roofline_svg("A product", &roofs, &[("GEMM", &[("1024³", 100.0, 140.0)])])?;
/// assert!(svg.starts_with("<svg") && svg.contains("1024³") && svg.contains("ridge at 5.0 FLOP/B"));
/// // A copy does no FLOPs: it has no place on the chart, and alone it leaves nothing to draw.
/// assert!(roofline_svg("A copy", &roofs, &[("im2col", &[("copy", 0.0, 0.0)])]).is_err());
/// # Ok::<(), nanotorch::train::PlotError>(())
/// ```
///
/// # Errors
/// [`PlotError::Empty`] when there is no point to draw or no roof with a positive peak and
/// bandwidth; [`PlotError::Draw`] if drawing fails.
pub fn roofline_svg(
    title: &str,
    roofs: &[(&str, f64, f64)],
    series: &[(&str, &[(&str, f64, f64)])],
) -> Result<String, PlotError> {
    const COLORS: [RGBColor; 4] = [TRAIN, TEST, RGBColor(44, 160, 44), RGBColor(214, 39, 40)];
    const ROOF_SHADES: [RGBColor; 3] = [
        RGBColor(60, 60, 60),
        RGBColor(150, 150, 150),
        RGBColor(200, 200, 200),
    ];
    let usable = |v: f64| v.is_finite() && v > 0.0;
    let roofs: Vec<(&str, f64, f64)> = roofs
        .iter()
        .copied()
        .filter(|&(_, peak, bw)| usable(peak) && usable(bw))
        .collect();
    let points = || {
        series
            .iter()
            .flat_map(|(_, points)| points.iter())
            .filter(|&&(_, x, y)| usable(x) && usable(y))
    };
    if roofs.is_empty() || points().next().is_none() {
        return Err(PlotError::Empty);
    }
    // The x range covers every point and every ridge; the y range every point and every peak,
    // each with a margin of a factor 2 (a quarter of a decade and more on a log scale).
    let ridges = roofs.iter().map(|&(_, peak, bw)| peak / bw);
    let xs = points().map(|p| p.1).chain(ridges);
    let (x_lo, x_hi) = xs.fold((f64::INFINITY, 0.0f64), |(lo, hi), x| {
        (lo.min(x), hi.max(x))
    });
    let ys = points().map(|p| p.2).chain(roofs.iter().map(|r| r.1));
    let (y_lo, y_hi) = ys.fold((f64::INFINITY, 0.0f64), |(lo, hi), y| {
        (lo.min(y), hi.max(y))
    });
    let (x_lo, x_hi, y_lo, y_hi) = (x_lo / 2.0, x_hi * 2.0, y_lo / 2.0, y_hi * 2.0);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (880, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let root = root.titled(title, ("sans-serif", 20)).map_err(draw_err)?;
        // The chart on the left, its key on the right (where it never hides a dot).
        let (plot, key) = root.split_horizontally(640);
        let mut chart = ChartBuilder::on(&plot)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d((x_lo..x_hi).log_scale(), (y_lo..y_hi).log_scale())
            .map_err(draw_err)?;
        let plain = |v: &f64| {
            if *v >= 10.0 {
                format!("{v:.0}")
            } else {
                format!("{v}")
            }
        };
        chart
            .configure_mesh()
            .x_desc("FLOPs per byte moved")
            .y_desc("GFLOP/s")
            .x_label_formatter(&plain)
            .y_label_formatter(&plain)
            .draw()
            .map_err(draw_err)?;
        let font = ("sans-serif", 13);
        let mut line = 24;
        for (&(name, peak, bw), &shade) in roofs.iter().zip(ROOF_SHADES.iter().cycle()) {
            let ridge = peak / bw;
            let roof: Vec<(f64, f64)> = [x_lo, ridge.clamp(x_lo, x_hi), x_hi]
                .into_iter()
                .map(|x| (x, peak.min(bw * x)))
                .collect();
            chart
                .draw_series(LineSeries::new(roof, shade.stroke_width(2)))
                .map_err(draw_err)?;
            key.draw(&PathElement::new(
                vec![(4, line), (26, line)],
                shade.stroke_width(2),
            ))
            .map_err(draw_err)?;
            let text = [
                format!("roof, {name}"),
                format!("{peak:.0} GFLOP/s, {bw:.1} GB/s"),
                format!("ridge at {ridge:.1} FLOP/B"),
            ];
            for t in text {
                key.draw(&Text::new(t, (34, line - 7), font))
                    .map_err(draw_err)?;
                line += 17;
            }
            line += 10;
        }
        for (&(name, points), &color) in series.iter().zip(COLORS.iter().cycle()) {
            let dots = points
                .iter()
                .filter(|&&(_, x, y)| usable(x) && usable(y))
                .map(move |&(label, x, y)| {
                    EmptyElement::at((x, y))
                        + Circle::new((0, 0), 4, color.filled())
                        + Text::new(label.to_string(), (6, -14), font)
                });
            chart.draw_series(dots).map_err(draw_err)?;
            key.draw(&Circle::new((15, line), 4, color.filled()))
                .map_err(draw_err)?;
            key.draw(&Text::new(name.to_string(), (34, line - 7), font))
                .map_err(draw_err)?;
            line += 22;
        }
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}
