//! Integration tests of the portal over real HTTP, with real verification and test-result services, each
//! suite on SQLite and on PostgreSQL; plus one test that drives a real headless Chromium.

mod harness;

mod browser;
mod limits;
mod routes;
