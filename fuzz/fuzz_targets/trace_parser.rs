//! Any bytes as a kernel trace: the line parser, the event parser and the whole replay must
//! never panic (a trace's content is never fatal).

#![no_main]

use dmacheck::trace::{self, Line, TraceOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for line in data.split(|&b| b == b'\n') {
        if let Ok(Line::Event(e)) = trace::parse_line(line) {
            let _ = trace::parse_event(e.name, e.body);
        }
    }
    // The replay makes a checker per input: keep it to inputs of a few lines' size.
    if data.len() <= 4096 {
        let replay = trace::replay_bytes(data, TraceOptions::default()).expect("default options");
        let _ = replay.report();
    }
});
