//! Property tests every game must pass, run through the erased interface the server uses:
//! turn-based games move by move, real-time games tick by tick with random inputs. A game
//! crate calls [`check`] from one `#[test]` with a [`Fixture`] (configs and bad moves to try);
//! this crate runs the same properties over Dots and tic-tac-toe with its regressions kept.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::{DynGame, DynMatch, RuleError, Seat, Status, Viewer};

/// A way to sample configs and candidate moves for one game.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// Configs to start matches from (MessagePack); at least one.
    pub configs: Vec<Vec<u8>>,
    /// Moves to try, legal or not, beyond the legal moves of the initial state: out-of-range
    /// and malformed ones especially (MessagePack).
    pub extra_moves: Vec<Vec<u8>>,
}

/// Encodes a test value as the erased interface expects (MessagePack, named fields).
pub fn enc<T: serde::Serialize>(value: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(value).expect("test values encode")
}

/// Bytes no game should accept as a move: empty, a reserved byte, a string, a stray map.
pub fn garbage() -> Vec<Vec<u8>> {
    vec![vec![], vec![0xc1], enc(&"edge"), enc(&serde_json::json!({"cell": -1}))]
}

/// A match of the given game and its candidate moves: every move legal for some seat at the
/// start, plus the fixture's extras.
fn start(
    game: &dyn DynGame,
    fixture: &Fixture,
    config: &[u8],
    seed: u64,
) -> (Box<dyn DynMatch>, Vec<Vec<u8>>) {
    let m = game.new_match(config, seed).expect("fixture configs are valid");
    let mut candidates: Vec<Vec<u8>> = (0..m.seats()).flat_map(|s| m.legal_moves(s)).collect();
    candidates.extend(fixture.extra_moves.iter().cloned());
    (m, candidates)
}

/// The inputs of one random tick: each seat with a legal move sends one (chosen by `pick`)
/// unless `pick` says it stays silent this tick.
fn random_inputs(m: &dyn DynMatch, pick: u16) -> Vec<(Seat, Vec<u8>)> {
    (0..m.seats())
        .filter_map(|seat| {
            let legal = m.legal_moves(seat);
            let roll = usize::from(pick.rotate_left(u32::from(seat) * 3));
            (!legal.is_empty() && roll % 3 != 0).then(|| (seat, legal[roll % legal.len()].clone()))
        })
        .collect()
}

/// Plays random legal moves (chosen by `picks`) until the match ends or picks run out,
/// calling `each` with every state passed through, the first and last included. A turn takes
/// one pick; a real-time match ticks once per pick with random inputs. Returns the encoded
/// actions played.
fn random_play(
    m: &mut dyn DynMatch,
    picks: &[u16],
    mut each: impl FnMut(&dyn DynMatch),
) -> Vec<Vec<u8>> {
    let mut actions = Vec::new();
    each(m);
    for pick in picks {
        let action = match m.status() {
            Status::Turn(seat) => {
                let legal = m.legal_moves(seat);
                assert!(!legal.is_empty(), "a seat to move always has a legal move");
                let mv = &legal[usize::from(*pick) % legal.len()];
                m.play(seat, mv).expect("legal moves are accepted")
            }
            Status::Simultaneous | Status::Waiting => {
                let inputs = random_inputs(m, *pick);
                m.tick(&inputs).expect("legal inputs decode")
            }
            Status::Over(_) => break,
        };
        actions.push(action);
        each(m);
    }
    actions
}

