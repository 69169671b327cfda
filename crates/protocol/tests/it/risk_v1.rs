//! Risk scoring v1: the original app's published unit vectors, every bucket bound from both sides,
//! the exposure summary and the risk level.

use warnkit_protocol::risk::v1::{
    assess, attenuation_bucket, combined_risk_score, days_bucket, duration_bucket, risk_level,
    summarize, within_defined_level_threshold, AttenuationDuration, AttenuationThresholds,
    BucketWeights, Category, Exposure, RiskScoreClass, V1Error, V1Parameters, V1RiskLevel,
};

/// The parameters of the original's `RiskLevelsTest` (reference §4.2).
fn unit_test_params() -> AttenuationDuration {
    AttenuationDuration {
        thresholds: AttenuationThresholds {
            lower: 55,
            upper: 63,
        },
        weights: BucketWeights {
            low: 1.0,
            mid: 0.5,
            high: 0.5,
        },
        default_bucket_offset: 0,
        risk_score_normalization_divisor: 25,
    }
}

#[test]
fn combined_risk_score_unit_vectors() {
    let vectors: [(u32, [u32; 3], f64); 6] = [
        (0, [0, 0, 0], 0.0),
        (156, [10, 10, 10], 124.8),
        (256, [15, 15, 15], 307.2),
        (512, [30, 30, 30], 1228.8),
        (4096, [30, 30, 30], 9830.4),
        // Durations above 30 minutes are capped.
        (4096, [45, 45, 45], 9830.4),
    ];
    let params = unit_test_params();
    for (max_risk, durations, expected) in vectors {
        assert_eq!(
            combined_risk_score(max_risk, durations, &params),
            Ok(expected),
            "maximumRiskScore {max_risk}, durations {durations:?}"
        );
    }
}

#[test]
fn within_defined_level_threshold_unit_vectors() {
    assert!(within_defined_level_threshold(2.0, 1, 3));
    assert!(!within_defined_level_threshold(4.0, 1, 3));
    assert!(within_defined_level_threshold(1.0, 1, 3));
    assert!(within_defined_level_threshold(3.0, 1, 3));
    assert!(!within_defined_level_threshold(0.99, 1, 3));
}

#[test]
fn combined_score_rounds_ties_to_even() {
    let mut params = unit_test_params();
    params.weights = BucketWeights {
        low: 1.0,
        mid: 0.0,
        high: 0.0,
    };
    params.risk_score_normalization_divisor = 8;
    // 1/8 × 1 = 0.125 → ×100 = 12.5 exactly: ties to even gives 0.12, half-up would give 0.13.
    assert_eq!(combined_risk_score(1, [1, 0, 0], &params), Ok(0.12));
    // 3/8 = 0.375 → 37.5 → 38 (even).
    assert_eq!(combined_risk_score(3, [1, 0, 0], &params), Ok(0.38));
    params.default_bucket_offset = 1;
    // (1 + 1) × 1/8 = 0.25.
    assert_eq!(combined_risk_score(1, [1, 0, 0], &params), Ok(0.25));
    params.risk_score_normalization_divisor = 0;
    assert_eq!(
        combined_risk_score(1, [1, 0, 0], &params),
        Err(V1Error::NormalizationDivisorNotPositive(0))
    );
}

#[test]
fn attenuation_bucket_bounds() {
    // (value just above the bound, its bucket), (the bound itself, the next bucket).
    let cases = [
        (255, 0),
        (74, 0),
        (73, 1),
        (64, 1),
        (63, 2),
        (52, 2),
        (51, 3),
        (34, 3),
        (33, 4),
        (28, 4),
        (27, 5),
        (16, 5),
        (15, 6),
        (11, 6),
        (10, 7),
        (0, 7),
    ];
    for (db, bucket) in cases {
        assert_eq!(attenuation_bucket(db), bucket, "attenuation {db} dB");
    }
}

#[test]
fn days_bucket_bounds() {
    let cases = [
        (100, 0),
        (14, 0),
        (13, 1),
        (12, 1),
        (11, 2),
        (10, 2),
        (9, 3),
        (8, 3),
        (7, 4),
        (6, 4),
        (5, 5),
        (4, 5),
        (3, 6),
        (2, 6),
        (1, 7),
        (0, 7),
    ];
    for (days, bucket) in cases {
        assert_eq!(days_bucket(days), bucket, "{days} days");
    }
}

