//! Account changes an operator makes outside the web page (`warnkit portal user ...`): each one applied
//! and then recorded in the portal's audit trail under the operator's name, with the account and what
//! changed, never a password.

use warnkit_service::AppResult;
use warnkit_store::Db;

use crate::accounts;
use crate::roles::Roles;

/// One change to the accounts.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// A new account (see [`accounts::add_user`]); `totp` asks for an authenticator at first sign-in.
    Add {
        /// Its name.
        user: &'a str,
        /// Its password.
        password: &'a str,
        /// Its roles.
        roles: Roles,
        /// Whether it enrols a second factor.
        totp: bool,
        /// The time it is created, Unix seconds.
        now: i64,
    },
    /// A new password; ends the account's sessions.
    Password {
        /// The account.
        user: &'a str,
        /// The new password.
        password: &'a str,
    },
    /// New roles.
    Roles {
        /// The account.
        user: &'a str,
        /// Its roles from now on.
        roles: Roles,
    },
    /// The account removed, with its sessions.
    Remove {
        /// The account.
        user: &'a str,
    },
    /// The authenticator forgotten: enrolment at the next sign-in; ends the sessions.
    ResetTotp {
        /// The account.
        user: &'a str,
    },
    /// Sign-in refused from now on; ends the sessions.
    Disable {
        /// The account.
        user: &'a str,
    },
    /// Sign-in allowed again.
    Enable {
        /// The account.
        user: &'a str,
    },
}

impl Change<'_> {
    /// The audit trail's action and subject of the change.
    pub fn audit(&self) -> (&'static str, String) {
        match *self {
            Change::Add {
                user, roles, totp, ..
            } => {
                let second = if totp { "totp" } else { "no totp" };
                ("user.add", format!("{user} {roles} ({second})"))
            }
            Change::Password { user, .. } => ("user.passwd", user.to_owned()),
            Change::Roles { user, roles } => ("user.role", format!("{user} {roles}")),
            Change::Remove { user } => ("user.remove", user.to_owned()),
            Change::ResetTotp { user } => ("user.reset-totp", user.to_owned()),
            Change::Disable { user } => ("user.disable", user.to_owned()),
            Change::Enable { user } => ("user.enable", user.to_owned()),
        }
    }
}

/// Applies `change` to the accounts in `db` and records it, by `actor`, in the audit trail. Returns how
/// many sessions it ended (0 for the changes that end none).
pub async fn apply(db: &Db, actor: &str, change: Change<'_>) -> AppResult<u64> {
    let ended = match change {
        Change::Add {
            user,
            password,
            roles,
            totp,
            now,
        } => accounts::add_user(db, user, password, roles, totp, now)
            .await
            .map(|()| 0)?,
        Change::Password { user, password } => accounts::set_password(db, user, password).await?,
        Change::Roles { user, roles } => accounts::set_roles(db, user, roles).await.map(|()| 0)?,
        Change::Remove { user } => accounts::remove_user(db, user).await?,
        Change::ResetTotp { user } => accounts::reset_totp(db, user).await?,
        Change::Disable { user } => accounts::disable_user(db, user).await?,
        Change::Enable { user } => accounts::enable_user(db, user).await.map(|()| 0)?,
    };
    let (action, subject) = change.audit();
    warnkit_store::audit::record(db, actor, action, &subject).await?;
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roles::Role;

    #[test]
    fn the_trail_names_the_account_and_the_change_never_the_password() {
        let roles = Roles::from(Role::Hotline);
        let add = Change::Add {
            user: "ann",
            password: "s3cret-s3cret",
            roles,
            totp: false,
            now: 0,
        };
        assert_eq!(add.audit(), ("user.add", format!("ann {roles} (no totp)")));
        let passwd = Change::Password {
            user: "ann",
            password: "s3cret-s3cret",
        };
        let (action, subject) = passwd.audit();
        assert_eq!((action, subject.as_str()), ("user.passwd", "ann"));
        assert!(!subject.contains("s3cret"));
        assert_eq!(
            Change::Disable { user: "bob" }.audit(),
            ("user.disable", "bob".to_owned())
        );
    }
}
