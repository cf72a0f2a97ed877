//! This machine's floor for a move, measured in the same run as the benchmark it is compared
//! with, on the cores the benchmark uses: the CPU one durable commit costs (a `pwrite` and an
//! `fdatasync` into a zero-filled file, as the log makes them), and the CPU one message
//! exchange costs the server's side of a loopback TCP connection (write a 100-byte frame, read
//! the 1-byte answer of a peer on the other core, as a server writes an event and reads the
//! next move).
//!
//! CPU is the measuring thread's on-CPU time from `/proc/thread-self/schedstat`
//! (nanoseconds), so other threads and processes do not count. `cargo xtask floor DIR` runs
//! the measurement (the benchmark runs it pinned to the server's core) and prints it as JSON;
//! `cargo xtask floor-peer ADDR` is the answering peer.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// The floor's parts, in µs.
#[derive(Debug, Clone, Copy)]
pub struct Floor {
    /// CPU of one durable commit of one small record.
    pub commit_cpu_us: f64,
    /// Wall time of the same.
    pub commit_wall_us: f64,
    /// The server side's CPU for one exchange: a frame written, an answer read.
    pub exchange_cpu_us: f64,
}

impl Floor {
    /// The floor of one move for a server that commits `appends_per_commit` moves at a time:
    /// it reads the move and writes at least one frame to each of the match's two players,
    /// one and a half exchanges.
    pub fn per_move_us(&self, appends_per_commit: f64) -> f64 {
        1.5 * self.exchange_cpu_us + self.commit_cpu_us / appends_per_commit.max(1.0)
    }
}

/// Measures the floor with the measuring process pinned to core 0 and the peer to core 1
/// (when `pin`), files in `dir`.
pub fn measure(dir: &Path, pin: bool) -> Result<Floor> {
    let me = std::env::current_exe()?;
    let mut command = if pin {
        let mut c = Command::new("taskset");
        c.args(["-c", "0"]).arg(&me);
        c
    } else {
        Command::new(&me)
    };
    let out = command.arg("floor").arg(dir).arg(if pin { "pin" } else { "nopin" }).output()?;
    if !out.status.success() {
        bail!("the floor measurement failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let v: Value = serde_json::from_slice(&out.stdout).context("the floor's JSON")?;
    let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    Ok(Floor {
        commit_cpu_us: f("commit_cpu_us"),
        commit_wall_us: f("commit_wall_us"),
        exchange_cpu_us: f("exchange_cpu_us"),
    })
}

/// `cargo xtask floor DIR [pin|nopin]`: measures in this process, prints JSON.
pub fn run(args: &[String]) -> Result<()> {
    let dir = Path::new(args.first().context("floor DIR")?);
    let pin = args.get(1).is_some_and(|a| a == "pin");
    let (commit_cpu_us, commit_wall_us) = commit(dir)?;
    let exchange_cpu_us = exchange(pin)?;
    let v = json!({"commit_cpu_us": commit_cpu_us, "commit_wall_us": commit_wall_us,
                   "exchange_cpu_us": exchange_cpu_us});
    std::io::stdout().write_all(format!("{v}\n").as_bytes())?;
    Ok(())
}

/// `cargo xtask floor-peer ADDR`: answers every frame it reads with one byte.
pub fn peer(args: &[String]) -> Result<()> {
    let mut stream = TcpStream::connect(args.first().context("floor-peer ADDR")?)?;
    stream.set_nodelay(true)?;
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf)? {
            0 => return Ok(()),
            _ => stream.write_all(&[1])?,
        }
    }
}

fn thread_cpu_ns() -> Result<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")
        .context("reading /proc/thread-self/schedstat")?;
    text.split_whitespace().next().context("an empty schedstat")?.parse().context("schedstat")
}

fn commit(dir: &Path) -> Result<(f64, f64)> {
    use std::os::unix::fs::FileExt;
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

fn exchange(pin: bool) -> Result<f64> {
    const ROUNDS: usize = 20_000;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    let me = std::env::current_exe()?;
    let mut command = if pin {
        let mut c = Command::new("taskset");
        c.args(["-c", "1"]).arg(&me);
        c
    } else {
        Command::new(&me)
    };
    let mut child = command.args(["floor-peer", &addr]).stdout(Stdio::null()).spawn()?;
    let (mut stream, _) = listener.accept()?;
    stream.set_nodelay(true)?;
    let frame = [1u8; 100];
    let mut answer = [0u8; 1];
    let cpu = thread_cpu_ns()?;
    for _ in 0..ROUNDS {
        stream.write_all(&frame)?;
        stream.read_exact(&mut answer)?;
    }
    let per_round = (thread_cpu_ns()? - cpu) as f64 / 1e3 / ROUNDS as f64;
    drop(stream);
    let _ = child.wait();
    Ok(per_round)
}
