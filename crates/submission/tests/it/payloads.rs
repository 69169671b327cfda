//! Every malformed payload of the reference's validation list, over HTTP: 400 with its code, nothing
//! stored, and the TAN still usable afterwards (validation runs before the TAN is spent).

use prost::Message;
use reqwest::StatusCode;
use warnkit_protocol::proto::{SubmissionPayload, TemporaryExposureKey};

use crate::harness::{body_json, payload, App};
use crate::on_both;

type Mutation = fn(&mut SubmissionPayload, i32);

fn key(today: i32, day: i32) -> TemporaryExposureKey {
    let mut p = payload(today, day + 1);
    p.keys.pop().unwrap()
}

/// (name, expected error code, mutation of a valid 10-key payload).
const CASES: &[(&str, &str, Mutation)] = &[
    ("no keys", "invalid_key_count", |p, _| p.keys.clear()),
    ("15 keys", "invalid_key_count", |p, t| {
        p.keys.extend((10..15).map(|d| key(t, d)))
    }),
    (
        "rolling start not at midnight",
        "invalid_rolling_start",
        |p, _| {
            *p.keys[3].rolling_start_interval_number.as_mut().unwrap() += 1;
        },
    ),
    ("rolling start missing", "invalid_rolling_start", |p, _| {
        p.keys[3].rolling_start_interval_number = None
    }),
    ("rolling start negative", "invalid_rolling_start", |p, _| {
        p.keys[3].rolling_start_interval_number = Some(-144);
    }),
    (
        "rolling start tomorrow",
        "rolling_start_in_future",
        |p, t| {
            p.keys[0].rolling_start_interval_number = Some(t + 144);
        },
    ),
    ("origin of another country", "invalid_origin", |p, _| {
        p.origin = Some("FR".into())
    }),
    (
        "unsupported visited country",
        "unsupported_visited_country",
        |p, _| p.visited_countries.push("US".into()),
    ),
    (
        "lowercase visited country",
        "unsupported_visited_country",
        |p, _| p.visited_countries.push("fr".into()),
    ),
    ("neither TRL nor DSOS", "missing_risk_fields", |p, _| {
        p.keys[2].transmission_risk_level = None;
        p.keys[2].days_since_onset_of_symptoms = None;
    }),
    ("TRL 0", "invalid_transmission_risk_level", |p, _| {
        p.keys[2].transmission_risk_level = Some(0)
    }),
    ("TRL 9", "invalid_transmission_risk_level", |p, _| {
        p.keys[2].transmission_risk_level = Some(9)
    }),
    ("DSOS -15", "invalid_days_since_onset", |p, _| {
        p.keys[2].days_since_onset_of_symptoms = Some(-15)
    }),
    ("DSOS 4001", "invalid_days_since_onset", |p, _| {
        p.keys[2].days_since_onset_of_symptoms = Some(4001)
    }),
    ("rolling period 0", "invalid_rolling_period", |p, _| {
        p.keys[1].rolling_period = Some(0)
    }),
    ("rolling period 145", "invalid_rolling_period", |p, _| {
        p.keys[1].rolling_period = Some(145)
    }),
    (
        "rolling period negative",
        "invalid_rolling_period",
        |p, _| p.keys[1].rolling_period = Some(-1),
    ),
    ("key of 15 bytes", "invalid_key_data", |p, _| {
        p.keys[4].key_data = Some(vec![1; 15])
    }),
    ("key of 17 bytes", "invalid_key_data", |p, _| {
        p.keys[4].key_data = Some(vec![1; 17])
    }),
    ("key data missing", "invalid_key_data", |p, _| {
        p.keys[4].key_data = None
    }),
    ("same key twice", "duplicate_key", |p, _| {
        p.keys[4].key_data = p.keys[0].key_data.clone()
    }),
    (
        "same rolling start twice",
        "duplicate_rolling_start",
        |p, _| {
            p.keys[4].rolling_start_interval_number = p.keys[0].rolling_start_interval_number;
        },
    ),
    ("padding over the limit", "padding_too_large", |p, _| {
        p.request_padding = Some(vec![7; 10_001])
    }),
    (
        "unknown submission type",
        "invalid_submission_type",
        |p, _| p.submission_type = Some(2),
    ),
];

async fn every_rule_answers_400(app: App) {
    let tan = app.tan().await;
    let today = crate::harness::today(&app);
    for (name, code, mutate) in CASES {
        let mut p = payload(today, 10);
        mutate(&mut p, today);
        for fake in ["0", "1"] {
            let r = app
                .upload(
                    p.encode_to_vec(),
                    &[("cwa-authorization", &tan), ("cwa-fake", fake)],
                )
                .await;
            let (status, body) = body_json(r).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{name} (fake {fake})");
            assert_eq!(body["error"], *code, "{name} (fake {fake})");
        }
    }
    // Garbage that is not a protobuf message at all.
    for garbage in [
        vec![0xff; 32],
        vec![0x0a, 0x05, 0x01],
        b"{\"keys\": []}".to_vec(),
    ] {
        let r = app.upload(garbage, &[("cwa-authorization", &tan)]).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
    assert_eq!(app.stored().await, 0);
    // Nothing above spent the TAN.
    assert_eq!(
        app.submit(&payload(today, 10), &tan).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.stored().await, 10);
}
on_both!(every_rule_answers_400);
