//! Integration tests of the portal over real HTTP, with real verification and test-result services, each
//! suite on SQLite and on PostgreSQL; plus one test that drives a real headless Chromium.

mod harness;
mod idp;

mod accounts;
mod browser;
mod event;
mod limits;
mod oidc;
mod operator;
mod routes;
