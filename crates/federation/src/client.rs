//! A backend's HTTP client for the gateway: upload a signed batch, download a day's batches one by one.

use std::time::Duration;

use anyhow::{bail, Context};
use reqwest::StatusCode;

use crate::gateway::{BATCH_COUNTRY, BATCH_SIGNATURE, BATCH_TAG, NEXT_BATCH_TAG, UPLOAD_PATH};

/// What the gateway said to an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadOutcome {
    /// Stored now (201), under this download tag.
    Created(String),
    /// Already stored with the same keys (200), under this download tag.
    AlreadyStored(String),
    /// The tag was taken by a different batch of this country (409).
    Conflict,
    /// Refused as bad input (400, 413, 415): the batch will never be accepted as it is.
    Refused {
        /// HTTP status.
        status: u16,
        /// The error envelope's text.
        message: String,
    },
}

/// One downloaded batch with its headers.
#[derive(Debug, Clone)]
pub struct Downloaded {
    /// The gateway's tag of the batch.
    pub tag: String,
    /// The tag of the day's next batch, if any.
    pub next: Option<String>,
    /// The uploading country, as the gateway says (checked against the signature and the keys).
    pub country: String,
    /// The `batchSignature` header.
    pub signature: String,
    /// The `DiagnosisKeyBatch` protobuf.
    pub body: Vec<u8>,
}

/// The gateway's API with this country's credential. Cheap to clone.
#[derive(Debug, Clone)]
pub struct GatewayClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl GatewayClient {
    /// A client for the gateway at `base_url`.
    pub fn new(base_url: &str, token: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }

    /// Uploads a batch (protobuf `body`) under `tag` with its `signature` header value. Network errors,
    /// 401/403 and 5xx are errors (worth retrying later); bad input is [`UploadOutcome::Refused`].
    pub async fn upload(
        &self,
        tag: &str,
        signature: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<UploadOutcome> {
        let response = self
            .http
            .post(format!("{}{UPLOAD_PATH}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/protobuf")
            .header(BATCH_TAG, tag)
            .header(BATCH_SIGNATURE, signature)
            .body(body)
            .send()
            .await
            .context("uploading a batch to the gateway")?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let download_tag = || -> anyhow::Result<String> {
            let json: serde_json::Value =
                serde_json::from_str(&text).context("the gateway's upload answer")?;
            json["batchTag"]
                .as_str()
                .map(str::to_owned)
                .context("the gateway's upload answer has no batchTag")
        };
        Ok(match status {
            StatusCode::CREATED => UploadOutcome::Created(download_tag()?),
            StatusCode::OK => UploadOutcome::AlreadyStored(download_tag()?),
            StatusCode::CONFLICT => UploadOutcome::Conflict,
            StatusCode::BAD_REQUEST
            | StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::UNSUPPORTED_MEDIA_TYPE => UploadOutcome::Refused {
                status: status.as_u16(),
                message: error_message(&text),
            },
            other => bail!(
                "gateway answered {other} to an upload: {}",
                error_message(&text)
            ),
        })
    }

    /// The batch of `date` (`YYYY-MM-DD`) named by `tag`, or the day's first; `None` when there is none.
    pub async fn download(
        &self,
        date: &str,
        tag: Option<&str>,
    ) -> anyhow::Result<Option<Downloaded>> {
        let mut request = self
            .http
            .get(format!("{}/diagnosiskeys/download/{date}", self.base))
            .bearer_auth(&self.token);
        if let Some(tag) = tag {
            request = request.header(BATCH_TAG, tag);
        }
        let response = request
            .send()
            .await
            .context("downloading a batch from the gateway")?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if status != StatusCode::OK {
            let text = response.text().await.unwrap_or_default();
            bail!(
                "gateway answered {status} to a download of {date}: {}",
                error_message(&text)
            );
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let tag = header(BATCH_TAG).context("download without a batchTag header")?;
        let country = header(BATCH_COUNTRY).context("download without a batchCountry header")?;
        let signature =
            header(BATCH_SIGNATURE).context("download without a batchSignature header")?;
        let next = header(NEXT_BATCH_TAG);
        let body = response
            .bytes()
            .await
            .context("reading a downloaded batch")?
            .to_vec();
        Ok(Some(Downloaded {
            tag,
            next,
            country,
            signature,
            body,
        }))
    }

    /// The audit record of a batch, as JSON.
    pub async fn audit(&self, date: &str, tag: &str) -> anyhow::Result<serde_json::Value> {
        let response = self
            .http
            .get(format!(
                "{}/diagnosiskeys/audit/download/{date}/{tag}",
                self.base
            ))
            .bearer_auth(&self.token)
            .send()
            .await
            .context("asking the gateway for an audit record")?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status != StatusCode::OK {
            bail!(
                "gateway answered {status} to an audit request: {}",
                error_message(&text)
            );
        }
        serde_json::from_str(&text).context("the gateway's audit answer")
    }
}

/// The `message` of an error envelope, or the start of the text.
fn error_message(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| text.chars().take(200).collect())
}
