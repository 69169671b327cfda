//! Everyone's world in a run of several countries: the countries' worlds side by side, the day trips
//! abroad and the contacts travellers have there, and which countries a person visited.

use std::collections::{BTreeSet, HashSet};

use rand::seq::SliceRandom;
use rand::Rng;

use crate::world::{Contact, World, CLOSE_DB, FAR_DB, MID_DB};

/// One day a person spends in another country.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Trip {
    /// Who travels.
    pub(crate) person: usize,
    /// The day, counted from the first simulated day.
    pub(crate) day: i64,
    /// The country visited (an index into the countries).
    pub(crate) to: usize,
}

/// Everyone's world: the countries' worlds side by side (people, households and workplaces numbered
/// one after the other) plus the trips and the contacts abroad. One country's globe is its world.
pub(crate) struct Globe {
    /// Everyone, with every contact at home and abroad.
    pub(crate) world: World,
    /// Home country of each person.
    pub(crate) home: Vec<usize>,
    /// Every day trip.
    pub(crate) trips: Vec<Trip>,
}

impl Globe {
    /// Joins `worlds` and, with more than one, sends people abroad at `travel_rate`. One world takes
    /// nothing from `rng`, so a single country's run draws exactly what its world drew.
    pub(crate) fn new(worlds: Vec<World>, travel_rate: f64, rng: &mut impl Rng) -> Self {
        let mut home = Vec::new();
        let mut combined = World {
            people: 0,
            start: worlds[0].start,
            days: worlds[0].days,
            household: Vec::new(),
            workplace: Vec::new(),
            tests: Vec::new(),
            contacts: Vec::new(),
        };
        let (mut households, mut workplaces) = (0, 0);
        for (k, w) in worlds.iter().enumerate() {
            let offset = combined.people;
            home.extend(std::iter::repeat_n(k, w.people));
            combined
                .household
                .extend(w.household.iter().map(|h| h + households));
            combined
                .workplace
                .extend(w.workplace.iter().map(|p| p.map(|p| p + workplaces)));
            households += w.household.iter().max().map_or(0, |h| h + 1);
            workplaces += w.workplace.iter().flatten().max().map_or(0, |p| p + 1);
            combined.tests.extend(w.tests.iter().map(|t| {
                let mut t = *t;
                t.person += offset;
                t
            }));
            combined.contacts.extend(w.contacts.iter().map(|c| Contact {
                a: c.a + offset,
                b: c.b + offset,
                ..*c
            }));
            combined.people += w.people;
        }
        let mut globe = Self {
            world: combined,
            home,
            trips: Vec::new(),
        };
        if worlds.len() > 1 {
            globe.travel(worlds.len(), travel_rate, rng);
        }
        globe
    }

    /// Day trips: on each day each person goes abroad with probability `rate`, to a country drawn
    /// among the others, and spends the working day there instead of at home: two meetings at the
    /// other country's workplaces and two bus rides with its commuters. Evenings stay at home.
    fn travel(&mut self, countries: usize, rate: f64, rng: &mut impl Rng) {
        let w = &self.world;
        let workers: Vec<Vec<usize>> = (0..countries)
            .map(|k| {
                (0..w.people)
                    .filter(|&p| self.home[p] == k && w.workplace[p].is_some())
                    .collect()
            })
            .collect();
        let mut abroad = Vec::new();
        for day in 0..i64::from(w.days) {
            let midnight = w.start + day * 86_400;
            for person in 0..w.people {
                if !rng.gen_bool(rate.clamp(0.0, 1.0)) {
                    continue;
                }
                let others: Vec<usize> =
                    (0..countries).filter(|&k| k != self.home[person]).collect();
                let Some(&to) = others.choose(rng) else {
                    continue;
                };
                self.trips.push(Trip { person, day, to });
                let Some(hosts) = workers.get(to).filter(|h| !h.is_empty()) else {
                    continue;
                };
                for _ in 0..2 {
                    let host = hosts[rng.gen_range(0..hosts.len())];
                    let attenuation = *[CLOSE_DB, MID_DB, FAR_DB].choose(rng).unwrap_or(&FAR_DB);
                    abroad.push(Contact {
                        a: person,
                        b: host,
                        start: midnight + rng.gen_range(9..16) * 3600 + rng.gen_range(0..12) * 300,
                        minutes: rng.gen_range(1..=9) * 5,
                        attenuation,
                    });
                }
                for hour in [7, 17] {
                    let host = hosts[rng.gen_range(0..hosts.len())];
                    abroad.push(Contact {
                        a: person,
                        b: host,
                        start: midnight + hour * 3600 + rng.gen_range(0..6) * 300,
                        minutes: rng.gen_range(2..=6) * 5,
                        attenuation: if rng.gen_bool(0.2) { MID_DB } else { FAR_DB },
                    });
                }
            }
        }
        // A traveller is not at work or on the bus at home that day (07:00 to 18:00).
        let away: HashSet<(usize, i64)> = self.trips.iter().map(|t| (t.person, t.day)).collect();
        let start = w.start;
        let at_home_abroad = |c: &Contact| {
            let day = (c.start - start).div_euclid(86_400);
            let hour = (c.start - start).rem_euclid(86_400) / 3600;
            (7..18).contains(&hour) && (away.contains(&(c.a, day)) || away.contains(&(c.b, day)))
        };
        let mut contacts: Vec<Contact> = self
            .world
            .contacts
            .iter()
            .filter(|c| !at_home_abroad(c))
            .copied()
            .collect();
        // Positives stay away from everyone from their sample on, abroad as at home; a host who is
        // abroad that day is not there to meet.
        let isolation = self.world.isolation();
        abroad.retain(|c| {
            let day = (c.start - start).div_euclid(86_400);
            if away.contains(&(c.b, day)) {
                return false;
            }
            let end = c.start + i64::from(c.minutes) * 60;
            [c.a, c.b]
                .iter()
                .all(|&p| isolation[p].is_none_or(|t| end <= t))
        });
        contacts.extend(abroad);
        contacts.sort_by_key(|c| c.start);
        self.world.contacts = contacts;
    }

