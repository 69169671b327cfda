//! Small runs of the service benchmarks on SQLite: every upload stored, every batch downloaded, every
//! endpoint compared, with nothing printed.

use warnkit_bench::federation::{self, FederationOptions};
use warnkit_bench::privacy::{self, PrivacyOptions};
use warnkit_bench::submission::{self, SubmissionOptions};
use warnkit_bench::Silent;

#[test]
fn every_upload_is_stored() {
    let report = submission::run(
        &SubmissionOptions {
            submissions: 30,
            keys: 3,
            concurrency: 4,
            threads: 2,
            database_url: None,
            tan_repeat_secs: Some(0),
        },
        &Silent,
    )
    .unwrap();
    assert_eq!(report.backend, "sqlite");
    assert_eq!(report.failures, 0);
    assert_eq!(report.keys_stored, 90);
    assert_eq!(report.tan_repeat_secs, 0);
    assert!(report.latency_p50_ms <= report.latency_p99_ms);
}

#[test]
fn one_country_stores_every_other_countrys_keys() {
    let report = federation::run(
        &FederationOptions {
            countries: 3,
            keys: 700,
            batch_keys: 300,
            threads: 2,
            database_url: None,
            seed: 1,
        },
        &Silent,
    )
    .unwrap();
    assert_eq!(report.batches_uploaded, 9);
    assert_eq!(report.keys_uploaded, 2_100);
    // The EU's first three: AT, BE, BG; DE is not among them, so the first downloads.
    assert_eq!(report.download_country, "AT");
    assert_eq!(report.keys_stored, 1_400);
    assert_eq!(report.batches_downloaded, 6);
}

#[test]
fn every_endpoint_is_compared_in_both_conditions() {
    let report = privacy::run(
        &PrivacyOptions {
            requests: 12,
            warmup: 2,
            load_rate: 20.0,
            load_concurrency: 2,
            threads: 2,
            database_url: None,
        },
        &Silent,
    )
    .unwrap();
    let conditions: Vec<&str> = report.conditions.iter().map(|c| c.condition).collect();
    assert_eq!(conditions, ["idle", "under load"]);
    for c in &report.conditions {
        let endpoints: Vec<&str> = c.endpoints.iter().map(|e| e.endpoint).collect();
        assert_eq!(
            endpoints,
            ["registrationToken", "testresult", "tan", "diagnosis-keys"]
        );
        for e in &c.endpoints {
            assert!((0.0..=1.0).contains(&e.auc), "{}: {}", e.endpoint, e.auc);
            assert!(e.real_statuses.iter().all(|s| *s < 300));
        }
    }
    assert!(report.conditions[1].background.requests > 0);
}
