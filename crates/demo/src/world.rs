//! The demo's little world: households, workplaces and transit, who meets whom for how long and how
//! close, who gets tested when, and the ground truth of who was really exposed (by the rule of
//! `warnkit_sim::truth`).

use rand::seq::SliceRandom;
use rand::Rng;
use warnkit_sim::truth::{truly_exposed, Meeting};

/// Attenuation (dB) around which close contacts (about 1–2 m) scatter.
pub const CLOSE_DB: u8 = 45;
/// Attenuation around which mid-range contacts (a few metres) scatter.
pub const MID_DB: u8 = 58;
/// Attenuation around which far contacts (across a room or a bus) scatter.
pub const FAR_DB: u8 = 70;
/// Scatter of a sighting's attenuation around its contact's mean, in dB either way.
pub const SCATTER_DB: i16 = 3;

/// One contact between two people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contact {
    /// One person.
    pub a: usize,
    /// The other.
    pub b: usize,
    /// Unix second the contact starts.
    pub start: i64,
    /// Duration in minutes (a multiple of 5).
    pub minutes: u32,
    /// Mean attenuation in dB.
    pub attenuation: u8,
}

/// A test someone takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Test {
    /// Who.
    pub person: usize,
    /// Unix second the QR code is scanned (the sample is taken); positives isolate from then on.
    pub sample: i64,
    /// Unix second the lab posts the result.
    pub result_at: i64,
    /// Positive or negative.
    pub positive: bool,
    /// Whether the person agrees to share their keys.
    pub shares: bool,
}

/// The population and its plans.
#[derive(Debug, Clone)]
pub struct World {
    /// People (= phones).
    pub people: usize,
    /// First Unix second (midnight UTC).
    pub start: i64,
    /// Days simulated.
    pub days: u32,
    /// Household of each person.
    pub household: Vec<usize>,
    /// Workplace of each person, if they work outside home.
    pub workplace: Vec<Option<usize>>,
    /// The tests.
    pub tests: Vec<Test>,
    /// Every contact, by start time.
    pub contacts: Vec<Contact>,
}

/// Options of the world.
#[derive(Debug, Clone, Copy)]
pub struct WorldOptions {
    /// People.
    pub people: usize,
    /// Days.
    pub days: u32,
    /// First day (UTC day number).
    pub start_day: i64,
    /// Share of people who test positive during the demo.
    pub positive_rate: f64,
    /// Share of people who test negative.
    pub negative_rate: f64,
    /// Share of positives who upload their keys.
    pub share_rate: f64,
}

impl World {
    /// Builds people, their tests and all contacts.
    pub fn new(o: WorldOptions, rng: &mut impl Rng) -> Self {
        let start = o.start_day * 86_400;
        let mut household = Vec::with_capacity(o.people);
        let mut h = 0;
        while household.len() < o.people {
            let size = *[1, 2, 2, 3, 3, 4].choose(rng).unwrap_or(&2);
            for _ in 0..size {
                household.push(h);
            }
            h += 1;
        }
        household.truncate(o.people);
        let mut workplace = vec![None; o.people];
        let mut workers: Vec<usize> = (0..o.people).filter(|_| rng.gen_bool(0.7)).collect();
        workers.shuffle(rng);
        for (i, &p) in workers.iter().enumerate() {
            workplace[p] = Some(i / 10);
        }
        let mut tests = Vec::new();
        if o.days >= 2 {
            for person in 0..o.people {
                let roll: f64 = rng.gen();
                let positive = roll < o.positive_rate;
                if !positive && roll >= o.positive_rate + o.negative_rate {
                    continue;
                }
                // Not on the first day, so that there is something to warn about.
                let day = rng.gen_range(1..o.days) as i64;
                let sample =
                    start + day * 86_400 + rng.gen_range(8..12) * 3600 + rng.gen_range(0..3600);
                let result_at = sample + rng.gen_range(4..10) * 3600;
                tests.push(Test {
                    person,
                    sample,
                    result_at,
                    positive,
                    shares: positive && rng.gen_bool(o.share_rate.clamp(0.0, 1.0)),
                });
            }
        }
        let mut world = Self {
            people: o.people,
            start,
            days: o.days,
            household,
            workplace,
            tests,
            contacts: Vec::new(),
        };
        world.contacts = world.make_contacts(rng);
        world
    }

