//! The BLE model against closed forms and against the seeds' Figure 14.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use warnkit_sim::model::Placement;
use warnkit_sim::stats::{detection_probability, tally};
use warnkit_sim::{RadioConfig, RunOutput, Scenario, Simulator};

const T: f64 = 300.0;
const W: f64 = 4.0;
const I: f64 = 0.25;

fn lossless() -> Simulator {
    Simulator::new(RadioConfig::fixed(I, T, W)).unwrap()
}

/// |p̂ − p| within four standard errors of a binomial proportion over `runs` runs.
fn assert_close(got: f64, want: f64, runs: u64, slack: f64, what: &str) {
    let se = (want * (1.0 - want) / runs as f64).sqrt();
    assert!(
        (got - want).abs() <= 4.0 * se + slack,
        "{what}: got {got:.5}, want {want:.5} ± {:.5}",
        4.0 * se + slack
    );
}

#[test]
fn short_encounters_are_detected_with_probability_d_plus_w_over_t() {
    let sim = lossless();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let runs = 100_000;
    for d in [1.0, 30.0, 120.0, 250.0, 295.0] {
        let p = detection_probability(&sim, d, 1.0, runs, Placement::Random, &mut rng);
        // The closed form counts any overlap; an overlap shorter than one advertising interval holds an
        // advertisement only with probability overlap/I, which removes exactly I/T (for d, w ≥ I).
        assert_close(
            p,
            (d + W) / T,
            runs,
            I / T,
            &format!("d = {d} s against (d + w)/T"),
        );
        assert_close(
            p,
            (d + W - I) / T,
            runs,
            0.0,
            &format!("d = {d} s against (d + w − I)/T"),
        );
    }
}

#[test]
fn random_scan_periods_follow_the_closed_form_with_the_mean_period() {
    // While d + w is below the shortest period at most one window can overlap, and a stationary window
    // process starts one in any interval of length d + w with probability (d + w)/E[T].
    let sim = Simulator::new(RadioConfig {
        scanning: Default::default(),
        ..RadioConfig::fixed(I, T, W)
    })
    .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let runs = 100_000;
    let mean_period = 255.0;
    for d in [20.0, 100.0, 200.0] {
        let p = detection_probability(&sim, d, 1.0, runs, Placement::Random, &mut rng);
        assert_close(
            p,
            (d + W - I) / mean_period,
            runs,
            0.0,
            &format!("d = {d} s, random period"),
        );
    }
}

#[test]
fn encounters_out_of_radio_range_are_never_detected() {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let lossless = lossless();
    let beyond = lossless.mean_range_m() * 1.05;
    assert_eq!(
        detection_probability(
            &lossless,
            3600.0,
            beyond,
            2_000,
            Placement::Random,
            &mut rng
        ),
        0.0
    );
    // With shadowing and fading the edge is soft, but ten kilometres is far past any tail.
    let noisy = Simulator::new(RadioConfig::default()).unwrap();
    assert_eq!(
        detection_probability(&noisy, 3600.0, 10_000.0, 2_000, Placement::Random, &mut rng),
        0.0
    );
    // Just inside the range, the lossless model always hears an hour-long encounter.
    let inside = lossless.mean_range_m() * 0.95;
    assert_eq!(
        detection_probability(
            &lossless,
            3600.0,
            inside,
            2_000,
            Placement::Random,
            &mut rng
        ),
        1.0
    );
}

#[test]
fn encounters_of_a_full_period_plus_a_window_are_always_detected() {
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    let sim = lossless();
    assert_eq!(
        detection_probability(&sim, T + W, 1.0, 20_000, Placement::Random, &mut rng),
        1.0
    );
    // And just short of it, detection is no longer certain: an encounter of T − w can fall between windows.
    assert!(
        detection_probability(&sim, T - 2.0 * W, 1.0, 20_000, Placement::Random, &mut rng) < 1.0
    );
    let random = Simulator::new(RadioConfig {
        scanning: Default::default(),
        ..RadioConfig::fixed(I, T, W)
    })
    .unwrap();
    assert_eq!(
        detection_probability(&random, 300.0 + W, 1.0, 20_000, Placement::Random, &mut rng),
        1.0
    );
}

#[test]
fn seed_figure_with_the_figures_timing_reproduces_the_seeds_outcome() {
    let scenario = Scenario::builtin("seed-figure").unwrap();
    let sim = Simulator::new(RadioConfig::seed_figure()).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(15);
    let mut out = RunOutput::default();
    sim.run(&scenario, Placement::ALIGNED, &mut rng, &mut out);
    let by_device = |n: u32| {
        let prefix = format!("device {n}:");
        let i = scenario
            .encounters
            .iter()
            .position(|e| e.label.starts_with(&prefix))
            .expect("device in scenario");
        (&scenario.encounters[i], &out.sightings[i])
    };
    let close = |e: &warnkit_sim::scenario::Encounter| {
        sim.mean_attenuation_db(e.distance_at(0.0), 0.0) < 55.0
    };

    let (d1, s1) = by_device(1);
    assert!(!s1.is_empty(), "device 1 ({}) should be logged", d1.label);

    let (d2, s2) = by_device(2);
    assert!(close(d2), "device 2 is a close contact");
    assert!(
        s2.is_empty(),
        "the close contact with device 2 should be missed, got {s2:?}"
    );

    let (d3, s3) = by_device(3);
    assert!(s3.is_empty(), "device 3 should go unnoticed, got {s3:?}");
    let d3_att = sim.mean_attenuation_db(
        d3.distance_at(0.0),
        d3.obstruction.loss_db(&sim.config().channel),
    );
    assert!(
        d3_att > sim.config().channel.max_attenuation_db,
        "device 3 is unnoticed because it is out of range"
    );

    let (_, s4) = by_device(4);
    assert!(s4.is_empty(), "device 4 should go unnoticed, got {s4:?}");

    let (d5, s5) = by_device(5);
    assert!(
        close(d5) && d5.duration_s < 10.0,
        "device 5 is a brief close contact"
    );
    assert_eq!(
        s5.len(),
        1,
        "the brief contact with device 5 should be logged once"
    );
    assert!(s5[0].min_attenuation_db < 50);
}

#[test]
fn the_figure_is_a_worst_case_under_the_real_random_timing() {
    // With 4-second windows every 210–300 s, device 2's 4.5 minutes are almost always caught.
    let scenario = Scenario::builtin("seed-figure").unwrap();
    let sim = Simulator::new(RadioConfig::default()).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(16);
    let t = tally(
        &sim,
        &scenario,
        20_000,
        Placement::Random,
        [55, 63],
        &mut rng,
        &mut |_| {},
    );
    let device2 = t[1].detection_probability();
    assert!(device2 > 0.95, "device 2 detected with p = {device2}");
    // Device 3's mean attenuation is 10 dB past the sensitivity; shadowing and fading make the edge soft,
    // so it is heard now and then, but rarely.
    let device3 = t[2].detection_probability();
    assert!(device3 < 0.15, "device 3 detected with p = {device3}");
}

#[test]
fn runs_are_deterministic_per_seed() {
    let scenario = Scenario::builtin("supermarket").unwrap();
    let sim = Simulator::new(RadioConfig::default()).unwrap();
    let run = |seed| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        tally(
            &sim,
            &scenario,
            5_000,
            Placement::Random,
            [55, 63],
            &mut rng,
            &mut |_| {},
        )
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}
