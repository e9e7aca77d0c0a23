//! Deterministic seed data: `--seed N` always yields the same company, offices, users,
//! contacts, call history with transcripts, and channels.

pub(crate) mod activity;
mod org;

use crate::state::Db;

/// `call_history` finished calls are generated (400 by default).
pub fn build(seed: u64, call_history: usize) -> Db {
    let mut db = Db::new(seed);
    org::seed(&mut db);
    activity::seed(&mut db, call_history);
    db
}
