//! The vectorisable `e^x` behind the `f32` sigmoid agrees with the correctly rounded value
//! (from `f64`) to about one unit in the last place over its whole range, and handles the ends.

use nanotorch::ops::exp_neg_f32;

#[test]
fn within_two_ulp_of_exp_over_its_range() {
    let mut worst = 0.0f64;
    let mut x = -87.3f32;
    while x <= 0.0 {
        let want = f64::from(x).exp();
        let err = (f64::from(exp_neg_f32(x)) - want).abs() / want;
        worst = worst.max(err);
        x += 7.3e-4;
    }
    // One ulp of f32 is 2⁻²³ ≈ 1.19e-7 relative at most.
    assert!(
        worst < 2.0 * f64::from(f32::EPSILON),
        "max relative error {worst:e}"
    );
}

#[test]
fn ends_of_the_range() {
    assert_eq!(exp_neg_f32(0.0), 1.0);
    assert_eq!(exp_neg_f32(-100.0), 0.0);
    assert_eq!(exp_neg_f32(f32::NEG_INFINITY), 0.0);
    assert!(exp_neg_f32(f32::NAN).is_nan());
    assert!(exp_neg_f32(-87.0) > 0.0);
}
