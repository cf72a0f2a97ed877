//! Strategies: `random` for every game, `greedy` for Dots and Boxes (close a box when
//! possible, otherwise avoid giving one away) and light cycles (steer towards the most room,
//! looking a few cells ahead: `cycles.rs`). In light cycles a strategy may also choose no move
//! (ride straight on).

use game_rules::dots::{DotsState, Edge};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

/// Which strategy to play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "tools", derive(clap::ValueEnum))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StrategyKind {
    /// A uniformly random legal move.
    Random,
    /// Dots and Boxes: close a box if possible, else a move that gives no box away, else
    /// random. Other games: random.
    Greedy,
}

impl StrategyKind {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            StrategyKind::Random => "random",
            StrategyKind::Greedy => "greedy",
        }
    }

    /// A player of this kind drawing from `seed`.
    pub fn player(self, seed: u64) -> Strategy {
        Strategy { kind: self, rng: Pcg64Mcg::seed_from_u64(seed) }
    }
}

impl std::str::FromStr for StrategyKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "random" => Ok(StrategyKind::Random),
            "greedy" => Ok(StrategyKind::Greedy),
            other => Err(format!("unknown strategy {other:?} (random, greedy)")),
        }
    }
}

/// A seeded player.
#[derive(Debug, Clone)]
pub struct Strategy {
    kind: StrategyKind,
    rng: Pcg64Mcg,
}

impl Strategy {
    /// Its kind.
    pub fn kind(&self) -> StrategyKind {
        self.kind
    }

    /// Picks the index of one of `legal` (MessagePack moves of `seat`) given this seat's
    /// encoded `view` of game `game`. `None` when `legal` is empty, or in a real-time game when the
    /// player lets this tick pass without input.
    pub fn choose(
        &mut self,
        game: &str,
        seat: u8,
        view: &[u8],
        legal: &[Vec<u8>],
    ) -> Option<usize> {
        if legal.is_empty() {
            return None;
        }
        if game == "lightcycles" {
            return self.steer(seat, view, legal);
        }
        if self.kind == StrategyKind::Greedy
            && game == "dots"
            && let Some(pick) = self.greedy_dots(view, legal)
        {
            return Some(pick);
        }
        Some(self.rng.random_range(0..legal.len()))
    }

    /// Light cycles: greedy looks ahead (`cycles::steer`); random rides straight on, turns
    /// left or turns right with equal chances.
    fn steer(&mut self, seat: u8, view: &[u8], legal: &[Vec<u8>]) -> Option<usize> {
        let turn = match self.kind {
            StrategyKind::Greedy => {
                let view: lightcycles::ArenaView = rmp_serde::from_slice(view).ok()?;
                crate::cycles::steer(&view, seat, &mut self.rng)?
            }
            StrategyKind::Random => match self.rng.random_range(0..3) {
                0 => return None,
                1 => lightcycles::Turn::Left,
                _ => lightcycles::Turn::Right,
            },
        };
        legal.iter().position(|mv| {
            rmp_serde::from_slice::<lightcycles::Steer>(mv).is_ok_and(|s| s.turn == turn)
        })
    }

