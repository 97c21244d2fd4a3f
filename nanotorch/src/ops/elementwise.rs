//! Elementwise arithmetic: [`add`], [`sub`], [`neg`], [`mul`], [`scale`], and the bias
//! broadcast [`add_bias`] with its reduction [`bias_grad`].
//!
//! The binary ops take two tensors of the *same shape type*, so static dims agree by
//! construction; runtime ([`crate::Dyn`]) dims are compared when the data arrives and a
//! mismatch is a [`ShapeError::RuntimeDim`].

use ndarray::{Axis, Dimension, Zip};

use crate::element::Element;
use crate::error::ShapeError;
use crate::shape::{Dim, FeaturesAgree, Shape};
use crate::tensor::Tensor;

/// Checks that two shapes of the same type have the same runtime sizes, axis by axis.
pub(crate) fn check_same_dims<S: Shape>(what: &'static str, a: S, b: S) -> Result<(), ShapeError> {
    let (a, b) = (a.ix(), b.ix());
    for (&l, &r) in a.slice().iter().zip(b.slice()) {
        if l != r {
            return Err(ShapeError::RuntimeDim {
                what,
                left: l,
                right: r,
            });
        }
    }
    Ok(())
}

/// `out = f(a, b)` elementwise, after checking the runtime dims agree.
fn zip_into<S: Shape, E: Element>(
    what: &'static str,
    a: &Tensor<S, E>,
    b: &Tensor<S, E>,
    out: &mut Tensor<S, E>,
    f: impl Fn(E, E) -> E,
) -> Result<(), ShapeError> {
    check_same_dims(what, a.shape(), b.shape())?;
    out.resize_to(a.shape());
    // Flat slices: cheaper than `Zip`'s layout analysis for small tensors, same result.
    let pairs = a.as_slice().iter().zip(b.as_slice());
    for (o, (&x, &y)) in out.as_slice_mut().iter_mut().zip(pairs) {
        *o = f(x, y);
    }
    Ok(())
}

/// `out = f(x)` elementwise.
fn map_into<S: Shape, E: Element>(x: &Tensor<S, E>, out: &mut Tensor<S, E>, f: impl Fn(E) -> E) {
    out.resize_to(x.shape());
    for (o, &v) in out.as_slice_mut().iter_mut().zip(x.as_slice()) {
        *o = f(v);
    }
}

/// Elementwise sum `y = a + b`.
///
/// - **Forward:** `y[i] = a[i] + b[i]`.
/// - **Backward:** the identity for both inputs: `da = dy`, `db = dy` (no function needed; a
///   caller passes `dy` on to both).
/// - **Saves:** nothing.
/// - **Shapes:** `a`, `b` and `y` share one shape; runtime dims that differ are a
///   [`ShapeError::RuntimeDim`].
pub fn add<S: Shape, E: Element>(
    a: &Tensor<S, E>,
    b: &Tensor<S, E>,
) -> Result<Tensor<S, E>, ShapeError> {
    let mut y = Tensor::zeros(a.shape());
    add_into(a, b, &mut y)?;
    Ok(y)
}

/// [`add`] writing into `out` (resized if needed).
pub fn add_into<S: Shape, E: Element>(
    a: &Tensor<S, E>,
    b: &Tensor<S, E>,
    out: &mut Tensor<S, E>,
) -> Result<(), ShapeError> {
    zip_into("add operands", a, b, out, |x, y| x + y)
}

/// Elementwise difference `y = a − b`.
///
/// - **Forward:** `y[i] = a[i] − b[i]`.
/// - **Backward:** `da = dy`, `db = −dy` (use [`neg`]).
/// - **Saves:** nothing.
/// - **Shapes:** as [`add`].
pub fn sub<S: Shape, E: Element>(
    a: &Tensor<S, E>,
    b: &Tensor<S, E>,
) -> Result<Tensor<S, E>, ShapeError> {
    let mut y = Tensor::zeros(a.shape());
    sub_into(a, b, &mut y)?;
    Ok(y)
}

