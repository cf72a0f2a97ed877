//! Property tests every registered game must pass, run through the erased interface the server
//! uses. A new game needs one entry in [`fixture`] and is then held to all of them.

use proptest::prelude::*;

use crate::dots::{Dir, DotsConfig, Edge};
use crate::{DynGame, DynMatch, Status, games};

/// A way to sample configs and candidate moves for one game.
struct Fixture {
    /// Configs to start matches from (MessagePack).
    configs: Vec<Vec<u8>>,
    /// Moves to try, legal or not, beyond the legal moves of the initial state: out-of-range
    /// and malformed ones especially (MessagePack).
    extra_moves: Vec<Vec<u8>>,
}

fn enc<T: serde::Serialize>(value: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(value).expect("test values encode")
}

/// The fixture for a game id; a registered game without one fails `every_game_has_a_fixture`.
fn fixture(id: &str) -> Option<Fixture> {
    let garbage = vec![vec![], vec![0xc1], enc(&"edge"), enc(&serde_json::json!({"cell": -1}))];
    match id {
        "dots" => {
            let configs = [(1, 1, 2), (2, 3, 2), (3, 3, 3), (4, 2, 4), (5, 5, 2)]
                .map(|(width, height, players)| enc(&DotsConfig { width, height, players }));
            let mut extra_moves = garbage;
            for (dir, x, y) in [(Dir::H, 5, 0), (Dir::V, 0, 5), (Dir::H, 255, 255), (Dir::V, 6, 0)]
            {
                extra_moves.push(enc(&Edge { dir, x, y }));
            }
            extra_moves.push(enc(&serde_json::json!({"dir": "d", "x": 0, "y": 0})));
            Some(Fixture { configs: configs.to_vec(), extra_moves })
        }
        "tictactoe" => {
            let mut extra_moves = garbage;
            extra_moves.push(enc(&serde_json::json!({"cell": 9})));
            extra_moves.push(enc(&serde_json::json!({"cell": 255})));
            Some(Fixture { configs: vec![enc(&serde_json::json!({}))], extra_moves })
        }
        _ => None,
    }
}

/// A match of the given game and its candidate moves: every move legal for some seat at the
/// start, plus the fixture's extras.
fn start(game: &dyn DynGame, config: &[u8], seed: u64) -> (Box<dyn DynMatch>, Vec<Vec<u8>>) {
    let m = game.new_match(config, seed).expect("fixture configs are valid");
    let mut candidates: Vec<Vec<u8>> = (0..m.seats()).flat_map(|s| m.legal_moves(s)).collect();
    candidates.extend(fixture(game.id()).expect("fixture exists").extra_moves);
    (m, candidates)
}

/// Plays random legal moves (chosen by `picks`) until the match ends or picks run out,
/// calling `each` with every state passed through, the first and last included. Returns the
/// encoded actions played.
fn random_play(
    m: &mut dyn DynMatch,
    picks: &[u16],
    mut each: impl FnMut(&dyn DynMatch),
) -> Vec<Vec<u8>> {
    let mut actions = Vec::new();
    each(m);
    for pick in picks {
        let Status::Turn(seat) = m.status() else { break };
        let legal = m.legal_moves(seat);
        assert!(!legal.is_empty(), "a seat to move always has a legal move");
        let mv = &legal[usize::from(*pick) % legal.len()];
        actions.push(m.play(seat, mv).expect("legal moves are accepted"));
        each(m);
    }
    actions
}

fn game_and_config() -> impl Strategy<Value = (usize, usize)> {
    (0..games().len()).prop_flat_map(|g| {
        let configs = fixture(games()[g].id()).map_or(1, |f| f.configs.len());
        (Just(g), 0..configs)
    })
}

fn config_of(g: usize, c: usize) -> (&'static dyn DynGame, Vec<u8>) {
    let game = games()[g];
    let config = fixture(game.id()).expect("fixture exists").configs[c].clone();
    (game, config)
}

