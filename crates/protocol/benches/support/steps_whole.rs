//! The whole matcher as `warnkit bench match --threads 1` runs it, against the committed-before
//! matcher and the AES bound.

use std::hint::black_box;
use std::time::Instant;

use rand::SeedableRng;

use crate::old_matching;

/// What `warnkit bench match --threads 1` does, here so variants can be compared without building
/// the binary: 1M keys over 14 days against 100k sightings, then the AES bound.
pub fn whole(keys: usize, observed: usize, runs: usize) {
    use warnkit_protocol::matching::{MatchOptions, ObservationIndex, Workload};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let Workload {
        keys: diagnosis,
        log,
        planted,
    } = Workload::synthetic(&mut rng, keys, observed);
    let index = ObservationIndex::new(&log);
    let options = MatchOptions {
        parallel: false,
        ..MatchOptions::default()
    };
    if runs == 1000 {
        // Load-robust form of the ratio: the fastest of many short trials of each side,
        // alternating, so background load hits both alike. Matching over 20k keys (all 14 days,
        // the full filters and table) against the bound's exact loop over its 9.4 MB buffer.
        let old = old_matching::OldIndex::new(&log);
        let part = &diagnosis[..keys.min(20_000)];
        let mut bound = warnkit_aesx::bound::Meter::new();
        let (mut best_old, mut best_new) = (f64::MAX, f64::MAX);
        for _ in 0..40 {
            // The bound as `warnkit bench match` measures it (`warnkit_aesx::bound`): one trial of
            // each AES path, the faster path's fastest trial.
            bound.trial();
            let t = Instant::now();
            black_box(old.match_keys(part, &options).len());
            best_old = best_old.min(t.elapsed().as_secs_f64() / part.len() as f64);
            let t = Instant::now();
            black_box(index.match_keys(part, &options).len());
            best_new = best_new.min(t.elapsed().as_secs_f64() / part.len() as f64);
        }
        // Seconds per key at the bound: 144 blocks at the faster path's rate.
        let best_aes = 144.0 / bound.rates().best();
        println!(
            "bound {:.1} ns/key; before {:.1} ns/key = {:.3} of the bound; now {:.1} ns/key = {:.3} of the bound ({:.2}x)",
            best_aes * 1e9, best_old * 1e9, best_aes / best_old, best_new * 1e9, best_aes / best_new, best_old / best_new
        );
        return;
    }
    if runs == 0 {
        // A/B: old and new matcher on the same data, alternating; the fastest of several
        // passes over the first 50k keys each.
        let old = old_matching::OldIndex::new(&log);
        let part = &diagnosis[..keys.min(50_000)];
        let (mut best_old, mut best_new) = (f64::MAX, f64::MAX);
        for _ in 0..15 {
            let t = Instant::now();
            let a = old.match_keys(part, &options).len();
            best_old = best_old.min(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let b = index.match_keys(part, &options).len();
            best_new = best_new.min(t.elapsed().as_secs_f64());
            assert_eq!(a, b);
        }
        let n = part.len() as f64;
        println!(
            "old {:.1} ns/key, new {:.1} ns/key: {:.2}x",
            best_old * 1e9 / n,
            best_new * 1e9 / n,
            best_old / best_new
        );
        return;
    }
    for _ in 0..runs {
        let start = Instant::now();
        let matches = index.match_keys(&diagnosis, &options).len();
        let seconds = start.elapsed().as_secs_f64();
        // The bound exactly as `warnkit bench match` measures it.
        let bound = warnkit_aesx::bound::blocks_per_second(std::time::Duration::from_millis(500))
            .best()
            / 144.0;
        let kps = keys as f64 / seconds;
        println!(
            "{kps:10.0} keys/s ({:.1} ns/key), bound {bound:10.0} keys/s ({:.1} ns/key): {:.3} of the bound; {matches} matches ({planted} planted)",
            1e9 / kps, 1e9 / bound, kps / bound
        );
    }
}
