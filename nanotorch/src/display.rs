//! PyTorch-style printing of tensors.

use std::fmt::{self, Write};

use ndarray::{ArrayView, Axis, IxDyn};

use crate::element::Element;
use crate::shape::fmt_dims;

/// Above this many elements, only the first and last `EDGE` entries of each axis are shown.
const SUMMARIZE_OVER: usize = 1000;
const EDGE: usize = 3;

pub(crate) fn write_tensor<E: Element>(
    f: &mut fmt::Formatter<'_>,
    view: ArrayView<'_, E, IxDyn>,
    dtype: &str,
) -> fmt::Result {
    let summarize = view.len() > SUMMARIZE_OVER;
    let format = NumberFormat::choose(view.iter().map(|x| x.as_f64()));
    let width = view
        .iter()
        .map(|x| format.render(x.as_f64()).len())
        .max()
        .unwrap_or(0);
    let mut out = String::from("tensor(");
    let indent = out.len();
    write_axis(&mut out, &view, &format, width, indent + 1, summarize)?;
    write!(out, ", shape={}", fmt_dims(view.shape()))?;
    if dtype != "F32" {
        write!(out, ", dtype={}", dtype.to_lowercase())?;
    }
    out.push(')');
    f.write_str(&out)
}

fn write_axis<E: Element>(
    out: &mut String,
    view: &ArrayView<'_, E, IxDyn>,
    format: &NumberFormat,
    width: usize,
    indent: usize,
    summarize: bool,
) -> fmt::Result {
    if view.ndim() == 0 {
        let x = view.iter().next().map_or(0.0, |x| x.as_f64());
        return write!(out, "{}", format.render(x));
    }
    let n = view.len_of(Axis(0));
    let shown: Vec<Option<usize>> = if summarize && n > 2 * EDGE {
        (0..EDGE)
            .map(Some)
            .chain(std::iter::once(None))
            .chain((n - EDGE..n).map(Some))
            .collect()
    } else {
        (0..n).map(Some).collect()
    };
    out.push('[');
    for (k, item) in shown.iter().enumerate() {
        if k > 0 {
            out.push(',');
            if view.ndim() == 1 {
                out.push(' ');
            } else {
                // Blank lines between blocks of rank >= 3, as PyTorch prints them.
                for _ in 1..view.ndim() - 1 {
                    out.push('\n');
                }
                out.push('\n');
                out.push_str(&" ".repeat(indent));
            }
        }
        match item {
            None => out.push_str("..."),
            Some(i) => {
                let sub = view.index_axis(Axis(0), *i);
                if sub.ndim() == 0 {
                    let x = sub.iter().next().map_or(0.0, |x| x.as_f64());
                    write!(out, "{:>width$}", format.render(x))?;
                } else {
                    write_axis(out, &sub, format, width, indent + 1, summarize)?;
                }
            }
        }
    }
    out.push(']');
    Ok(())
}

/// One number format for the whole tensor, chosen by PyTorch's rules (`torch/_tensor_str.py`)
/// over the nonzero finite values: if all are integers they print as `3.`, otherwise with 4
/// decimals; either switches to scientific notation (`1.0000e-05`) when the largest magnitude
/// exceeds 1e8 or is more than 1000 times the smallest, or (non-integers only) the smallest is
/// below 1e-4.
enum NumberFormat {
    Integer,
    Fixed,
    Scientific,
}

impl NumberFormat {
    fn choose(values: impl Iterator<Item = f64>) -> Self {
        let nonzero: Vec<f64> = values
            .filter(|x| x.is_finite() && *x != 0.0)
            .map(f64::abs)
            .collect();
        if nonzero.is_empty() {
            return Self::Integer;
        }
        let max = nonzero.iter().fold(0.0f64, |m, &x| m.max(x));
        let min = nonzero.iter().fold(f64::INFINITY, |m, &x| m.min(x));
        let wide = max / min > 1000.0 || max > 1e8;
        if nonzero.iter().all(|x| x.fract() == 0.0) {
            if wide { Self::Scientific } else { Self::Integer }
        } else if wide || min < 1e-4 {
            Self::Scientific
        } else {
            Self::Fixed
        }
    }

    fn render(&self, x: f64) -> String {
        if x.is_nan() {
            return "nan".into();
        }
        if x.is_infinite() {
            return if x > 0.0 { "inf".into() } else { "-inf".into() };
        }
        match self {
            Self::Integer => format!("{x:.0}."),
            Self::Fixed => format!("{x:.4}"),
            Self::Scientific => {
                // Rust writes `1.0000e-5`; Python (and so PyTorch) writes `1.0000e-05`.
                let s = format!("{x:.4e}");
                match s.split_once('e') {
                    Some((mantissa, exp)) => {
                        let exp: i32 = exp.parse().unwrap_or(0);
                        let sign = if exp < 0 { '-' } else { '+' };
                        format!("{mantissa}e{sign}{:02}", exp.abs())
                    }
                    None => s,
                }
            }
        }
    }
}
