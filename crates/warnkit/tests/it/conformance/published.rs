//! Checks of what the app downloads: signature infos, key packages and the levels an ENF v2 app
//! reads back from them, all from this suite's own tables.

use crate::conformance::wire::{self, int_map, walk, Fields, Get};

/// The signature info the original writes into every export and signature list.
pub fn check_signature_info(info: &Fields) {
    assert_eq!(info.text("app_bundle_id"), Some("de.rki.coronawarnapp"));
    assert_eq!(
        info.text("android_package"),
        None,
        "the original never sets it"
    );
    assert_eq!(info.text("verification_key_id"), Some("262"));
    assert_eq!(info.text("verification_key_version"), Some("v1"));
    assert_eq!(
        info.text("signature_algorithm"),
        Some("1.2.840.10045.4.3.2")
    );
}

/// A key package: header, export fields, signature info; returns the keys.
pub fn key_export(bin: &[u8], region: &str, start: i64, end: i64) -> Vec<Fields> {
    let body = bin
        .strip_prefix(b"EK Export v1    ")
        .expect("the 16-byte header");
    let export = walk(&wire::TEK_EXPORT, body).expect("TemporaryExposureKeyExport");
    assert_eq!(export.text("region"), Some(region));
    assert_eq!(
        (export.int("batch_num"), export.int("batch_size")),
        (Some(1), Some(1))
    );
    assert_eq!(
        (export.int("start_timestamp"), export.int("end_timestamp")),
        (Some(start), Some(end))
    );
    let infos = export.msgs("signature_infos");
    assert_eq!(infos.len(), 1);
    check_signature_info(infos[0]);
    let keys: Vec<Fields> = export.msgs("keys").into_iter().cloned().collect();
    let order: Vec<&[u8]> = keys
        .iter()
        .map(|k| k.bytes("key_data").expect("key"))
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "keys sorted by key data, no repeats"
    );
    keys
}

/// The transmission risk level an ENF v2 app computes for a key, from the published v2 Android
/// configuration alone: days since onset → infectiousness by the data mapping, then the offsets.
pub fn decoded_trl(config: &Fields, key: &Fields) -> Option<i64> {
    let mapping = config
        .msg("diagnosisKeysDataMapping")
        .expect("data mapping");
    let days = int_map(mapping, "daysSinceOnsetToInfectiousness");
    let infectiousness = match key.int("days_since_onset_of_symptoms") {
        Some(d) => *days.get(&d)?,
        None => mapping
            .int("infectiousnessWhenDaysSinceOnsetMissing")
            .unwrap_or(0),
    };
    let report_type = match key.int("report_type").unwrap_or(0) {
        0 => mapping.int("reportTypeWhenMissing").unwrap_or(0),
        r => r,
    };
    let enc = config
        .msg("riskCalculationParameters")
        .and_then(|r| r.msg("trlEncoding"))
        .expect("trlEncoding");
    let offset = |name: &str| enc.int(name).unwrap_or(0);
    let infectiousness_offset = match infectiousness {
        1 => offset("infectiousnessOffsetStandard"),
        2 => offset("infectiousnessOffsetHigh"),
        _ => return None, // NONE: the framework drops the key
    };
    let report_offset = match report_type {
        1 => offset("reportTypeOffsetConfirmedTest"),
        2 => offset("reportTypeOffsetConfirmedClinicalDiagnosis"),
        3 => offset("reportTypeOffsetSelfReport"),
        4 => offset("reportTypeOffsetRecursive"),
        _ => return None,
    };
    Some(infectiousness_offset + report_offset)
}

/// A day number as the `YYYY-MM-DD` of the download paths.
pub fn date(day: i64) -> String {
    let out = warnkit_protocol::interval::date_string(day);
    assert_eq!(out.len(), 10);
    out
}
