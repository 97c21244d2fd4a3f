//! The width-naming primitives `flatten_as` and `concat_as` (what `network!` calls when it
//! computed a width from literal sizes) agree with the typed `flatten` and `concat`, and refuse
//! a wrong width with a typed error; the type-level size arithmetic lands on `Const`.

use std::any::TypeId;

use nanotorch::prelude::*;

fn same_type<A: 'static, B: 'static>() -> bool {
    TypeId::of::<A>() == TypeId::of::<B>()
}

#[test]
fn size_arithmetic_lands_on_const_and_aliases_are_const() {
    assert!(same_type::<U784, Const<784>>());
    assert!(same_type::<U![3136], Const<3136>>());
    assert!(same_type::<Prod<U28, U28>, Const<784>>());
    assert!(same_type::<Sum<U1000, U24>, Const<1024>>());
    assert!(same_type::<ConvOut<U28, U5, U1, U0>, Const<24>>());
    assert_eq!(ARITH_LIMIT, 1024);
}

#[test]
fn flatten_as_is_flatten_with_a_named_width() -> Result<(), ShapeError> {
    let x =
        Tensor::<(Dyn, U2, U3, U2)>::from_vec(&[2, 2, 3, 2], (0..24).map(|v| v as f32).collect())?;
    let y: Tensor<(Dyn, Const<12>)> = flatten_as(&x)?;
    assert_eq!(y, flatten(&x));
    let mut dx =
        Tensor::<(Dyn, U2, U3, U2)>::zeros((Dyn(0), U2::default(), U3::default(), U2::default()));
    flatten_as_backward_into(&y, &mut dx)?;
    assert_eq!(dx, x);

    let wrong = flatten_as::<_, Const<13>, f32>(&x).unwrap_err();
    assert_eq!(
        wrong.to_string(),
        "expected shape [_, 12] (the flattened sample), found [_, 13]"
    );
    Ok(())
}

#[test]
fn concat_as_is_concat_with_a_named_width() -> Result<(), ShapeError> {
    let a = Tensor::<(Dyn, U2)>::from_vec(&[2, 2], vec![1.0, 2.0, 3.0, 4.0])?;
    let b = Tensor::<(Dyn, U1)>::from_vec(&[2, 1], vec![5.0, 6.0])?;
    let y: Tensor<(Dyn, U3)> = concat_as(&a, &b)?;
    assert_eq!(y, concat(&a, &b)?);
    let (mut da, mut db) = (a.clone(), b.clone());
    concat_as_backward_into(&y, &mut da, &mut db)?;
    assert_eq!((da, db), (a.clone(), b.clone()));

    let wrong = concat_as::<_, _, _, U4, f32>(&a, &b).unwrap_err();
    assert_eq!(
        wrong.to_string(),
        "expected shape [_, 3] (2 + 1), found [_, 4]"
    );
    Ok(())
}