    fn greedy_dots(&mut self, view: &[u8], legal: &[Vec<u8>]) -> Option<usize> {
        let state: DotsState = rmp_serde::from_slice(view).ok()?;
        let edges: Vec<Edge> =
            legal.iter().map(|m| rmp_serde::from_slice(m)).collect::<Result<_, _>>().ok()?;
        // How many sides each box beside the edge would have once it is drawn.
        let after = |e: &Edge| {
            state.boxes_beside(*e).map(|(x, y)| state.sides_drawn(x, y) + 1).collect::<Vec<u8>>()
        };
        let closing: Vec<usize> =
            (0..edges.len()).filter(|&i| after(&edges[i]).contains(&4)).collect();
        if !closing.is_empty() {
            return Some(closing[self.rng.random_range(0..closing.len())]);
        }
        let safe: Vec<usize> =
            (0..edges.len()).filter(|&i| after(&edges[i]).iter().all(|&s| s < 3)).collect();
        if !safe.is_empty() {
            return Some(safe[self.rng.random_range(0..safe.len())]);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use game_rules::{Status, Viewer};
    use proptest::prelude::*;

    use super::*;

    fn config(width: u8, height: u8, players: u8) -> Vec<u8> {
        let config = game_rules::dots::DotsConfig { width, height, players };
        rmp_serde::to_vec_named(&config).expect("encodes")
    }

    proptest! {
        /// Strategies only ever choose legal moves, in every registered game.
        #[test]
        fn strategies_never_choose_an_illegal_move(seed in any::<u64>(), greedy in any::<bool>(), g in 0..builtin_games::games().len(), size in 1u8..5) {
            let game = builtin_games::games().all()[g];
            let cfg = if game.id() == "dots" { config(size, size, 2) } else { game.info().default_config };
            let mut m = game.new_match(&cfg, seed).expect("valid config");
            let kind = if greedy { StrategyKind::Greedy } else { StrategyKind::Random };
            let mut player = kind.player(seed);
            for _ in 0..2000 {
                let seats = match m.status() {
                    Status::Turn(seat) => vec![seat],
                    Status::Simultaneous => (0..m.seats()).collect(),
                    _ => break,
                };
                let mut inputs = Vec::new();
                for seat in seats {
                    let legal = m.legal_moves(seat);
                    let Some(pick) = player.choose(game.id(), seat, &m.view(Viewer::Seat(seat)), &legal) else { continue };
                    prop_assert!(m.check_move(seat, &legal[pick]).is_ok());
                    inputs.push((seat, legal[pick].clone()));
                }
                if let (Status::Turn(seat), [(_, mv)]) = (m.status(), inputs.as_slice()) {
                    prop_assert!(m.play(seat, mv).is_ok());
                } else {
                    prop_assert!(m.tick(&inputs).is_ok());
                }
            }
            prop_assert!(m.status().is_over());
        }
    }

    #[test]
    fn greedy_closes_a_box_when_it_can_and_avoids_third_edges() {
        let game = builtin_games::games().find("dots").expect("registered");
        let mut m = game.new_match(&config(2, 1, 2), 0).expect("valid");
        let edge = |dir: &str, x: u8, y: u8| {
            let dir = if dir == "h" { game_rules::dots::Dir::H } else { game_rules::dots::Dir::V };
            rmp_serde::to_vec_named(&Edge { dir, x, y }).expect("encodes")
        };
        // Box (0,0) has three sides: greedy must close it.
        for (seat, e) in [(0, edge("h", 0, 0)), (1, edge("h", 0, 1)), (0, edge("v", 0, 0))] {
            m.play(seat, &e).expect("legal");
        }
        let legal = m.legal_moves(1);
        let mut greedy = StrategyKind::Greedy.player(3);
        let pick = greedy.choose("dots", 1, &m.view(Viewer::Seat(1)), &legal).expect("a move");
        assert_eq!(legal[pick], edge("v", 1, 0));
        // On a fresh 2x1 board no move gives a box away, so greedy never picks a third side.
        let fresh = game.new_match(&config(3, 3, 2), 0).expect("valid");
        let legal = fresh.legal_moves(0);
        for seed in 0..20 {
            let pick = StrategyKind::Greedy
                .player(seed)
                .choose("dots", 0, &fresh.view(Viewer::Seat(0)), &legal)
                .expect("move");
            let chosen: Edge = rmp_serde::from_slice(&legal[pick]).expect("decodes");
            let state: DotsState =
                rmp_serde::from_slice(&fresh.view(Viewer::Seat(0))).expect("decodes");
            assert!(state.boxes_beside(chosen).all(|(x, y)| state.sides_drawn(x, y) < 2));
        }
    }
}
