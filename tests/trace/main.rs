//! Trace replay: the tracepoint parser, replay of traces into the engine, and the fixtures
//! cut from real traces.

mod trace_fixtures;
mod trace_parser;
mod trace_replay;
