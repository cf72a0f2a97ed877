//! Whether the tokio runtime has run out of ready work: the SQLite writer holds a group commit
//! open until then (or until its window closes), so a wave of moves handled back to back pays
//! for one fsync instead of one per writer wake-up.
//!
//! The runtime reports it through its park hooks; [`RuntimeIdle::install`] wires them into a
//! [`tokio::runtime::Builder`]. A server started without it commits as soon as the writer is
//! free (tests and embedders on their own runtime).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// Counts the runtime's parked workers; idle when all are.
#[derive(Debug)]
pub struct RuntimeIdle {
    workers: usize,
    parked: AtomicUsize,
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
            waiting: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        })
    }

    /// Sets `builder`'s worker count to this gate's and reports its workers' parking here.
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

    /// Whether every worker is parked.
    pub fn is_idle(&self) -> bool {
        self.parked.load(Ordering::SeqCst) >= self.workers
    }

    /// A worker ran out of work.
    pub fn parked(&self) {
        let parked = self.parked.fetch_add(1, Ordering::SeqCst) + 1;
        // SeqCst on both sides: either the waiter sees this park, or this sees the waiter.
        if parked >= self.workers && self.waiting.load(Ordering::SeqCst) > 0 {
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

    /// Blocks until every worker is parked or `deadline` passes; true if idle.
    pub fn wait_until(&self, deadline: Instant) -> bool {
        if self.is_idle() {
            return true;
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let mut held = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let idle = loop {
            if self.is_idle() {
                break true;
            }
            let now = Instant::now();
            if now >= deadline {
                break false;
            }
            held = match self.wake.wait_timeout(held, deadline - now) {
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
    use std::time::Duration;

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
        idle.parked();
        assert!(!idle.is_idle(), "a stray unpark does not wrap the count");
    }

    #[test]
    fn a_waiter_wakes_when_the_last_worker_parks_and_not_before() {
        let idle = RuntimeIdle::new(1);
        let waiter = {
            let idle = idle.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                let woke_idle = idle.wait_until(started + Duration::from_secs(30));
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
    fn a_busy_runtime_lets_the_deadline_pass() {
        let idle = RuntimeIdle::new(1);
        let started = Instant::now();
        assert!(!idle.wait_until(started + Duration::from_millis(20)));
        assert!(started.elapsed() >= Duration::from_millis(20));
        idle.parked();
        assert!(idle.wait_until(started), "already idle: no wait even past the deadline");
    }

    #[test]
    fn the_hooks_track_a_real_runtime() {
        let idle = RuntimeIdle::new(1);
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        let runtime = idle.install(builder.enable_all()).build().expect("runtime");
        // A worker with nothing to do parks: the gate sees it go idle.
        assert!(idle.wait_until(Instant::now() + Duration::from_secs(30)));
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
        assert!(!idle.wait_until(Instant::now() + Duration::from_millis(20)));
        let _ = stop_tx.send(());
        assert!(idle.wait_until(Instant::now() + Duration::from_secs(30)));
        runtime.shutdown_timeout(Duration::from_secs(1));
    }
}
