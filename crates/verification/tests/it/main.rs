//! Integration tests of the verification service over real HTTP, with a real test-result service, each run
//! on SQLite and on PostgreSQL (one suite, two engines).

mod harness;
mod tan_path;

mod bad_input;
mod budget;
mod fake;
mod flow;
mod openapi;
mod races;
