//! A small, fast, reproducible random sequence (xorshift64): spreading
//! dials, link jitter and loss in simulations, test data. Not for keys or
//! anything an adversary may predict to its profit.

/// A xorshift64 generator: the same seed gives the same sequence.
#[derive(Debug, Clone)]
pub struct Xorshift(u64);

impl Xorshift {
    /// A generator from `seed`: any value, each its own sequence (the seed
    /// is scrambled by a one-to-one mix, splitmix64's, so that close seeds
    /// start far apart; the one state left at zero, where xorshift would
    /// stay, is moved).
    pub fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Self(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    /// The next number of the sequence.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// The next number, in `0..1`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The next number below `bound` (which must not be zero).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}

#[cfg(test)]
mod tests {
    use super::Xorshift;

    #[test]
    fn the_same_seed_gives_the_same_sequence() {
        let mut a = Xorshift::new(42);
        let mut b = Xorshift::new(42);
        let first: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        assert_eq!(first, (0..5).map(|_| b.next_u64()).collect::<Vec<_>>());
        assert_ne!(first[0], first[1]);
        for other in [0, 1, 41, 43, u64::MAX] {
            assert_ne!(Xorshift::new(other).next_u64(), first[0], "seed {other}");
        }
    }

    #[test]
    fn no_seed_sticks_at_zero() {
        // The seed the mix sends to zero, and zero itself.
        for seed in [0, 0x61C8_8646_80B5_83EB, u64::MAX] {
            let mut random = Xorshift::new(seed);
            assert!((0..10).all(|_| random.next_u64() != 0), "seed {seed:#x}");
        }
    }

    #[test]
    fn fractions_spread_over_zero_to_one() {
        let mut random = Xorshift::new(7);
        let values: Vec<f64> = (0..10_000).map(|_| random.next_f64()).collect();
        assert!(values.iter().all(|v| (0.0..1.0).contains(v)));
        let low = values.iter().filter(|v| **v < 0.5).count();
        assert!((4_500..5_500).contains(&low), "{low} of 10,000 below 0.5");
        assert!((0..1_000).all(|_| random.below(3) < 3));
    }
}
