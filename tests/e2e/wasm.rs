//! The same seed and inputs give the same state hashes natively and in the browser client's
//! wasm build, run under Node.js (`tests/node/replay.mjs`): a light-cycles match is played
//! here by seeded bots, and the wasm build replays its events, checking each hash.

use std::process::Command;

use anyhow::{Context, Result, bail};
use bots::strategy::StrategyKind;
use game_rules::{DynMatch, Status, Viewer};
use protocol::replica::decode_value;
use protocol::v1::{Created, Event, EventBody, Tick, TickInput};

/// A light-cycles match of `players` on a `size` board, every seat steered by a seeded greedy
/// bot until it ends, as the events a server would send.
fn native_match(players: u8, size: u8, seed: u64) -> Result<Vec<Event>> {
    let games = builtin_games::games();
    let game = games.find("lightcycles").context("registered")?;
    let config = serde_json::json!({"width": size, "height": size, "players": players});
    let config = decode_value(&rmp_serde::to_vec_named(&config)?);
    let mut m = game.new_match(&protocol::replica::encode_value(&config), seed)?;
    let created =
        Created { game: "lightcycles".into(), rules_version: 1, config, seed, seats: players };
    let mut events = vec![event(0, m.as_ref(), EventBody::Created(created))];
    let mut strategies: Vec<_> =
        (0..players).map(|s| StrategyKind::Greedy.player(seed + u64::from(s))).collect();
    while !m.status().is_over() {
        let inputs: Vec<(u8, Vec<u8>)> = (0..players)
            .filter_map(|seat| {
                let legal = m.legal_moves(seat);
                let view = m.view(Viewer::Seat(seat));
                let pick =
                    strategies[usize::from(seat)].choose("lightcycles", seat, &view, &legal)?;
                Some((seat, legal[pick].clone()))
            })
            .collect();
        m.tick(&inputs)?;
        let inputs = inputs.iter().map(|(seat, mv)| TickInput {
            seat: *seat,
            mv: decode_value(mv),
            move_id: None,
        });
        let body = EventBody::Tick(Tick { inputs: inputs.collect() });
        events.push(event(events.len() as u64, m.as_ref(), body));
    }
    Ok(events)
}

fn event(seq: u64, m: &dyn DynMatch, body: EventBody) -> Event {
    let status: Status = m.status();
    Event {
        match_id: "m1".into(),
        seq,
        state_hash: m.state_hash(),
        status,
        body: Some(body),
        view: None,
    }
}

#[test]
fn light_cycles_hash_alike_natively_and_in_wasm_under_node() -> Result<()> {
    let web = tests::browser::web_dir()?;
    let dir = tempfile::tempdir()?;
    for (players, size, seed) in [(2, 12, 1), (4, 16, 2), (8, 24, 3)] {
        let events = native_match(players, size, seed)?;
        let path = dir.path().join(format!("events-{seed}.json"));
        std::fs::write(&path, serde_json::to_vec(&events)?)?;
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/node/replay.mjs");
        let out = Command::new("node")
            .arg(script)
            .arg(&web)
            .arg(&path)
            .output()
            .context("running node")?;
        if !out.status.success() {
            bail!("node failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let printed: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        let native: Vec<String> = events.iter().map(|e| e.state_hash.to_string()).collect();
        let wasm: Vec<String> = serde_json::from_value(printed["hashes"].clone())?;
        assert_eq!(wasm, native, "{players} players, seed {seed}");
        assert!(events.len() > 5, "a match of a few ticks at least");
    }
    Ok(())
}
