//! A sample ring driver and a fake NIC (tests/model/ring.rs) driven by the input's events, with
//! map failures injected at a rate and seed the input chooses. Every rule is at deny, so any
//! violation, and anything left mapped at the end, is a crash.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/model/mod.rs"]
mod model;

fuzz_target!(|data: &[u8]| model::ring::fuzz_driver(data));