    /// Each person's first positive test, by person: what isolation and the truth look up for every
    /// contact, gathered once (a search per contact grows with people × tests).
    pub fn first_positive(&self) -> Vec<Option<&Test>> {
        let mut out = vec![None; self.people];
        for t in self.tests.iter().filter(|t| t.positive) {
            if let Some(slot @ None) = out.get_mut(t.person) {
                *slot = Some(t);
            }
        }
        out
    }

    /// From when each person stays away from everyone (their first positive test's sample).
    pub fn isolation(&self) -> Vec<Option<i64>> {
        self.first_positive()
            .into_iter()
            .map(|t| t.map(|t| t.sample))
            .collect()
    }

    fn make_contacts(&self, rng: &mut impl Rng) -> Vec<Contact> {
        let mut out = Vec::new();
        let mut by_household: Vec<Vec<usize>> = Vec::new();
        for (p, &h) in self.household.iter().enumerate() {
            if by_household.len() <= h {
                by_household.resize(h + 1, Vec::new());
            }
            by_household[h].push(p);
        }
        let mut by_work: Vec<Vec<usize>> = Vec::new();
        for (p, w) in self.workplace.iter().enumerate() {
            if let Some(w) = *w {
                if by_work.len() <= w {
                    by_work.resize(w + 1, Vec::new());
                }
                by_work[w].push(p);
            }
        }
        let commuters: Vec<usize> = (0..self.people)
            .filter(|&p| self.workplace[p].is_some())
            .collect();
        let five =
            |rng: &mut dyn rand::RngCore, lo: u32, hi: u32| rng.gen_range(lo / 5..=hi / 5) * 5;
        for day in 0..i64::from(self.days) {
            let midnight = self.start + day * 86_400;
            // Evenings at home, close, for hours.
            for members in &by_household {
                for (i, &a) in members.iter().enumerate() {
                    for &b in &members[i + 1..] {
                        let start = midnight + 18 * 3600 + rng.gen_range(0..6) * 300;
                        out.push(Contact {
                            a,
                            b,
                            start,
                            minutes: five(rng, 120, 240),
                            attenuation: CLOSE_DB,
                        });
                    }
                }
            }
            // Two meetings a day with colleagues: close, across the table, or across the room.
            for staff in &by_work {
                for &a in staff {
                    for _ in 0..2 {
                        let Some(&b) = staff.choose(rng) else {
                            continue;
                        };
                        if a == b {
                            continue;
                        }
                        let attenuation =
                            *[CLOSE_DB, MID_DB, FAR_DB].choose(rng).unwrap_or(&FAR_DB);
                        let start =
                            midnight + rng.gen_range(9..16) * 3600 + rng.gen_range(0..12) * 300;
                        out.push(Contact {
                            a,
                            b,
                            start,
                            minutes: five(rng, 5, 45),
                            attenuation,
                        });
                    }
                }
            }
            // Commutes: strangers on the bus, mostly a few metres away.
            if commuters.len() >= 2 {
                for &a in &commuters {
                    for hour in [7, 17] {
                        let b = commuters[rng.gen_range(0..commuters.len())];
                        if a == b {
                            continue;
                        }
                        let attenuation = if rng.gen_bool(0.2) { MID_DB } else { FAR_DB };
                        let start = midnight + hour * 3600 + rng.gen_range(0..6) * 300;
                        out.push(Contact {
                            a,
                            b,
                            start,
                            minutes: five(rng, 10, 30),
                            attenuation,
                        });
                    }
                }
            }
        }
        // Positives stay away from everyone from their sample on.
        let isolation = self.isolation();
        out.retain(|c| {
            let end = c.start + i64::from(c.minutes) * 60;
            [c.a, c.b]
                .iter()
                .all(|&p| isolation[p].is_none_or(|t| end <= t))
        });
        out.sort_by_key(|c| c.start);
        out
    }

    /// Ground truth: who met an infectious positive (sharing or not) closely enough on a day from
    /// `oldest_day` on (older contacts have left every phone's 14-day window), and who met any
    /// positive at all.
    pub fn truth(&self, oldest_day: i64) -> Truth {
        self.truth_until(oldest_day, i64::MAX)
    }

