//! When a real-time match's ticks reach one connection, against when they were due. A client
//! cannot read the server's clock, so each tick's delay is measured from the schedule that the
//! match's earliest tick implies: tick `s` is expected `(s − s₀)` periods after tick `s₀`,
//! shifted so the tick that came soonest on that schedule has no delay. That is a lower bound
//! of the delay from the tick's deadline, short of it by the best tick's own delay.

use std::time::{Duration, Instant};

/// Ticks remembered per connection and match; a longer match's later ticks are not timed.
const CAP: usize = 20_000;

/// The live ticks of one match seen on one connection.
#[derive(Debug, Clone)]
pub struct TickArrivals {
    period: Duration,
    /// `(seq, arrival)` of each tick, in arrival order.
    seen: Vec<(u64, Instant)>,
}

impl TickArrivals {
    /// For a clock of `period` per tick.
    pub fn new(period: Duration) -> TickArrivals {
        TickArrivals { period, seen: Vec::new() }
    }

    /// A tick's event with `seq` arrived `at`.
    pub fn note(&mut self, seq: u64, at: Instant) {
        if self.seen.len() < CAP {
            self.seen.push((seq, at));
        }
    }

    /// Each noted tick's delay beyond the schedule, and forgets them (for the next match).
    pub fn take_delays(&mut self) -> Vec<Duration> {
        let seen = std::mem::take(&mut self.seen);
        let Some(&(first_seq, first_at)) = seen.first() else { return Vec::new() };
        let period_ns = self.period.as_nanos() as i128;
        // Arrival minus the schedule from the first tick, in ns; negative when earlier.
        let offsets: Vec<i128> = seen
            .iter()
            .map(|&(seq, at)| {
                let elapsed = at.saturating_duration_since(first_at).as_nanos() as i128;
                elapsed - (i128::from(seq) - i128::from(first_seq)) * period_ns
            })
            .collect();
        let best = offsets.iter().copied().min().unwrap_or(0);
        offsets.iter().map(|o| Duration::from_nanos((o - best) as u64)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn delays_count_from_the_soonest_tick_on_the_schedule() {
        let t0 = Instant::now();
        let mut arrivals = TickArrivals::new(ms(50));
        // Ticks 10..=13: the first 3 ms late, the second on time, the third 20 ms late.
        for (seq, at) in [(10, 3), (11, 50), (12, 120), (13, 151)] {
            arrivals.note(seq, t0 + ms(at));
        }
        assert_eq!(arrivals.take_delays(), vec![ms(3), ms(0), ms(20), ms(1)]);
        assert_eq!(arrivals.take_delays(), Vec::<Duration>::new(), "taken once");
    }

    #[test]
    fn a_tick_missing_on_the_connection_does_not_shift_the_schedule() {
        let t0 = Instant::now();
        let mut arrivals = TickArrivals::new(ms(50));
        for (seq, at) in [(1, 0), (3, 100), (4, 160)] {
            arrivals.note(seq, t0 + ms(at));
        }
        assert_eq!(arrivals.take_delays(), vec![ms(0), ms(0), ms(10)]);
    }

    #[test]
    fn noted_ticks_are_bounded() {
        let t0 = Instant::now();
        let mut arrivals = TickArrivals::new(ms(50));
        for seq in 0..(CAP as u64 + 5) {
            arrivals.note(seq, t0 + ms(50 * seq));
        }
        assert_eq!(arrivals.take_delays().len(), CAP);
    }
}