    /// Countries `person` was in before `until` (the visited countries of an upload then).
    pub(crate) fn visited(&self, person: usize, until: i64) -> BTreeSet<usize> {
        self.trips
            .iter()
            .filter(|t| t.person == person && self.world.start + t.day * 86_400 < until)
            .map(|t| t.to)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;
    use crate::world::WorldOptions;

    #[test]
    fn travellers_meet_the_other_country_and_leave_home_at_work_hours() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let options = WorldOptions {
            people: 40,
            days: 4,
            start_day: 20_000,
            positive_rate: 0.1,
            negative_rate: 0.0,
            share_rate: 1.0,
        };
        let worlds = vec![World::new(options, &mut rng), World::new(options, &mut rng)];
        let globe = Globe::new(worlds, 0.2, &mut rng);
        assert!(!globe.trips.is_empty());
        let w = &globe.world;
        assert!(w.contacts.windows(2).all(|p| p[0].start <= p[1].start));
        let mut across = 0;
        for c in &w.contacts {
            let day = (c.start - w.start).div_euclid(86_400);
            let hour = (c.start - w.start).rem_euclid(86_400) / 3600;
            if globe.home[c.a] != globe.home[c.b] {
                across += 1;
                // A cross-border contact is a traveller's that day, in the host country.
                let trip = globe.trips.iter().find(|t| {
                    t.day == day
                        && ((t.person == c.a && t.to == globe.home[c.b])
                            || (t.person == c.b && t.to == globe.home[c.a]))
                });
                assert!(trip.is_some(), "{c:?}");
            } else if (7..18).contains(&hour) {
                // Nobody is at work at home on a day abroad.
                for p in [c.a, c.b] {
                    assert!(!globe.trips.iter().any(|t| t.person == p && t.day == day));
                }
            }
            for p in [c.a, c.b] {
                let end = c.start + i64::from(c.minutes) * 60;
                assert!(w.isolation()[p].is_none_or(|t| end <= t));
            }
        }
        assert!(across > 0);
        // Visited countries: only trips before the given time.
        let t = globe.trips[0];
        assert!(globe
            .visited(t.person, w.start + t.day * 86_400 + 1)
            .contains(&t.to));
        assert!(globe
            .visited(t.person, w.start + t.day * 86_400)
            .iter()
            .all(|&k| {
                globe
                    .trips
                    .iter()
                    .any(|o| o.person == t.person && o.to == k && o.day < t.day)
            }));
    }

    #[test]
    fn one_country_is_its_world_and_draws_nothing() {
        let options = WorldOptions {
            people: 30,
            days: 3,
            start_day: 20_000,
            positive_rate: 0.1,
            negative_rate: 0.0,
            share_rate: 1.0,
        };
        let mut rng = ChaCha20Rng::seed_from_u64(8);
        let world = World::new(options, &mut rng);
        let after_world = rng.clone();
        let globe = Globe::new(vec![world.clone()], 0.5, &mut rng);
        assert!(globe.trips.is_empty());
        assert_eq!(globe.home, vec![0; 30]);
        assert_eq!(globe.world.contacts, world.contacts);
        assert_eq!(globe.world.tests, world.tests);
        assert_eq!(rng, after_world);
    }
}
