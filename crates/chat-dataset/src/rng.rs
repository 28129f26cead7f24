//! A small deterministic random number generator (SplitMix64) and the distributions the data
//! set uses. Deterministic across machines and versions, which a registry RNG does not promise.

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.unit() * n as f64) as usize % n
    }

    /// A log-normal count with the given mean and shape, clamped to [min, max]: most values are
    /// small, a few are large, as with conversation lengths.
    pub fn skewed_count(&mut self, mean: f64, sigma: f64, min: usize, max: usize) -> usize {
        let mu = mean.ln() - sigma * sigma / 2.0;
        let normal = (-2.0 * (1.0 - self.unit()).ln()).sqrt() * (2.0 * std::f64::consts::PI * self.unit()).cos();
        ((mu + sigma * normal).exp().round() as usize).clamp(min, max)
    }

    /// An index in [0, n) skewed toward 0: a few heavy users, many light ones.
    pub fn skewed_index(&mut self, n: usize) -> usize {
        let u = self.unit();
        ((u * u * n as f64) as usize).min(n.saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_means_near_target() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        assert!((0..100).all(|_| a.next_u64() == b.next_u64()));
        let mut rng = Rng::new(1);
        let samples: Vec<usize> = (0..20_000).map(|_| rng.skewed_count(10.0, 0.8, 1, 10_000)).collect();
        let mean = samples.iter().sum::<usize>() as f64 / samples.len() as f64;
        assert!((9.0..11.0).contains(&mean), "mean {mean}");
        assert!(samples.iter().max().unwrap() > &40, "a long tail");
    }
}
