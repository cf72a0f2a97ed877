#![allow(missing_docs)] // criterion_group! generates undocumented items.
//! Replay throughput: Dots and Boxes actions applied typed, and a 1,000,000-event log of many
//! matches replayed from its stored encoding through the erased interface the server uses.
//!
//! `cargo bench -p game-rules --bench replay`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use game_rules::dots::{Dots, DotsConfig, DotsState, Edge};
use game_rules::{Action, DynMatch, Game, Games};

const LOG_EVENTS: usize = 1_000_000;

/// A small deterministic generator for picking moves: benchmark input, not game randomness.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// One whole match of random legal play: its typed actions and their stored encodings.
fn random_match(config: &DotsConfig, rng: &mut SplitMix) -> (Vec<Action<Edge>>, Vec<Vec<u8>>) {
    let mut state = Dots::initial(config, 0).expect("valid config");
    let (mut typed, mut stored) = (Vec::new(), Vec::new());
    while !state.is_over() {
        let seat = state.to_move;
        let legal = Dots::legal_moves(&state, seat);
        let mv = legal[(rng.next() % legal.len() as u64) as usize];
        Dots::apply(&mut state, seat, &mv);
        let action = Action::Move { seat, mv };
        stored.push(rmp_serde::to_vec_named(&action).expect("encodes"));
        typed.push(action);
    }
    (typed, stored)
}

/// Per match, its events: typed, and as stored (one MessagePack record each).
type Log = (Vec<Vec<Action<Edge>>>, Vec<Vec<Vec<u8>>>);

/// Matches of the default 5×5 board (60 events each) until the log holds `LOG_EVENTS`.
fn build_log() -> (DotsConfig, Log) {
    let config = DotsConfig::default();
    let mut rng = SplitMix(42);
    let (mut typed, mut stored, mut events) = (Vec::new(), Vec::new(), 0);
    while events < LOG_EVENTS {
        let (t, s) = random_match(&config, &mut rng);
        events += t.len();
        typed.push(t);
        stored.push(s);
    }
    (config, (typed, stored))
}

fn bench(c: &mut Criterion) {
    let (config, (typed, stored)) = build_log();
    let events: usize = typed.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("dots");
    group.sample_size(10);
    group.throughput(Throughput::Elements(events as u64));

    group.bench_function("apply_typed_1M", |b| {
        b.iter(|| {
            let mut last: Option<DotsState> = None;
            for actions in &typed {
                let mut state = Dots::initial(&config, 0).expect("valid config");
                for action in actions {
                    Dots::apply_action(&mut state, action).expect("replays");
                }
                last = Some(state);
            }
            last
        })
    });

    let game = Games::new().with::<Dots>().find("dots").expect("registered");
    let config_bytes = rmp_serde::to_vec_named(&config).expect("encodes");
    group.bench_function("replay_stored_1M", |b| {
        b.iter(|| {
            let mut last: Option<Box<dyn DynMatch>> = None;
            for actions in &stored {
                let mut m = game.new_match(&config_bytes, 0).expect("valid config");
                for action in actions {
                    m.apply_action(action).expect("replays");
                }
                last = Some(m);
            }
            last.map(|m| m.state_hash())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