/// [`sub`] writing into `out` (resized if needed).
pub fn sub_into<S: Shape, E: Element>(
    a: &Tensor<S, E>,
    b: &Tensor<S, E>,
    out: &mut Tensor<S, E>,
) -> Result<(), ShapeError> {
    zip_into("sub operands", a, b, out, |x, y| x - y)
}

/// Negation `y = −x`.
///
/// - **Forward:** `y[i] = −x[i]`.
/// - **Backward:** `dx = −dy`, i.e. `neg(dy)` — negation is its own vector-Jacobian product.
/// - **Saves:** nothing.
/// - **Shapes:** any; `y` has `x`'s shape.
pub fn neg<S: Shape, E: Element>(x: &Tensor<S, E>) -> Tensor<S, E> {
    let mut y = Tensor::zeros(x.shape());
    neg_into(x, &mut y);
    y
}

/// [`neg`] writing into `out` (resized if needed).
pub fn neg_into<S: Shape, E: Element>(x: &Tensor<S, E>, out: &mut Tensor<S, E>) {
    map_into(x, out, |v| -v);
}

/// Elementwise (Hadamard) product `y = a ⊙ b`.
///
/// - **Forward:** `y[i] = a[i]·b[i]`.
/// - **Backward:** `da = dy ⊙ b`, `db = dy ⊙ a` ([`mul_backward`]).
/// - **Saves:** both inputs.
/// - **Shapes:** as [`add`].
pub fn mul<S: Shape, E: Element>(
    a: &Tensor<S, E>,
    b: &Tensor<S, E>,
) -> Result<Tensor<S, E>, ShapeError> {
    let mut y = Tensor::zeros(a.shape());
    mul_into(a, b, &mut y)?;
    Ok(y)
}

/// [`mul`] writing into `out` (resized if needed).
pub fn mul_into<S: Shape, E: Element>(
    a: &Tensor<S, E>,
    b: &Tensor<S, E>,
    out: &mut Tensor<S, E>,
) -> Result<(), ShapeError> {
    zip_into("mul operands", a, b, out, |x, y| x * y)
}

/// Backward of [`mul`]: returns `(da, db) = (dy ⊙ b, dy ⊙ a)`.
pub fn mul_backward<S: Shape, E: Element>(
    a: &Tensor<S, E>,
    b: &Tensor<S, E>,
    dy: &Tensor<S, E>,
) -> Result<(Tensor<S, E>, Tensor<S, E>), ShapeError> {
    check_same_dims("mul operands", a.shape(), b.shape())?;
    let mut da = Tensor::zeros(a.shape());
    let mut db = Tensor::zeros(b.shape());
    mul_backward_into(b, dy, &mut da)?;
    mul_backward_into(a, dy, &mut db)?;
    Ok((da, db))
}

/// One operand's half of [`mul_backward`], written into `d` (resized if needed):
/// `d = dy ⊙ other`, where `other` is the *other* operand (`b` for `da`, `a` for `db`).
/// Generated networks call this for each operand that needs a gradient.
pub fn mul_backward_into<S: Shape, E: Element>(
    other: &Tensor<S, E>,
    dy: &Tensor<S, E>,
    d: &mut Tensor<S, E>,
) -> Result<(), ShapeError> {
    zip_into(
        "mul_backward dy and the other operand",
        dy,
        other,
        d,
        |g, v| g * v,
    )
}

/// Multiplication by a constant, `y = c·x`.
///
/// - **Forward:** `y[i] = c·x[i]`.
/// - **Backward:** `dx = c·dy` ([`scale_backward`]); `c` is a constant, not a parameter.
/// - **Saves:** nothing (only the constant `c`).
/// - **Shapes:** any; `y` has `x`'s shape.
pub fn scale<S: Shape, E: Element>(x: &Tensor<S, E>, c: E) -> Tensor<S, E> {
    let mut y = Tensor::zeros(x.shape());
    scale_into(x, c, &mut y);
    y
}

