//! Stands in for `ledger.rs` in a build without the `usage-db` feature: the core never asks
//! for a row then, so this only explains itself.

use crate::core::usage::{Ask, Reserve, Reserved, Summary, Totals, UsageRow};
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

    /// Refuses: this build has no ledger.
    pub fn table(&self, _: u64, _: &str) -> Result<Vec<(String, Totals)>, String> {
        Err(NONE.into())
    }

    /// Refuses: this build has no ledger.
    pub fn export_csv(&self, _: u64, _: &mut dyn std::io::Write) -> Result<u64, String> {
        Err(NONE.into())
    }

    /// Refuses: this build has no ledger.
    pub fn summary(&self, _: &Ask) -> Result<Summary, String> {
        Err(NONE.into())
    }
}

const NONE: &str = "this build has no usage ledger (feature `usage-db`)";