    /// [`World::truth`] as of `end`: only contacts that began before it count, with anyone who tests
    /// positive at some time of the simulation (the truth knows who was infectious before any test
    /// could say so).
    pub fn truth_until(&self, oldest_day: i64, end: i64) -> Truth {
        self.truth_among(oldest_day, end, &|_| true)
    }

    /// [`World::truth_until`] with only the positives `counts` accepts taken as positive.
    pub fn truth_among(&self, oldest_day: i64, end: i64, counts: &dyn Fn(&Test) -> bool) -> Truth {
        let mut met_positive = vec![false; self.people];
        let mut meetings: Vec<Vec<Meeting>> = vec![Vec::new(); self.people];
        let mut positives = self.first_positive();
        for p in &mut positives {
            *p = p.filter(|t| counts(t));
        }
        for c in self.contacts.iter().filter(|c| c.start < end) {
            for (me, other) in [(c.a, c.b), (c.b, c.a)] {
                let Some(test) = positives[other] else {
                    continue;
                };
                met_positive[me] = true;
                let day = c.start.div_euclid(86_400);
                if day < oldest_day {
                    continue;
                }
                meetings[me].push(Meeting {
                    positive: other,
                    day,
                    sample_day: test.sample.div_euclid(86_400),
                    minutes: c.minutes,
                    attenuation_db: c.attenuation,
                });
            }
        }
        Truth {
            exposed: meetings.into_iter().map(truly_exposed).collect(),
            met_positive,
        }
    }
}

/// Who was exposed, by the simulation's own account.
#[derive(Debug, Clone)]
pub struct Truth {
    /// Truly exposed: 15 close minutes with an infectious positive on one day.
    pub exposed: Vec<bool>,
    /// Had any contact at all with someone who tested positive.
    pub met_positive: Vec<bool>,
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    const DAY: i64 = 86_400;

    fn world(contacts: Vec<Contact>) -> World {
        World {
            people: 4,
            start: 0,
            days: 10,
            household: vec![0, 1, 2, 3],
            workplace: vec![None; 4],
            tests: vec![Test {
                person: 0,
                sample: 6 * DAY + 9 * 3600,
                result_at: 6 * DAY + 15 * 3600,
                positive: true,
                shares: true,
            }],
            contacts,
        }
    }

    fn contact(b: usize, day: i64, minutes: u32, attenuation: u8) -> Contact {
        Contact {
            a: 0,
            b,
            start: day * DAY + 8 * 3600,
            minutes,
            attenuation,
        }
    }

    #[test]
    fn fifteen_close_minutes_in_the_infectious_period() {
        // 1: 15 close minutes on the test day; 2: 30 mid-range minutes 4 days before (counts half);
        // 3: long but before the infectious period.
        let w = world(vec![
            contact(1, 6, 15, CLOSE_DB),
            contact(2, 2, 30, MID_DB),
            contact(3, 1, 120, CLOSE_DB),
        ]);
        let t = w.truth(0);
        assert_eq!(t.exposed, [false, true, true, false]);
        assert_eq!(t.met_positive, [false, true, true, true]);
        // Outside the phones' 14-day window nothing counts.
        assert_eq!(w.truth(3).exposed, [false, true, false, false]);
        let short = world(vec![contact(1, 6, 10, CLOSE_DB), contact(2, 6, 60, FAR_DB)]);
        assert_eq!(short.truth(0).exposed, [false; 4]);
    }

    #[test]
    fn positives_isolate_from_their_sample() {
        let w = World::new(
            WorldOptions {
                people: 300,
                days: 5,
                start_day: 20_000,
                positive_rate: 0.1,
                negative_rate: 0.05,
                share_rate: 1.0,
            },
            &mut ChaCha8Rng::seed_from_u64(1),
        );
        assert!(w.tests.iter().any(|t| t.positive));
        let isolation = w.isolation();
        assert!(isolation.iter().any(Option::is_some));
        for c in &w.contacts {
            let end = c.start + i64::from(c.minutes) * 60;
            for p in [c.a, c.b] {
                assert!(isolation[p].is_none_or(|t| end <= t));
            }
        }
        assert!(w.contacts.windows(2).all(|p| p[0].start <= p[1].start));
    }
}
