//! An upload that fails halfway is retried on the next UTC day: the retry sends exactly the batches of
//! the failed run under the same tags, so the gateway takes the rest and every key arrives.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use warnkit_federation::gateway::{BATCH_SIGNATURE, BATCH_TAG, UPLOAD_PATH};
use warnkit_federation::{Federation, Settings};
use warnkit_testkit::{bind, suite_on_both_engines};

use crate::harness::{key, World, DAY};

suite_on_both_engines!(
    a_failed_upload_retried_after_midnight_loses_no_key,
    crate::harness::World,
    2
);

/// A gateway in front of `target` that passes the first upload on and answers 503 to every later one.
async fn flaky_gateway(target: String) -> String {
    let calls = Arc::new(AtomicUsize::new(0));
    let http = reqwest::Client::new();
    let handler = move |headers: HeaderMap, body: Bytes| {
        let (calls, http, target) = (calls.clone(), http.clone(), target.clone());
        async move {
            if calls.fetch_add(1, Ordering::SeqCst) > 0 {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    r#"{"error":"unavailable","message":"down for maintenance"}"#,
                )
                    .into_response();
            }
            let mut request = http.post(format!("{target}{UPLOAD_PATH}")).body(body);
            for name in ["authorization", "content-type", BATCH_TAG, BATCH_SIGNATURE] {
                if let Some(value) = headers.get(name) {
                    request = request.header(name, value.as_bytes());
                }
            }
            let response = request.send().await.expect("forwarding an upload");
            let status = StatusCode::from_u16(response.status().as_u16()).expect("a status");
            (status, response.text().await.expect("the gateway's answer")).into_response()
        }
    };
    let app = Router::new().route(UPLOAD_PATH, post(handler));
    let (listener, url) = bind().await;
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn a_failed_upload_retried_after_midnight_loses_no_key(w: World) {
    let de = w.backend("DE");
    let fr = w.backend("FR");
    // 23:30 on DAY; the keys were submitted in the hour 22:00-23:00.
    let before_midnight = DAY * 86_400 + 23 * 3600 + 1800;
    let after_midnight = (DAY + 1) * 86_400 + 1800;
    w.clock.set(before_midnight);
    let hour = DAY * 24 + 22;
    // Keys 1 and 2 are as old as an upload on DAY still sends, but an upload on the next day would not:
    // they sort first, so they fill the first batch, which is the one that gets through.
    let mut keys = Vec::new();
    for byte in [1, 2] {
        let mut old = key(byte, "DE", &["FR"], true, hour);
        old.rolling_start = ((DAY - 14) * 144) as u32;
        keys.push(old);
    }
    keys.extend((10..17).map(|b| key(b, "DE", &["FR"], true, hour)));
    de.keys.insert(&keys).await.unwrap();

    // The same country's jobs, over the same state, through a gateway that fails after one batch.
    let settings = Settings {
        gateway_url: flaky_gateway(w.gateway_url.clone()).await,
        country: "DE".into(),
        token: de.token.clone(),
        signing_key: de.signing.clone(),
        trusted: BTreeMap::new(),
        max_batch_keys: 3,
        retention_days: 14,
    };
    let flaky = Federation::new(
        de.keys.clone(),
        de.federation.db().clone(),
        settings,
        w.clock.clone(),
    )
    .unwrap();
    let failed = flaky.upload_once().await;
    assert!(failed.is_err(), "{failed:?}");
    assert_eq!(w.gateway.counts().await.unwrap(), (1, 3));

    // The retry runs after midnight, over the saved range: the first batch is already stored, the
    // other two are taken, and all nine keys are at the gateway.
    w.clock.set(after_midnight);
    let retry = de.federation.upload_once().await.unwrap();
    assert_eq!(
        (
            retry.batches,
            retry.keys,
            retry.already_stored,
            retry.refused
        ),
        (2, 6, 1, 0),
        "{retry:?}"
    );
    assert_eq!(w.gateway.counts().await.unwrap(), (3, 9));

    let down = fr.federation.download_once().await.unwrap();
    assert!(down.rejected.is_empty(), "{down:?}");
    assert_eq!((down.batches_stored, down.keys_stored), (3, 9), "{down:?}");
}
