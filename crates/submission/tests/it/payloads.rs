//! Every malformed payload of the reference's validation list, over HTTP: 400 with its code, nothing
//! stored, and the TAN still usable afterwards (validation runs before the TAN is spent). Then what the
//! original accepts although it stores less: keys outside the window are dropped, keys of one day may come
//! twice, and a missing risk field is derived.

use prost::Message;
use reqwest::StatusCode;
use warnkit_protocol::proto::{SubmissionPayload, TemporaryExposureKey};

use crate::harness::{body_json, payload, today, App};
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
    (
        "negative rolling start not at midnight",
        "invalid_rolling_start",
        |p, _| {
            p.keys[3].rolling_start_interval_number = Some(-143);
        },
    ),
    (
        "future rolling start not at midnight",
        "invalid_rolling_start",
        |p, t| {
            p.keys[0].rolling_start_interval_number = Some(t + 150);
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
    ("DSOS -16", "invalid_days_since_onset", |p, _| {
        p.keys[2].days_since_onset_of_symptoms = Some(-16)
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
    let today = today(&app);
    for (name, code, mutate) in CASES {
        let mut p = payload(today, 10);
        mutate(&mut p, today);
        let real = [("cwa-authorization", tan.as_str()), ("cwa-fake", "0")];
        let (status, body) = body_json(app.upload(p.encode_to_vec(), &real).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
        assert_eq!(body["error"], *code, "{name}");
        // A fake's body is not read, as in the original: the same bytes get the success answer.
        let fake = [("cwa-authorization", ""), ("cwa-fake", "1")];
        let r = app.upload(p.encode_to_vec(), &fake).await;
        assert_eq!(r.status(), StatusCode::OK, "{name} (fake)");
    }
    // Garbage that is not a protobuf message at all, and 32-bit fields that do not fit 32 bits (prost
    // alone would read a rolling start of 2^32 as 0, and 2^32 + 144·n as 144·n).
    for garbage in [
        vec![0xff; 32],
        vec![0x0a, 0x05, 0x01],
        b"{\"keys\": []}".to_vec(),
        with_key_field(today, 3, 1 << 32),
        with_key_field(today, 3, (1 << 32) + u64::from(today as u32)),
        with_key_field(today, 2, 1 << 31),
        with_key_field(today, 4, u64::from(u32::MAX)),
        with_key_field(today, 5, 1 << 33),
        with_key_field(today, 6, 1 << 32),
        with_payload_field(today, 7, 1 << 32),
    ] {
        let r = app
            .upload(
                garbage.clone(),
                &[("cwa-authorization", &tan), ("cwa-fake", "0")],
            )
            .await;
        let (status, body) = body_json(r).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{garbage:02x?}");
        assert_eq!(body["error"], "malformed_payload", "{garbage:02x?}");
    }
    assert_eq!(app.stored().await, 0);
    // The sign-extended form of a negative int32 is a valid encoding (and -1 an invalid level).
    let r = app
        .upload(
            with_key_field(today, 2, u64::MAX),
            &[("cwa-authorization", &tan), ("cwa-fake", "0")],
        )
        .await;
    assert_eq!(
        body_json(r).await.1["error"],
        "invalid_transmission_risk_level"
    );
    // Nothing above spent the TAN.
    assert_eq!(
        app.submit(&payload(today, 10), &tan).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.stored().await, 10);
}
on_both!(every_rule_answers_400);

fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
    out
}

/// A valid one-key payload whose key also carries `field` as the varint `value` (the last value of a
/// field wins in protobuf, so this one is what a decoder reads).
fn with_key_field(today: i32, field: u8, value: u64) -> Vec<u8> {
    let mut p = payload(today, 1);
    let mut key = p.keys.pop().unwrap().encode_to_vec();
    key.push(field << 3);
    key.extend(varint(value));
    let mut out = p.encode_to_vec();
    out.push(0x0a);
    out.extend(varint(key.len() as u64));
    out.extend(key);
    out
}

/// A valid one-key payload followed by the payload field `field` as the varint `value`.
fn with_payload_field(today: i32, field: u8, value: u64) -> Vec<u8> {
    let mut out = payload(today, 1).encode_to_vec();
    out.push(field << 3);
    out.extend(varint(value));
    out
}

/// Keys outside the window are left out without an error, as in the original; the TAN is still spent.
async fn keys_outside_the_window_are_dropped(app: App) {
    let today = today(&app);
    let oldest = today - 14 * 144;
    type Place = fn(&mut TemporaryExposureKey, i32);
    let drops: [(&str, Place); 6] = [
        ("tomorrow", |k, t| {
            k.rolling_start_interval_number = Some(t + 144)
        }),
        ("in a year", |k, t| {
            k.rolling_start_interval_number = Some(t + 365 * 144)
        }),
        ("rolling start 0", |k, _| {
            k.rolling_start_interval_number = Some(0)
        }),
        ("rolling start missing", |k, _| {
            k.rolling_start_interval_number = None
        }),
        ("rolling start negative", |k, _| {
            k.rolling_start_interval_number = Some(-144)
        }),
        ("15 days old", |k, t| {
            k.rolling_start_interval_number = Some(t - 15 * 144)
        }),
    ];
    for (name, place) in drops {
        let tan = app.tan().await;
        let mut p = payload(today, 1);
        place(&mut p.keys[0], today);
        let r = app.submit(&p, &tan).await;
        assert_eq!(r.status(), StatusCode::OK, "{name}");
        assert_eq!(app.stored().await, 0, "{name}");
        // The TAN was checked, and so spent, as in the original.
        assert_eq!(app.verify(&tan, None).await.status(), 404, "{name}");
    }
    // Mixed: the dropped keys are not validated further; the others are stored.
    let tan = app.tan().await;
    let mut p = payload(today, 4);
    p.keys[1].rolling_start_interval_number = Some(today + 144);
    p.keys[1].key_data = Some(vec![1; 3]);
    p.keys[2].rolling_start_interval_number = Some(oldest - 144);
    p.keys[2].transmission_risk_level = Some(99);
    p.keys[3].rolling_start_interval_number = Some(oldest);
    assert_eq!(app.submit(&p, &tan).await.status(), StatusCode::OK);
    let hour = app.submission.clock().hour();
    let stored = app
        .submission
        .store()
        .keys_submitted_between(hour, hour + 1)
        .await
        .unwrap();
    let mut starts: Vec<i64> = stored.iter().map(|k| i64::from(k.rolling_start)).collect();
    starts.sort_unstable();
    assert_eq!(starts, [i64::from(oldest), i64::from(today)]);
    assert_eq!(
        app.submission
            .metrics()
            .counter("submission_keys_dropped_total"),
        8
    );
}
on_both!(keys_outside_the_window_are_dropped);

/// Several keys of one day (the day's key replaced mid-day) are accepted, as in the original since 1.5.
async fn keys_of_the_same_day_are_accepted(app: App) {
    let tan = app.tan().await;
    let today = today(&app);
    let mut p = payload(today, 3);
    for k in &mut p.keys {
        k.rolling_start_interval_number = Some(today - 144);
    }
    p.keys[0].rolling_period = Some(100);
    let r = app.submit(&p, &tan).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.stored().await, 3);
}
on_both!(keys_of_the_same_day_are_accepted);

/// A key with one of the two risk fields gets the other from the original's tables.
async fn missing_risk_fields_are_derived(app: App) {
    let tan = app.tan().await;
    let today = today(&app);
    let mut p = payload(today, 3);
    p.keys[0].transmission_risk_level = None;
    p.keys[0].days_since_onset_of_symptoms = Some(1);
    p.keys[1].transmission_risk_level = Some(7);
    p.keys[1].days_since_onset_of_symptoms = None;
    p.keys[2].transmission_risk_level = None;
    p.keys[2].days_since_onset_of_symptoms = Some(-15);
    assert_eq!(app.submit(&p, &tan).await.status(), StatusCode::OK);
    let hour = app.submission.clock().hour();
    let stored = app
        .submission
        .store()
        .keys_submitted_between(hour, hour + 1)
        .await
        .unwrap();
    let risk = |i: usize| {
        let k = stored
            .iter()
            .find(|k| k.key_data[..] == p.keys[i].key_data.as_deref().unwrap()[..])
            .unwrap();
        (k.transmission_risk_level, k.days_since_onset_of_symptoms)
    };
    assert_eq!(risk(0), (8, Some(1)));
    assert_eq!(risk(1), (7, Some(3996)));
    assert_eq!(risk(2), (1, Some(-15)));
}
on_both!(missing_risk_fields_are_derived);
