//! A phone driven one step at a time by a person (`warnkit phone`): the regions it downloads, its first
//! keys, which upload is due, an encounter between two phones, the names of the results it polls, and
//! the directory it is kept in between commands.

use std::path::Path;

use rand::{CryptoRng, Rng, RngCore};
use serde::{Deserialize, Serialize};

use crate::en::day_of;
use crate::{Endpoints, Http, HttpError, Phone, PhoneError};

/// The file a [`Saved`] phone is kept in, in its directory.
pub const STATE_FILE: &str = "phone.json";

/// A phone kept in a directory between commands: the backend it talks to and its whole state.
#[derive(Debug, Serialize, Deserialize)]
pub struct Saved {
    /// The backend's base URLs.
    pub endpoints: Endpoints,
    /// The phone.
    pub phone: Phone,
}

impl Saved {
    /// The phone kept in `dir`.
    pub fn load(dir: &Path) -> Result<Self, HttpError> {
        let path = dir.join(STATE_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            HttpError::Config(format!(
                "reading {} (run `warnkit phone init` first): {e}",
                path.display()
            ))
        })?;
        serde_json::from_str(&text)
            .map_err(|e| HttpError::Config(format!("{}: not a phone state: {e}", path.display())))
    }

    /// Keeps the phone in `dir` (created if missing), replacing the file whole: a command cut off
    /// midway leaves the state before it, never half of one.
    pub fn save(&self, dir: &Path) -> Result<(), HttpError> {
        let fail =
            |what: String, e: &dyn std::fmt::Display| HttpError::Config(format!("{what}: {e}"));
        std::fs::create_dir_all(dir)
            .map_err(|e| fail(format!("creating {}", dir.display()), &e))?;
        let tmp = dir.join(format!("{STATE_FILE}.tmp"));
        let bytes = serde_json::to_vec(self).map_err(|e| fail("encoding the phone".into(), &e))?;
        std::fs::write(&tmp, bytes).map_err(|e| fail(format!("writing {}", tmp.display()), &e))?;
        std::fs::rename(&tmp, dir.join(STATE_FILE))
            .map_err(|e| fail(format!("replacing {STATE_FILE}"), &e))
    }

    /// The phone's HTTP client of its backend, backing off as its settings say.
    pub fn http(&self) -> Result<Http, HttpError> {
        Http::new(
            self.endpoints.clone(),
            self.phone.settings.backoff,
            rand::random(),
        )
    }
}

/// The combined region every key is published in, which the original's apps download since 1.6.
pub const COMBINED_REGION: &str = "EUR";

/// The regions to download keys of: `given` without repeats (a repeat only downloads the same region
/// twice), or the combined region when none is given.
pub fn key_regions(given: &[String]) -> Vec<String> {
    let mut regions: Vec<String> = Vec::new();
    for region in given {
        if !regions.contains(region) {
            regions.push(region.clone());
        }
    }
    if regions.is_empty() {
        regions.push(COMBINED_REGION.to_owned());
    }
    regions
}

/// The name of a polled result code: the original's codes, 0-4 PCR, 5-9 the same for rapid antigen
/// tests; `unknown` for any other.
pub fn result_name(code: i64) -> &'static str {
    const NAMES: [&str; 10] = [
        "pending",
        "negative",
        "positive",
        "invalid",
        "redeemed",
        "rapid-pending",
        "rapid-negative",
        "rapid-positive",
        "rapid-invalid",
        "rapid-redeemed",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("unknown")
}

/// Which upload [`Phone::upload_due`] made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upload {
    /// The first upload, with this many keys; the current day's key follows after midnight.
    First(usize),
    /// The second upload, the key of the first upload's day; `false` when it is not released yet.
    RolledOver(bool),
}

impl Phone {
    /// Gives the phone a key for each of the `history_days` days before the day of `now` and that day,
    /// as a phone that has been running for them has (a fresh install has only the current day's).
    pub fn start_keys(
        &mut self,
        now: i64,
        history_days: u32,
        rng: &mut (impl RngCore + CryptoRng),
    ) {
        let today = day_of(now);
        for day in today.saturating_sub(history_days)..=today {
            self.en.tek(day, rng);
        }
    }

    /// Consents to sharing the keys and makes the upload that is due at `now`: the first, or once that
    /// has been made, the second with the first day's key.
    pub async fn upload_due(
        &mut self,
        http: &Http,
        now: i64,
        rng: &mut impl Rng,
    ) -> Result<Upload, PhoneError> {
        self.en.consent = true;
        let first_done = self
            .test
            .as_ref()
            .is_some_and(|t| t.first_upload_day.is_some());
        if first_done {
            Ok(Upload::RolledOver(
                self.upload_rolled_over(http, now, rng).await?,
            ))
        } else {
            Ok(Upload::First(self.upload(http, now, rng).await?))
        }
    }

    /// An encounter of `minutes` (in five-minute slots) ending at `end` at `attenuation` dB: each phone
    /// records what the other advertises. Returns the minutes recorded.
    pub fn meet(
        &mut self,
        other: &mut Phone,
        end: i64,
        minutes: u32,
        attenuation: u8,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> u32 {
        let tx = self.en.tx_power;
        let rssi = (i16::from(tx) - i16::from(attenuation)).clamp(-127, 0) as i8;
        for slot in 0..i64::from(minutes / 5) {
            let t = end - i64::from(minutes) * 60 + slot * 300;
            if let Some((rpi, aem)) = self.en.advertise(t, rng) {
                other.en.record(t, rpi, aem, rssi);
            }
            if let Some((rpi, aem)) = other.en.advertise(t, rng) {
                self.en.record(t, rpi, aem, rssi);
            }
        }
        minutes / 5 * 5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_lose_repeats_and_default_to_the_combined_one() {
        let given = ["DE", "NL", "DE"].map(str::to_owned);
        assert_eq!(key_regions(&given), ["DE", "NL"]);
        assert_eq!(key_regions(&[]), [COMBINED_REGION]);
    }

    #[test]
    fn result_codes_have_the_originals_names() {
        assert_eq!(result_name(0), "pending");
        assert_eq!(result_name(2), "positive");
        assert_eq!(result_name(7), "rapid-positive");
        assert_eq!(result_name(9), "rapid-redeemed");
        assert_eq!(result_name(10), "unknown");
        assert_eq!(result_name(-1), "unknown");
    }
}
