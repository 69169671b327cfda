//! The export file tables: `temporary_exposure_key_export.proto` and
//! `temporary_exposure_key_signature_list.proto` (proto2), as the framework reads them.

use super::Kind::*;
use super::Schema;

// temporary_exposure_key_export.proto (proto2)
schema!(
    TEK_EXPORT,
    "TemporaryExposureKeyExport",
    [
        (1, "start_timestamp", Fixed64, false),
        (2, "end_timestamp", Fixed64, false),
        (3, "region", Str, false),
        (4, "batch_num", Int32, false),
        (5, "batch_size", Int32, false),
        (6, "signature_infos", Msg(&SIGNATURE_INFO), true),
        (7, "keys", Msg(&TEK), true),
    ]
);
schema!(
    SIGNATURE_INFO,
    "SignatureInfo",
    [
        (1, "app_bundle_id", Str, false),
        (2, "android_package", Str, false),
        (3, "verification_key_version", Str, false),
        (4, "verification_key_id", Str, false),
        (5, "signature_algorithm", Str, false),
    ]
);
schema!(
    TEK,
    "TemporaryExposureKey",
    [
        (1, "key_data", Bytes, false),
        (2, "transmission_risk_level", Int32, false),
        (3, "rolling_start_interval_number", Int32, false),
        (4, "rolling_period", Int32, false),
        (5, "report_type", Enum, false),
        (6, "days_since_onset_of_symptoms", SInt32, false),
    ]
);
// temporary_exposure_key_signature_list.proto (proto2)
schema!(
    TEK_SIGNATURE_LIST,
    "TEKSignatureList",
    [(1, "signatures", Msg(&TEK_SIGNATURE), true)]
);
schema!(
    TEK_SIGNATURE,
    "TEKSignature",
    [
        (1, "signature_info", Msg(&SIGNATURE_INFO), false),
        (2, "batch_num", Int32, false),
        (3, "batch_size", Int32, false),
        (4, "signature", Bytes, false),
    ]
);
