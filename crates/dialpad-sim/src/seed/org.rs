//! Seed: company, offices, users, devices, shared and local contacts.

use crate::state::Db;

pub fn seed(_db: &mut Db) {}
