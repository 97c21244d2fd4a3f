//! With the `openblas` feature, links the system OpenBLAS, which provides the cblas functions
//! `ndarray`'s `blas` feature calls.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_OPENBLAS").is_some() {
        println!("cargo::rustc-link-lib=dylib=openblas");
    }
}
