//! The accounts an operator manages on a node's data directory from the command line: portal users and
//! lab API keys, each change recorded in its service's audit trail as the command line's actor
//! ([`crate::audit::cli_actor`]).

use anyhow::Context;
use warnkit_portal::admin::{self, Change};
use warnkit_portal::UserSummary;
use warnkit_store::Db;
use warnkit_testresult::{LabKey, TestResultService};

use crate::audit::cli_actor;
use crate::config::Config;

/// Opens the database of the service `name` of `config`, runs `f` on it and closes it, whatever `f`
/// answered.
async fn with_db<T, F, Fut>(
    config: &Config,
    name: &str,
    migrations: &'static warnkit_store::Migrator,
    f: F,
) -> anyhow::Result<T>
where
    F: FnOnce(Db) -> Fut,
    Fut: std::future::Future<Output = warnkit_service::AppResult<T>>,
{
    let db = Db::open(&config.db_target(name), config.pool(), migrations)
        .await
        .with_context(|| format!("opening the {name} database"))?;
    let result = f(db.clone()).await;
    db.close().await;
    Ok(result?)
}

/// Applies an account change to the portal's users; returns the sessions it ended.
pub async fn change_portal_user(config: &Config, change: Change<'_>) -> anyhow::Result<u64> {
    let actor = cli_actor();
    with_db(
        config,
        warnkit_portal::NAME,
        &warnkit_portal::MIGRATIONS,
        |db| async move { admin::apply(&db, &actor, change).await },
    )
    .await
}

/// The portal's users.
pub async fn portal_users(config: &Config) -> anyhow::Result<Vec<UserSummary>> {
    with_db(
        config,
        warnkit_portal::NAME,
        &warnkit_portal::MIGRATIONS,
        |db| async move { warnkit_portal::list_users(&db).await },
    )
    .await
}

/// Runs `f` on the test-result service of `config`'s database, for the key commands (which only touch
/// key rows, so the service token is irrelevant).
async fn with_lab_keys<T, F, Fut>(config: &Config, f: F) -> anyhow::Result<T>
where
    F: FnOnce(TestResultService) -> Fut,
    Fut: std::future::Future<Output = warnkit_service::AppResult<T>>,
{
    let settings = config.testresult.clone();
    with_db(
        config,
        warnkit_testresult::NAME,
        &warnkit_testresult::MIGRATIONS,
        |db| f(TestResultService::new(db, settings, String::new())),
    )
    .await
}

/// Creates an API key for `lab`; the key is returned once, only its hash is stored.
pub async fn create_lab_key(config: &Config, lab: &str) -> anyhow::Result<String> {
    let actor = cli_actor();
    with_lab_keys(config, |service| async move {
        service.create_lab_key_as(&actor, lab).await
    })
    .await
    .context("creating the lab key")
}

/// Every lab's keys (ids and dates, never a key).
pub async fn lab_keys(config: &Config) -> anyhow::Result<Vec<LabKey>> {
    with_lab_keys(config, |service| async move { service.lab_keys().await })
        .await
        .context("listing the lab keys")
}

/// Revokes the keys of `lab` (only `key` when given); returns the ids revoked now.
pub async fn revoke_lab_keys(
    config: &Config,
    lab: &str,
    key: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    let actor = cli_actor();
    with_lab_keys(config, |service| async move {
        service.revoke_lab_keys(&actor, lab, key).await
    })
    .await
    .context("revoking the lab keys")
}
