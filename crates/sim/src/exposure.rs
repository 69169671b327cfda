//! What the phone's exposure-notification framework makes of the sightings of one matched key: v1
//! exposures (duration, time-weighted attenuation, minutes per attenuation bucket) and v2 exposure windows
//! (scan instances with minimum and typical attenuation and seconds since the last scan).
//!
//! The rules follow Google's reference implementation as summarised in `reference/en-crypto-risk.md` §4.1
//! and §5.1; the risk scores themselves are computed by `warnkit_protocol::risk`.

use crate::model::Sighting;

/// Sightings more than this far apart start a new v1 exposure.
pub const V1_MAX_GAP_S: f64 = 600.0;
/// Each v1 exposure is extended by half a nominal scan interval before its first and after its last
/// sighting (the framework's "fake boundary points").
pub const V1_BOUNDARY_S: f64 = 150.0;
/// A v2 exposure window lasts at most 30 minutes.
pub const V2_MAX_WINDOW_S: f64 = 1800.0;

/// One scan's record of a key: all RPIs of that key seen in the same scan window merged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scan {
    /// Time of the first received advertisement in the window.
    pub time_s: f64,
    /// Start of the scan window.
    pub window_start_s: f64,
    /// Start of the scan window before it.
    pub previous_window_start_s: f64,
    /// Advertisements received.
    pub received: u32,
    /// Minimum attenuation, dB.
    pub min_attenuation_db: u8,
    /// Typical (mean) attenuation, dB.
    pub typical_attenuation_db: u8,
}

/// A v1 exposure as the framework's `ExposureInformation` reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct V1Exposure {
    /// Time of the first sighting.
    pub start_s: f64,
    /// Duration in seconds: (last − first) + 300 s, rounded to a multiple of 300 s.
    pub duration_s: u32,
    /// Time-weighted mean attenuation in dB.
    pub attenuation_db: u8,
    /// Seconds below the first threshold, between the two, and at or above the second.
    pub attenuation_durations_s: [u32; 3],
}

/// One scan instance of a v2 exposure window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanInstance {
    /// Minimum attenuation in the scan, dB.
    pub min_attenuation_db: u8,
    /// Typical attenuation in the scan, dB.
    pub typical_attenuation_db: u8,
    /// Seconds since the previous scan, as the framework rounds it.
    pub seconds_since_last_scan: u32,
}

/// A v2 exposure window: at most 30 minutes of scan instances of one key.
#[derive(Debug, Clone, PartialEq)]
pub struct ExposureWindow {
    /// Time of its first scan.
    pub start_s: f64,
    /// Its scans in time order.
    pub scan_instances: Vec<ScanInstance>,
}

/// Merges the sightings of one key by scan window (an RPI change inside a window gives two sightings of
/// the same key in one scan).
pub fn scans(sightings: &[Sighting]) -> Vec<Scan> {
    let mut out: Vec<(Scan, u64)> = Vec::new();
    for s in sightings {
        let weighted = u64::from(s.typical_attenuation_db) * u64::from(s.received);
        match out.last_mut() {
            Some((scan, sum)) if scan.window_start_s == s.window_start_s => {
                scan.received += s.received;
                scan.min_attenuation_db = scan.min_attenuation_db.min(s.min_attenuation_db);
                *sum += weighted;
            }
            _ => out.push((
                Scan {
                    time_s: s.time_s,
                    window_start_s: s.window_start_s,
                    previous_window_start_s: s.previous_window_start_s,
                    received: s.received,
                    min_attenuation_db: s.min_attenuation_db,
                    typical_attenuation_db: s.typical_attenuation_db,
                },
                weighted,
            )),
        }
    }
    out.into_iter()
        .map(|(mut scan, sum)| {
            // `received` ≥ 1 for every sighting, so the division is defined.
            scan.typical_attenuation_db =
                (sum as f64 / f64::from(scan.received)).round().min(255.0) as u8;
            scan
        })
        .collect()
}

/// v1 exposures from the scans of one key, with the two attenuation-duration thresholds in dB.
pub fn v1_exposures(scans: &[Scan], thresholds_db: [u8; 2]) -> Vec<V1Exposure> {
    let mut out = Vec::new();
    let mut begin = 0;
    for i in 1..=scans.len() {
        let split = i == scans.len() || scans[i].time_s - scans[i - 1].time_s > V1_MAX_GAP_S;
        if split {
            if i > begin {
                out.push(v1_exposure(&scans[begin..i], thresholds_db));
            }
            begin = i;
        }
    }
    out
}

