//! The demo's side of the clock control of a `warnkit serve --demo-clock` (the control itself is the
//! node crate's, `warnkit_node::demo_clock`): a client that moves the server's clock, runs its
//! distribution and asks for a lab key.

use anyhow::{bail, Context};

pub use warnkit_node::demo_clock::{ClockRequest, CONTROL_PATHS};

/// How the demo reaches a server it did not start.
pub(crate) struct Remote {
    /// Base URL of the control listener.
    pub(crate) control: String,
    /// The server's service token.
    pub(crate) token: String,
    pub(crate) client: reqwest::Client,
}

impl Remote {
    /// POSTs `body` to the control's `path`; an error unless it answers with success.
    pub(crate) async fn post(
        &self,
        path: &str,
        body: Option<ClockRequest>,
    ) -> anyhow::Result<reqwest::Response> {
        let url = format!("{}{path}", self.control);
        let mut request = self.client.post(&url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let r = request
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        if !r.status().is_success() {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            bail!("POST {url}: {status}: {text}");
        }
        Ok(r)
    }
}
