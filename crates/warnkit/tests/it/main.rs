//! The binary's integration tests, one test binary: each module runs the real `warnkit` (through
//! `CARGO_BIN_EXE_warnkit`) as a user would. The fault suite, the listener limits, the deployment files and
//! the docs' commands stay in binaries of their own (`faults`, `listeners`, `deploy`, `docs`): they stop
//! database clusters, lower descriptor limits or take minutes, and are run alone by name.

mod common;

mod backup;
mod cli_bad_input;
mod cli_output;
mod cli_protocol;
mod cli_risk;
mod conformance;
mod demo;
mod demo_countries;
mod distribute_cli;
mod gateway_cli;
mod instance;
mod key_rotation;
mod openapi_cli;
mod operator_cli;
mod phone_cli;
mod portal_cli;
mod privacy;
mod serve;
mod sim_cli;
mod submit_distribute;
