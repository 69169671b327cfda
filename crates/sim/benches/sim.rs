//! Throughput of the BLE model in simulated encounter-minutes per second, on one core.
//!
//! Run with `cargo bench -p warnkit-sim`; figures are recorded in docs/benchmarks-sim.md.
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use warnkit_sim::{Placement, RadioConfig, RunOutput, Scenario, Simulator};

fn bench(c: &mut Criterion) {
    let sim = Simulator::new(RadioConfig::default()).expect("default configuration is valid");
    let mut group = c.benchmark_group("sim_ble");
    for name in ["close-contact", "seed-figure", "train", "neighbours"] {
        let scenario = Scenario::builtin(name).expect("built-in scenario parses");
        // Criterion's "elements" are encounter-minutes, so its throughput line reads as minutes per second.
        group.throughput(Throughput::Elements(
            scenario.encounter_minutes().round() as u64
        ));
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut out = RunOutput::default();
        group.bench_function(name, |b| {
            b.iter(|| sim.run(&scenario, Placement::Random, &mut rng, &mut out))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