/// [`scale`] writing into `out` (resized if needed).
pub fn scale_into<S: Shape, E: Element>(x: &Tensor<S, E>, c: E, out: &mut Tensor<S, E>) {
    map_into(x, out, |v| c * v);
}

/// Backward of [`scale`]: `dx = c·dy`.
pub fn scale_backward<S: Shape, E: Element>(dy: &Tensor<S, E>, c: E) -> Tensor<S, E> {
    scale(dy, c)
}

/// Adds a bias row to every row of a batch, `y = x + b` with `b` broadcast along axis 0.
///
/// - **Forward:** `y[n, j] = x[n, j] + b[j]`.
/// - **Backward:** `dx = dy`; `db = Σₙ dy[n, :]` — the sum over the axis `b` was broadcast
///   along ([`bias_grad`], or [`bias_grad_accumulate`] to add into a parameter's gradient).
/// - **Saves:** nothing.
/// - **Shapes:** `x: [B, N]`, `b: [N]` → `y: [B, N]`. The feature dims agree statically by
///   `N: FeaturesAgree<N2>`, or at run time when both are [`crate::Dyn`].
pub fn add_bias<B: Dim, N: Dim, N2: Dim, E: Element>(
    x: &Tensor<(B, N), E>,
    bias: &Tensor<(N2,), E>,
) -> Result<Tensor<(B, N), E>, ShapeError>
where
    N: FeaturesAgree<N2>,
{
    let mut y = Tensor::zeros(x.shape());
    add_bias_into(x, bias, &mut y)?;
    Ok(y)
}

/// [`add_bias`] writing into `out` (resized if needed).
pub fn add_bias_into<B: Dim, N: Dim, N2: Dim, E: Element>(
    x: &Tensor<(B, N), E>,
    bias: &Tensor<(N2,), E>,
    out: &mut Tensor<(B, N), E>,
) -> Result<(), ShapeError>
where
    N: FeaturesAgree<N2>,
{
    let (_, n) = x.shape();
    let (n2,) = bias.shape();
    if n.size() != n2.size() {
        return Err(ShapeError::RuntimeDim {
            what: "add_bias features of x and bias",
            left: n.size(),
            right: n2.size(),
        });
    }
    out.resize_to(x.shape());
    for (mut o, row) in out.data_mut().rows_mut().into_iter().zip(x.data().rows()) {
        Zip::from(&mut o)
            .and(&row)
            .and(bias.data())
            .for_each(|o, &v, &b| *o = v + b);
    }
    Ok(())
}

/// Backward of [`add_bias`] for the bias: `db = Σₙ dy[n, :]` (a batch of 0 rows gives zeros).
pub fn bias_grad<B: Dim, N: Dim, E: Element>(dy: &Tensor<(B, N), E>) -> Tensor<(N,), E> {
    let (_, n) = dy.shape();
    Tensor::from_parts((n,), dy.data().sum_axis(Axis(0)))
}

/// Backward of [`add_bias`] for the bias, **adding** `Σₙ dy[n, :]` into `db` (as parameter
/// gradients accumulate). Errors if `db`'s length differs from `dy`'s features (possible only
/// when `N` is a runtime dim).
pub fn bias_grad_accumulate<B: Dim, N: Dim, E: Element>(
    dy: &Tensor<(B, N), E>,
    db: &mut Tensor<(N,), E>,
) -> Result<(), ShapeError> {
    let (_, n) = dy.shape();
    let (n2,) = db.shape();
    if n.size() != n2.size() {
        return Err(ShapeError::RuntimeDim {
            what: "bias_grad_accumulate features of dy and db",
            left: n.size(),
            right: n2.size(),
        });
    }
    for row in dy.data().rows() {
        Zip::from(db.data_mut()).and(&row).for_each(|g, &d| *g += d);
    }
    Ok(())
}
