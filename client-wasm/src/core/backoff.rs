//! Reconnect delays: exponential with a cap, jittered from a seed so that clients dropped
//! together do not all come back in the same millisecond.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg32;

/// First delay, ms.
pub const BASE_MS: u64 = 250;
/// Longest delay, ms.
pub const CAP_MS: u64 = 8_000;

/// The delays of one client.
pub struct Backoff {
    rng: Pcg32,
    attempt: u32,
}

impl Backoff {
    /// Delays drawn from `seed`.
    pub fn new(seed: u64) -> Backoff {
        Backoff { rng: Pcg32::seed_from_u64(seed), attempt: 0 }
    }

    /// Attempts since the last success.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The delay before the next attempt: a uniform draw from the upper half of
    /// `min(BASE_MS × 2^attempt, CAP_MS)`, so it never collapses to zero.
    pub fn next_delay_ms(&mut self) -> u64 {
        let ceiling = BASE_MS.saturating_mul(1 << self.attempt.min(16)).min(CAP_MS);
        self.attempt = self.attempt.saturating_add(1);
        self.rng.random_range(ceiling / 2..=ceiling)
    }

    /// A connection worked: the next failure starts from the base again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_within_their_jitter() {
        let mut backoff = Backoff::new(7);
        let delays: Vec<u64> = (0..10).map(|_| backoff.next_delay_ms()).collect();
        for (n, delay) in delays.iter().enumerate() {
            let ceiling = (BASE_MS << n).min(CAP_MS);
            assert!((ceiling / 2..=ceiling).contains(delay), "delay {n} = {delay}");
        }
        assert_eq!(backoff.attempt(), 10);
        backoff.reset();
        assert!(backoff.next_delay_ms() <= BASE_MS);
    }

    #[test]
    fn seeds_spread_clients_apart() {
        let firsts: std::collections::BTreeSet<u64> =
            (0..20).map(|seed| Backoff::new(seed).next_delay_ms()).collect();
        assert!(firsts.len() > 10, "{firsts:?}");
    }

    #[test]
    fn the_same_seed_gives_the_same_delays() {
        let (mut a, mut b) = (Backoff::new(3), Backoff::new(3));
        for _ in 0..8 {
            assert_eq!(a.next_delay_ms(), b.next_delay_ms());
        }
    }
}