#[test]
fn duration_bucket_bounds() {
    let cases = [
        (0, 0),
        (1, 1),
        (5, 1),
        (6, 2),
        (10, 2),
        (11, 3),
        (15, 3),
        (16, 4),
        (20, 4),
        (21, 5),
        (25, 5),
        (26, 6),
        (30, 6),
        (31, 7),
        (1000, 7),
    ];
    for (minutes, bucket) in cases {
        assert_eq!(duration_bucket(minutes), bucket, "{minutes} minutes");
    }
}

fn exposure(attenuation_db: u8, duration_minutes: u32, days: u32, trl: u8) -> Exposure {
    Exposure {
        attenuation_db,
        duration_minutes,
        days_since_exposure: days,
        transmission_risk_level: trl,
        attenuation_durations_minutes: None,
    }
}

/// Parameters whose score tables are the bucket index + 1, so that each product identifies its
/// buckets.
fn indexed_params() -> V1Parameters {
    V1Parameters {
        min_risk_score: 0,
        transmission_scores: [1, 2, 3, 4, 5, 6, 7, 8],
        duration_scores: [1, 2, 3, 4, 5, 6, 7, 8],
        days_scores: [1, 2, 3, 4, 5, 6, 7, 8],
        attenuation_scores: [1, 2, 3, 4, 5, 6, 7, 8],
        ..V1Parameters::final_shipped()
    }
}

#[test]
fn product_score_multiplies_the_four_categories() {
    let p = indexed_params();
    // attenuation 50 → bucket 3 (4), 15 min → bucket 3 (4), 5 days → bucket 5 (6), TRL 7 → 7.
    assert_eq!(p.product_score(&exposure(50, 15, 5, 7)), Ok(4 * 4 * 6 * 7));
    assert_eq!(p.product_score(&exposure(0, 31, 0, 8)), Ok(4096));
    assert_eq!(p.product_score(&exposure(74, 0, 14, 1)), Ok(1));
    // TRL 0 carries no level: the transmission factor is 1, not the table's first entry.
    let mut q = p.clone();
    q.transmission_scores[0] = 5;
    assert_eq!(q.product_score(&exposure(74, 0, 14, 0)), Ok(1));
    assert_eq!(q.product_score(&exposure(74, 0, 14, 1)), Ok(5));
    assert_eq!(
        p.product_score(&exposure(74, 0, 14, 9)),
        Err(V1Error::TransmissionRiskLevelOutOfRange(9))
    );
}

#[test]
fn minimum_risk_score_zeroes_scores_but_keeps_minutes() {
    let mut p = indexed_params();
    p.min_risk_score = 100;
    let weak = exposure(74, 5, 14, 1); // 1 × 2 × 1 × 1 = 2
    let strong = exposure(50, 15, 5, 7); // 672
    assert_eq!(p.total_risk_score(&weak), Ok(0));
    assert_eq!(p.total_risk_score(&strong), Ok(672));
    let summary = summarize(&p, &[weak.clone(), strong.clone()]).unwrap();
    assert_eq!(summary.maximum_risk_score, 672);
    assert_eq!(summary.summation_risk_score, 672);
    assert_eq!(summary.matched_key_count, 2);
    assert_eq!(summary.days_since_last_exposure, 5);
    // 74 dB ≥ upper 63 → far bucket; 50 dB < lower 55 → near bucket.
    assert_eq!(summary.attenuation_durations_minutes, [15, 0, 5]);
    p.min_risk_score = 2;
    assert_eq!(p.total_risk_score(&weak), Ok(2));
}

#[test]
fn summary_sums_and_caps_attenuation_durations() {
    let p = V1Parameters::final_shipped();
    let mut a = exposure(60, 25, 3, 8);
    a.attenuation_durations_minutes = Some([20, 5, 0]);
    let mut b = exposure(40, 20, 1, 6);
    b.attenuation_durations_minutes = Some([15, 10, 2]);
    let summary = summarize(&p, &[a, b]).unwrap();
    assert_eq!(summary.attenuation_durations_minutes, [30, 15, 2]);
    assert_eq!(summary.days_since_last_exposure, 1);
    let empty = summarize(&p, &[]).unwrap();
    assert_eq!(empty.attenuation_durations_minutes, [0, 0, 0]);
    assert_eq!(empty.maximum_risk_score, 0);
    assert_eq!(empty.days_since_last_exposure, 0);
}

