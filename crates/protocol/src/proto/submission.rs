//! The submission payload a phone uploads with its diagnosis keys.

use super::export::TemporaryExposureKey;

/// `SubmissionPayload`: the body of `POST /version/v1/diagnosis-keys`.
///
/// Tags 6 (event check-ins) and 8 (protected check-in reports) belong to features outside warnkit's
/// scope; prost skips them like any unknown field.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SubmissionPayload {
    /// The diagnosis keys, up to 14.
    #[prost(message, repeated, tag = "1")]
    pub keys: Vec<TemporaryExposureKey>,
    /// Random bytes that make real and fake uploads the same size.
    #[prost(bytes = "vec", optional, tag = "2")]
    pub request_padding: Option<Vec<u8>>,
    /// Countries the user visited (ISO 3166-1 alpha-2).
    #[prost(string, repeated, tag = "3")]
    pub visited_countries: Vec<String>,
    /// The country of the user's app.
    #[prost(string, optional, tag = "4")]
    pub origin: Option<String>,
    /// Whether the user consented to sharing keys with other countries.
    #[prost(bool, optional, tag = "5")]
    pub consent_to_federation: Option<bool>,
    /// What kind of diagnosis backs the upload.
    #[prost(enumeration = "SubmissionType", optional, tag = "7")]
    pub submission_type: Option<i32>,
}

/// `SubmissionType`: what backs an upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum SubmissionType {
    /// A PCR test result.
    PcrTest = 0,
    /// A rapid antigen test result.
    RapidTest = 1,
}
