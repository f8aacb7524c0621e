//! Reports: the checker's report document, leak summaries and the global checker's reports
//! (`reports`), and every output format (`report_formats`).

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

mod report_formats;
mod reports;