#[test]
fn derived_attenuation_durations_follow_the_thresholds() {
    let t = AttenuationThresholds {
        lower: 55,
        upper: 63,
    };
    assert_eq!(exposure(54, 10, 0, 1).attenuation_durations(&t), [10, 0, 0]);
    assert_eq!(exposure(55, 10, 0, 1).attenuation_durations(&t), [0, 10, 0]);
    assert_eq!(exposure(62, 10, 0, 1).attenuation_durations(&t), [0, 10, 0]);
    assert_eq!(exposure(63, 10, 0, 1).attenuation_durations(&t), [0, 0, 10]);
}

#[test]
fn risk_level_from_the_high_class() {
    let classes = V1Parameters::final_shipped().risk_score_classes;
    assert_eq!(risk_level(0.0, &classes), Ok(V1RiskLevel::Low));
    assert_eq!(risk_level(14.99, &classes), Ok(V1RiskLevel::Low));
    assert_eq!(risk_level(15.0, &classes), Ok(V1RiskLevel::Increased));
    assert_eq!(risk_level(9999.0, &classes), Ok(V1RiskLevel::Increased));
    assert_eq!(
        risk_level(9999.01, &classes),
        Err(V1Error::ScoreAboveHighClass {
            score: 9999.01,
            max: 9999
        })
    );
    let no_high = vec![RiskScoreClass {
        label: "LOW".into(),
        min: 0,
        max: 15,
        url: String::new(),
    }];
    assert_eq!(risk_level(1.0, &no_high), Err(V1Error::NoHighRiskClass));
}

/// Reference §4.2 sanity check: with the final values the largest product is 8 × 1 × 5 × 2 = 80, and
/// 80 / 50 × 45 weighted minutes = 72.
#[test]
fn final_shipped_scale() {
    let p = V1Parameters::final_shipped();
    let mut e = exposure(50, 30, 1, 8);
    e.attenuation_durations_minutes = Some([30, 30, 30]);
    let result = assess(&p, &[e]).unwrap();
    assert_eq!(result.summary.maximum_risk_score, 80);
    assert_eq!(result.combined_risk_score, 72.0);
    assert_eq!(result.risk_level, V1RiskLevel::Increased);

    // Ten minutes close by at TRL 3: 2 × 0 (duration ≤ 10 scores 0) → nothing.
    let short = exposure(50, 10, 1, 3);
    let result = assess(&p, &[short]).unwrap();
    assert_eq!(result.summary.maximum_risk_score, 0);
    assert_eq!(result.combined_risk_score, 0.0);
    assert_eq!(result.risk_level, V1RiskLevel::Low);

    // TRL 3, 15 min close: 2 × 5 × 1 × 3 = 30 ≥ 11; 30 / 50 × 15 = 9 → LOW.
    let result = assess(&p, &[exposure(50, 15, 1, 3)]).unwrap();
    assert_eq!(result.summary.maximum_risk_score, 30);
    assert_eq!(result.combined_risk_score, 9.0);
    assert_eq!(result.risk_level, V1RiskLevel::Low);
}

#[test]
fn validation_rejects_bad_parameters() {
    let mut p = V1Parameters::final_shipped();
    p.days_scores[3] = 9;
    assert_eq!(
        p.validate(),
        Err(V1Error::ScoreOutOfRange {
            category: Category::DaysSinceLastExposure,
            index: 3,
            value: 9
        })
    );
    let mut p = V1Parameters::final_shipped();
    p.attenuation_duration.thresholds = AttenuationThresholds {
        lower: 70,
        upper: 60,
    };
    assert_eq!(
        p.validate(),
        Err(V1Error::ThresholdsOutOfOrder {
            lower: 70,
            upper: 60
        })
    );
    let mut p = V1Parameters::final_shipped();
    p.min_risk_score = 4097;
    assert_eq!(p.validate(), Err(V1Error::MinRiskScoreOutOfRange(4097)));
    assert!(V1Parameters::final_shipped().validate().is_ok());
}

#[test]
fn parameters_json_defaults_to_final_shipped() {
    let p: V1Parameters = serde_json::from_str(r#"{"minRiskScore": 1}"#).unwrap();
    assert_eq!(p.min_risk_score, 1);
    assert_eq!(p.attenuation_duration.risk_score_normalization_divisor, 50);
    assert!(serde_json::from_str::<V1Parameters>(r#"{"minRiskScor": 1}"#).is_err());
    let json = serde_json::to_string(&V1Parameters::final_shipped()).unwrap();
    let back: V1Parameters = serde_json::from_str(&json).unwrap();
    assert_eq!(back, V1Parameters::final_shipped());
}
