//! Fuzzes `nanotorch_fuzz::csv_labelled` (see fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    nanotorch_fuzz::csv_labelled(data);
});
