//! Any bytes as a sequence of C ABI calls (tests/model/capi.rs): arbitrary integers, lengths,
//! counts and directions, pointers from a pool of valid, freed, foreign, garbage and NULL. No
//! call may crash or abort, and every input's entries must be swept up after it.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/model/mod.rs"]
#[allow(dead_code)]
mod model;

fuzz_target!(|data: &[u8]| {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| {
        // SAFETY: the first input, before the process-wide checker exists; libFuzzer runs
        // inputs on one thread and nothing else reads the environment yet.
        unsafe { std::env::set_var("DMACHECK", "print=0") };
    });
    model::capi::fuzz_capi(data)
});
