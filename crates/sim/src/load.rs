//! Download load over a day when every client follows the jittered schedule of the seeds: the next run is
//! (seconds to the start of the next interval) + uniform random(0, interval). Counted in download
//! sessions (one per client per interval, as the seeds count), and turned into HTTP requests with the
//! requests a real phone makes per session in each interval.

use rand::Rng;

use crate::sampling::binomial;

/// Seconds in a day.
pub const DAY_S: u64 = 86_400;

/// The scheduling rule: when a client that runs at `now_s` runs next, given a uniform `u` in [0, 1).
pub fn next_run(now_s: f64, interval_s: f64, u: f64) -> f64 {
    let next_boundary = ((now_s / interval_s).floor() + 1.0) * interval_s;
    next_boundary + u * interval_s
}

/// Requests in each second of one day when `clients` follow [`next_run`] with `chunks_per_day` intervals.
///
/// The rule puts each client's next run at a uniform second of the interval after the current one, so in
/// steady state every client runs exactly once per interval at a uniform, independent time. The counts per
/// interval are therefore multinomial, sampled exactly here by splitting the clients second by second
/// with binomial draws (86 400 draws a day, independent of the number of clients).
pub fn jittered_day<R: Rng + ?Sized>(clients: u64, chunks_per_day: u32, rng: &mut R) -> Vec<u64> {
    let mut per_second = vec![0u64; DAY_S as usize];
    let chunks = u64::from(chunks_per_day.max(1));
    for k in 0..chunks {
        let begin = (k * DAY_S / chunks) as usize;
        let end = ((k + 1) * DAY_S / chunks) as usize;
        spread(clients, &mut per_second[begin..end], rng);
    }
    per_second
}

/// Requests per second when instead every client starts within the first `spread_s` seconds of each
/// interval (no jitter; phones only wait for the file to appear): the peak that jitter avoids.
pub fn unjittered_day<R: Rng + ?Sized>(
    clients: u64,
    chunks_per_day: u32,
    spread_s: u32,
    rng: &mut R,
) -> Vec<u64> {
    let mut per_second = vec![0u64; DAY_S as usize];
    let chunks = u64::from(chunks_per_day.max(1));
    for k in 0..chunks {
        let begin = (k * DAY_S / chunks) as usize;
        let end = ((k + 1) * DAY_S / chunks) as usize;
        let width = (spread_s.max(1) as usize).min(end - begin);
        spread(clients, &mut per_second[begin..begin + width], rng);
    }
    per_second
}

fn spread<R: Rng + ?Sized>(clients: u64, bins: &mut [u64], rng: &mut R) {
    let mut left = clients;
    let n = bins.len();
    for (i, bin) in bins.iter_mut().enumerate() {
        let x = binomial(rng, left, 1.0 / (n - i) as f64);
        *bin += x;
        left -= x;
    }
}

/// HTTP requests in each second, from the download sessions in each second (as [`jittered_day`] gives
/// them) and the mean requests per client in each interval of the day (`per_interval[k]` for interval
/// `k` of `per_interval.len()`): each second's sessions make their interval's mean, rounded to whole
/// requests. A session's requests follow each other within milliseconds, so they land in its second.
pub fn requests_from_sessions(sessions_per_second: &[u64], per_interval: &[f64]) -> Vec<u64> {
    let n = per_interval.len().max(1) as u64;
    sessions_per_second
        .iter()
        .enumerate()
        .map(|(s, &sessions)| {
            let k = ((s as u64 * n / DAY_S) as usize).min(per_interval.len().saturating_sub(1));
            let mean = per_interval.get(k).copied().unwrap_or(0.0);
            (sessions as f64 * mean).round() as u64
        })
        .collect()
}

/// Mean and largest value of per-second counts.
pub fn mean_and_peak(per_second: &[u64]) -> (f64, u64) {
    let total: u64 = per_second.iter().sum();
    let mean = if per_second.is_empty() {
        0.0
    } else {
        total as f64 / per_second.len() as f64
    };
    (mean, per_second.iter().copied().max().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn the_rule_gives_one_uniform_run_per_interval() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let clients = 2_000;
        let mut per_hour = [0u32; 24];
        let mut in_first_quarter = 0u32;
        for _ in 0..clients {
            let mut t = rng.gen::<f64>() * 3600.0;
            while t < DAY_S as f64 {
                per_hour[(t / 3600.0) as usize] += 1;
                in_first_quarter += u32::from(t % 3600.0 < 900.0);
                t = next_run(t, 3600.0, rng.gen());
            }
        }
        assert!(per_hour.iter().all(|&n| n == clients), "{per_hour:?}");
        let share = f64::from(in_first_quarter) / f64::from(clients * 24);
        assert!((share - 0.25).abs() < 0.01, "{share}");
    }

    #[test]
    fn requests_follow_the_sessions_of_each_interval() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let sessions = jittered_day(100_000, 24, &mut rng);
        // Two requests a session all day, five in the first hour (configuration and indexes).
        let mut per_interval = vec![2.0; 24];
        per_interval[0] = 5.0;
        let requests = requests_from_sessions(&sessions, &per_interval);
        assert_eq!(requests.len(), sessions.len());
        let first_hour: u64 = requests[..3600].iter().sum();
        assert_eq!(first_hour, 5 * 100_000);
        assert_eq!(requests.iter().sum::<u64>(), 100_000 * (5 + 23 * 2));
        assert_eq!(requests[7200], 2 * sessions[7200]);
        // Fewer intervals than hours: each covers its share of the day.
        let halves = requests_from_sessions(&sessions, &[1.0, 3.0]);
        assert_eq!(halves[43_199], sessions[43_199]);
        assert_eq!(halves[43_200], 3 * sessions[43_200]);
    }

    #[test]
    fn jittered_day_conserves_requests_and_stays_near_the_mean() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let clients = 30_000_000;
        let day = jittered_day(clients, 24, &mut rng);
        assert_eq!(day.iter().sum::<u64>(), clients * 24);
        let (mean, peak) = mean_and_peak(&day);
        assert!((mean - 8333.33).abs() < 0.01, "{mean}");
        // Poisson-like noise: sd ≈ 91; the largest of 86 400 seconds lies about 4–5 sd above the mean.
        assert!(
            peak as f64 > mean + 3.0 * 91.0 && (peak as f64) < mean + 6.0 * 91.0,
            "{peak}"
        );
        let burst = unjittered_day(clients, 24, 60, &mut rng);
        assert_eq!(burst.iter().sum::<u64>(), clients * 24);
        assert!(mean_and_peak(&burst).1 >= clients / 60);
    }
}
