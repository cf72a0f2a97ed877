//! When a log writer starts a commit: at once, lingering while the process is CPU-bound, or
//! once the runtime has run out of ready work, so one sync carries every append made meanwhile.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::idle::RuntimeIdle;

/// When the whole process has been using at least this share of the cores it may run on, the
/// server is CPU-bound and the writer lingers [`LINGER`] before taking a batch, so each fsync
/// carries more appends and leaves more CPU to the rooms and sessions. Below it, commits start
/// at once and latency is untouched.
const SATURATED: f64 = 0.9;
/// How long a writer of a saturated server waits for more appends.
const LINGER: Duration = Duration::from_millis(1);
/// How often the writer looks at the process's CPU time.
const CPU_SAMPLE: Duration = Duration::from_millis(100);

/// Whether the process is CPU-bound, from `/proc/self/stat` sampled every [`CPU_SAMPLE`].
/// Where that file does not exist, the process never counts as saturated.
pub struct Saturation {
    cores: f64,
    /// When /proc was last looked at, and what it said (`None`: unreadable).
    last: Option<(Instant, Option<u64>)>,
    saturated: bool,
}

impl Saturation {
    /// Starts sampling.
    pub fn new() -> Saturation {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        Saturation { cores, last: None, saturated: false }
    }

    fn update(&mut self, now: Instant) -> bool {
        if self.last.is_some_and(|(at, _)| now.duration_since(at) < CPU_SAMPLE) {
            return self.saturated;
        }
        // At most one read per CPU_SAMPLE, readable or not.
        let ticks = process_cpu_ticks();
        self.saturated = match (self.last, ticks) {
            (Some((at, Some(before))), Some(now_ticks)) => {
                saturated(now_ticks.saturating_sub(before), now.duration_since(at), self.cores)
            }
            _ => false,
        };
        self.last = Some((now, ticks));
        self.saturated
    }
}

/// Whether `ticks` of CPU over `wall` is at least [`SATURATED`] of `cores`.
fn saturated(ticks: u64, wall: Duration, cores: f64) -> bool {
    // Linux reports CPU time in clock ticks of 10 ms (USER_HZ = 100).
    let cpu = ticks as f64 / 100.0;
    let wall = wall.as_secs_f64();
    wall > 0.0 && cpu / wall >= SATURATED * cores
}

/// User plus system CPU ticks of this process.
fn process_cpu_ticks() -> Option<u64> {
    cpu_ticks(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// User plus system ticks (fields 14 and 15) of a `/proc/<pid>/stat` line.
fn cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces and parentheses; fields after its last ')'
    // are plain.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// When the writer starts a commit once an append is waiting.
#[derive(Debug, Clone)]
pub enum Pacing {
    /// As soon as it has one, lingering 1 ms first while the process is CPU-bound.
    Eager,
    /// Once the runtime has run out of ready work, so every append its rooms had to make is
    /// in, or `window` after the writer took the first append, whichever comes first. (An
    /// append queued during a commit waits for that commit, then its window.)
    UntilIdle {
        /// The runtime's park hooks.
        idle: Arc<RuntimeIdle>,
        /// The longest an append waits for others to join its commit.
        window: Duration,
    },
}

impl Pacing {
    /// Waits as this pacing says before a commit whose first append has just been taken.
    pub fn wait(&self, saturation: &mut Saturation) {
        match self {
            Pacing::Eager => {
                if saturation.update(Instant::now()) {
                    std::thread::sleep(LINGER);
                }
            }
            Pacing::UntilIdle { idle, window } => {
                // A window too long to add to now is no deadline at all.
                idle.wait_until(Instant::now().checked_add(*window));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_read_past_a_command_name_with_spaces() {
        let stat = "4242 (arbiter (x) y) S 1 4242 4242 0 -1 4194304 900 0 0 0 1234 567 0 0 20 \
                    0 3 0 100 0 0";
        assert_eq!(cpu_ticks(stat), Some(1234 + 567));
        assert_eq!(cpu_ticks("4242 (arbiter) S 1"), None);
        assert_eq!(cpu_ticks("garbage"), None);
        // This process's own figure reads on Linux, where the writer uses it.
        assert!(process_cpu_ticks().is_some());
    }

    #[test]
    fn saturation_is_cpu_time_against_the_cores_available() {
        let second = Duration::from_secs(1);
        assert!(saturated(95, second, 1.0));
        assert!(!saturated(60, second, 1.0));
        assert!(!saturated(95, second, 2.0), "one busy core of two is not saturation");
        assert!(saturated(190, second, 2.0));
        assert!(!saturated(100, std::time::Duration::ZERO, 1.0));
    }
}
