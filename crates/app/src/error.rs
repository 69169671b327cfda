//! Why a phone action failed: [`PhoneError`], shared by the phone and the calls of the test flow
//! (`submit`) below it.

use crate::en::EnError;
use crate::http::HttpError;
use crate::risk::RiskError;

/// Why a phone action failed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PhoneError {
    /// The network or a server failed.
    Http(HttpError),
    /// The framework refused to release keys.
    En(EnError),
    /// A service refused a request.
    Refused {
        /// What was asked.
        what: &'static str,
        /// The HTTP status.
        status: u16,
        /// The service's error code (`error` of its JSON envelope), when it gave one.
        reason: Option<String>,
    },
    /// No test is registered on this phone.
    NoTest,
    /// The test result is not positive.
    NotPositive,
    /// The configured public key is unusable.
    PublicKey(String),
    /// Scoring failed.
    Risk(RiskError),
}

impl std::fmt::Display for PhoneError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Http(e) => e.fmt(f),
            Self::En(e) => e.fmt(f),
            Self::Refused {
                what,
                status,
                reason: None,
            } => write!(f, "{what} refused with HTTP {status}"),
            Self::Refused {
                what,
                status,
                reason: Some(reason),
            } => write!(f, "{what} refused with HTTP {status} ({reason})"),
            Self::NoTest => f.write_str("no test registered (scan a QR code first)"),
            Self::NotPositive => f.write_str("the test result is not positive"),
            Self::PublicKey(e) => write!(f, "public key: {e}"),
            Self::Risk(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for PhoneError {}

impl From<HttpError> for PhoneError {
    fn from(e: HttpError) -> Self {
        Self::Http(e)
    }
}

impl From<EnError> for PhoneError {
    fn from(e: EnError) -> Self {
        Self::En(e)
    }
}
