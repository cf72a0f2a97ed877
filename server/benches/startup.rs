//! Start-up time of one isolated in-memory server (bind on port 0, store, routes, accept
//! loop): what every test and every throwaway instance pays. Goal: at most 1 ms.
//!
//! `cargo bench -p server --bench startup`
#![allow(missing_docs)] // criterion_group! generates undocumented items.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use server::{Config, Server};

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    c.bench_function("start_memory_instance", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let started = Instant::now();
                    let server = Server::start(Config::ephemeral()).await.expect("starts");
                    total += started.elapsed();
                    server.shutdown().await;
                }
                total
            })
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
