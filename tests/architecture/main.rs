//! The shape of the crate, read from its source: the layers of `src/` (`layers.rs`) and the
//! public API (`public_api.rs`, listed in `public_api.txt`).

mod checks;
mod layers;
mod public_api;
mod source;
