//! What an operator is shown of a keyring: every key with its status at a time, and which older keys
//! sign beside a new one while their overlap lasts.

use serde::Serialize;

use super::{KeyEntry, KeyView, Keyring, Status};
use crate::layout::datetime_string;

/// A keyring as of one time, as `warnkit keys list --json` prints it.
#[derive(Debug, Serialize)]
pub struct KeyringView<'a> {
    /// Every key with its status at `now`, oldest first.
    pub keys: Vec<KeyView<'a>>,
    /// The time the statuses are for (RFC 3339).
    pub now: String,
}

impl Keyring {
    /// Every key with its status at `now` (Unix seconds).
    pub fn view(&self, now: i64) -> KeyringView<'_> {
        KeyringView {
            keys: self
                .keys
                .iter()
                .map(|entry| KeyView {
                    entry,
                    status: entry.status(now),
                })
                .collect(),
            now: datetime_string(now),
        }
    }

    /// The older keys that sign beside `new` when it starts, each as `name until <end of its overlap>`
    /// (`(open)` when it has no end).
    pub fn overlapping(&self, new: &KeyEntry) -> Vec<String> {
        let start = new.valid_from.unwrap_or(new.created_at);
        self.keys
            .iter()
            .filter(|k| k.name() != new.name() && k.status(start) == Status::Signing)
            .map(|k| {
                let until = k
                    .valid_until
                    .map_or_else(|| "(open)".to_owned(), datetime_string);
                format!("{} until {until}", k.name())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{load_or_create, rotate, Rotation};
    use super::*;

    const DAY: i64 = 86_400;
    /// 2025-11-20T00:00:00Z.
    const T0: i64 = 20_412 * DAY;

    #[test]
    fn a_new_key_names_the_keys_that_sign_beside_it_and_each_status_is_of_the_time_asked() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("signing");
        load_or_create(&dir).unwrap();
        let rotation = Rotation {
            now: T0,
            overlap_seconds: 14 * DAY,
            ..Rotation::default()
        };
        let (keyring, new) = rotate(&dir, "262", "v1", &rotation).unwrap();
        let old = keyring.keys[0].name();
        assert_eq!(
            keyring.overlapping(&new),
            [format!("{old} until 2025-12-04T00:00:00Z")]
        );
        let statuses =
            |t: i64| -> Vec<Status> { keyring.view(t).keys.iter().map(|k| k.status).collect() };
        assert_eq!(keyring.view(T0).now, "2025-11-20T00:00:00Z");
        assert_eq!(statuses(T0 - 1), [Status::Signing, Status::Pending]);
        assert_eq!(statuses(T0 + 14 * DAY), [Status::Retired, Status::Signing]);
        // Once the old key has retired, a newer key overlaps nothing.
        let later = Rotation {
            now: T0 + 20 * DAY,
            overlap_seconds: DAY,
            ..Rotation::default()
        };
        let (keyring, third) = rotate(&dir, "262", "v1", &later).unwrap();
        assert_eq!(
            keyring.overlapping(&third),
            [format!("{} until 2025-12-11T00:00:00Z", new.name())]
        );
    }
}
