//! Integration tests of the submission service over real HTTP, with a real verification and test-result
//! service for the TAN path; every suite runs on SQLite and on PostgreSQL.

mod harness;

mod payloads;
mod privacy;
mod retry;
mod submit;
mod tans;
