//! Light cycles' rules, its determinism (random inputs replay to identical hashes) and the
//! conformance properties every game passes.

use game_rules::conformance::{Fixture, check, enc, garbage};
use game_rules::{Action, DynGame, Game, Games, Outcome, StateHash, Status};
use proptest::prelude::*;

use super::*;

fn game() -> &'static dyn DynGame {
    Games::new().with::<LightCycles>().find(LightCycles::ID).expect("registered")
}

fn config(width: u8, height: u8, players: u8) -> Config {
    Config { width, height, players, ..Config::default() }
}

fn arena(width: u8, height: u8, players: u8) -> Arena {
    LightCycles::initial(&config(width, height, players), 0).expect("valid config")
}

fn run(arena: &mut Arena, ticks: usize) {
    for _ in 0..ticks {
        LightCycles::tick(arena, &[]);
    }
}

fn outcome(arena: &Arena) -> Outcome {
    match LightCycles::status(arena) {
        Status::Over(outcome) => outcome,
        other => panic!("not over: {other:?}"),
    }
}

#[test]
fn conformance() {
    let configs = [(8, 8, 2), (9, 10, 3), (12, 12, 8), (16, 8, 4)]
        .map(|(w, h, p)| enc(&config(w, h, p)))
        .to_vec();
    let mut extra_moves = garbage();
    extra_moves.push(enc(&serde_json::json!({"turn": "up"})));
    extra_moves.push(enc(&serde_json::json!({"turn": "left", "by": 2})));
    check(game(), &Fixture { configs, extra_moves }, 64);
}

#[test]
fn configs_out_of_bounds_are_refused() {
    for (bad, field) in [
        (config(7, 8, 2), "width"),
        (config(8, 65, 2), "height"),
        (config(8, 8, 9), "players"),
        (Config { tick_hz: 61, ..Config::default() }, "tick_hz"),
    ] {
        let refused = LightCycles::initial(&bad, 0).err();
        assert!(matches!(refused, Some(ConfigError::OutOfBounds { field: f, .. }) if f == field));
    }
    assert_eq!(LightCycles::mode(&Config::default()), Mode::RealTime { tick_hz: 20 });
}

#[test]
fn cycles_meeting_on_one_cell_crash_together_and_share_the_win() {
    // Columns 1 and 7 on a 9-wide board: after two ticks both heads reach column 4 at once.
    let mut arena = arena(9, 8, 2);
    run(&mut arena, 2);
    assert_eq!(LightCycles::status(&arena), Status::Simultaneous);
    run(&mut arena, 1);
    assert_eq!(outcome(&arena), Outcome { scores: vec![2, 2], winners: vec![0, 1] });
}

#[test]
fn cycles_swapping_cells_crash_into_each_others_trails() {
    let mut arena = arena(8, 8, 2);
    run(&mut arena, 3);
    assert_eq!(outcome(&arena), Outcome { scores: vec![2, 2], winners: vec![0, 1] });
}

#[test]
fn a_wall_eliminates_and_the_last_rider_wins() {
    // Both start on row 4; the one heading west turns south and meets the bottom wall at its
    // fourth tick while the other still rides.
    let mut arena = arena(16, 8, 2);
    let cycles = arena.cycles();
    let west = cycles.iter().find(|c| c.heading == Heading::West).expect("one faces west").seat;
    let east = 1 - west;
    let left = Steer { turn: Turn::Left };
    LightCycles::tick(&mut arena, &[(west, left.clone())]);
    run(&mut arena, 2);
    assert_eq!(LightCycles::status(&arena), Status::Simultaneous);
    run(&mut arena, 1);
    let outcome = outcome(&arena);
    assert_eq!(outcome.winners, vec![east]);
    assert_eq!((outcome.scores[usize::from(west)], outcome.scores[usize::from(east)]), (3, 4));
    assert!(matches!(LightCycles::validate(&arena, east, &left), Err(RuleError::MatchOver)));
}

