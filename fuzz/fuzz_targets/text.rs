//! Fuzzes `nanotorch_fuzz::text` (see fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    nanotorch_fuzz::text(data);
});