/// Runs every conformance property over `game` with `cases` random cases each, panicking
/// with the shrunk counterexample of the first that fails.
pub fn check(game: &'static dyn DynGame, fixture: &Fixture, cases: u32) {
    assert!(!fixture.configs.is_empty(), "a fixture needs at least one config");
    let configs = 0..fixture.configs.len();
    let mut runner =
        TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let picks = |n| prop::collection::vec(any::<u16>(), 0..n);
    let tries = prop::collection::vec((any::<u8>(), any::<u16>()), 1..40);
    let all = prop::collection::vec(any::<u16>(), 1000);
    let results = [
        run(&mut runner, (configs.clone(), any::<u64>(), picks(80), tries), |(c, seed, p, t)| {
            rejected_moves_change_nothing(game, fixture, c, seed, &p, &t)
        }),
        run(&mut runner, (configs.clone(), any::<u64>(), picks(200)), |(c, seed, p)| {
            replay_reproduces_every_hash(game, fixture, c, seed, &p)
        }),
        run(&mut runner, (configs.clone(), any::<u64>(), picks(120)), |(c, seed, p)| {
            legal_moves_are_exactly_the_accepted_ones(game, fixture, c, seed, &p)
        }),
        run(&mut runner, (configs.clone(), any::<u64>(), picks(200), any::<u16>()), |args| {
            snapshots_restore_the_same_match(game, fixture, args.0, args.1, &args.2, args.3)
        }),
        run(&mut runner, (configs, any::<u64>(), all), |(c, seed, p)| {
            random_play_terminates(game, fixture, c, seed, &p)
        }),
        run(&mut runner, prop::collection::vec(any::<u8>(), 0..64), |bytes| {
            arbitrary_bytes_never_panic(game, fixture, &bytes)
        }),
    ];
    if let Some(failure) = results.into_iter().find_map(Result::err) {
        panic!("{} fails conformance: {failure}", game.id());
    }
}

/// One property over `strategy`, its failure as text.
fn run<S: Strategy>(
    runner: &mut TestRunner,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) -> Result<(), String> {
    runner.run(&strategy, test).map_err(|e| e.to_string())
}

/// A refused move changes neither hash, status nor view.
pub fn rejected_moves_change_nothing(
    game: &dyn DynGame,
    fixture: &Fixture,
    config: usize,
    seed: u64,
    picks: &[u16],
    tries: &[(u8, u16)],
) -> Result<(), TestCaseError> {
    let (mut m, candidates) = start(game, fixture, &fixture.configs[config], seed);
    random_play(m.as_mut(), picks, |_| {});
    for &(seat, pick) in tries {
        let seat = seat % (m.seats() + 2);
        let mv = &candidates[usize::from(pick) % candidates.len()];
        let before = (m.state_hash(), m.status(), m.view(Viewer::Spectator));
        if let Err(error) = m.play(seat, mv) {
            prop_assert!(RuleError::CODES.contains(&error.code()));
            prop_assert_eq!(&before, &(m.state_hash(), m.status(), m.view(Viewer::Spectator)));
        }
    }
    Ok(())
}

/// The logged actions of a random match replay, twice, to every hash the live match had.
pub fn replay_reproduces_every_hash(
    game: &dyn DynGame,
    fixture: &Fixture,
    config: usize,
    seed: u64,
    picks: &[u16],
) -> Result<(), TestCaseError> {
    let config = &fixture.configs[config];
    let mut live = game.new_match(config, seed).expect("valid config");
    let mut hashes = Vec::new();
    let actions = random_play(live.as_mut(), picks, |m| hashes.push(m.state_hash()));
    let mut replayed = game.new_match(config, seed).expect("valid config");
    let mut again = game.new_match(config, seed).expect("valid config");
    prop_assert_eq!(replayed.state_hash(), hashes[0]);
    for (action, hash) in actions.iter().zip(&hashes[1..]) {
        replayed.apply_action(action).expect("logged actions replay");
        again.apply_action(action).expect("logged actions replay");
        prop_assert_eq!(replayed.state_hash(), again.state_hash());
        prop_assert_eq!(replayed.state_hash(), *hash);
    }
    prop_assert_eq!(replayed.state_hash(), live.state_hash());
    prop_assert_eq!(hashes.len(), actions.len() + 1);
    Ok(())
}

/// A snapshot taken after a random number of actions (if the game keeps snapshots) restores
/// to the same hash, status and views, and the rest of the log replays on it to the same
/// hashes as on the live match. Garbage snapshot bytes are refused, never a panic.
pub fn snapshots_restore_the_same_match(
    game: &dyn DynGame,
    fixture: &Fixture,
    config: usize,
    seed: u64,
    picks: &[u16],
    at: u16,
) -> Result<(), TestCaseError> {
    let config = &fixture.configs[config];
    let mut live = game.new_match(config, seed).expect("valid config");
    let mut hashes = Vec::new();
    let actions = random_play(live.as_mut(), picks, |m| hashes.push(m.state_hash()));
    let at = usize::from(at) % (actions.len() + 1);
    let mut replayed = game.new_match(config, seed).expect("valid config");
    for action in &actions[..at] {
        replayed.apply_action(action).expect("logged actions replay");
    }
    let _ = game.restore_match(config, &[0xc1, 0x00, 0xff]);
    let Some(bytes) = replayed.snapshot() else { return Ok(()) };
    let mut restored = game.restore_match(config, &bytes).expect("a snapshot restores");
    prop_assert_eq!(restored.state_hash(), hashes[at]);
    prop_assert_eq!(restored.status(), replayed.status());
    for seat in 0..restored.seats() {
        prop_assert_eq!(restored.view(Viewer::Seat(seat)), replayed.view(Viewer::Seat(seat)));
    }
    for (action, hash) in actions[at..].iter().zip(&hashes[at + 1..]) {
        restored.apply_action(action).expect("logged actions replay on a restored state");
        prop_assert_eq!(restored.state_hash(), *hash);
    }
    Ok(())
}

