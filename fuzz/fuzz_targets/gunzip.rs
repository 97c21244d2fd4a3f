//! Fuzzes `nanotorch_fuzz::gunzip` (see fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    nanotorch_fuzz::gunzip(data);
});
