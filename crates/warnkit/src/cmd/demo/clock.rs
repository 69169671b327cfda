//! `warnkit serve --demo-clock`: the demo's backend as a server of its own, so that `warnkit demo
//! --server` can run against services a user started. The same services as the demo's in-process
//! backend (testresult, verification, submission, the static server; no portal), with the submission
//! clock and the distribution runs driven through a clock-control listener instead of the system
//! clock and the hourly timer.
//!
//! Moving a server's clock is never something production may allow, so the mode refuses to start on a
//! non-loopback address, the control listener binds 127.0.0.1 only, and every control request needs
//! the service token from the data directory. The control listener's URL goes into `endpoints.json`
//! as `demo_clock`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde::{Deserialize, Serialize};
use warnkit_service::auth::require_token;
use warnkit_service::server::{serve, termination_signal};
use warnkit_service::{AppError, AppJson};

use super::backend::{publish, Listen, Services};
use crate::cmd::serve::{remove_endpoints, write_endpoints};
use crate::config::Config;

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

#[derive(Clone)]
struct Control {
    token: Arc<str>,
    clock: warnkit_submission::Clock,
    services: Arc<ControlServices>,
    /// `now` of the last distribution run: a run at an earlier time would unpublish what phones have.
    last_run: Arc<Mutex<Option<i64>>>,
}

struct ControlServices {
    distribution: warnkit_distribution::Distribution,
    files: warnkit_distribution::StaticFiles,
    testresult: warnkit_testresult::TestResultService,
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

fn router(control: Control) -> Router {
    Router::new()
        .route(CONTROL_PATHS.clock, post(set_clock))
        .route(CONTROL_PATHS.distribute, post(distribute))
        .route(CONTROL_PATHS.lab_key, post(lab_key))
        .with_state(control)
}

/// Whether `host` only reaches this machine.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Runs `warnkit serve --demo-clock` until SIGTERM or SIGINT.
pub fn serve_demo_clock(config: Config, only: &[String]) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        only.is_empty(),
        "--demo-clock serves the demo's fixed set of services; it does not combine with --only"
    );
    anyhow::ensure!(
        is_loopback(&config.host),
        "--demo-clock lets a client move the server's clock, so it only listens on a loopback \
         address; host is {:?}",
        config.host
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    runtime.block_on(run(config))?;
    Ok(ExitCode::SUCCESS)
}

async fn run(config: Config) -> anyhow::Result<()> {
    // The same locks as `warnkit serve`'s, held to the end; the demo's distribution runs are its schedule.
    let services_run = ["distribution", "submission", "verification", "testresult"];
    let _locks = crate::cmd::serve::lock_instance(
        &config,
        &services_run,
        true,
        "warnkit serve --demo-clock",
    )?;
    let mut services =
        Services::start(&config, Listen::Configured, warnkit_store::unix_now()).await?;
    let control = Control {
        token: config.service_token()?.into(),
        clock: services.clock.clone(),
        services: Arc::new(ControlServices {
            distribution: services.distribution.clone(),
            files: services.files.clone(),
            testresult: services.testresult.clone(),
        }),
        last_run: Arc::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the demo clock control")?;
    let control_url = format!("http://{}", listener.local_addr()?);
    services.spawn(serve(listener, router(control), services.shutdown()));
    let mut urls: BTreeMap<&str, String> = services.urls.clone();
    urls.insert("demo_clock", control_url);
    write_endpoints(&config, &urls)?;
    tracing::warn!(
        data_dir = %config.data_dir.display(),
        "serving on a demo clock: submission time and distribution runs are set by `warnkit demo --server`"
    );
    let outcome = tokio::select! {
        () = termination_signal() => Ok(()),
        r = services.failed() => r,
    };
    services.stop().await;
    remove_endpoints(&config, &urls);
    outcome
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

    #[test]
    fn refuses_public_addresses_and_only() {
        let config = Config {
            host: "0.0.0.0".into(),
            ..Config::default()
        };
        let err = serve_demo_clock(config, &[]).unwrap_err();
        assert!(err.to_string().contains("loopback"), "{err}");
        let err = serve_demo_clock(Config::default(), &["submission".into()]).unwrap_err();
        assert!(err.to_string().contains("--only"), "{err}");
    }
}
