//! This machine's floor for a move, measured in the same run as the benchmark it is compared
//! with: the CPU one durable commit costs (a `pwrite` and an `fdatasync` into a zero-filled
//! file, as the log makes them), and the CPU one loopback socket write costs its sender (a
//! frame to one player).
//!
//! CPU is the calling thread's on-CPU time from `/proc/thread-self/schedstat` (nanoseconds),
//! so other threads and processes do not count.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};

/// The floor's parts, in µs.
#[derive(Debug, Clone, Copy)]
pub struct Floor {
    /// CPU of one durable commit of one small record.
    pub commit_cpu_us: f64,
    /// Wall time of the same.
    pub commit_wall_us: f64,
    /// The sender's CPU for one 100-byte loopback TCP write.
    pub write_cpu_us: f64,
}

impl Floor {
    /// The floor of one move for a server that commits `appends_per_commit` moves at a time
    /// and writes at least one frame to each of a match's two players.
    pub fn per_move_us(&self, appends_per_commit: f64) -> f64 {
        2.0 * self.write_cpu_us + self.commit_cpu_us / appends_per_commit.max(1.0)
    }
}

fn thread_cpu_ns() -> Result<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")
        .context("reading /proc/thread-self/schedstat")?;
    text.split_whitespace().next().context("an empty schedstat")?.parse().context("schedstat")
}

/// Measures the floor with files in `dir` (the benchmark's data dir's file system).
pub fn measure(dir: &Path) -> Result<Floor> {
    let (commit_cpu_us, commit_wall_us) = commit(dir)?;
    Ok(Floor { commit_cpu_us, commit_wall_us, write_cpu_us: socket_write()? })
}

fn commit(dir: &Path) -> Result<(f64, f64)> {
    const COMMITS: usize = 2000;
    std::fs::create_dir_all(dir)?;
    let path = dir.join("floor.seg");
    let mut file = std::fs::File::create(&path)?;
    file.write_all(&vec![0; COMMITS * 512])?;
    file.sync_all()?;
    let record = [7u8; 200];
    let (cpu, wall) = (thread_cpu_ns()?, Instant::now());
    for i in 0..COMMITS {
        file.write_all_at(&record, (i * 512) as u64)?;
        file.sync_data()?;
    }
    let cpu_us = (thread_cpu_ns()? - cpu) as f64 / 1e3 / COMMITS as f64;
    let wall_us = wall.elapsed().as_secs_f64() * 1e6 / COMMITS as f64;
    std::fs::remove_file(&path)?;
    Ok((cpu_us, wall_us))
}

fn socket_write() -> Result<f64> {
    const WRITES: usize = 50_000;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let mut sender = TcpStream::connect(listener.local_addr()?)?;
    sender.set_nodelay(true)?;
    let (mut receiver, _) = listener.accept()?;
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        while receiver.read(&mut buf).is_ok_and(|n| n > 0) {}
    });
    let frame = [1u8; 100];
    let cpu = thread_cpu_ns()?;
    for _ in 0..WRITES {
        sender.write_all(&frame)?;
    }
    let per_write = (thread_cpu_ns()? - cpu) as f64 / 1e3 / WRITES as f64;
    drop(sender);
    let _ = reader.join();
    Ok(per_write)
}
