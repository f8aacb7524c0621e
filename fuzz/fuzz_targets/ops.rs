//! Any bytes as a sequence of DMA API operations (four bytes each) over three devices and four
//! buffers, run step by step on the checker and on the reference model of tests/model: every
//! step must report exactly the rules the model predicts, and leave the same live entries.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/model/mod.rs"]
mod model;

fuzz_target!(|data: &[u8]| model::fuzz_ops(data));
