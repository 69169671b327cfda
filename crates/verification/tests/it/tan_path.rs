//! The TAN path of verification's own tests: a test-result and a verification service over a test
//! database, on ephemeral ports. Started here rather than through the node builder, which depends on
//! this crate: the crate's tests use only what lies below it (the test-result service).

use warnkit_service::server::{serve, Shutdown};
use warnkit_service::Clock;
use warnkit_store::{Db, PoolConfig};
use warnkit_testkit::{bind, TestDb};
use warnkit_testresult::{TestResultConfig, TestResultService};
use warnkit_verification::{VerificationConfig, VerificationService};

/// The clocks of the two services.
#[derive(Clone)]
pub struct TanClocks {
    /// The test-result service's.
    pub testresult: Clock,
    /// The verification service's.
    pub verification: Clock,
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

/// Starts both services on the system clock; see [`start_tan_path_with_clocks`].
#[allow(dead_code)]
pub async fn start_tan_path(
    db: &TestDb,
    pool: PoolConfig,
    testresult_config: TestResultConfig,
    verification_config: VerificationConfig,
    token: &str,
    shutdown: Shutdown,
) -> TanPath {
    let clocks = TanClocks {
        testresult: Clock::system(),
        verification: Clock::system(),
    };
    let configs = (testresult_config, verification_config);
    start_tan_path_with_clocks(db, pool, configs, token, shutdown, clocks).await
}

/// Starts both services over `db` (schemas or files `testresult` and `verification`) until
/// `shutdown`, each on its clock. Verification's `testresult_url` is set to the running test-result
/// service.
pub async fn start_tan_path_with_clocks(
    db: &TestDb,
    pool: PoolConfig,
    (testresult_config, mut verification_config): (TestResultConfig, VerificationConfig),
    token: &str,
    shutdown: Shutdown,
    clocks: TanClocks,
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
    let testresult = TestResultService::new(trs_db, testresult_config, token.to_owned())
        .with_clock(clocks.testresult);
    let (trs_listener, testresult_url) = bind().await;
    let (ext_listener, external_url) = bind().await;
    let (int_listener, internal_url) = bind().await;
    verification_config.testresult_url = testresult_url.clone();
    let verification = VerificationService::new(vs_db, verification_config, token.to_owned())
        .expect("verification configuration")
        .with_clock(clocks.verification);
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
