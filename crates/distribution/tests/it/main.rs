//! The distribution crate's integration tests, one test binary: the job on real databases, plans,
//! publishing rules, the S3-protocol store, the static server's HTTP semantics and the OpenAPI document.

mod job;
mod openapi;
mod plan;
mod publishing;
mod s3;
mod server;
