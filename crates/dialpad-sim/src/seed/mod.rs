//! Deterministic seed data: `--seed N` always yields the same company, offices, users,
//! contacts, call history with transcripts, and channels.

mod activity;
mod org;

use crate::state::Db;

pub fn build(seed: u64) -> Db {
    let mut db = Db::new(seed);
    org::seed(&mut db);
    activity::seed(&mut db);
    db
}
