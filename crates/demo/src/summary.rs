//! The demo's figures: one country's (`Summary`, what `warnkit demo --json` prints), the cross-border
//! ones of a country, and those of the whole run with every country (`CountriesSummary`).

use std::collections::BTreeMap;

use serde::Serialize;

/// The demo's figures; `--json` prints them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Phones simulated.
    pub phones: usize,
    /// Days simulated.
    pub days: u32,
    /// People who tested positive.
    pub positives: usize,
    /// Positives who agreed to upload.
    pub sharing_positives: usize,
    /// Uploads accepted (first and day-after uploads).
    pub uploads: u64,
    /// Uploads refused.
    pub uploads_failed: u64,
    /// Fake uploads sent.
    pub fake_uploads: u64,
    /// Background actions of phones (polls, uploads, fake requests) that failed (should be 0).
    pub phone_errors: u64,
    /// Phones showing increased risk at the end.
    pub warned: usize,
    /// Phones truly exposed (ground truth).
    pub truly_exposed: usize,
    /// Warned and truly exposed.
    pub true_warnings: usize,
    /// Warned but not truly exposed.
    pub false_warnings: usize,
    /// Truly exposed but not warned.
    pub missed: usize,
    /// Truly exposed by a positive who did upload, but not warned.
    pub missed_despite_upload: usize,
    /// Warned without any contact to a positive (must be 0).
    pub warned_without_contact: usize,
    /// HTTP requests of all phones and the lab.
    pub requests: u64,
    /// Bytes the phones downloaded from the distribution service.
    pub bytes_downloaded: u64,
    /// Of the phones' downloads, those that reached the distribution service; the others the shared
    /// edge cache answered (all of them reach it with `--per-phone`).
    pub origin_requests: u64,
    /// Archives the phones downloaded.
    pub files_downloaded: u64,
    /// Keys that a phone downloaded a second time (must be 0).
    pub duplicate_keys: u64,
    /// Archives rejected by a phone (bad signature, unreadable).
    pub rejected_archives: u64,
    /// Download runs that did not complete at the first attempt.
    pub failed_syncs: u64,
    /// Distribution runs.
    pub distribution_runs: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

impl Summary {
    /// Adds another country's figures to these totals; `days`, `distribution_runs` and `seconds` are
    /// the same in every country and stay.
    pub fn add(&mut self, c: &Summary) {
        self.phones += c.phones;
        self.positives += c.positives;
        self.sharing_positives += c.sharing_positives;
        self.uploads += c.uploads;
        self.uploads_failed += c.uploads_failed;
        self.fake_uploads += c.fake_uploads;
        self.phone_errors += c.phone_errors;
        self.warned += c.warned;
        self.truly_exposed += c.truly_exposed;
        self.true_warnings += c.true_warnings;
        self.false_warnings += c.false_warnings;
        self.missed += c.missed;
        self.missed_despite_upload += c.missed_despite_upload;
        self.warned_without_contact += c.warned_without_contact;
        self.requests += c.requests;
        self.bytes_downloaded += c.bytes_downloaded;
        self.origin_requests += c.origin_requests;
        self.files_downloaded += c.files_downloaded;
        self.duplicate_keys += c.duplicate_keys;
        self.rejected_archives += c.rejected_archives;
        self.failed_syncs += c.failed_syncs;
    }
}

/// Cross-border figures of one country (or all): trips, warnings across borders, federation traffic.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CrossBorder {
    /// Days a phone spent in another country.
    pub trips: usize,
    /// Positives who shared their keys but did not consent to federation.
    pub not_consenting: usize,
    /// Keys uploaded without consent to federation (they must stay in their country).
    pub keys_without_consent: u64,
    /// Phones truly exposed by a positive of another country whose keys reach their home region
    /// (consented, and visited that country).
    pub cross_border_exposed: usize,
    /// Of those, warned.
    pub cross_border_true_warnings: usize,
    /// Truly exposed by a positive of another country who did not consent (or share), not warned:
    /// legitimately missed, as the keys never leave their country.
    pub missed_abroad_without_consent: usize,
    /// Truly exposed by a consenting positive of another country who never visited the phone's home
    /// country (a traveller met them abroad), not warned: with `--home-region-only` phones download
    /// their home region alone, which publishes foreign keys only when their owner visited it. Without
    /// it the combined region (`EUR`) carries every consented key, so this stays 0.
    pub missed_abroad_not_visited: usize,
    /// Keys uploaded without consent that showed up in another country's key store or downloads
    /// (must be 0).
    pub unconsented_keys_abroad: u64,
    /// Batches this country uploaded to the gateway.
    pub federation_batches_uploaded: u64,
    /// Keys in them.
    pub federation_keys_uploaded: u64,
    /// Other countries' batches this country stored.
    pub federation_batches_downloaded: u64,
    /// Keys newly stored from them.
    pub federation_keys_downloaded: u64,
    /// Batches rejected on download (must be 0).
    pub federation_batches_rejected: u64,
}

impl CrossBorder {
    /// Adds another country's figures.
    pub fn add(&mut self, o: &CrossBorder) {
        self.trips += o.trips;
        self.not_consenting += o.not_consenting;
        self.keys_without_consent += o.keys_without_consent;
        self.cross_border_exposed += o.cross_border_exposed;
        self.cross_border_true_warnings += o.cross_border_true_warnings;
        self.missed_abroad_without_consent += o.missed_abroad_without_consent;
        self.missed_abroad_not_visited += o.missed_abroad_not_visited;
        self.unconsented_keys_abroad += o.unconsented_keys_abroad;
        self.federation_batches_uploaded += o.federation_batches_uploaded;
        self.federation_keys_uploaded += o.federation_keys_uploaded;
        self.federation_batches_downloaded += o.federation_batches_downloaded;
        self.federation_keys_downloaded += o.federation_keys_downloaded;
        self.federation_batches_rejected += o.federation_batches_rejected;
    }
}

/// One country's figures: those of the single-country demo plus the cross-border ones.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CountrySummary {
    /// The single-country figures of this country's phones.
    #[serde(flatten)]
    pub figures: Summary,
    /// Trips, cross-border warnings, federation traffic.
    #[serde(flatten)]
    pub cross_border: CrossBorder,
}

/// The figures of a demo run: totals at the top level (the single-country fields), and each country
/// under `countries`. `warnkit demo --countries` prints all of it; with one country `total` is the
/// whole story, and `warnkit demo` prints only that.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CountriesSummary {
    /// Totals over every country (`phones` counts all phones).
    #[serde(flatten)]
    pub total: Summary,
    /// Cross-border totals.
    #[serde(flatten)]
    pub cross_border: CrossBorder,
    /// Batches the gateway holds at the end.
    pub gateway_batches: u64,
    /// Keys in them.
    pub gateway_keys: u64,
    /// Per country code.
    pub countries: BTreeMap<String, CountrySummary>,
    /// Every country together, day by day ([`crate::Options::series`]; empty otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub by_day: Vec<crate::series::Day>,
}
