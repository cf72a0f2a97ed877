//! Light cycles (`"lightcycles"`): a real-time game for 2–8 players on a grid, simulated on a
//! bevy_ecs `World` (see [`arena`]).
//!
//! Every cycle moves one cell per tick and leaves a trail. A player steers with
//! `{"turn": "left"}` or `{"turn": "right"}` (a quarter turn at the next tick). A cycle whose
//! next cell is outside the walls or on any trail crashes; cycles whose next cells are the same
//! cell all crash (head-on). The last cycle riding wins; when the last ones crash in the same
//! tick, they share the win. A seat's score is the number of ticks its cycle survived.
//!
//! Starts: cycles face each other from the left and right edges (even slots at column 1
//! heading east, odd slots at column `width - 2` heading west, rows spread evenly), and the seed
//! decides which seat takes which slot.

pub mod arena;

use game_rules::{
    ConfigError, Game, Mode, Outcome, RuleError, Seat, SnapshotError, StateHasher, Status, Viewer,
};
use serde::{Deserialize, Serialize};

pub use arena::{Arena, CycleState, Heading, Position, Turn};

/// The game's marker type.
pub struct LightCycles;

/// Match settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Columns, 8..=64.
    pub width: u8,
    /// Rows, 8..=64.
    pub height: u8,
    /// Seats, 2..=8.
    pub players: u8,
    /// Ticks per second, 10..=60.
    pub tick_hz: u8,
}

impl Default for Config {
    fn default() -> Config {
        Config { width: 32, height: 32, players: 2, tick_hz: 20 }
    }
}

/// A player's input: a quarter turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Steer {
    /// Which way.
    pub turn: Turn,
}

/// One cycle as every viewer sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CycleView {
    /// Its seat.
    pub seat: Seat,
    /// Its head `[x, y]`.
    pub at: [i16; 2],
    /// Its heading.
    pub heading: Heading,
    /// Whether it still rides.
    pub alive: bool,
    /// Its trail `[x, y]`, oldest first (the start cell first).
    pub trail: Vec<[i16; 2]>,
}

/// The whole board: the game hides nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArenaView {
    /// Columns.
    pub width: u8,
    /// Rows.
    pub height: u8,
    /// Ticks run so far.
    pub tick: u32,
    /// Every cycle, in seat order.
    pub cycles: Vec<CycleView>,
}

/// The cycles of a snapshot's view, if they are one per seat in seat order, each with a
/// trail inside the walls and a head at most one cell beyond its trail's end.
fn restored_cycles(view: &ArenaView, players: u8) -> Option<Vec<CycleState>> {
    let inside = |[x, y]: [i16; 2]| {
        (0..i16::from(view.width)).contains(&x) && (0..i16::from(view.height)).contains(&y)
    };
    let at = |[x, y]: [i16; 2]| Position { x, y };
    let cycles: Vec<CycleState> = (0u8..)
        .zip(&view.cycles)
        .filter(|(seat, c)| {
            c.seat == *seat && !c.trail.is_empty() && c.trail.iter().all(|p| inside(*p))
        })
        .filter(|(_, c)| c.at.iter().all(|v| (-1..=64).contains(v)))
        .map(|(seat, c)| CycleState {
            seat,
            at: at(c.at),
            heading: c.heading,
            alive: c.alive,
            trail: c.trail.iter().copied().map(at).collect(),
        })
        .collect();
    (cycles.len() == usize::from(players) && view.cycles.len() == cycles.len()).then_some(cycles)
}

fn bounded(field: &'static str, got: u8, min: u8, max: u8) -> Result<(), ConfigError> {
    if (min..=max).contains(&got) {
        return Ok(());
    }
    let (min, max, got) = (i64::from(min), i64::from(max), i64::from(got));
    Err(ConfigError::OutOfBounds { field, min, max, got })
}

/// SplitMix64: the seed's only use is this slot shuffle, kept here so it never changes.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Each seat's start cell and heading.
fn starts(config: &Config, seed: u64) -> Vec<(Position, Heading)> {
    let per_side = i16::from(config.players.div_ceil(2));
    let (width, height) = (i16::from(config.width), i16::from(config.height));
    let mut slots: Vec<(Position, Heading)> = (0..i16::from(config.players))
        .map(|slot| {
            let y = (slot / 2 + 1) * height / (per_side + 1);
            match slot % 2 {
                0 => (Position { x: 1, y }, Heading::East),
                _ => (Position { x: width - 2, y }, Heading::West),
            }
        })
        .collect();
    let mut state = seed;
    for i in (1..slots.len()).rev() {
        // `i + 1` is at most 8, so the remainder fits any usize.
        let j = (splitmix(&mut state) % (i as u64 + 1)) as usize;
        slots.swap(i, j);
    }
    slots
}

impl Game for LightCycles {
    const ID: &'static str = "lightcycles";
    const NAME: &'static str = "Light cycles";
    const RULES_VERSION: u32 = 1;
    const MIN_SEATS: u8 = 2;
    const MAX_SEATS: u8 = 8;

    type Config = Config;
    type State = Arena;
    type Move = Steer;
    type View = ArenaView;

