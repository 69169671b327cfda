//! What `bench privacy` computes from the observed exchanges: the AUC of latency, real against fake,
//! percentiles, and whether statuses, header names or sizes ever differ.

use super::client::Seen;
use super::{EndpointReport, LatencySummary};

/// Real against fake on `endpoint`, from what the observer saw of each.
pub(super) fn compare(endpoint: &'static str, real: &[Seen], fake: &[Seen]) -> EndpointReport {
    let ms = |s: &[Seen]| -> Vec<f64> { s.iter().map(|x| x.latency.as_secs_f64() * 1e3).collect() };
    let (real_ms, fake_ms) = (ms(real), ms(fake));
    fn distinct<T: Ord>(s: &[Seen], f: impl Fn(&Seen) -> T) -> Vec<T> {
        let mut v: Vec<T> = s.iter().map(f).collect();
        v.sort();
        v.dedup();
        v
    }
    let names = |x: &Seen| x.header_names.join(",");
    let sizes = |x: &Seen| (x.header_bytes, x.body.len());
    let (real_statuses, fake_statuses) =
        (distinct(real, |x| x.status), distinct(fake, |x| x.status));
    let (real_sizes, fake_sizes) = (distinct(real, sizes), distinct(fake, sizes));
    EndpointReport {
        endpoint,
        auc: auc(&real_ms, &fake_ms),
        real: summary(real_ms),
        fake: summary(fake_ms),
        statuses_differ: real_statuses != fake_statuses,
        header_names_differ: distinct(real, names) != distinct(fake, names),
        sizes_differ: real_sizes != fake_sizes,
        real_statuses,
        fake_statuses,
        real_sizes,
        fake_sizes,
    }
}

/// P(a random `real` value exceeds a random `fake` one), ties counted half: the Mann–Whitney U of `real`
/// over the product of the sample sizes, from mid-ranks of the pooled sample.
fn auc(real: &[f64], fake: &[f64]) -> f64 {
    if real.is_empty() || fake.is_empty() {
        return 0.5;
    }
    let mut pooled: Vec<(f64, bool)> = real
        .iter()
        .map(|&x| (x, true))
        .chain(fake.iter().map(|&x| (x, false)))
        .collect();
    pooled.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut real_rank_sum = 0.0;
    let mut i = 0;
    while i < pooled.len() {
        let mut j = i;
        while j + 1 < pooled.len() && pooled[j + 1].0 == pooled[i].0 {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their mean.
        let mid_rank = (i + j) as f64 / 2.0 + 1.0;
        real_rank_sum += mid_rank * pooled[i..=j].iter().filter(|p| p.1).count() as f64;
        i = j + 1;
    }
    let (n, m) = (real.len() as f64, fake.len() as f64);
    (real_rank_sum - n * (n + 1.0) / 2.0) / (n * m)
}

fn summary(mut ms: Vec<f64>) -> LatencySummary {
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        let i = ((ms.len() as f64 - 1.0) * p).round() as usize;
        ms.get(i).copied().unwrap_or(0.0)
    };
    LatencySummary {
        p10_ms: pct(0.10),
        p50_ms: pct(0.50),
        p90_ms: pct(0.90),
        p99_ms: pct(0.99),
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    #[test]
    fn auc_of_known_samples() {
        assert_eq!(auc(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]), 0.5);
        assert_eq!(auc(&[4.0, 5.0], &[1.0, 2.0, 3.0]), 1.0);
        assert_eq!(auc(&[1.0, 2.0], &[3.0, 4.0, 5.0]), 0.0);
        assert_eq!(auc(&[2.0], &[2.0]), 0.5);
    }

    #[test]
    fn auc_matches_counting_pairs() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        // Coarse values, so that ties are frequent.
        let real: Vec<f64> = (0..57).map(|_| f64::from(rng.gen_range(0..20u8))).collect();
        let fake: Vec<f64> = (0..43).map(|_| f64::from(rng.gen_range(3..25u8))).collect();
        let mut wins = 0.0;
        for r in &real {
            for f in &fake {
                wins += if r > f {
                    1.0
                } else if r == f {
                    0.5
                } else {
                    0.0
                };
            }
        }
        let expected = wins / (real.len() * fake.len()) as f64;
        assert!((auc(&real, &fake) - expected).abs() < 1e-12);
    }
}
