//! The demo's tally: every phone's warning against the ground truth, and what the phones of each
//! country could have been warned about (the positives whose keys reach their downloads).

use std::collections::HashSet;

use warnkit_app::{Level, Phone};

use crate::globe::Globe;
use crate::phones::Agent;
use crate::summary::{CountrySummary, Summary};
use crate::world::{Test, World};

/// Tallies every phone of every country at `end` into `per` (one entry per country): warnings against
/// the ground truth, what was missed and why, the phones' counters, the positives. A country's phones
/// can be warned by their own country's positives (shared or not) and by foreign ones who shared and
/// consented to federation (`federates`): all of them through the combined region, or with
/// `home_region_only` those who visited the country. With one country that is every positive.
/// Returns the keys the phones of each country downloaded.
pub(crate) fn tally_countries(
    globe: &Globe,
    agents: &[Box<Agent>],
    federates: &[bool],
    home_region_only: bool,
    end: i64,
    per: &mut [CountrySummary],
) -> anyhow::Result<Vec<HashSet<[u8; 16]>>> {
    let world = &globe.world;
    // The phones score the last 14 days, today included.
    let oldest_day = end.div_euclid(86_400) - 13;
    let truth = world.truth(oldest_day);
    let positives: Vec<&Test> = world.tests.iter().filter(|t| t.positive).collect();
    let shares = |p: usize| positives.iter().any(|t| t.person == p && t.shares);
    let visits = |p: usize, k: usize| {
        positives
            .iter()
            .any(|t| t.person == p && globe.visited(p, t.sample).contains(&k))
    };
    // Whose keys the phones of country `k` can get: their own country's positives (shared or not, as
    // in the single-country demo), and foreign ones who shared and consented: all of them through the
    // combined region, or with `--home-region-only` those who visited `k`.
    let combined = !home_region_only;
    let reach = |k: usize, p: usize| {
        globe.home[p] == k || (shares(p) && federates[p] && (combined || visits(p, k)))
    };
    let set = |f: &dyn Fn(usize) -> bool| -> HashSet<usize> {
        positives
            .iter()
            .map(|t| t.person)
            .filter(|&p| f(p))
            .collect()
    };
    let mut published: Vec<HashSet<[u8; 16]>> = vec![HashSet::new(); per.len()];
    for (k, summary) in per.iter_mut().enumerate() {
        let reachable = set(&|p| reach(k, p));
        let expected = exposed_by(world, &reachable, oldest_day);
        let by_sharer = exposed_by(world, &set(&|p| reach(k, p) && shares(p)), oldest_day);
        let across = exposed_by(
            world,
            &set(&|p| globe.home[p] != k && reach(k, p)),
            oldest_day,
        );
        let without_consent = exposed_by(
            world,
            &set(&|p| globe.home[p] != k && !(shares(p) && federates[p])),
            oldest_day,
        );
        for (i, a) in agents.iter().enumerate().filter(|(_, a)| a.home == k) {
            let warned = a.phone.risk(end)?.level == Level::Increased;
            let verdict = Verdict {
                warned,
                exposed: truth.exposed[i],
                expected: expected[i],
                exposed_by_sharer: by_sharer[i],
                met_positive: truth.met_positive[i],
            };
            tally(&mut summary.figures, &a.phone, &verdict);
            let cb = &mut summary.cross_border;
            cb.cross_border_exposed += usize::from(across[i]);
            cb.cross_border_true_warnings += usize::from(warned && across[i]);
            if truth.exposed[i] && !expected[i] && !warned {
                if without_consent[i] {
                    cb.missed_abroad_without_consent += 1;
                } else {
                    cb.missed_abroad_not_visited += 1;
                }
            }
            published[k].extend(a.phone.seen_keys.iter().copied());
        }
        summary.figures.positives = positives
            .iter()
            .filter(|t| globe.home[t.person] == k)
            .count();
        summary.figures.sharing_positives = positives
            .iter()
            .filter(|t| globe.home[t.person] == k && t.shares)
            .count();
        summary.cross_border.not_consenting = positives
            .iter()
            .filter(|t| globe.home[t.person] == k && t.shares && !federates[t.person])
            .count();
    }
    Ok(published)
}

/// One phone's outcome against the ground truth.
struct Verdict {
    /// Shows increased risk at the end.
    warned: bool,
    /// Truly exposed.
    exposed: bool,
    /// Truly exposed by a positive whose keys the phone's downloads could carry (with one country:
    /// every truly exposed phone); not warned then counts as missed.
    expected: bool,
    /// Expected, by a positive who did upload.
    exposed_by_sharer: bool,
    /// Had any contact with a positive.
    met_positive: bool,
}

