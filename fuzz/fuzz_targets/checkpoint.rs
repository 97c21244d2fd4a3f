//! Fuzzes `nanotorch_fuzz::checkpoint` (see fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    nanotorch_fuzz::checkpoint(data);
});
