//! The primitive table: for each function a `forward` may call, how many arguments it takes,
//! what its backward reads, and which `nanotorch::ops` functions implement it. The math lives
//! in `nanotorch`; this table only says *which* backward to call and *what to save*.

/// What a primitive's backward reads from the forward pass.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Reads {
    /// Nothing (add, sub, scale, concat, flatten).
    Nothing,
    /// The primitive's input.
    Input,
    /// The primitive's output.
    Output,
    /// A mask it draws (dropout).
    Mask,
}

/// A unary primitive callable as `name(x)` or `name(x, constant)`.
pub struct Unary {
    pub name: &'static str,
    /// Name of the extra constant argument, if any (`negative_slope`, `p`).
    pub constant: Option<&'static str>,
    pub reads: Reads,
    /// The local derivative, for the generated docs: `{y}` is the output, `{x}` the input,
    /// `{c}` the constant.
    pub derivative: &'static str,
}

/// The unary primitives, in the order error messages list them.
pub const UNARY: &[Unary] = &[
    Unary {
        name: "relu",
        constant: None,
        reads: Reads::Output,
        derivative: "1[{y} > 0]",
    },
    Unary {
        name: "leaky_relu",
        constant: Some("negative_slope"),
        reads: Reads::Input,
        derivative: "(1[{x} > 0] + {c}·1[{x} ≤ 0])",
    },
    Unary {
        name: "sigmoid",
        constant: None,
        reads: Reads::Output,
        derivative: "{y} ⊙ (1 − {y})",
    },
    Unary {
        name: "tanh",
        constant: None,
        reads: Reads::Output,
        derivative: "(1 − {y}²)",
    },
    Unary {
        name: "gelu",
        constant: None,
        reads: Reads::Input,
        derivative: "(Φ({x}) + {x}·φ({x}))",
    },
    Unary {
        name: "gelu_tanh",
        constant: None,
        reads: Reads::Input,
        derivative: "gelu_tanh′({x})",
    },
    Unary {
        name: "exp",
        constant: None,
        reads: Reads::Output,
        derivative: "{y}",
    },
    Unary {
        name: "log",
        constant: None,
        reads: Reads::Input,
        derivative: "(1 ⊘ {x})",
    },
    Unary {
        name: "softmax",
        constant: None,
        reads: Reads::Output,
        derivative: "",
    },
    Unary {
        name: "log_softmax",
        constant: None,
        reads: Reads::Output,
        derivative: "",
    },
    Unary {
        name: "dropout",
        constant: Some("p"),
        reads: Reads::Mask,
        derivative: "mask_{y}",
    },
    Unary {
        name: "flatten",
        constant: None,
        reads: Reads::Nothing,
        derivative: "",
    },
];

/// Binary primitives called by name.
pub const BINARY_CALLS: &[&str] = &["concat"];

pub fn unary(name: &str) -> Option<&'static Unary> {
    UNARY.iter().find(|u| u.name == name)
}

/// Everything `forward` may call besides layer fields, for error messages.
pub fn allowed_list() -> String {
    let mut names: Vec<&str> = UNARY.iter().map(|u| u.name).collect();
    names.extend(BINARY_CALLS);
    names.join(", ")
}