/// `legal_moves` lists exactly the moves `check_move` accepts, for every seat and a stranger.
pub fn legal_moves_are_exactly_the_accepted_ones(
    game: &dyn DynGame,
    fixture: &Fixture,
    config: usize,
    seed: u64,
    picks: &[u16],
) -> Result<(), TestCaseError> {
    let (mut m, candidates) = start(game, fixture, &fixture.configs[config], seed);
    let mut sampled = 0;
    random_play(m.as_mut(), picks, |m| {
        sampled += 1;
        for seat in 0..m.seats() + 1 {
            let legal = m.legal_moves(seat);
            for mv in &legal {
                assert!(m.check_move(seat, mv).is_ok(), "listed move refused");
            }
            for mv in &candidates {
                if let Ok(canonical) = m.check_move(seat, mv) {
                    assert!(legal.contains(&canonical), "accepted move not listed");
                }
            }
        }
    });
    prop_assert!(sampled >= 1);
    Ok(())
}

/// Random play ends within 1000 turns or ticks, and a tick after the end changes nothing.
pub fn random_play_terminates(
    game: &dyn DynGame,
    fixture: &Fixture,
    config: usize,
    seed: u64,
    picks: &[u16],
) -> Result<(), TestCaseError> {
    let mut m = game.new_match(&fixture.configs[config], seed).expect("valid config");
    random_play(m.as_mut(), picks, |_| {});
    prop_assert!(m.status().is_over(), "not over after 1000 moves: {:?}", m.status());
    let (hash, status) = (m.state_hash(), m.status());
    m.tick(&[]).expect("an empty tick decodes");
    prop_assert_eq!(
        (hash, status),
        (m.state_hash(), m.status()),
        "a tick changed a finished match"
    );
    Ok(())
}

