//! The `dmacheck` command.
