//! What an officer may do: the [`Role`]s and the set of them an account holds, [`Roles`].

use std::fmt;

/// What an officer may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Issues teleTANs to callers with a confirmed positive test.
    Hotline,
    /// Issues event ("PIW") teleTANs on behalf of a health authority picked from the configured list.
    Event,
    /// Health-authority staff: may sign in, may not issue teleTANs.
    HealthAuthority,
    /// Administers the portal; accounts are managed with `warnkit portal user`.
    Admin,
}

impl Role {
    /// Every role, in display order.
    pub const ALL: [Role; 4] = [
        Role::Hotline,
        Role::Event,
        Role::HealthAuthority,
        Role::Admin,
    ];

    /// Storage and command-line form.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Hotline => "hotline",
            Role::Event => "event",
            Role::HealthAuthority => "health-authority",
            Role::Admin => "admin",
        }
    }

    /// Parses the storage form.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The roles of one officer (an account may hold several, e.g. `hotline,event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Roles(u8);

impl Roles {
    /// No role at all.
    pub const NONE: Roles = Roles(0);

    /// Whether `role` is among these.
    pub fn contains(self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }

    /// These and `role`.
    pub fn with(self, role: Role) -> Roles {
        Roles(self.0 | role.bit())
    }

    /// Whether there is no role.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The roles, in display order.
    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |r| self.contains(*r))
    }

    /// Parses the storage and command-line form, a comma-separated list (`hotline,event`); `None` if any
    /// name is unknown or the list is empty.
    pub fn parse(s: &str) -> Option<Roles> {
        let mut roles = Roles::NONE;
        for name in s.split(',') {
            roles = roles.with(Role::parse(name.trim())?);
        }
        (!roles.is_empty()).then_some(roles)
    }
}

impl From<Role> for Roles {
    fn from(role: Role) -> Roles {
        Roles::NONE.with(role)
    }
}

impl fmt::Display for Roles {
    /// The storage form: names joined by commas.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Role::as_str).collect();
        f.write_str(&names.join(","))
    }
}
