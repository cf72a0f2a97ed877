//! Whether the tokio runtime has run out of ready work: the SQLite writer holds a group commit
//! open until then (or until its window closes), so a wave of moves handled back to back pays
//! for one fsync instead of one per writer wake-up.
//!
//! The runtime reports it through its park hooks; [`RuntimeIdle::install`] wires them into a
//! multi-thread [`tokio::runtime::Builder`]. A server started without it paces commits by
//! the writer alone (tests and embedders on their own runtime): it commits once it is free,
//! lingering 1 ms first while the process is CPU-bound.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Counts the runtime's parked workers; idle when all are.
#[derive(Debug)]
pub struct RuntimeIdle {
    workers: usize,
    parked: AtomicUsize,
    /// Bumped each time the last worker parks: a waiter that slept through a short idle moment
    /// (a worker unparked again before it looked) still sees that one happened.
    idle_epoch: AtomicU64,
    /// Threads blocked in [`RuntimeIdle::wait_until`]: the park hook takes the lock only when
    /// someone waits, so an idle-to-busy flip costs two atomics otherwise.
    waiting: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

impl RuntimeIdle {
    /// For a runtime of `workers` worker threads.
    pub fn new(workers: usize) -> Arc<RuntimeIdle> {
        Arc::new(RuntimeIdle {
            workers: workers.max(1),
            parked: AtomicUsize::new(0),
            idle_epoch: AtomicU64::new(0),
            waiting: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        })
    }

    /// Sets `builder`'s worker count to this gate's and reports its workers' parking here.
    /// For a multi-thread builder: on a current-thread one the hooks fire on the `block_on`
    /// thread and the worker count means nothing.
    pub fn install<'b>(
        self: &Arc<Self>,
        builder: &'b mut tokio::runtime::Builder,
    ) -> &'b mut tokio::runtime::Builder {
        let (park, unpark) = (self.clone(), self.clone());
        builder
            .worker_threads(self.workers)
            .on_thread_park(move || park.parked())
            .on_thread_unpark(move || unpark.unparked())
    }

    /// Threads waiting in [`RuntimeIdle::wait_until`] (tests wait for the writer to wait).
    #[cfg(test)]
    pub(crate) fn waiters(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Whether every worker is parked.
    pub fn is_idle(&self) -> bool {
        self.parked.load(Ordering::SeqCst) >= self.workers
    }

    /// A worker ran out of work.
    pub fn parked(&self) {
        let parked = self.parked.fetch_add(1, Ordering::SeqCst) + 1;
        if parked < self.workers {
            return;
        }
        self.idle_epoch.fetch_add(1, Ordering::SeqCst);
        // SeqCst on both sides: either the waiter sees this park, or this sees the waiter.
        if self.waiting.load(Ordering::SeqCst) > 0 {
            let _held = self.lock.lock().unwrap_or_else(|p| p.into_inner());
            self.wake.notify_all();
        }
    }

    /// A worker woke up.
    pub fn unparked(&self) {
        // Saturating: a hook pair that began before this gate counted (cannot happen with
        // `install`, but a stray call must not wrap the count).
        let _ = self.parked.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |p| p.checked_sub(1));
    }

    /// Blocks until every worker is, or has been since the call, parked, or until `deadline`
    /// (`None`: no deadline) passes; true if the runtime idled.
    pub fn wait_until(&self, deadline: Option<Instant>) -> bool {
        let epoch = self.idle_epoch.load(Ordering::SeqCst);
        if self.is_idle() {
            return true;
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let mut held = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let idle = loop {
            if self.is_idle() || self.idle_epoch.load(Ordering::SeqCst) != epoch {
                break true;
            }
            let wait = match deadline {
                None => Duration::from_secs(3600),
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => break false,
                },
            };
            held = match self.wake.wait_timeout(held, wait) {
                Ok((held, _)) => held,
                Err(poisoned) => poisoned.into_inner().0,
            };
        };
        drop(held);
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        idle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn within(d: Duration) -> Option<Instant> {
        Some(Instant::now() + d)
    }

    #[test]
    fn idle_only_when_every_worker_is_parked() {
        let idle = RuntimeIdle::new(2);
        assert!(!idle.is_idle(), "workers start running");
        idle.parked();
        assert!(!idle.is_idle(), "one of two parked");
        idle.parked();
        assert!(idle.is_idle());
        idle.unparked();
        assert!(!idle.is_idle());
        idle.unparked();
        idle.unparked();
        assert!(!idle.is_idle(), "a stray unpark does not wrap the count");
        assert_eq!(idle.parked.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_waiter_wakes_when_the_last_worker_parks_and_not_before() {
        let idle = RuntimeIdle::new(1);
        let waiter = {
            let idle = idle.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                let woke_idle = idle.wait_until(Some(started + Duration::from_secs(30)));
                (woke_idle, started.elapsed())
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished(), "returned while the worker ran");
        idle.parked();
        let (woke_idle, waited) = waiter.join().expect("waiter thread");
        assert!(woke_idle);
        assert!(waited < Duration::from_secs(30), "woken by the park, not the deadline");
    }

    #[test]
    fn an_idle_moment_over_before_the_waiter_looks_still_counts() {
        let idle = RuntimeIdle::new(1);
        let waiter = {
            let idle = idle.clone();
            std::thread::spawn(move || idle.wait_until(within(Duration::from_secs(30))))
        };
        let give_up = Instant::now() + Duration::from_secs(30);
        while idle.waiters() == 0 {
            assert!(Instant::now() < give_up, "the waiter never waited");
            std::thread::sleep(Duration::from_millis(1));
        }
        // Park and unpark at once: the woken waiter usually finds the runtime busy again.
        idle.parked();
        idle.unparked();
        assert!(
            waiter.join().expect("waiter thread"),
            "woken by the idle moment, not the deadline"
        );
    }

    #[test]
    fn a_busy_runtime_lets_the_deadline_pass() {
        let idle = RuntimeIdle::new(1);
        let started = Instant::now();
        assert!(!idle.wait_until(Some(started + Duration::from_millis(20))));
        assert!(started.elapsed() >= Duration::from_millis(20));
        idle.parked();
        assert!(idle.wait_until(Some(started)), "already idle: no wait even past the deadline");
    }

    #[test]
    fn the_hooks_track_a_real_runtime() {
        let idle = RuntimeIdle::new(1);
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        let runtime = idle.install(builder.enable_all()).build().expect("runtime");
        // A worker with nothing to do parks: the gate sees it go idle.
        assert!(idle.wait_until(within(Duration::from_secs(30))));
        // While a task spins on the only worker, the runtime is not idle.
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        runtime.spawn(async move {
            let _ = started_tx.send(());
            while stop_rx.try_recv().is_err() {
                std::hint::spin_loop();
            }
        });
        started_rx.recv().expect("task started");
        assert!(!idle.wait_until(within(Duration::from_millis(20))));
        let _ = stop_tx.send(());
        assert!(idle.wait_until(within(Duration::from_secs(30))));
        runtime.shutdown_timeout(Duration::from_secs(1));
    }
}
