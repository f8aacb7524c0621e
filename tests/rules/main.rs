//! The rules, one module per family: each rule fires where it should and stays silent where
//! the DMA API allows the call.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

mod cache_rules;
mod context_rules;
mod heap_rules;
mod lifetime_rules;
mod map_rules;
mod modern_rules;
mod origin_rules;
mod ownership_rules;
mod pool_redzones;
mod pool_rules;
mod release_rules;
mod sg_rules;
mod sync_rules;
