//! Parity of the optimizers, learning-rate schedules and gradient clipping with PyTorch, on
//! `tests/golden/optim.json` (written by `scripts/golden_train.py`).
//!
//! Trajectories: a weight `[3, 4]` and a bias `[4]` start from the golden initial values; at
//! each of 20 steps the test writes the gradient torch fed its optimizer into the parameters,
//! steps ours, and compares the parameters with torch's after that step. Only options listed
//! in a case are set, so cases without options check PyTorch's defaults too.
//!
//! Tolerance for f32 values: `|ours − torch| ≤ 1e-5·|torch| + 1e-6` (a few dozen f32 ulps
//! relative, plus a floor near zero; rounding order differs between the libraries). Learning
//! rates are `f64` on both sides and must agree to `1e-9` relative. A case with an unknown
//! optimizer, option or schedule fails the test.

mod train_support;

use nanotorch::optim::{
    Adam, AdamW, CosineAnnealingLr, LrScheduler, Optimizer, RmsProp, Sgd, StepLr, clip_grad_norm,
};
use serde_json::{Map, Value};
use train_support::{Agreement, TwoParams, f32s, golden, num};

fn flag(name: &str, key: &str, v: &Value) -> bool {
    v.as_bool()
        .unwrap_or_else(|| panic!("{name}: option {key} must be a bool, found {v}"))
}

fn betas(name: &str, v: &Value) -> (f64, f64) {
    match v.as_array().map(Vec::as_slice) {
        Some([b1, b2]) => (num(b1), num(b2)),
        _ => panic!("{name}: betas must be [beta1, beta2], found {v}"),
    }
}

fn build_sgd(name: &str, kwargs: &Map<String, Value>) -> Sgd<f32> {
    let lr = num(kwargs
        .get("lr")
        .unwrap_or_else(|| panic!("{name}: SGD needs lr")));
    let mut opt = Sgd::new(lr);
    for (key, v) in kwargs {
        opt = match key.as_str() {
            "lr" => opt,
            "momentum" => opt.momentum(num(v)),
            "dampening" => opt.dampening(num(v)),
            "nesterov" => opt.nesterov(flag(name, key, v)),
            "weight_decay" => opt.weight_decay(num(v)),
            other => panic!("{name}: unknown SGD option {other}"),
        };
    }
    opt.validated().unwrap()
}

fn build_adam(name: &str, kwargs: &Map<String, Value>) -> Adam<f32> {
    let mut opt = Adam::new();
    for (key, v) in kwargs {
        opt = match key.as_str() {
            "lr" => opt.with_lr(num(v)),
            "betas" => {
                let (b1, b2) = betas(name, v);
                opt.betas(b1, b2)
            }
            "eps" => opt.eps(num(v)),
            "weight_decay" => opt.weight_decay(num(v)),
            "amsgrad" => opt.amsgrad(flag(name, key, v)),
            other => panic!("{name}: unknown Adam option {other}"),
        };
    }
    opt.validated().unwrap()
}

fn build_adamw(name: &str, kwargs: &Map<String, Value>) -> AdamW<f32> {
    let mut opt = AdamW::new();
    for (key, v) in kwargs {
        opt = match key.as_str() {
            "lr" => opt.with_lr(num(v)),
            "betas" => {
                let (b1, b2) = betas(name, v);
                opt.betas(b1, b2)
            }
            "eps" => opt.eps(num(v)),
            "weight_decay" => opt.weight_decay(num(v)),
            "amsgrad" => opt.amsgrad(flag(name, key, v)),
            other => panic!("{name}: unknown AdamW option {other}"),
        };
    }
    opt.validated().unwrap()
}

fn build_rmsprop(name: &str, kwargs: &Map<String, Value>) -> RmsProp<f32> {
    let mut opt = RmsProp::new();
    for (key, v) in kwargs {
        opt = match key.as_str() {
            "lr" => opt.with_lr(num(v)),
            "alpha" => opt.alpha(num(v)),
            "eps" => opt.eps(num(v)),
            "weight_decay" => opt.weight_decay(num(v)),
            "momentum" => opt.momentum(num(v)),
            "centered" => opt.centered(flag(name, key, v)),
            other => panic!("{name}: unknown RMSprop option {other}"),
        };
    }
    opt.validated().unwrap()
}

/// The two flat tensors of a `[weight, bias]` pair in the golden file.
fn pair(v: &Value) -> (Vec<f32>, Vec<f32>) {
    match v.as_array().map(Vec::as_slice) {
        Some([w, b]) => (f32s(w), f32s(b)),
        _ => panic!("expected [weight, bias], found {v}"),
    }
}

/// Replays a golden trajectory with `opt`; returns the agreement over all steps.
fn replay<O: Optimizer<f32>>(mut opt: O, init: &Value, trajectory: &[Value]) -> Agreement {
    let (w0, b0) = pair(init);
    let mut model = TwoParams::new(&w0, &b0);
    let mut agree = Agreement::f32();
    for step in trajectory {
        let (gw, gb) = pair(&step["grads"]);
        model.set_grads(&gw, &gb);
        opt.step(&mut model);
        let (pw, pb) = pair(&step["params"]);
        agree.check_all(model.weight.value.as_slice(), &pw);
        agree.check_all(model.bias.value.as_slice(), &pb);
    }
    agree
}

