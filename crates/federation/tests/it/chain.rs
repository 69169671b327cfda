//! A day's chain of batches is continued after the last batch handled, without downloading that batch
//! again: the next tag is asked for directly, or taken from the untrusted batch just fetched again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use warnkit_federation::gateway::{BATCH_COUNTRY, BATCH_SIGNATURE, BATCH_TAG, NEXT_BATCH_TAG};
use warnkit_federation::{Federation, Settings};
use warnkit_testkit::{bind, suite_on_both_engines};

use crate::harness::{key, World, START};

suite_on_both_engines!(
    a_days_chain_continues_without_downloading_a_batch_again,
    crate::harness::World,
    2
);

/// A gateway in front of `target` that passes downloads on and counts those that returned a batch.
async fn counting_gateway(target: String) -> (String, Arc<AtomicUsize>) {
    let batches = Arc::new(AtomicUsize::new(0));
    let counter = batches.clone();
    let http = reqwest::Client::new();
    let handler = move |Path(date): Path<String>, headers: HeaderMap| {
        let (counter, http, target) = (counter.clone(), http.clone(), target.clone());
        async move {
            let mut request = http.get(format!("{target}/diagnosiskeys/download/{date}"));
            for name in ["authorization", BATCH_TAG] {
                if let Some(value) = headers.get(name) {
                    request = request.header(name, value.as_bytes());
                }
            }
            let response = request.send().await.expect("forwarding a download");
            let status = StatusCode::from_u16(response.status().as_u16()).expect("a status");
            if status == StatusCode::OK {
                counter.fetch_add(1, Ordering::SeqCst);
            }
            let mut out = HeaderMap::new();
            for name in [BATCH_TAG, NEXT_BATCH_TAG, BATCH_COUNTRY, BATCH_SIGNATURE] {
                if let Some(value) = response.headers().get(name) {
                    out.insert(name, value.as_bytes().try_into().expect("a header value"));
                }
            }
            let body = response
                .bytes()
                .await
                .expect("the gateway's answer")
                .to_vec();
            (status, out, body).into_response()
        }
    };
    let app = Router::new().route("/diagnosiskeys/download/{date}", get(handler));
    let (listener, url) = bind().await;
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, batches)
}

async fn a_days_chain_continues_without_downloading_a_batch_again(w: World) {
    let hour = START / 3600 - 2;
    let de = w.backend("DE");
    let it = w.backend("IT");
    let fr = w.backend("FR");
    de.keys
        .insert(&[key(1, "DE", &["FR"], true, hour)])
        .await
        .unwrap();
    it.keys
        .insert(&[key(2, "IT", &["FR"], true, hour)])
        .await
        .unwrap();
    assert_eq!(de.federation.upload_once().await.unwrap().batches, 1);
    assert_eq!(it.federation.upload_once().await.unwrap().batches, 1);

    // FR, trusting DE only (IT's batches are untrusted), through a gateway that counts batches served.
    let (url, served) = counting_gateway(w.gateway_url.clone()).await;
    let settings = Settings {
        gateway_url: url,
        country: "FR".into(),
        token: fr.token.clone(),
        signing_key: fr.signing.clone(),
        trusted: [("DE".to_owned(), *de.signing.verifying_key())].into(),
        max_batch_keys: 3,
        retention_days: 14,
    };
    let fr = Federation::new(
        fr.keys.clone(),
        fr.federation.db().clone(),
        settings,
        w.clock.clone(),
    )
    .unwrap();
    let run = async |expected: (usize, usize, usize)| {
        served.store(0, Ordering::SeqCst);
        let down = fr.download_once().await.unwrap();
        let got = (
            served.load(Ordering::SeqCst),
            down.batches_stored,
            down.untrusted,
        );
        assert_eq!(got, expected, "(served, stored, untrusted): {down:?}");
    };

    // Both batches once; then only the untrusted one again, whose missing next tag ends the day.
    run((2, 1, 1)).await;
    run((1, 0, 1)).await;
    // A new batch after the untrusted one: its tag comes from the untrusted batch just fetched again.
    de.keys
        .insert(&[key(3, "DE", &["FR"], true, START / 3600)])
        .await
        .unwrap();
    w.clock.set(START + 3600);
    assert_eq!(de.federation.upload_once().await.unwrap().batches, 1);
    run((2, 1, 1)).await;
    // Now the last batch handled is a stored one: the tag after it is asked for, and there is none.
    run((1, 0, 1)).await;
}
