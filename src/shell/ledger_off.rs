//! Stands in for `ledger.rs` in a build without the `usage-db` feature: the core never asks
//! for a row then, so this only explains itself.

use crate::core::usage::{Reserve, Reserved, UsageRow};
use std::path::PathBuf;

/// No ledger.
#[derive(Debug)]
pub struct Ledger;

impl Ledger {
    /// No ledger, wherever it would be.
    pub fn new(_: PathBuf) -> Self {
        Self
    }

    /// Refuses: this build has no ledger.
    pub fn record(&self, _: &UsageRow) -> Result<(), String> {
        Err(NONE.into())
    }

    /// Refuses: this build has no ledger (the settings refuse budgets that would need one).
    pub fn reserve(&self, _: &Reserve) -> Result<Reserved, String> {
        Err(NONE.into())
    }

    /// Refuses: this build has no ledger.
    pub fn release(&self, _: i64) -> Result<(), String> {
        Err(NONE.into())
    }
}

const NONE: &str = "this build has no usage ledger (feature `usage-db`)";
