//! Small random-variate helpers, so that the model needs nothing beyond `rand`'s uniform sampling.

use rand::Rng;

/// Standard normal variate (Box–Muller; one of the pair is thrown away because keeping state would make
/// results depend on call order across encounters).
pub fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    // 1 − U lies in (0, 1], so the logarithm is finite.
    let u1 = 1.0 - rng.gen::<f64>();
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Gaussian variate with mean 0 and standard deviation `sigma`; no draw at all when `sigma` is 0, so that
/// lossless configurations consume no randomness.
pub fn gaussian<R: Rng + ?Sized>(rng: &mut R, sigma: f64) -> f64 {
    if sigma > 0.0 {
        sigma * standard_normal(rng)
    } else {
        0.0
    }
}

/// Uniform variate on `[lo, hi]`; exactly `lo` when the range is empty.
pub fn uniform<R: Rng + ?Sized>(rng: &mut R, lo: f64, hi: f64) -> f64 {
    if hi > lo {
        lo + (hi - lo) * rng.gen::<f64>()
    } else {
        lo
    }
}

/// Time from an arbitrary instant to the next event of a stationary renewal process whose gaps are
/// uniform on `[lo, hi]`.
///
/// An instant picked independently of the process lands in a gap chosen with probability proportional to
/// its length (the inspection paradox), at a uniform position inside it. The length-biased density of a
/// uniform gap is ∝ l on `[lo, hi]`, whose inverse CDF is √(lo² + u·(hi² − lo²)).
pub fn residual_gap<R: Rng + ?Sized>(rng: &mut R, lo: f64, hi: f64) -> f64 {
    length_biased_gap(rng, lo, hi) * rng.gen::<f64>()
}

/// Length of the gap of a stationary renewal process (gaps uniform on `[lo, hi]`) that contains an
/// arbitrary instant: the inspection paradox makes it longer than a typical gap.
pub fn length_biased_gap<R: Rng + ?Sized>(rng: &mut R, lo: f64, hi: f64) -> f64 {
    if hi > lo {
        (lo * lo + rng.gen::<f64>() * (hi * hi - lo * lo)).sqrt()
    } else {
        lo
    }
}

/// Binomial variate: exact inversion while the mean is small, a rounded normal approximation beyond
/// (mean and variance both above 30, where its error is far below the sampling noise we report).
pub fn binomial<R: Rng + ?Sized>(rng: &mut R, n: u64, p: f64) -> u64 {
    if n == 0 || p <= 0.0 {
        return 0;
    }
    if p >= 1.0 {
        return n;
    }
    let mean = n as f64 * p;
    let var = mean * (1.0 - p);
    if var > 30.0 {
        let x = (mean + var.sqrt() * standard_normal(rng)).round();
        return x.clamp(0.0, n as f64) as u64;
    }
    if p > 0.5 {
        return n - binomial(rng, n, 1.0 - p);
    }
    // Inversion: walk the CDF from k = 0; the expected number of steps is about the mean (< 60 here).
    let q = 1.0 - p;
    let ratio = p / q;
    let mut pk = q.powf(n as f64);
    let mut cdf = pk;
    let u: f64 = rng.gen();
    let mut k = 0u64;
    while u > cdf && k < n {
        pk *= ratio * (n - k) as f64 / (k + 1) as f64;
        k += 1;
        cdf += pk;
        if pk < 1e-300 && cdf < u {
            // Rounding left a sliver of mass unassigned; the tail beyond here is negligible.
            break;
        }
    }
    k
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn normal_has_unit_variance() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let n = 100_000;
        let xs: Vec<f64> = (0..n).map(|_| standard_normal(&mut rng)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
    }

    #[test]
    fn residual_of_fixed_gap_is_uniform_and_of_random_gaps_has_renewal_mean() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let n = 200_000;
        let fixed = (0..n)
            .map(|_| residual_gap(&mut rng, 0.25, 0.25))
            .sum::<f64>()
            / n as f64;
        assert!((fixed - 0.125).abs() < 0.002, "fixed {fixed}");
        // Mean residual life of a renewal process is E[L²] / (2 E[L]).
        let (lo, hi) = (0.2f64, 0.27f64);
        let e_l = (lo + hi) / 2.0;
        let e_l2 = (hi.powi(3) - lo.powi(3)) / (3.0 * (hi - lo));
        let want = e_l2 / (2.0 * e_l);
        let got = (0..n).map(|_| residual_gap(&mut rng, lo, hi)).sum::<f64>() / n as f64;
        assert!((got - want).abs() < 0.002, "got {got}, want {want}");
    }

    #[test]
    fn binomial_matches_mean_in_both_regimes() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for (n, p) in [(50u64, 0.1), (10_000_000u64, 1.0 / 3600.0), (40, 0.9)] {
            let runs = 20_000;
            let mean = (0..runs)
                .map(|_| binomial(&mut rng, n, p) as f64)
                .sum::<f64>()
                / runs as f64;
            let want = n as f64 * p;
            let se = (want * (1.0 - p) / runs as f64).sqrt();
            assert!(
                (mean - want).abs() < 5.0 * se,
                "n {n} p {p}: mean {mean}, want {want}"
            );
        }
    }
}
