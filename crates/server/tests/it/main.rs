//! Integration tests of the server against the simulator.

mod helpers;

mod connections;
mod errors;
mod refresh;
