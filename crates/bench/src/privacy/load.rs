//! The loaded condition's background of `bench privacy`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::{Rng, SeedableRng};
use serde_json::json;
use warnkit_service::auth::sha256_hex;

use super::client::{field_of, real_upload, today, verification_body, Client, Req, Target};
use super::{on_own_thread, LoadReport};
use crate::services::{fresh_guids, post_positive};
use crate::Reporter;

/// The endpoint being measured, which the background leaves out while the rest of its requests go on:
/// the fakes of an endpoint draw from its real requests, and the background's would be a different
/// population from the measured ones (sent at other moments of a flow), which is not what fakes face in
/// service, where the same phones send both.
#[derive(Debug, Clone, Default)]
pub(super) struct Measured(Arc<AtomicUsize>);

/// The app endpoints, in the order the observer measures them.
pub(super) const ENDPOINTS: [&str; 4] =
    ["registrationToken", "testresult", "tan", "diagnosis-keys"];

impl Measured {
    /// `endpoint` (one of [`ENDPOINTS`]) is measured from now on; `None`: none is.
    pub(super) fn set(&self, endpoint: Option<&str>) {
        let i = endpoint.and_then(|e| ENDPOINTS.iter().position(|x| *x == e));
        self.0.store(i.map_or(0, |i| i + 1), Ordering::Relaxed);
    }

    fn is(&self, endpoint: &str) -> bool {
        let i = self.0.load(Ordering::Relaxed);
        i > 0 && ENDPOINTS[i - 1] == endpoint
    }
}

/// Registration tokens and TANs prepared before the load starts, for the flows' steps after a left-out
/// registration or TAN request.
#[derive(Default)]
struct Pools {
    tokens: Mutex<Vec<String>>,
    tans: Mutex<Vec<String>>,
}

impl Pools {
    /// `size` tokens and `size` TANs through the app API, before the flows start.
    async fn prepare(c: &Client, size: usize) -> anyhow::Result<Self> {
        let guids = fresh_guids(size + size.div_ceil(2));
        post_positive(&c.http, &c.target.testresult, &c.target.lab_key, &guids).await?;
        let (mut tokens, mut tans) = (Vec::new(), Vec::new());
        for (i, guid) in guids.iter().enumerate() {
            let reg = verification_body(json!({"keyType": "GUID", "key": sha256_hex(guid)}));
            let seen = c.send("registrationToken", &reg, false).await?;
            let token = field_of(&seen.body, "registrationToken").context("no token")?;
            if i < size {
                tokens.push(token);
                continue;
            }
            for _ in 0..2 {
                let body = verification_body(json!({ "registrationToken": token }));
                let seen = c.send("tan", &body, false).await?;
                tans.push(field_of(&seen.body, "tan").context("no TAN")?);
            }
        }
        Ok(Self {
            tokens: Mutex::new(tokens),
            tans: Mutex::new(tans),
        })
    }

    fn token(&self) -> Option<String> {
        self.tokens.lock().ok()?.pop()
    }

    fn tan(&self) -> Option<String> {
        self.tans.lock().ok()?.pop()
    }
}

/// The loaded condition's background, on a thread of its own: app flows (a lab result, then the app's
/// registration, poll, TAN and upload, less the measured endpoint) started at random times, at most a
/// bound at once.
pub(super) struct Background {
    stop: Arc<AtomicBool>,
    done: tokio::task::JoinHandle<anyhow::Result<LoadReport>>,
}

impl Background {
    /// Prepares the pools, then starts the flows; returns once they run.
    pub(super) async fn start(
        target: &Target,
        rate: f64,
        max_in_flight: usize,
        measured: Measured,
    ) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, target) = (stop.clone(), target.clone());
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let done = tokio::spawn(on_own_thread("bench-load", move || async move {
            let client = Client::new(target)?;
            // Enough for four seconds of flows without their own registration or TAN.
            let size = ((rate * 4.0) as usize).clamp(200, 4000);
            let pools = Pools::prepare(&client, size).await?;
            // The receiver waits for this; were it gone, there would be nobody to tell.
            let _ = ready_tx.send(());
            generate(client, pools, measured, rate, max_in_flight, flag).await
        }));
        if ready_rx.await.is_err() {
            // The thread ended before it was ready: its error tells why.
            return match done.await {
                Ok(Err(e)) => Err(e.context("preparing the background load")),
                _ => Err(anyhow::anyhow!("the background load ended early")),
            };
        }
        Ok(Self { stop, done })
    }

    /// Stops starting flows, waits for the running ones, and reports; a failed load is a warning to
    /// `reporter` and an empty report.
    pub(super) async fn stop(self, reporter: &dyn Reporter) -> LoadReport {
        self.stop.store(true, Ordering::Relaxed);
        match self.done.await {
            Ok(Ok(report)) => report,
            Ok(Err(e)) => {
                reporter.warn(&format!("the background load failed: {e:#}"));
                LoadReport::default()
            }
            Err(e) => {
                reporter.warn(&format!("the background load panicked: {e}"));
                LoadReport::default()
            }
        }
    }
}