fn v1_exposure(run: &[Scan], [low, high]: [u8; 2]) -> V1Exposure {
    let first = run[0].time_s;
    let last = run[run.len() - 1].time_s;
    // Each period contributes the attenuation of the sighting that opens it; the last sighting opens the
    // trailing boundary period, the first one also covers the leading boundary.
    let mut weighted = 0.0;
    let mut total = 0.0;
    let mut buckets = [0.0f64; 3];
    for (i, scan) in run.iter().enumerate() {
        let mut period = if i + 1 < run.len() {
            run[i + 1].time_s - scan.time_s
        } else {
            V1_BOUNDARY_S
        };
        if i == 0 {
            period += V1_BOUNDARY_S;
        }
        let att = scan.typical_attenuation_db;
        weighted += f64::from(att) * period;
        total += period;
        let bucket = if att < low {
            0
        } else if att < high {
            1
        } else {
            2
        };
        buckets[bucket] += period;
    }
    let raw = last - first + 300.0;
    // Multiples of 300 s; a remainder of up to 150 s rounds down.
    let duration_s = ((raw - 150.0) / 300.0).ceil().max(0.0) * 300.0;
    V1Exposure {
        start_s: first,
        duration_s: duration_s as u32,
        attenuation_db: (weighted / total).round().clamp(0.0, 255.0) as u8,
        attenuation_durations_s: buckets.map(|b| b.round() as u32),
    }
}

/// v2 exposure windows from the scans of one key.
pub fn v2_windows(scans: &[Scan]) -> Vec<ExposureWindow> {
    let mut out: Vec<ExposureWindow> = Vec::new();
    for scan in scans {
        let minute = |t: f64| (t / 60.0).floor();
        // 60 × whole minutes since the previous scan, at most 5 minutes.
        let minutes = (minute(scan.time_s) - minute(scan.previous_window_start_s)).clamp(0.0, 5.0);
        let instance = ScanInstance {
            min_attenuation_db: scan.min_attenuation_db,
            typical_attenuation_db: scan.typical_attenuation_db,
            seconds_since_last_scan: (minutes * 60.0) as u32,
        };
        match out.last_mut() {
            Some(w) if scan.time_s - w.start_s < V2_MAX_WINDOW_S => w.scan_instances.push(instance),
            _ => out.push(ExposureWindow {
                start_s: scan.time_s,
                scan_instances: vec![instance],
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(t: f64, previous: f64, att: u8) -> Scan {
        Scan {
            time_s: t,
            window_start_s: t,
            previous_window_start_s: previous,
            received: 1,
            min_attenuation_db: att,
            typical_attenuation_db: att,
        }
    }

    #[test]
    fn single_sighting_is_a_five_minute_exposure() {
        let e = v1_exposures(&[scan(1000.0, 700.0, 45)], [50, 74]);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].duration_s, 300);
        assert_eq!(e[0].attenuation_db, 45);
        assert_eq!(e[0].attenuation_durations_s, [300, 0, 0]);
    }

    #[test]
    fn durations_round_to_five_minutes_and_attenuation_is_time_weighted() {
        // 0 → 250 s: raw 550 s → 600 s (remainder 250 > 150 rounds up); 0 → 400: raw 700 → 600.
        let e = v1_exposures(&[scan(0.0, -250.0, 40), scan(250.0, 0.0, 60)], [50, 74]);
        assert_eq!(e[0].duration_s, 600);
        // 40 dB for 150 + 250 s, 60 dB for 150 s.
        assert_eq!(
            e[0].attenuation_db,
            ((40.0 * 400.0 + 60.0 * 150.0) / 550.0f64).round() as u8
        );
        assert_eq!(e[0].attenuation_durations_s, [400, 150, 0]);
        let e = v1_exposures(&[scan(0.0, -250.0, 40), scan(400.0, 0.0, 80)], [50, 74]);
        assert_eq!(e[0].duration_s, 600);
        assert_eq!(e[0].attenuation_durations_s, [550, 0, 150]);
    }

    #[test]
    fn long_gaps_split_exposures() {
        let e = v1_exposures(&[scan(0.0, -300.0, 40), scan(700.0, 400.0, 40)], [50, 74]);
        assert_eq!(e.len(), 2);
    }

    #[test]
    fn v2_windows_cut_at_thirty_minutes_with_capped_scan_gaps() {
        let scans: Vec<Scan> = (0..8)
            .map(|k| scan(k as f64 * 300.0 + 5.0, k as f64 * 300.0 - 295.0, 50))
            .collect();
        let w = v2_windows(&scans);
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].scan_instances.len(), 6);
        assert!(w[0]
            .scan_instances
            .iter()
            .all(|s| s.seconds_since_last_scan == 300));
        let short = v2_windows(&[scan(125.0, 0.0, 50)]);
        assert_eq!(short[0].scan_instances[0].seconds_since_last_scan, 120);
    }

    #[test]
    fn scans_merge_rpi_changes_within_one_window() {
        let base = Sighting {
            time_s: 10.0,
            window_start_s: 10.0,
            previous_window_start_s: 0.0,
            rpi: 0,
            received: 3,
            min_attenuation_db: 50,
            typical_attenuation_db: 52,
        };
        let second = Sighting {
            time_s: 11.0,
            rpi: 1,
            received: 1,
            min_attenuation_db: 48,
            typical_attenuation_db: 48,
            ..base
        };
        let merged = scans(&[base, second]);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].received, 4);
        assert_eq!(merged[0].min_attenuation_db, 48);
        assert_eq!(merged[0].typical_attenuation_db, 51);
    }
}
