//! Accounts for `warnkit portal user`: a new account, a new password, other roles, removal, a new
//! authenticator, disabling and enabling, the list, and the rules for names and passwords. A new
//! password, a removal, a reset second factor or disabling ends the account's sessions at once.

use axum::http::StatusCode;
use warnkit_service::{AppError, AppResult};
use warnkit_store::Db;

use crate::hashing::hash_password;
use crate::roles::Roles;
use crate::store::{self, UserSummary, OIDC_PASSWORD_HASH};

fn no_such_user(username: &str) -> AppError {
    AppError::new(
        StatusCode::NOT_FOUND,
        "no_user",
        format!("there is no account {username:?}"),
    )
}

/// Whether `username` is an account that signs in at the OpenID provider.
async fn is_oidc(db: &Db, username: &str) -> AppResult<bool> {
    let user = store::user(db, username)
        .await?
        .ok_or_else(|| no_such_user(username))?;
    Ok(user.password_hash == OIDC_PASSWORD_HASH)
}

/// Sets a new password and ends the account's sessions; returns how many ended. Accounts of the
/// OpenID provider have no password here.
pub async fn set_password(db: &Db, username: &str, password: &str) -> AppResult<u64> {
    check_password(password)?;
    if is_oidc(db, username).await? {
        return Err(AppError::bad_request(
            "oidc_account",
            "this account signs in at the OpenID provider; change its password there",
        ));
    }
    let hash = hash_password(password)?;
    let sql = "UPDATE users SET password_hash = $2 WHERE username = $1";
    if !store::update_user(db, sql, username, Some(&hash)).await? {
        return Err(no_such_user(username));
    }
    let ended = store::delete_sessions_of(db, username).await?;
    tracing::info!(target: "audit", user = username, sessions_ended = ended, "portal password changed");
    Ok(ended)
}

/// Gives the account other roles; its sessions carry them from their next request on. For accounts of
/// the OpenID provider the provider's roles replace these at the next sign-in.
pub async fn set_roles(db: &Db, username: &str, roles: Roles) -> AppResult<()> {
    if roles.is_empty() {
        return Err(AppError::bad_request("no_role", "an account needs a role"));
    }
    let sql = "UPDATE users SET role = $2 WHERE username = $1";
    if !store::update_user(db, sql, username, Some(&roles.to_string())).await? {
        return Err(no_such_user(username));
    }
    tracing::info!(target: "audit", user = username, role = %roles, "portal roles changed");
    Ok(())
}

/// Removes the account with its sessions and failure counter; returns how many sessions ended.
pub async fn remove_user(db: &Db, username: &str) -> AppResult<u64> {
    let ended = store::delete_sessions_of(db, username).await?;
    let failures = "DELETE FROM login_failures WHERE username = $1";
    store::update_user(db, failures, username, None).await?;
    if !store::update_user(db, "DELETE FROM users WHERE username = $1", username, None).await? {
        return Err(no_such_user(username));
    }
    tracing::info!(target: "audit", user = username, sessions_ended = ended, "portal user removed");
    Ok(ended)
}

/// Forgets the authenticator: the next sign-in enrols a new one. Ends the account's sessions (a lost
/// phone is the usual reason); returns how many ended.
pub async fn reset_totp(db: &Db, username: &str) -> AppResult<u64> {
    if is_oidc(db, username).await? {
        return Err(AppError::bad_request(
            "oidc_account",
            "this account signs in at the OpenID provider, which asks for its second factor",
        ));
    }
    let sql = "UPDATE users SET totp_secret = NULL, totp_confirmed = 0, \
               totp_last_step = 0 WHERE username = $1";
    if !store::update_user(db, sql, username, None).await? {
        return Err(no_such_user(username));
    }
    let ended = store::delete_sessions_of(db, username).await?;
    tracing::info!(target: "audit", user = username, sessions_ended = ended, "portal second factor reset");
    Ok(ended)
}

/// Disables the account: it cannot sign in (password or OpenID provider) and its sessions end at once;
/// returns how many ended. Its name, roles and second factor stay for [`enable_user`].
pub async fn disable_user(db: &Db, username: &str) -> AppResult<u64> {
    if !store::set_disabled(db, username, true).await? {
        return Err(no_such_user(username));
    }
    // Sessions would be refused anyway (the lookup skips disabled accounts); deleting them says so.
    let ended = store::delete_sessions_of(db, username).await?;
    tracing::info!(target: "audit", user = username, sessions_ended = ended, "portal user disabled");
    Ok(ended)
}

/// Lets a disabled account sign in again.
pub async fn enable_user(db: &Db, username: &str) -> AppResult<()> {
    if !store::set_disabled(db, username, false).await? {
        return Err(no_such_user(username));
    }
    tracing::info!(target: "audit", user = username, "portal user enabled");
    Ok(())
}

/// Every account with its roles, whether it is disabled and when it last signed in, by name.
pub async fn list_users(db: &Db) -> AppResult<Vec<UserSummary>> {
    Ok(store::users(db).await?)
}

/// Creates an account directly in `db`; see [`PortalService::add_user`](crate::PortalService::add_user).
pub async fn add_user(
    db: &Db,
    username: &str,
    password: &str,
    roles: Roles,
    totp: bool,
    now: i64,
) -> AppResult<()> {
    if !valid_username(username) {
        return Err(AppError::bad_request(
            "invalid_username",
            "user names are 1-64 characters of a-z 0-9 . _ -",
        ));
    }
    check_password(password)?;
    if roles.is_empty() {
        return Err(AppError::bad_request("no_role", "an account needs a role"));
    }
    let hash = hash_password(password)?;
    if !store::insert_user(db, username, &hash, roles, totp, now).await? {
        return Err(AppError::new(
            StatusCode::CONFLICT,
            "user_exists",
            "a user with this name exists",
        ));
    }
    tracing::info!(target: "audit", user = username, role = %roles, totp, "portal user added");
    Ok(())
}

/// Refuses passwords shorter than [`MIN_PASSWORD_CHARS`].
pub(crate) fn check_password(password: &str) -> AppResult<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AppError::bad_request(
            "weak_password",
            format!("passwords need at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    Ok(())
}

/// The shortest password `add_user` accepts.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Whether `name` is an acceptable user name.
pub fn valid_username(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'))
}

/// A random password of 20 characters from an alphabet without look-alikes (about 115 bits).
pub fn generate_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..20)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}
