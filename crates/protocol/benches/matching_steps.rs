//! Per-step costs of matching, and whether steps overlap on the CPU, as the fastest of many
//! round-robin trials (robust to other work on a shared machine). Figures and their reading:
//! `docs/benchmarks-matching.md`.
//!
//! ```sh
//! cargo bench -p warnkit-protocol --bench matching_steps -- 200        # the steps, 200 trials
//! cargo bench -p warnkit-protocol --bench matching_steps -- whole 1000000 3
//! #   what `warnkit bench match --threads 1` does: keys/s and the AES bound, 3 runs
//! cargo bench -p warnkit-protocol --bench matching_steps -- whole 1000000 0
//! #   the committed-before matcher (benches/support/old_matching.rs) against the current one, alternating
//! cargo bench -p warnkit-protocol --bench matching_steps -- whole 1000000 1000
//! #   the load-robust ratio: fastest of 40 alternating trials of old, new and the bound's loop
//! ```
//!
//! The filter variants (F2-F6) are the candidates the probe (now issued between the AES rounds by
//! `warnkit_aesx::Aes128::encrypt_and_probe`) was chosen from.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Instant;

#[path = "support/old_matching.rs"]
mod old_matching;
#[path = "support/steps_cases.rs"]
mod steps_cases;
#[path = "support/steps_data.rs"]
mod steps_data;
#[path = "support/steps_whole.rs"]
mod steps_whole;

use steps_data::{f3_pass, filter_pass, Data, KEYS};

fn main() {
    // `cargo bench` adds `--bench`; only the plain arguments are ours.
    let args: Vec<String> = std::env::args().filter(|a| !a.starts_with("--")).collect();
    if args.get(1).map(String::as_str) == Some("whole") {
        let keys = args
            .get(2)
            .and_then(|a| a.parse().ok())
            .unwrap_or(1_000_000);
        let runs = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(3);
        steps_whole::whole(keys, 100_000, runs);
        return;
    }
    let mut d = Data::new();
    {
        let mut out = Vec::new();
        let mut fp = 0usize;
        for b in d.blocks.chunks_exact(144) {
            f3_pass(&d, b, &mut out);
            fp += out.len();
        }
        let fp1: u32 = d
            .blocks
            .chunks_exact(144)
            .map(|b| {
                let h = filter_pass(&d, b);
                h.iter().map(|x| x.count_ones()).sum::<u32>()
            })
            .sum();
        println!(
            "false positives per key: 3-bit computed {:.3}, mask table {:.3}",
            fp1 as f64 / KEYS as f64,
            fp as f64 / KEYS as f64
        );
    }
    let cases = steps_cases::cases();
    let trials: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let mut best = vec![f64::INFINITY; cases.len()];
    for _ in 0..trials {
        for (b, (_, f)) in best.iter_mut().zip(&cases) {
            let start = Instant::now();
            black_box(f(&mut d));
            *b = b.min(start.elapsed().as_nanos() as f64 / KEYS as f64);
        }
    }
    for ((name, _), b) in cases.iter().zip(best) {
        println!("{name:<60} {b:7.1} ns/key");
    }
}
