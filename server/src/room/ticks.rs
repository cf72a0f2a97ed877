//! How a real-time room's ticks keep time, measured by its driver for `/metrics`: how late
//! each tick fires against its deadline (`origin + n × period`, at the resolution of
//! `Instant`, not of the room's millisecond clock), how many ticks the clock skipped, and how
//! long from a tick's deadline until its event is queued for every viewer's connection.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::core::NextTick;

/// Ticks remembered between firing and their broadcast. A tick's event is broadcast once its
/// append is durable, so only the appends in flight are waiting; a tick nobody watches is
/// never broadcast and is forgotten once a later one is, or when this many are waiting.
const IN_FLIGHT_CAP: usize = 64;

/// A tick that fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fired {
    /// From its deadline to the driver waking to run it.
    pub lateness: Duration,
    /// Ticks the clock skipped after it (more than its catch-up behind).
    pub skipped: u64,
}

/// A room driver's record of its clock: the tick it waits for, and the ticks fired whose
/// events are not yet broadcast.
#[derive(Debug)]
pub struct TickTimes {
    /// The instant the room's clock reads 0.
    started: Instant,
    /// The next tick as the room said before the driver waited.
    armed: Option<NextTick>,
    /// `(seq, deadline)` of each tick fired and not yet broadcast, oldest first.
    in_flight: VecDeque<(u64, Instant)>,
}

impl TickTimes {
    /// A record for a room whose clock reads 0 at `started`.
    pub fn new(started: Instant) -> TickTimes {
        TickTimes { started, armed: None, in_flight: VecDeque::new() }
    }

    /// Notes the tick the room waits for (its `next_tick`), before the driver waits.
    pub fn arm(&mut self, next: Option<NextTick>) {
        self.armed = next;
    }

    /// After the room handled a timer at `woke`: the tick fired, if one did. It did when the
    /// armed tick was due by then and the room wrote an event (`head_before` → `head_after`,
    /// that tick's seq); `next` is the room's next tick after it, to count the ticks skipped.
    pub fn fired(
        &mut self,
        woke: Instant,
        head_before: u64,
        head_after: u64,
        next: Option<NextTick>,
    ) -> Option<Fired> {
        let armed = self.armed.take()?;
        let due = self.started + Duration::from_millis(armed.due_ms);
        if woke < due || head_after <= head_before {
            return None;
        }
        if self.in_flight.len() == IN_FLIGHT_CAP {
            self.in_flight.pop_front();
        }
        self.in_flight.push_back((head_after, due));
        let skipped = next.map_or(0, |n| n.n.saturating_sub(armed.n + 1));
        Some(Fired { lateness: woke - due, skipped })
    }

    /// An event was queued for its viewers at `at`: from its tick's deadline to then, if it
    /// is a tick's event. Ticks before it that were never broadcast are forgotten.
    pub fn broadcast(&mut self, seq: u64, at: Instant) -> Option<Duration> {
        while let Some(&(tick_seq, due)) = self.in_flight.front() {
            if tick_seq > seq {
                return None;
            }
            self.in_flight.pop_front();
            if tick_seq == seq {
                return Some(at.saturating_duration_since(due));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn tick(n: u64, due_ms: u64) -> Option<NextTick> {
        Some(NextTick { n, due_ms })
    }

    #[test]
    fn lateness_is_measured_from_the_deadline_in_microseconds() {
        let t0 = Instant::now();
        let mut times = TickTimes::new(t0);
        times.arm(tick(1, 50));
        let woke = t0 + ms(50) + Duration::from_micros(730);
        let fired = times.fired(woke, 3, 4, tick(2, 100));
        assert_eq!(fired, Some(Fired { lateness: Duration::from_micros(730), skipped: 0 }));
    }

    #[test]
    fn no_tick_fires_before_its_deadline_without_an_event_or_unarmed() {
        let t0 = Instant::now();
        let mut times = TickTimes::new(t0);
        times.arm(tick(1, 50));
        assert_eq!(times.fired(t0 + ms(49), 3, 4, tick(1, 50)), None, "early");
        times.arm(tick(1, 50));
        assert_eq!(times.fired(t0 + ms(60), 3, 3, None), None, "no event written");
        assert_eq!(times.fired(t0 + ms(60), 3, 4, None), None, "disarmed by the last call");
    }

    #[test]
    fn ticks_the_clock_skips_are_counted() {
        let t0 = Instant::now();
        let mut times = TickTimes::new(t0);
        times.arm(tick(2, 100));
        // Woken a second late: tick 2 runs, then the clock jumps to tick 31.
        let fired = times.fired(t0 + ms(1100), 5, 6, tick(31, 1550)).expect("fired");
        assert_eq!(fired, Fired { lateness: ms(1000), skipped: 28 });
        times.arm(tick(31, 1550));
        let last = times.fired(t0 + ms(1550), 6, 7, None).expect("the match's last tick");
        assert_eq!(last.skipped, 0);
    }

    #[test]
    fn a_ticks_broadcast_is_timed_from_its_deadline_and_older_ticks_are_forgotten() {
        let t0 = Instant::now();
        let mut times = TickTimes::new(t0);
        for (n, seq) in [(1, 10), (2, 11), (3, 12)] {
            times.arm(tick(n, 50 * n));
            let woke = t0 + ms(50 * n);
            assert!(times.fired(woke, seq - 1, seq, tick(n + 1, 50 * n + 50)).is_some());
        }
        assert_eq!(times.broadcast(9, t0 + ms(60)), None, "not a tick");
        assert_eq!(times.broadcast(11, t0 + ms(103)), Some(ms(3)), "tick 10 never broadcast");
        assert_eq!(times.broadcast(10, t0 + ms(104)), None, "forgotten");
        assert_eq!(times.broadcast(12, t0 + ms(151)), Some(ms(1)));
        assert_eq!(times.broadcast(12, t0 + ms(152)), None, "once");
    }

    #[test]
    fn unbroadcast_ticks_are_bounded() {
        let t0 = Instant::now();
        let mut times = TickTimes::new(t0);
        for n in 1..=(IN_FLIGHT_CAP as u64 + 10) {
            times.arm(tick(n, 50 * n));
            times.fired(t0 + ms(50 * n), n, n + 1, None);
        }
        assert_eq!(times.in_flight.len(), IN_FLIGHT_CAP);
    }
}