/// Arbitrary bytes as a config, a move or a logged action are refused without a panic, and a
/// refused one changes nothing.
pub fn arbitrary_bytes_never_panic(
    game: &dyn DynGame,
    fixture: &Fixture,
    bytes: &[u8],
) -> Result<(), TestCaseError> {
    let _ = game.new_match(bytes, 0);
    let (mut m, _) = start(game, fixture, &fixture.configs[0], 0);
    let before = m.state_hash();
    if m.play(0, bytes).is_err() {
        prop_assert_eq!(before, m.state_hash());
    }
    let before = m.state_hash();
    if m.apply_action(bytes).is_err() {
        prop_assert_eq!(before, m.state_hash());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The properties over this crate's games, with their regressions kept in
    //! `proptest-regressions/conformance.txt`.

    use super::*;
    use crate::Games;
    use crate::dots::{Dir, Dots, DotsConfig, Edge};
    use crate::tictactoe::TicTacToe;

    fn games() -> Games {
        Games::new().with::<Dots>().with::<TicTacToe>()
    }

    /// The fixture for one of this crate's games.
    fn fixture(id: &str) -> Fixture {
        match id {
            "dots" => {
                let configs = [(1, 1, 2), (2, 3, 2), (3, 3, 3), (4, 2, 4), (5, 5, 2)]
                    .map(|(width, height, players)| enc(&DotsConfig { width, height, players }));
                let mut extra_moves = garbage();
                for (dir, x, y) in
                    [(Dir::H, 5, 0), (Dir::V, 0, 5), (Dir::H, 255, 255), (Dir::V, 6, 0)]
                {
                    extra_moves.push(enc(&Edge { dir, x, y }));
                }
                extra_moves.push(enc(&serde_json::json!({"dir": "d", "x": 0, "y": 0})));
                Fixture { configs: configs.to_vec(), extra_moves }
            }
            _ => {
                let mut extra_moves = garbage();
                extra_moves.push(enc(&serde_json::json!({"cell": 9})));
                extra_moves.push(enc(&serde_json::json!({"cell": 255})));
                Fixture { configs: vec![enc(&serde_json::json!({}))], extra_moves }
            }
        }
    }

    fn game_and_config() -> impl Strategy<Value = (usize, usize)> {
        (0..games().len()).prop_flat_map(|g| {
            let configs = fixture(games().all()[g].id()).configs.len();
            (Just(g), 0..configs)
        })
    }

    fn nth(g: usize) -> (&'static dyn DynGame, Fixture) {
        let game = games().all()[g];
        (game, fixture(game.id()))
    }

    #[test]
    fn check_runs_every_property_over_a_game() {
        for game in games().all() {
            check(*game, &fixture(game.id()), 16);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn rejected_moves_change_nothing(
            (g, c) in game_and_config(), seed in any::<u64>(),
            picks in prop::collection::vec(any::<u16>(), 0..80),
            tries in prop::collection::vec((any::<u8>(), any::<u16>()), 1..40),
        ) {
            let (game, fixture) = nth(g);
            super::rejected_moves_change_nothing(game, &fixture, c, seed, &picks, &tries)?;
        }

        #[test]
        fn replay_reproduces_every_hash(
            (g, c) in game_and_config(), seed in any::<u64>(),
            picks in prop::collection::vec(any::<u16>(), 0..200),
        ) {
            let (game, fixture) = nth(g);
            super::replay_reproduces_every_hash(game, &fixture, c, seed, &picks)?;
        }

        #[test]
        fn snapshots_restore_the_same_match(
            (g, c) in game_and_config(), seed in any::<u64>(),
            picks in prop::collection::vec(any::<u16>(), 0..200), at in any::<u16>(),
        ) {
            let (game, fixture) = nth(g);
            super::snapshots_restore_the_same_match(game, &fixture, c, seed, &picks, at)?;
        }

        #[test]
        fn legal_moves_are_exactly_the_accepted_ones(
            (g, c) in game_and_config(), seed in any::<u64>(),
            picks in prop::collection::vec(any::<u16>(), 0..120),
        ) {
            let (game, fixture) = nth(g);
            super::legal_moves_are_exactly_the_accepted_ones(game, &fixture, c, seed, &picks)?;
        }

        #[test]
        fn random_play_terminates((g, c) in game_and_config(), seed in any::<u64>(),
                                  picks in prop::collection::vec(any::<u16>(), 1000)) {
            let (game, fixture) = nth(g);
            super::random_play_terminates(game, &fixture, c, seed, &picks)?;
        }

        #[test]
        fn arbitrary_bytes_never_panic(g in 0..games().len(),
                                       bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let (game, fixture) = nth(g);
            super::arbitrary_bytes_never_panic(game, &fixture, &bytes)?;
        }
    }

    /// Golden hashes for tic-tac-toe, through the erased interface: changing them is deliberate.
    #[test]
    fn tictactoe_golden_hashes() {
        let game = games().find("tictactoe").expect("registered");
        let mut m = game.new_match(&enc(&serde_json::json!({})), 0).expect("valid config");
        assert_eq!(m.state_hash().to_string(), "0ac7b2c7accfabd3");
        for (seat, cell) in [(0, 4), (1, 0), (0, 2), (1, 6), (0, 3), (1, 5)] {
            m.play(seat, &enc(&serde_json::json!({ "cell": cell })))
                .expect("scripted moves are legal");
        }
        assert_eq!(m.state_hash().to_string(), "a80de8f2ce36f969");
        m.play(0, &enc(&serde_json::json!({"cell": 1}))).expect("legal");
        m.play(1, &enc(&serde_json::json!({"cell": 7}))).expect("legal");
        m.play(0, &enc(&serde_json::json!({"cell": 8}))).expect("legal");
        assert_eq!(
            m.status(),
            Status::Over(crate::Outcome { scores: vec![0, 0], winners: vec![0, 1] })
        );
        assert_eq!(m.state_hash().to_string(), "b72be6a92cbdda96");
    }
}
