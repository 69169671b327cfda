//! The static server over real HTTP: content types, cache headers, ETags, HEAD, and hostile paths, both
//! as an axum route and on its own connection loop; and what only the loop does: pipelining, HTTP/1.0,
//! large files, handing other requests to the port's router, refusing what it cannot read.

mod files;
mod limits;
mod support;
