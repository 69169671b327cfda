//! The services of the TAN and upload path, started in this process by the node builder on loopback
//! listeners, and what a lab and a phone do first on them: positive results for fresh GUIDs.

use rand::Rng;
use warnkit_keystore::KeyStore;
use warnkit_node::config::Config;
use warnkit_node::{Listen, Node, RunningNode, Service};
use warnkit_store::{unix_now, PoolConfig};
use warnkit_testresult::posting::LabClient;
use warnkit_testresult::{code, LabResult, TestResultConfig, LAB_PATH};
use warnkit_verification::VerificationConfig;

use crate::scratch::Scratch;

/// The test-result, verification and submission services over `scratch`'s databases, started by the
/// node builder on loopback listeners in this process, wired to each other as `warnkit serve` wires
/// them.
pub(crate) struct Services {
    /// The key store the submission service writes.
    pub(crate) store: KeyStore,
    /// Base URL of the lab API.
    pub(crate) testresult_url: String,
    /// Base URL of verification's app API.
    pub(crate) verification_url: String,
    /// Base URL of the submission service.
    pub(crate) submission_url: String,
    /// The API key of lab `bench-lab`.
    pub(crate) lab_key: String,
    node: RunningNode,
}

impl Services {
    /// Starts the three services over `scratch`, verification with `verification`'s settings (its
    /// test-result URL is the running one).
    pub(crate) async fn start(
        scratch: &Scratch,
        verification: VerificationConfig,
    ) -> anyhow::Result<Self> {
        let config = Config {
            // Lab uploads are setup, not measured: big batches.
            testresult: TestResultConfig {
                max_body_bytes: 1_000_000,
                ..TestResultConfig::default()
            },
            verification,
            ..scratch.config()
        };
        let node = Node::builder(config)
            .only(&[
                Service::TestResult,
                Service::Verification,
                Service::Submission,
            ])
            .listen(Listen::FreePorts)
            .schedules(false)
            .pool(PoolConfig::default())
            .command("warnkit bench")
            .start()
            .await?;
        let lab_key = node.testresult()?.create_lab_key("bench-lab").await?;
        Ok(Self {
            store: node.keys()?.clone(),
            testresult_url: node.url("testresult")?.to_owned(),
            verification_url: node.url("verification")?.to_owned(),
            submission_url: node.url("submission")?.to_owned(),
            lab_key,
            node,
        })
    }

    /// Stops the servers (in-flight requests finish) and closes the databases.
    pub(crate) async fn stop(self) {
        self.node.stop().await;
    }
}

/// A lab (`lab_key`) posts a positive PCR result for each of `guids` to the test-result service at
/// `testresult`, a thousand per request.
pub(crate) async fn post_positive(
    http: &reqwest::Client,
    testresult: &str,
    lab_key: &str,
    guids: &[String],
) -> anyhow::Result<()> {
    let lab = LabClient::new(http.clone(), testresult, lab_key);
    for chunk in guids.chunks(1000) {
        let results = chunk
            .iter()
            .map(|g| LabResult {
                id: warnkit_service::auth::sha256_hex(g),
                result: code::POSITIVE,
                sc: Some(unix_now()),
            })
            .collect();
        lab.post(LAB_PATH, results).await?;
    }
    Ok(())
}

/// `count` fresh random GUIDs (32 hex digits; the phone sends their SHA-256).
pub(crate) fn fresh_guids(count: usize) -> Vec<String> {
    (0..count)
        .map(|_| hex::encode(rand::thread_rng().gen::<[u8; 16]>()))
        .collect()
}
