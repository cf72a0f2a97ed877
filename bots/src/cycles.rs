//! Steering a light cycle: look a few cells ahead along each heading it can take (straight,
//! left, right), treat trails, walls and the cells other riders can reach next as blocked,
//! and prefer the heading with the most room (its reachable area, then its straight run).

use lightcycles::{ArenaView, Heading, Turn};
use rand::Rng;
use rand_pcg::Pcg64Mcg;

/// Cells counted at most when measuring the room behind a heading: enough to tell a pocket
/// from open board, small enough to stay cheap on a 64 × 64 board every tick.
const AREA_CAP: usize = 256;

/// Cells looked ahead along a heading.
pub const LOOK_AHEAD: i16 = 8;

/// The board as free or blocked cells.
struct Board {
    width: i16,
    height: i16,
    blocked: Vec<bool>,
}

impl Board {
    fn of(view: &ArenaView, seat: u8) -> Board {
        let (width, height) = (i16::from(view.width), i16::from(view.height));
        let mut board = Board {
            width,
            height,
            blocked: vec![false; view.width as usize * view.height as usize],
        };
        for cycle in &view.cycles {
            cycle.trail.iter().for_each(|&[x, y]| board.block(x, y));
            if cycle.alive && cycle.seat != seat {
                // Where another rider may be next tick, whichever way it steers.
                for heading in [
                    cycle.heading,
                    cycle.heading.turned(Turn::Left),
                    cycle.heading.turned(Turn::Right),
                ] {
                    let (dx, dy) = heading.step();
                    board.block(cycle.at[0] + dx, cycle.at[1] + dy);
                }
            }
        }
        board
    }

    fn index(&self, x: i16, y: i16) -> Option<usize> {
        let inside = (0..self.width).contains(&x) && (0..self.height).contains(&y);
        inside.then(|| y as usize * self.width as usize + x as usize)
    }

    fn block(&mut self, x: i16, y: i16) {
        if let Some(i) = self.index(x, y) {
            self.blocked[i] = true;
        }
    }

    fn free(&self, x: i16, y: i16) -> bool {
        self.index(x, y).is_some_and(|i| !self.blocked[i])
    }

    /// Free cells in a straight line from `(x, y)` along `heading`, up to `LOOK_AHEAD`.
    fn run(&self, (x, y): (i16, i16), heading: Heading) -> i16 {
        let (dx, dy) = heading.step();
        (1..=LOOK_AHEAD).take_while(|k| self.free(x + k * dx, y + k * dy)).count() as i16
    }

    /// Free cells reachable from `(x, y)`, counted up to `AREA_CAP` (0 if it is blocked).
    fn area(&self, (x, y): (i16, i16)) -> usize {
        let Some(start) = self.index(x, y).filter(|i| !self.blocked[*i]) else { return 0 };
        let mut seen = vec![false; self.blocked.len()];
        seen[start] = true;
        let mut queue = vec![(x, y)];
        let mut count = 0;
        while let Some((cx, cy)) = queue.pop() {
            count += 1;
            if count >= AREA_CAP {
                break;
            }
            for (dx, dy) in [(0, -1), (1, 0), (0, 1), (-1, 0)] {
                if let Some(i) =
                    self.index(cx + dx, cy + dy).filter(|i| !self.blocked[*i] && !seen[*i])
                {
                    seen[i] = true;
                    queue.push((cx + dx, cy + dy));
                }
            }
        }
        count
    }
}

/// The turn that leaves `seat`'s cycle the most room, or `None` to ride straight on (also when
/// straight is as good as the best turn, or the cycle is not riding). Ties between the two
/// turns are broken by `rng`.
pub fn steer(view: &ArenaView, seat: u8, rng: &mut Pcg64Mcg) -> Option<Turn> {
    let me = view.cycles.iter().find(|c| c.seat == seat && c.alive)?;
    let board = Board::of(view, seat);
    let score = |heading: Heading| {
        let (dx, dy) = heading.step();
        let next = (me.at[0] + dx, me.at[1] + dy);
        (board.area(next), board.run((me.at[0], me.at[1]), heading))
    };
    let straight = score(me.heading);
    let turns = [Turn::Left, Turn::Right].map(|t| (t, score(me.heading.turned(t))));
    let best = turns.iter().map(|(_, s)| *s).max()?;
    if straight >= best {
        return None;
    }
    let best: Vec<Turn> = turns.iter().filter(|(_, s)| *s == best).map(|(t, _)| *t).collect();
    Some(best[rng.random_range(0..best.len())])
}

#[cfg(test)]
mod tests {
    use game_rules::{Game, Status, Viewer};
    use lightcycles::{Config, LightCycles, Steer};
    use rand::SeedableRng;

    use super::*;

    /// Every seat steered by `steer` on one board; the number of ticks the match lasted.
    fn play(config: &Config, seed: u64) -> u32 {
        let mut arena = LightCycles::initial(config, seed).expect("valid");
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        while LightCycles::status(&arena) == Status::Simultaneous {
            let view = LightCycles::view(&arena, Viewer::Spectator);
            let inputs: Vec<_> = (0..config.players)
                .filter_map(|s| steer(&view, s, &mut rng).map(|turn| (s, Steer { turn })))
                .collect();
            LightCycles::tick(&mut arena, &inputs);
        }
        arena.ticks()
    }

    #[test]
    fn a_steered_cycle_turns_away_from_the_wall_ahead() {
        let config = Config { width: 8, height: 8, ..Config::default() };
        let arena = LightCycles::initial(&config, 0).expect("valid");
        let mut view = LightCycles::view(&arena, Viewer::Spectator);
        // Put seat 0 one cell before the east wall, heading east.
        view.cycles[0].at = [7, 2];
        view.cycles[0].heading = Heading::East;
        view.cycles[0].trail = vec![[6, 2], [7, 2]];
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        assert!(steer(&view, 0, &mut rng).is_some(), "straight on is the wall");
    }

    #[test]
    fn steered_cycles_outlast_cycles_riding_straight() {
        for players in [2, 4] {
            let config = Config { width: 24, height: 24, players, ..Config::default() };
            // Riding straight, the first crash comes within the board's width.
            assert!((0..10).all(|seed| play(&config, seed) > 24), "{players} players");
        }
    }
}
