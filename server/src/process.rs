//! The standard `process_*` metrics (CPU, memory, open files, threads, start time), read from
//! `/proc/self` when the metrics are scraped. Off Linux they stay at zero.

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Linux reports CPU time in clock ticks of 1/100 s on every architecture we run on.
#[cfg(target_os = "linux")]
const TICKS_PER_S: f64 = 100.0;
#[cfg(target_os = "linux")]
const PAGE_BYTES: i64 = 4096;

/// The process gauges and the CPU counter.
pub struct ProcessMetrics {
    cpu_seconds: Counter<f64, AtomicU64>,
    /// The CPU seconds already counted, so each scrape adds only what is new.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    cpu_counted: Mutex<f64>,
    resident_bytes: Gauge,
    open_fds: Gauge,
    threads: Gauge,
    start_time_seconds: Gauge,
}

impl ProcessMetrics {
    /// Registers the metrics, unprefixed as Prometheus expects them.
    pub fn register(registry: &mut Registry) -> ProcessMetrics {
        let metrics = ProcessMetrics {
            cpu_seconds: Counter::default(),
            cpu_counted: Mutex::new(0.0),
            resident_bytes: Gauge::default(),
            open_fds: Gauge::default(),
            threads: Gauge::default(),
            start_time_seconds: Gauge::default(),
        };
        let help = "User and system CPU time spent, in seconds";
        registry.register("process_cpu_seconds", help, metrics.cpu_seconds.clone());
        let help = "Resident memory size, in bytes";
        registry.register("process_resident_memory_bytes", help, metrics.resident_bytes.clone());
        registry.register("process_open_fds", "Open file descriptors", metrics.open_fds.clone());
        registry.register("process_threads", "OS threads", metrics.threads.clone());
        let help = "Start time since the Unix epoch, in seconds";
        registry.register("process_start_time_seconds", help, metrics.start_time_seconds.clone());
        metrics
    }

    /// Reads the process's figures now.
    pub fn refresh(&self) {
        #[cfg(target_os = "linux")]
        self.refresh_linux();
    }

    #[cfg(target_os = "linux")]
    fn refresh_linux(&self) {
        let Some(stat) = std::fs::read_to_string("/proc/self/stat").ok() else { return };
        // Fields after the command name (which may hold spaces) start at field 3, `state`.
        let Some((_, rest)) = stat.rsplit_once(')') else { return };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<i64>().ok()).unwrap_or(0);
        let cpu = (field(14) + field(15)) as f64 / TICKS_PER_S;
        let mut counted = self.cpu_counted.lock().unwrap_or_else(|p| p.into_inner());
        if cpu > *counted {
            self.cpu_seconds.inc_by(cpu - *counted);
            *counted = cpu;
        }
        self.threads.set(field(20));
        self.resident_bytes.set(field(24) * PAGE_BYTES);
        if let Some(boot) = boot_time_s() {
            self.start_time_seconds.set(boot + field(22) / TICKS_PER_S as i64);
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            self.open_fds.set(fds.count() as i64);
        }
    }
}

#[cfg(target_os = "linux")]
fn boot_time_s() -> Option<i64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|t| t.trim().parse().ok())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_figures_are_read_from_proc() {
        let mut registry = Registry::default();
        let process = ProcessMetrics::register(&mut registry);
        process.refresh();
        assert!(process.resident_bytes.get() > 1_000_000, "a test binary takes megabytes");
        assert!(process.open_fds.get() >= 3 && process.threads.get() >= 1);
        let now = crate::app::unix_s() as i64;
        assert!((now - 86_400 * 365..=now).contains(&process.start_time_seconds.get()));
    }
}
