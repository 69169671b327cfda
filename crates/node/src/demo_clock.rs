//! The demo clock control: an optional loopback-only listener, `demo_clock`, through which `warnkit demo
//! --server` moves the clock of a node it did not start (`warnkit serve --demo-clock`), runs its
//! distribution job as if it were a given time, and gets a lab key.
//!
//! Moving a server's clock is never something production may allow, so a node with the control refuses
//! to start on a non-loopback address, the control listener binds 127.0.0.1 only, and every control
//! request needs the node's service token.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde::{Deserialize, Serialize};
use warnkit_service::auth::require_token;
use warnkit_service::{AppError, AppJson, Metrics, ServiceRouter};

use crate::start::publish;

/// The control API's paths.
pub struct ControlPaths {
    /// `POST {"now": UNIX}`: sets the submission service's clock. 204.
    pub clock: &'static str,
    /// `POST {"now": UNIX}`: one distribution run as if it were `now`; 204 once the files are
    /// served; 409 when `now` is before the previous run.
    pub distribute: &'static str,
    /// `POST`: a new lab API key for the demo's lab, as text.
    pub lab_key: &'static str,
}

/// Where the control API lives on the `demo_clock` listener.
pub const CONTROL_PATHS: ControlPaths = ControlPaths {
    clock: "/demo/v1/clock",
    distribute: "/demo/v1/distribute",
    lab_key: "/demo/v1/lab-key",
};

/// The body of the clock and distribute requests.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockRequest {
    /// Unix seconds.
    pub now: i64,
}

/// Times the control accepts: 2020 (the first exposure notification apps) to 2100.
const SANE_TIMES: std::ops::Range<i64> = 1_577_836_800..4_102_444_800;

/// What the control's handlers share.
#[derive(Clone)]
pub(crate) struct Control {
    pub(crate) token: Arc<str>,
    pub(crate) clock: warnkit_service::Clock,
    pub(crate) services: Arc<ControlServices>,
    /// `now` of the last distribution run: a run at an earlier time would unpublish what phones have.
    pub(crate) last_run: Arc<Mutex<Option<i64>>>,
}

/// The node's services the control drives.
pub(crate) struct ControlServices {
    pub(crate) distribution: warnkit_distribution::Distribution,
    pub(crate) files: warnkit_distribution::StaticFiles,
    pub(crate) testresult: warnkit_testresult::TestResultService,
}

fn checked(request: ClockRequest) -> Result<i64, AppError> {
    if SANE_TIMES.contains(&request.now) {
        Ok(request.now)
    } else {
        Err(AppError::bad_request(
            "invalid_time",
            "now must be Unix seconds between 2020 and 2100",
        ))
    }
}

async fn set_clock(
    State(c): State<Control>,
    headers: HeaderMap,
    AppJson(request): AppJson<ClockRequest>,
) -> Result<StatusCode, AppError> {
    require_token(&headers, &c.token)?;
    c.clock.set(checked(request)?);
    Ok(StatusCode::NO_CONTENT)
}

async fn distribute(
    State(c): State<Control>,
    headers: HeaderMap,
    AppJson(request): AppJson<ClockRequest>,
) -> Result<StatusCode, AppError> {
    require_token(&headers, &c.token)?;
    let now = checked(request)?;
    {
        let mut last = c.last_run.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|l| now < l) {
            return Err(AppError::new(
                StatusCode::CONFLICT,
                "clock_backwards",
                "the demo clock cannot go back; start a fresh `warnkit serve --demo-clock` for another run",
            ));
        }
        *last = Some(now);
    }
    let ran = publish(&c.services.distribution, &c.services.files, now)
        .await
        .map_err(|e| AppError::internal(format!("distribution run: {e:#}")))?;
    if !ran {
        return Err(AppError::new(
            StatusCode::CONFLICT,
            "distribution_busy",
            "another distribution run holds the lock",
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn lab_key(State(c): State<Control>, headers: HeaderMap) -> Result<String, AppError> {
    require_token(&headers, &c.token)?;
    c.services.testresult.create_lab_key("demo-lab").await
}

/// The control's routes, with `/health` and `/ready` as on every listener (`warnkit status` asks them).
pub(crate) fn router(control: Control) -> Router {
    let api = Router::new()
        .route(CONTROL_PATHS.clock, post(set_clock))
        .route(CONTROL_PATHS.distribute, post(distribute))
        .route(CONTROL_PATHS.lab_key, post(lab_key))
        .with_state(control);
    ServiceRouter::new(Metrics::new("demo_clock")).finish(api)
}

/// Whether `host` only reaches this machine.
pub(crate) fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_only() {
        for host in ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["0.0.0.0", "::", "10.0.0.1", "example.org", ""] {
            assert!(!is_loopback(host), "{host}");
        }
    }
}
