//! Integration tests of the federation over real HTTP: a gateway and several countries' backends, each
//! with its own key store and federation state, on SQLite and on PostgreSQL.

mod bad_input;
mod chain;
mod exchange;
mod harness;
mod openapi;
mod tampering;
mod upload_retry;
