//! The export file messages (`export.bin` and `export.sig`), as published by Apple and Google.

/// `TemporaryExposureKeyExport`: the body of `export.bin` after its 16-byte header.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TemporaryExposureKeyExport {
    /// Start of the key arrival window, UTC seconds.
    #[prost(fixed64, optional, tag = "1")]
    pub start_timestamp: Option<u64>,
    /// End of the key arrival window, UTC seconds.
    #[prost(fixed64, optional, tag = "2")]
    pub end_timestamp: Option<u64>,
    /// Region the keys come from, e.g. `DE`.
    #[prost(string, optional, tag = "3")]
    pub region: Option<String>,
    /// 1-based number of this file within its batch.
    #[prost(int32, optional, tag = "4")]
    pub batch_num: Option<i32>,
    /// Number of files in the batch.
    #[prost(int32, optional, tag = "5")]
    pub batch_size: Option<i32>,
    /// Which keys signed this file; one entry per signature in `export.sig`.
    #[prost(message, repeated, tag = "6")]
    pub signature_infos: Vec<SignatureInfo>,
    /// The diagnosis keys.
    #[prost(message, repeated, tag = "7")]
    pub keys: Vec<TemporaryExposureKey>,
    /// Keys published earlier whose report type changed.
    #[prost(message, repeated, tag = "8")]
    pub revised_keys: Vec<TemporaryExposureKey>,
}

/// `SignatureInfo`: identifies the key and algorithm of one signature. Tag 2 (`android_package`) is
/// never set, as in the original; Google's later definition reserves tags 1 and 2.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct SignatureInfo {
    /// The app the file is meant for, e.g. `de.rki.coronawarnapp`.
    #[prost(string, optional, tag = "1")]
    pub app_bundle_id: Option<String>,
    /// Key version, e.g. `v1`.
    #[prost(string, optional, tag = "3")]
    pub verification_key_version: Option<String>,
    /// Key id, e.g. the country's mobile country code.
    #[prost(string, optional, tag = "4")]
    pub verification_key_id: Option<String>,
    /// Algorithm OID: `1.2.840.10045.4.3.2` for ECDSA with SHA-256.
    #[prost(string, optional, tag = "5")]
    pub signature_algorithm: Option<String>,
}

/// `TemporaryExposureKey`: one diagnosis key, in export files and in the submission payload.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct TemporaryExposureKey {
    /// The 16-byte key.
    #[prost(bytes = "vec", optional, tag = "1")]
    pub key_data: Option<Vec<u8>>,
    /// Transmission risk level 0..8 (deprecated by report type, still used by risk v1).
    #[prost(int32, optional, tag = "2")]
    pub transmission_risk_level: Option<i32>,
    /// First interval number of the key's validity.
    #[prost(int32, optional, tag = "3")]
    pub rolling_start_interval_number: Option<i32>,
    /// Number of intervals the key was valid for.
    #[prost(int32, optional, tag = "4", default = "144")]
    pub rolling_period: Option<i32>,
    /// How the key's owner was diagnosed.
    #[prost(enumeration = "ReportType", optional, tag = "5")]
    pub report_type: Option<i32>,
    /// Days between the key's day and the onset of symptoms (zigzag-encoded on the wire).
    #[prost(sint32, optional, tag = "6")]
    pub days_since_onset_of_symptoms: Option<i32>,
}

/// `ReportType` of a diagnosis key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ReportType {
    /// Not set.
    Unknown = 0,
    /// A positive laboratory test.
    ConfirmedTest = 1,
    /// A clinical diagnosis.
    ConfirmedClinicalDiagnosis = 2,
    /// Reported by the user.
    SelfReport = 3,
    /// Derived from another key (not used).
    Recursive = 4,
    /// Revoked: the key must not produce exposures.
    Revoked = 5,
}

/// `TEKSignatureList`: the whole of `export.sig`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TekSignatureList {
    /// One signature per signing key.
    #[prost(message, repeated, tag = "1")]
    pub signatures: Vec<TekSignature>,
}

/// `TEKSignature`: one signature over the whole `export.bin`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TekSignature {
    /// The key and algorithm, equal to one of `export.bin`'s `signature_infos`.
    #[prost(message, optional, tag = "1")]
    pub signature_info: Option<SignatureInfo>,
    /// The batch number of the signed file.
    #[prost(int32, optional, tag = "2")]
    pub batch_num: Option<i32>,
    /// The batch size of the signed file.
    #[prost(int32, optional, tag = "3")]
    pub batch_size: Option<i32>,
    /// X9.62 DER-encoded ECDSA signature.
    #[prost(bytes = "vec", optional, tag = "4")]
    pub signature: Option<Vec<u8>>,
}