/// Starts flows at exponentially distributed intervals (mean `1 / rate`) until `stop`, skipping those
/// due while `max_in_flight` run; waits for the running ones at the end.
async fn generate(
    client: Client,
    pools: Pools,
    measured: Measured,
    rate: f64,
    max_in_flight: usize,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<LoadReport> {
    let shared = Arc::new((client, pools, measured));
    let counts = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut rng = rand::rngs::StdRng::from_entropy();
    let mut tasks = tokio::task::JoinSet::new();
    let (began, mut next, mut skipped) = (Instant::now(), Instant::now(), 0);
    while !stop.load(Ordering::Relaxed) {
        // Exponential gaps, waited out precisely (tokio's 1 ms ticks would bunch the starts together).
        let gap = -(1.0 - rng.gen::<f64>()).ln() / rate;
        next += Duration::from_secs_f64(gap);
        warnkit_service::fake::wait_until(next).await;
        if in_flight.load(Ordering::Relaxed) >= max_in_flight {
            skipped += 1;
            continue;
        }
        in_flight.fetch_add(1, Ordering::Relaxed);
        let (shared, counts, in_flight) = (shared.clone(), counts.clone(), in_flight.clone());
        tasks.spawn(async move {
            let (client, pools, measured) = &*shared;
            let mut requests = 0;
            let ok = flow(client, pools, measured, &mut requests).await.is_some();
            counts[0].fetch_add(requests, Ordering::Relaxed);
            counts[1].fetch_add(usize::from(!ok), Ordering::Relaxed);
            in_flight.fetch_sub(1, Ordering::Relaxed);
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let requests = counts[0].load(Ordering::Relaxed);
    Ok(LoadReport {
        flows_per_second: rate,
        max_in_flight,
        requests,
        requests_per_second: requests as f64 / began.elapsed().as_secs_f64(),
        failed_flows: counts[1].load(Ordering::Relaxed),
        skipped_flows: skipped,
    })
}

/// One background flow: a lab result, then the app's registration, poll, TAN and upload, all real,
/// less the measured endpoint (a pooled token or TAN stands in for what it would have given); `None`
/// when a step fails or a pool is empty. Counts the requests sent in `requests`.
async fn flow(c: &Client, pools: &Pools, measured: &Measured, requests: &mut usize) -> Option<()> {
    let guid = fresh_guids(1).remove(0);
    *requests += 1;
    post_positive(
        &c.http,
        &c.target.testresult,
        &c.target.lab_key,
        std::slice::from_ref(&guid),
    )
    .await
    .ok()?;
    let mut send = |endpoint: &'static str, req: Req| {
        *requests += 1;
        async move {
            let seen = c.send(endpoint, &req, false).await.ok()?;
            (seen.status < 300).then_some(seen.body)
        }
    };
    let token = if measured.is("registrationToken") {
        pools.token()?
    } else {
        let reg = verification_body(json!({"keyType": "GUID", "key": sha256_hex(&guid)}));
        field_of(&send("registrationToken", reg).await?, "registrationToken")?
    };
    let token_body = || verification_body(json!({ "registrationToken": token }));
    if !measured.is("testresult") {
        send("testresult", token_body()).await?;
    }
    let tan = if measured.is("tan") {
        pools.tan()?
    } else {
        field_of(&send("tan", token_body()).await?, "tan")?
    };
    if !measured.is("diagnosis-keys") {
        send("diagnosis-keys", real_upload(today().ok()?, tan)).await?;
    }
    Some(())
}
