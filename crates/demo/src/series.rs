//! The demo day by day, for researchers (`warnkit demo --csv DIR`, `--plots DIR`): at the end of each
//! simulated day, the new positives, the uploads, the phones warned against the ground truth as of that
//! moment, and the phones' traffic, over every country.

use serde::Serialize;
use warnkit_app::{Http, Level};
use warnkit_sim::plot::{Chart, Legend, Series};

use crate::phones::Agent;
use crate::world::World;

/// One simulated day, counted at its end (midnight UTC).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Day {
    /// The day, `YYYY-MM-DD`.
    pub date: String,
    /// People whose positive result the lab posted that day.
    pub new_positives: usize,
    /// Real uploads accepted that day.
    pub uploads: u64,
    /// Phones at increased risk at the day's end.
    pub warned: usize,
    /// People truly exposed by then (contacts before the day's end, in the 14 days the phones score,
    /// with anyone who tests positive during the simulation, tested yet or not).
    pub truly_exposed: usize,
    /// Warned and truly exposed.
    pub true_warnings: usize,
    /// Warned but not truly exposed.
    pub false_warnings: usize,
    /// Truly exposed but not warned (yet): the warnings' delay shows here.
    pub missed_exposures: usize,
    /// HTTP requests of the phones that day.
    pub requests: u64,
    /// Bytes the phones downloaded that day.
    pub bytes_downloaded: u64,
}

/// Counts the days as the simulation reaches their ends; keeps the running totals the daily figures
/// are differences of.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    days: Vec<Day>,
    uploads: u64,
    requests: u64,
    bytes: u64,
}

impl Recorder {
    /// The day that ends at `end` (a midnight): every phone's risk at `end`, against the ground truth
    /// as of `end`, and what the phones did since the day before.
    pub(crate) fn day_end(
        &mut self,
        world: &World,
        agents: &[Box<Agent>],
        https: &[Http],
        end: i64,
    ) -> anyhow::Result<()> {
        let day = end.div_euclid(86_400) - 1;
        // The 14 days a phone scores at `end`, the day `end` begins included, as the final tally has it.
        let truth = world.truth_until(end.div_euclid(86_400) - 13, end);
        let mut row = Day {
            date: warnkit_protocol::interval::date_string(day),
            new_positives: world
                .tests
                .iter()
                .filter(|t| t.positive && t.result_at.div_euclid(86_400) == day)
                .count(),
            ..Day::default()
        };
        let mut uploads = 0;
        for (a, &exposed) in agents.iter().zip(&truth.exposed) {
            let warned = a.phone.risk(end)?.level == Level::Increased;
            row.warned += usize::from(warned);
            row.truly_exposed += usize::from(exposed);
            row.true_warnings += usize::from(warned && exposed);
            row.false_warnings += usize::from(warned && !exposed);
            row.missed_exposures += usize::from(exposed && !warned);
            uploads += u64::from(a.phone.stats.uploads);
        }
        let relaxed = std::sync::atomic::Ordering::Relaxed;
        let load = |f: fn(&warnkit_app::http::Traffic) -> &std::sync::atomic::AtomicU64| -> u64 {
            https.iter().map(|h| f(h.traffic()).load(relaxed)).sum()
        };
        let requests = load(|t| &t.requests);
        let bytes = load(|t| &t.bytes_downloaded);
        row.uploads = uploads - self.uploads;
        row.requests = requests - self.requests;
        row.bytes_downloaded = bytes - self.bytes;
        (self.uploads, self.requests, self.bytes) = (uploads, requests, bytes);
        self.days.push(row);
        Ok(())
    }

    /// The days counted.
    pub(crate) fn finish(self) -> Vec<Day> {
        self.days
    }
}

/// The days as CSV: a header line, then one line per day.
pub fn csv(days: &[Day]) -> String {
    let mut out = String::from(
        "date,new_positives,uploads,warned,truly_exposed,true_warnings,false_warnings,\
         missed_exposures,requests,bytes_downloaded\n",
    );
    for d in days {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}\n",
            d.date,
            d.new_positives,
            d.uploads,
            d.warned,
            d.truly_exposed,
            d.true_warnings,
            d.false_warnings,
            d.missed_exposures,
            d.requests,
            d.bytes_downloaded
        ));
    }
    out
}

/// The people series against the day (1 = the first simulated day): positives, uploads, warnings
/// true and false, and missed exposures.
pub fn chart(days: &[Day], phones: usize) -> Chart {
    let line = |label: &str, f: fn(&Day) -> f64| {
        let points = days
            .iter()
            .enumerate()
            .map(|(i, d)| (i as f64 + 1.0, f(d)))
            .collect();
        Series::line(label, points)
    };
    let series = vec![
        line("truly exposed (ground truth)", |d| d.truly_exposed as f64),
        line("warned, truly exposed", |d| d.true_warnings as f64),
        line("warned, not truly exposed", |d| d.false_warnings as f64),
        line("truly exposed, not warned", |d| d.missed_exposures as f64),
        line("new positives that day", |d| d.new_positives as f64),
        line("uploads that day", |d| d.uploads as f64),
    ];
    let top = days
        .iter()
        .flat_map(|d| {
            [
                d.truly_exposed,
                d.warned,
                d.missed_exposures,
                d.new_positives,
                d.uploads as usize,
            ]
        })
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    Chart {
        title: format!("The demo day by day: {phones} phones"),
        x_label: "simulated day".into(),
        y_label: "people (phones)".into(),
        y_names: Vec::new(),
        x_range: 0.5..(days.len() as f64 + 0.5),
        y_range: 0.0..top * 1.45,
        series,
        legend: Legend::UpperLeft,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_a_header_and_a_line_per_day_in_column_order() {
        let day = Day {
            date: "2026-11-20".into(),
            new_positives: 1,
            uploads: 2,
            warned: 3,
            truly_exposed: 4,
            true_warnings: 5,
            false_warnings: 6,
            missed_exposures: 7,
            requests: 8,
            bytes_downloaded: 9,
        };
        let text = csv(&[day.clone(), day]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("date,new_positives,uploads,"));
        assert_eq!(lines[1], "2026-11-20,1,2,3,4,5,6,7,8,9");
        assert_eq!(lines[0].split(',').count(), lines[1].split(',').count());
    }
}