#[test]
fn every_game_has_a_fixture() {
    for game in games() {
        assert!(fixture(game.id()).is_some(), "add a conformance fixture for {}", game.id());
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
        let (game, config) = config_of(g, c);
        let (mut m, candidates) = start(game, &config, seed);
        random_play(m.as_mut(), &picks, |_| {});
        for (seat, pick) in tries {
            let seat = seat % (m.seats() + 2);
            let mv = &candidates[usize::from(pick) % candidates.len()];
            let before = (m.state_hash(), m.status(), m.view(crate::Viewer::Spectator));
            if let Err(error) = m.play(seat, mv) {
                prop_assert!(crate::RuleError::CODES.contains(&error.code()));
                prop_assert_eq!(&before, &(m.state_hash(), m.status(), m.view(crate::Viewer::Spectator)));
            }
        }
    }

    #[test]
    fn replay_reproduces_every_hash(
        (g, c) in game_and_config(), seed in any::<u64>(),
        picks in prop::collection::vec(any::<u16>(), 0..200),
    ) {
        let (game, config) = config_of(g, c);
        let mut live = game.new_match(&config, seed).expect("valid config");
        let mut hashes = vec![live.state_hash()];
        let actions = random_play(live.as_mut(), &picks, |_| {});
        let mut replayed = game.new_match(&config, seed).expect("valid config");
        let mut again = game.new_match(&config, seed).expect("valid config");
        for action in &actions {
            replayed.apply_action(action).expect("logged actions replay");
            again.apply_action(action).expect("logged actions replay");
            prop_assert_eq!(replayed.state_hash(), again.state_hash());
            hashes.push(replayed.state_hash());
        }
        prop_assert_eq!(replayed.state_hash(), live.state_hash());
        prop_assert_eq!(hashes.len(), actions.len() + 1);
    }

    #[test]
    fn legal_moves_are_exactly_the_accepted_ones(
        (g, c) in game_and_config(), seed in any::<u64>(),
        picks in prop::collection::vec(any::<u16>(), 0..120),
    ) {
        let (game, config) = config_of(g, c);
        let (mut m, candidates) = start(game, &config, seed);
        let mut sampled = 0;
        random_play(m.as_mut(), &picks, |m| {
            sampled += 1;
            for seat in 0..m.seats() + 1 {
                let legal = m.legal_moves(seat);
                for mv in &legal {
                    assert!(m.check_move(seat, mv).is_ok(), "listed move refused");
                }
                for mv in &candidates {
                    if m.check_move(seat, mv).is_ok() {
                        let canonical = m.check_move(seat, mv).expect("accepted");
                        assert!(legal.contains(&canonical), "accepted move not listed");
                    }
                }
            }
        });
        prop_assert!(sampled >= 1);
    }

    #[test]
    fn random_play_terminates((g, c) in game_and_config(), seed in any::<u64>(),
                              picks in prop::collection::vec(any::<u16>(), 1000)) {
        let (game, config) = config_of(g, c);
        let mut m = game.new_match(&config, seed).expect("valid config");
        random_play(m.as_mut(), &picks, |_| {});
        prop_assert!(m.status().is_over(), "not over after 1000 moves: {:?}", m.status());
        let (hash, status) = (m.state_hash(), m.status());
        m.tick(&[]).expect("an empty tick decodes");
        prop_assert_eq!((hash, status), (m.state_hash(), m.status()), "a tick changed a finished match");
    }

    #[test]
    fn arbitrary_bytes_never_panic(g in 0..games().len(), bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let game = games()[g];
        let _ = game.new_match(&bytes, 0);
        let (mut m, _) = start(game, &config_of(g, 0).1, 0);
        let before = m.state_hash();
        if m.play(0, &bytes).is_err() {
            prop_assert_eq!(before, m.state_hash());
        }
        let before = m.state_hash();
        if m.apply_action(&bytes).is_err() {
            prop_assert_eq!(before, m.state_hash());
        }
    }
}

/// Golden hashes for tic-tac-toe, through the erased interface: changing them is deliberate.
#[test]
fn tictactoe_golden_hashes() {
    let game = crate::find_game("tictactoe").expect("registered");
    let mut m = game.new_match(&enc(&serde_json::json!({})), 0).expect("valid config");
    assert_eq!(m.state_hash().to_string(), "0ac7b2c7accfabd3");
    for (seat, cell) in [(0, 4), (1, 0), (0, 2), (1, 6), (0, 3), (1, 5)] {
        m.play(seat, &enc(&serde_json::json!({ "cell": cell }))).expect("scripted moves are legal");
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