    fn seats(config: &Config) -> u8 {
        config.players
    }

    fn mode(config: &Config) -> Mode {
        Mode::RealTime { tick_hz: u32::from(config.tick_hz) }
    }

    fn initial(config: &Config, seed: u64) -> Result<Arena, ConfigError> {
        bounded("width", config.width, 8, 64)?;
        bounded("height", config.height, 8, 64)?;
        bounded("players", config.players, Self::MIN_SEATS, Self::MAX_SEATS)?;
        bounded("tick_hz", config.tick_hz, 10, 60)?;
        Ok(Arena::new(config.width, config.height, &starts(config, seed)))
    }

    fn validate(arena: &Arena, seat: Seat, _: &Steer) -> Result<(), RuleError> {
        let seats = arena.seats();
        if seat >= seats {
            return Err(RuleError::NotASeat { seat, seats });
        }
        if Self::status(arena).is_over() {
            return Err(RuleError::MatchOver);
        }
        if !arena.is_alive(seat) {
            return Err(RuleError::Illegal { reason: format!("seat {seat}'s cycle has crashed") });
        }
        Ok(())
    }

    fn apply(arena: &mut Arena, seat: Seat, mv: &Steer) {
        arena.steer(seat, mv.turn);
    }

    /// Applies the last legal input of each seat, then moves every cycle one cell.
    fn tick(arena: &mut Arena, inputs: &[(Seat, Steer)]) {
        if Self::status(arena).is_over() {
            return;
        }
        let mut last: Vec<(Seat, Turn)> = Vec::new();
        for (seat, mv) in
            inputs.iter().filter(|(seat, mv)| Self::validate(arena, *seat, mv).is_ok())
        {
            last.retain(|(s, _)| s != seat);
            last.push((*seat, mv.turn));
        }
        last.sort_unstable_by_key(|(seat, _)| *seat);
        arena.tick(last);
    }

    fn legal_moves(arena: &Arena, seat: Seat) -> Vec<Steer> {
        [Turn::Left, Turn::Right]
            .map(|turn| Steer { turn })
            .into_iter()
            .filter(|mv| Self::validate(arena, seat, mv).is_ok())
            .collect()
    }

    fn view(arena: &Arena, _: Viewer) -> ArenaView {
        let (width, height) = arena.size();
        let xy = |p: &Position| [p.x, p.y];
        let cycles = arena
            .cycles()
            .into_iter()
            .map(|c| CycleView {
                seat: c.seat,
                at: xy(&c.at),
                heading: c.heading,
                alive: c.alive,
                trail: c.trail.iter().map(xy).collect(),
            })
            .collect();
        ArenaView { width, height, tick: arena.ticks(), cycles }
    }

    fn status(arena: &Arena) -> Status {
        if arena.riders() > 1 {
            return Status::Simultaneous;
        }
        let cycles = arena.cycles();
        // A cycle that crashed at tick t made t - 1 moves and a survivor more, so the longest
        // trails are exactly the last riders: the survivor, or those who crashed together.
        let scores: Vec<i64> = cycles.iter().map(|c| c.trail.len() as i64 - 1).collect();
        let best = scores.iter().copied().max().unwrap_or(0);
        let winners = (0u8..).zip(&scores).filter(|(_, s)| **s == best).map(|(seat, _)| seat);
        Status::Over(Outcome { winners: winners.collect(), scores })
    }

    /// The spectator's view holds the whole state, so it is the snapshot.
    fn snapshot(arena: &Arena) -> Option<Vec<u8>> {
        rmp_serde::to_vec(&Self::view(arena, Viewer::Spectator)).ok()
    }

    fn restore(config: &Config, snapshot: &[u8]) -> Result<Arena, SnapshotError> {
        let malformed = |reason: &str| SnapshotError::Malformed { reason: reason.into() };
        let view: ArenaView =
            rmp_serde::from_slice(snapshot).map_err(|e| malformed(&e.to_string()))?;
        if (view.width, view.height) != (config.width, config.height) {
            return Err(malformed("the board's size is not the config's"));
        }
        let cycles =
            restored_cycles(&view, config.players).ok_or(malformed("impossible cycles"))?;
        Ok(Arena::restore(view.width, view.height, view.tick, &cycles))
    }

    fn hash(arena: &Arena, h: &mut StateHasher) {
        let (width, height) = arena.size();
        h.write_u8(width);
        h.write_u8(height);
        h.write_u32(arena.ticks());
        // Coordinates are written as their 16-bit two's complement: a crashed cycle's head
        // may lie one cell outside the walls.
        let cell = |h: &mut StateHasher, p: &Position| {
            h.write_u16(p.x as u16);
            h.write_u16(p.y as u16);
        };
        for cycle in arena.cycles() {
            h.write_bool(cycle.alive);
            h.write_u8(cycle.heading.code());
            cell(h, &cycle.at);
            // The trail is at most 64 × 64 cells, so its length fits a u32.
            h.write_u32(cycle.trail.len() as u32);
            cycle.trail.iter().for_each(|p| cell(h, p));
        }
    }
}

#[cfg(test)]
mod tests;
