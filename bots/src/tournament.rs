//! Strategies against each other, in process: whole matches through the same erased rules the
//! server uses, seats alternating, every match seeded from the tournament's seed.

use game_rules::{ConfigError, DynMatch, Games, Status, Viewer};

use crate::strategy::StrategyKind;

/// How two strategies fared.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Standings {
    /// The two strategies.
    pub strategies: [StrategyKind; 2],
    /// Matches played.
    pub matches: u32,
    /// Outright wins of each.
    pub wins: [u32; 2],
    /// Matches that ended level.
    pub ties: u32,
}

impl Standings {
    /// Win rate of strategy `i` (ties count half).
    pub fn win_rate(&self, i: usize) -> f64 {
        if self.matches == 0 {
            return 0.0;
        }
        (f64::from(self.wins[i]) + f64::from(self.ties) / 2.0) / f64::from(self.matches)
    }
}

/// Plays one match of `game` (one of `games`) with `config` (MessagePack); `players[s]`
/// sits at seat `s`; a real-time match ticks with every seat's choice. Returns the winning
/// seats (none if a seat to move has no move).
pub fn play_match(
    games: &Games,
    game: &str,
    config: &[u8],
    players: &[StrategyKind],
    seed: u64,
) -> Result<Vec<u8>, ConfigError> {
    let found =
        games.find(game).ok_or_else(|| ConfigError::UnknownGame { id: game.to_string() })?;
    let mut m = found.new_match(config, seed)?;
    let mut strategies: Vec<_> = players
        .iter()
        .enumerate()
        .map(|(i, k)| k.player(seed.wrapping_add(i as u64 + 1)))
        .collect();
    loop {
        match m.status() {
            Status::Turn(seat) => {
                let legal = m.legal_moves(seat);
                let view = m.view(Viewer::Seat(seat));
                let Some(pick) = strategies[usize::from(seat)].choose(game, seat, &view, &legal)
                else {
                    break;
                };
                // Strategies pick from the legal moves, so the rules accept them.
                let _ = m.play(seat, &legal[pick]);
            }
            Status::Simultaneous | Status::Waiting => {
                let inputs = simultaneous_inputs(m.as_ref(), game, &mut strategies);
                // Every input is a legal move of its seat, so the tick decodes.
                let _ = m.tick(&inputs);
            }
            Status::Over(outcome) => return Ok(outcome.winners),
        }
    }
    Ok(Vec::new())
}

/// One tick's inputs of a real-time match: each seat with a legal move plays its choice.
fn simultaneous_inputs(
    m: &dyn DynMatch,
    game: &str,
    strategies: &mut [crate::strategy::Strategy],
) -> Vec<(u8, Vec<u8>)> {
    (0..m.seats())
        .filter_map(|seat| {
            let legal = m.legal_moves(seat);
            let view = m.view(Viewer::Seat(seat));
            let pick = strategies.get_mut(usize::from(seat))?.choose(game, seat, &view, &legal)?;
            Some((seat, legal[pick].clone()))
        })
        .collect()
}

/// `a` against `b` over `matches` two-player Dots matches of `width × height`.
pub fn dots_tournament(
    a: StrategyKind,
    b: StrategyKind,
    matches: u32,
    width: u8,
    height: u8,
    seed: u64,
) -> Result<Standings, ConfigError> {
    let config =
        rmp_serde::to_vec_named(&game_rules::dots::DotsConfig { width, height, players: 2 })
            .map_err(|e| ConfigError::Malformed { reason: e.to_string() })?;
    let games = Games::new().with::<game_rules::dots::Dots>();
    let mut standings = Standings { strategies: [a, b], matches, wins: [0, 0], ties: 0 };
    for n in 0..matches {
        // Alternate who moves first: it matters in Dots and Boxes.
        let swapped = n % 2 == 1;
        let seats = if swapped { [b, a] } else { [a, b] };
        let winners = play_match(&games, "dots", &config, &seats, seed.wrapping_add(u64::from(n)))?;
        match winners.as_slice() {
            [seat] => standings.wins[usize::from(*seat) ^ usize::from(swapped)] += 1,
            _ => standings.ties += 1,
        }
    }
    Ok(standings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_beats_random_clearly() {
        let standings = dots_tournament(StrategyKind::Greedy, StrategyKind::Random, 200, 4, 4, 7)
            .expect("valid");
        assert_eq!(standings.wins[0] + standings.wins[1] + standings.ties, 200);
        assert!(
            standings.win_rate(0) > 0.8,
            "greedy won only {:.0}%: {standings:?}",
            100.0 * standings.win_rate(0)
        );
    }

    #[test]
    fn a_strategy_against_itself_is_even_and_reproducible() {
        let once = dots_tournament(StrategyKind::Random, StrategyKind::Random, 200, 3, 3, 1)
            .expect("valid");
        let again = dots_tournament(StrategyKind::Random, StrategyKind::Random, 200, 3, 3, 1)
            .expect("valid");
        assert_eq!(once, again, "same seed, same results");
        assert!((0.35..0.65).contains(&once.win_rate(0)), "{once:?}");
    }
}