/// Adds one phone's verdict and counters to `summary`.
fn tally(summary: &mut Summary, phone: &Phone, v: &Verdict) {
    summary.warned += usize::from(v.warned);
    summary.truly_exposed += usize::from(v.exposed);
    summary.true_warnings += usize::from(v.warned && v.exposed);
    summary.false_warnings += usize::from(v.warned && !v.exposed);
    summary.missed += usize::from(!v.warned && v.expected);
    summary.missed_despite_upload += usize::from(!v.warned && v.exposed_by_sharer);
    summary.warned_without_contact += usize::from(v.warned && !v.met_positive);
    let s = &phone.stats;
    summary.uploads += u64::from(s.uploads);
    summary.uploads_failed += u64::from(s.failed_uploads);
    summary.fake_uploads += u64::from(s.fake_uploads);
    summary.phone_errors += u64::from(s.background_errors);
    summary.files_downloaded += s.files;
    summary.duplicate_keys += s.duplicate_keys;
    summary.rejected_archives += s.rejected.len() as u64;
    summary.failed_syncs += u64::from(s.failed_syncs);
}

/// People truly exposed by one of `sources` (the ground truth restricted to those positives).
fn exposed_by(world: &World, sources: &HashSet<usize>, oldest_day: i64) -> Vec<bool> {
    world
        .truth_among(oldest_day, i64::MAX, &|t| sources.contains(&t.person))
        .exposed
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;
    use warnkit_app::RiskModel;

    use super::*;
    use crate::phones::{agents, PhoneOptions};
    use crate::world::{Contact, CLOSE_DB};

    const DAY: i64 = 86_400;

    /// Person 0 (positive, shares, no consent to federation) meets 1 and 2; person 3 (positive,
    /// shares and consents) meets 1. Nobody's phone saw anything, so nobody is warned.
    fn globe(home: Vec<usize>) -> Globe {
        let test = |person, shares| Test {
            person,
            sample: 6 * DAY + 9 * 3600,
            result_at: 6 * DAY + 15 * 3600,
            positive: true,
            shares,
        };
        let contact = |a, b| Contact {
            a,
            b,
            start: 6 * DAY + 8 * 3600,
            minutes: 20,
            attenuation: CLOSE_DB,
        };
        Globe {
            world: World {
                people: 4,
                start: 0,
                days: 10,
                household: vec![0, 1, 2, 3],
                workplace: vec![None; 4],
                tests: vec![test(0, true), test(3, true)],
                contacts: vec![contact(0, 1), contact(0, 2), contact(3, 1)],
            },
            home,
            trips: Vec::new(),
        }
    }

    fn run(globe: &Globe, countries: usize) -> Vec<CountrySummary> {
        let federates = [false, false, false, true];
        let codes: Vec<String> = ["DE", "FR"][..countries]
            .iter()
            .map(|c| c.to_string())
            .collect();
        let keys = vec![String::new(); countries];
        let options = PhoneOptions {
            air: None,
            risk: RiskModel::V2,
            fake_rate: 0.0,
            home_region_only: false,
        };
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let agents = agents(
            &globe.home,
            &codes,
            &keys,
            &federates,
            "EUR",
            options,
            &mut rng,
        );
        let mut per = vec![CountrySummary::default(); countries];
        let published =
            tally_countries(globe, &agents, &federates, false, 10 * DAY, &mut per).unwrap();
        assert_eq!(published.len(), countries);
        per
    }

    #[test]
    fn one_country_expects_a_warning_for_everyone_truly_exposed() {
        let per = run(&globe(vec![0; 4]), 1);
        let f = &per[0].figures;
        assert_eq!((f.truly_exposed, f.warned, f.missed), (2, 0, 2));
        assert_eq!(f.missed_despite_upload, 2);
        assert_eq!((f.positives, f.sharing_positives), (2, 2));
        assert_eq!(per[0].cross_border.cross_border_exposed, 0);
        assert_eq!(per[0].cross_border.missed_abroad_without_consent, 0);
    }

    #[test]
    fn across_borders_only_consented_keys_are_expected() {
        let per = run(&globe(vec![0, 0, 1, 1]), 2);
        let (de, fr) = (&per[0], &per[1]);
        // Phone 1 (DE) met 0 (DE) and 3 (FR, consented): missed, and exposed across the border.
        assert_eq!((de.figures.truly_exposed, de.figures.missed), (1, 1));
        assert_eq!(de.cross_border.cross_border_exposed, 1);
        assert_eq!(de.cross_border.not_consenting, 1);
        // Phone 2 (FR) met only 0, whose keys never leave DE: not expected, legitimately missed.
        assert_eq!((fr.figures.truly_exposed, fr.figures.missed), (1, 0));
        assert_eq!(fr.cross_border.missed_abroad_without_consent, 1);
        assert_eq!(fr.cross_border.cross_border_exposed, 0);
        assert_eq!(fr.cross_border.not_consenting, 0);
        assert_eq!((de.figures.positives, fr.figures.positives), (1, 1));
    }
}