#[test]
fn a_crashed_cycle_may_not_steer() {
    // The lone cycle on row 10 turns south and meets the wall at its sixth tick, while the two
    // on row 5 are still riding towards each other.
    let mut arena = arena(16, 16, 3);
    let lone = arena.cycles().iter().find(|c| c.at.y == 10).expect("slot 2").seat;
    LightCycles::tick(&mut arena, &[(lone, Steer { turn: Turn::Right })]);
    run(&mut arena, 5);
    assert_eq!(LightCycles::status(&arena), Status::Simultaneous);
    assert!(!arena.is_alive(lone));
    let refused = LightCycles::validate(&arena, lone, &Steer { turn: Turn::Left });
    assert!(matches!(refused, Err(RuleError::Illegal { .. })), "{refused:?}");
    assert!(LightCycles::legal_moves(&arena, lone).is_empty());
}

#[test]
fn only_the_last_input_of_a_seat_counts_in_a_tick() {
    let left = Steer { turn: Turn::Left };
    let right = Steer { turn: Turn::Right };
    let mut twice = arena(16, 16, 2);
    LightCycles::tick(&mut twice, &[(0, left.clone()), (0, left), (0, right.clone())]);
    let mut once = arena(16, 16, 2);
    LightCycles::tick(&mut once, &[(0, right)]);
    assert_eq!(LightCycles::state_hash(&twice), LightCycles::state_hash(&once));
}

#[test]
fn the_seed_shuffles_the_start_slots() {
    let heads = |seed| {
        let arena = LightCycles::initial(&config(16, 16, 4), seed).expect("valid");
        arena.cycles().into_iter().map(|c| c.at).collect::<Vec<_>>()
    };
    assert!((1..20).any(|seed| heads(seed) != heads(0)));
    assert_eq!(heads(7), heads(7));
}

/// Pinned hashes: the same seed and inputs give these on every platform (the wasm build
/// included); changing them is a rules change and bumps `RULES_VERSION`.
#[test]
fn golden_hashes() {
    let m = game().new_match(&enc(&config(12, 10, 3)), 42).expect("valid");
    assert_eq!(m.state_hash().to_string(), "67d7ec6a955f2bba");
    let hashes = scripted_hashes(m);
    assert_eq!(hashes.last().map(StateHash::to_string).as_deref(), Some("c7c1ff0ff6a35eb9"));
}

/// A fixed script of ticks, each hash.
fn scripted_hashes(mut m: Box<dyn game_rules::DynMatch>) -> Vec<StateHash> {
    let turn = |t: Turn| enc(&Steer { turn: t });
    (0u8..20)
        .map(|i| {
            let inputs = match i % 4 {
                0 => vec![(i % 3, turn(Turn::Left))],
                2 => vec![(0, turn(Turn::Right)), (2, turn(Turn::Left))],
                _ => vec![],
            };
            let inputs: Vec<_> =
                inputs.into_iter().filter(|(s, mv)| m.check_move(*s, mv).is_ok()).collect();
            m.tick(&inputs).expect("legal inputs");
            m.state_hash()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The same seed and inputs give the same hash after every tick, live and from the log.
    #[test]
    fn random_inputs_replay_to_identical_hashes(
        seed in any::<u64>(), players in 2u8..=8, size in 8u8..=24,
        ticks in prop::collection::vec(prop::collection::vec((0u8..8, any::<bool>()), 0..4), 0..120),
    ) {
        let config = config(size, size, players);
        let (mut live, mut twin) = (LightCycles::initial(&config, seed)?, LightCycles::initial(&config, seed)?);
        let mut log = Vec::new();
        for inputs in ticks {
            let inputs: Vec<(Seat, Steer)> = inputs.into_iter()
                .map(|(seat, left)| (seat, Steer { turn: if left { Turn::Left } else { Turn::Right } }))
                .collect();
            LightCycles::tick(&mut live, &inputs);
            LightCycles::tick(&mut twin, &inputs);
            prop_assert_eq!(LightCycles::state_hash(&live), LightCycles::state_hash(&twin));
            log.push((Action::Tick { inputs }, LightCycles::state_hash(&live)));
        }
        let mut replayed = LightCycles::initial(&config, seed)?;
        for (action, hash) in &log {
            LightCycles::apply_action(&mut replayed, action)?;
            prop_assert_eq!(LightCycles::state_hash(&replayed), *hash);
        }
        prop_assert_eq!(LightCycles::view(&replayed, Viewer::Spectator), LightCycles::view(&live, Viewer::Spectator));
    }
}