#[test]
fn optimizer_trajectories_match_pytorch() {
    let doc = golden("optim.json");
    let cases = doc["optimizers"].as_array().expect("optimizers");
    let steps = doc["steps"].as_u64().expect("steps") as usize;
    let mut failed = Vec::new();
    let mut kinds = std::collections::BTreeSet::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let kind = case["optimizer"].as_str().expect("optimizer");
        let kwargs = case["kwargs"].as_object().expect("kwargs");
        let trajectory = case["trajectory"].as_array().expect("trajectory");
        assert_eq!(trajectory.len(), steps, "{name}: trajectory length");
        let init = &doc["params_init"];
        let agree = match kind {
            "sgd" => replay(build_sgd(name, kwargs), init, trajectory),
            "adam" => replay(build_adam(name, kwargs), init, trajectory),
            "adamw" => replay(build_adamw(name, kwargs), init, trajectory),
            "rmsprop" => replay(build_rmsprop(name, kwargs), init, trajectory),
            other => panic!("{name}: unknown optimizer {other:?}"),
        };
        kinds.insert(kind);
        if !agree.report(name) {
            failed.push(name);
        }
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["adam", "adamw", "rmsprop", "sgd"],
        "every optimizer must have golden trajectories"
    );
    assert!(failed.is_empty(), "cases outside tolerance: {failed:?}");
}

/// Steps `sched` once per golden epoch, driving a real optimizer's learning rate.
fn replay_schedule<S: LrScheduler>(mut sched: S, opt: &mut Sgd<f32>, lrs: &[Value]) -> Agreement {
    let mut agree = Agreement::new(1e-9, 1e-15);
    for (epoch, lr) in lrs.iter().enumerate() {
        sched.step(opt);
        assert_eq!(sched.last_epoch(), epoch + 1);
        assert_eq!(sched.last_lr(), opt.lr());
        agree.check(opt.lr(), num(lr));
    }
    agree
}

#[test]
fn schedules_match_pytorch() {
    let doc = golden("optim.json");
    let cases = doc["schedulers"].as_array().expect("schedulers");
    let mut failed = Vec::new();
    let mut kinds = std::collections::BTreeSet::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let kind = case["scheduler"].as_str().expect("scheduler");
        let kwargs = case["kwargs"].as_object().expect("kwargs");
        let lrs = case["lrs"].as_array().expect("lrs");
        let mut opt = Sgd::<f32>::new(num(&case["base_lr"]));
        let known: &[&str] = match kind {
            "step_lr" => &["step_size", "gamma"],
            "cosine_annealing_lr" => &["t_max", "eta_min"],
            other => panic!("{name}: unknown scheduler {other:?}"),
        };
        if let Some(key) = kwargs.keys().find(|k| !known.contains(&k.as_str())) {
            panic!("{name}: unknown {kind} option {key}");
        }
        let agree = if kind == "step_lr" {
            let step_size = kwargs["step_size"].as_u64().expect("step_size") as usize;
            let sched = StepLr::new(&opt, step_size, num(&kwargs["gamma"])).unwrap();
            replay_schedule(sched, &mut opt, lrs)
        } else {
            let t_max = kwargs["t_max"].as_u64().expect("t_max") as usize;
            // PyTorch's default eta_min is 0.
            let eta_min = kwargs.get("eta_min").map_or(0.0, num);
            let sched = CosineAnnealingLr::new(&opt, t_max, eta_min).unwrap();
            replay_schedule(sched, &mut opt, lrs)
        };
        kinds.insert(kind);
        if !agree.report(name) {
            failed.push(name);
        }
    }
    assert_eq!(kinds.len(), 2, "both schedules must have golden cases");
    assert!(failed.is_empty(), "cases outside tolerance: {failed:?}");
}

#[test]
fn clip_grad_norm_matches_pytorch() {
    let doc = golden("optim.json");
    let cases = doc["clip"].as_array().expect("clip");
    assert!(!cases.is_empty(), "no clipping cases");
    let mut failed = Vec::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let (gw, gb) = pair(&case["grads"]);
        let mut model = TwoParams::new(&[0.0; 12], &[0.0; 4]);
        model.set_grads(&gw, &gb);
        let norm = clip_grad_norm(&mut model, num(&case["max_norm"]));
        let (cw, cb) = pair(&case["clipped"]);
        let mut agree = Agreement::f32();
        agree.check(f64::from(norm), num(&case["total_norm"]));
        agree.check_all(model.weight.grad.as_slice(), &cw);
        agree.check_all(model.bias.grad.as_slice(), &cb);
        if !agree.report(name) {
            failed.push(name);
        }
    }
    assert!(failed.is_empty(), "cases outside tolerance: {failed:?}");
}
