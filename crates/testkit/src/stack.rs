//! The TAN path in-process: a test-result and a verification service over a test database, on
//! ephemeral ports, as the services' tests and benchmarks need it.

use tokio::net::TcpListener;
use warnkit_service::server::{serve, Shutdown};
use warnkit_store::{Db, PoolConfig};
use warnkit_testresult::{TestResultConfig, TestResultService};
use warnkit_verification::{VerificationConfig, VerificationService};

use crate::TestDb;

/// A listener on 127.0.0.1 with a free port, and its URL.
pub async fn bind() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding 127.0.0.1:0");
    let url = format!("http://{}", listener.local_addr().expect("a bound address"));
    (listener, url)
}

/// The running test-result and verification services.
pub struct TanPath {
    /// The test-result service.
    pub testresult: TestResultService,
    /// The verification service.
    pub verification: VerificationService,
    /// Base URL of the test-result service (lab API and internal lookup).
    pub testresult_url: String,
    /// Base URL of verification's app API.
    pub external_url: String,
    /// Base URL of verification's internal API (TAN verification, teleTANs).
    pub internal_url: String,
    /// API key of lab `lab-1`.
    pub lab_key: String,
}

/// Starts both services over `db` (schemas or files `testresult` and `verification`) until
/// `shutdown`. Verification's `testresult_url` is set to the running test-result service.
pub async fn start_tan_path(
    db: &TestDb,
    pool: PoolConfig,
    testresult_config: TestResultConfig,
    mut verification_config: VerificationConfig,
    token: &str,
    shutdown: Shutdown,
) -> TanPath {
    let trs_db = Db::open(
        &db.target("testresult"),
        pool,
        &warnkit_testresult::MIGRATIONS,
    )
    .await
    .expect("test-result database");
    let vs_db = Db::open(
        &db.target("verification"),
        pool,
        &warnkit_verification::MIGRATIONS,
    )
    .await
    .expect("verification database");
    let testresult = TestResultService::new(trs_db, testresult_config, token.to_owned());
    let (trs_listener, testresult_url) = bind().await;
    let (ext_listener, external_url) = bind().await;
    let (int_listener, internal_url) = bind().await;
    verification_config.testresult_url = testresult_url.clone();
    let verification = VerificationService::new(vs_db, verification_config, token.to_owned())
        .expect("verification configuration");
    tokio::spawn(serve(trs_listener, testresult.router(), shutdown.clone()));
    tokio::spawn(serve(
        ext_listener,
        verification.external_router(),
        shutdown.clone(),
    ));
    tokio::spawn(serve(
        int_listener,
        verification.internal_router(),
        shutdown,
    ));
    let lab_key = testresult.create_lab_key("lab-1").await.expect("a lab key");
    TanPath {
        testresult,
        verification,
        testresult_url,
        external_url,
        internal_url,
        lab_key,
    }
}
