//! Dots and Boxes ("Clouds & Edges"): players draw edges; closing a box scores it and grants
//! another move; the match ends when every edge is drawn.
//!
//! # Edge addressing
//! A board of `width × height` boxes has `(width + 1) × (height + 1)` dots. Dot `(x, y)` has
//! `x` growing rightwards and `y` downwards, from `(0, 0)` at the top left.
//! - `{"dir": "h", "x": x, "y": y}` is the horizontal edge from dot `(x, y)` to `(x + 1, y)`:
//!   `x` in `0..width`, `y` in `0..=height`. It is the top edge of box `(x, y)`.
//! - `{"dir": "v", "x": x, "y": y}` is the vertical edge from dot `(x, y)` to `(x, y + 1)`:
//!   `x` in `0..=width`, `y` in `0..height`. It is the left edge of box `(x, y)`.
//!
//! Box `(x, y)` is closed by `h(x, y)`, `h(x, y + 1)`, `v(x, y)` and `v(x + 1, y)`.
//!
//! # Canonical encoding (state hash)
//! `width u8, height u8, players u8, to_move u8`, then the horizontal edges as bits
//! (row-major, `y` then `x`), the vertical edges as bits (likewise), each as
//! [`StateHasher::write_bits`], then one `u8` owner per box (row-major, `0xff` for none),
//! then one `u16` score per seat.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::game::{ConfigError, Game, Outcome, RuleError, Seat, SnapshotError, Status, Viewer};
use crate::hash::StateHasher;

/// Smallest and largest board side, in boxes.
pub const SIDE_BOUNDS: (u8, u8) = (1, 16);
/// Fewest and most players.
pub const PLAYER_BOUNDS: (u8, u8) = (2, 4);

/// Marker type for the game.
pub struct Dots;

/// Board size and number of players.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DotsConfig {
    /// Boxes across, 1..=16.
    pub width: u8,
    /// Boxes down, 1..=16.
    pub height: u8,
    /// Players, 2..=4.
    pub players: u8,
}

impl Default for DotsConfig {
    fn default() -> Self {
        DotsConfig { width: 5, height: 5, players: 2 }
    }
}

/// Horizontal or vertical.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Dir {
    /// From dot `(x, y)` rightwards.
    #[serde(rename = "h")]
    H,
    /// From dot `(x, y)` downwards.
    #[serde(rename = "v")]
    V,
}

/// A move: the edge to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edge {
    /// Orientation.
    pub dir: Dir,
    /// Column of the starting dot.
    pub x: u8,
    /// Row of the starting dot.
    pub y: u8,
}

impl fmt::Display for Edge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = match self.dir {
            Dir::H => 'h',
            Dir::V => 'v',
        };
        write!(f, "edge {dir}({},{})", self.x, self.y)
    }
}

/// The whole state; the game has no hidden information, so it is also every viewer's view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DotsState {
    /// Boxes across.
    pub width: u8,
    /// Boxes down.
    pub height: u8,
    /// Number of players.
    pub players: u8,
    /// Horizontal edges drawn, index `y * width + x`.
    pub h_edges: Vec<bool>,
    /// Vertical edges drawn, index `y * (width + 1) + x`.
    pub v_edges: Vec<bool>,
    /// The seat that closed each box, index `y * width + x`.
    pub owners: Vec<Option<Seat>>,
    /// Boxes closed per seat.
    pub scores: Vec<u16>,
    /// The seat to move (meaningless once every edge is drawn).
    pub to_move: Seat,
    /// Edges drawn so far.
    pub drawn: u16,
}

impl DotsState {
    /// Total number of edges: the number of moves in a complete match.
    pub fn edge_count(&self) -> u16 {
        let (w, h) = (u16::from(self.width), u16::from(self.height));
        (h + 1) * w + h * (w + 1)
    }

    /// Whether every edge is drawn.
    pub fn is_over(&self) -> bool {
        self.drawn == self.edge_count()
    }

    /// Index into `h_edges` or `v_edges`, or `None` when the edge is off the board.
    fn index(&self, edge: Edge) -> Option<usize> {
        let (w, h, x, y) = (self.width, self.height, edge.x, edge.y);
        let (in_range, row_len) = match edge.dir {
            Dir::H => (x < w && y <= h, usize::from(w)),
            Dir::V => (x <= w && y < h, usize::from(w) + 1),
        };
        in_range.then(|| usize::from(y) * row_len + usize::from(x))
    }

    fn drawn_at(&self, dir: Dir, x: u8, y: u8) -> bool {
        let edges = match dir {
            Dir::H => &self.h_edges,
            Dir::V => &self.v_edges,
        };
        self.index(Edge { dir, x, y }).is_some_and(|i| edges[i])
    }

    /// How many of box `(x, y)`'s four edges are drawn.
    pub fn sides_drawn(&self, x: u8, y: u8) -> u8 {
        [
            self.drawn_at(Dir::H, x, y),
            self.drawn_at(Dir::H, x, y + 1),
            self.drawn_at(Dir::V, x, y),
            self.drawn_at(Dir::V, x + 1, y),
        ]
        .into_iter()
        .map(u8::from)
        .sum()
    }

    /// The boxes on either side of an edge that lie on the board.
    pub fn boxes_beside(&self, edge: Edge) -> impl Iterator<Item = (u8, u8)> {
        let (x, y) = (edge.x, edge.y);
        let (before, after) = match edge.dir {
            Dir::H => ((y > 0).then(|| (x, y - 1)), (y < self.height).then_some((x, y))),
            Dir::V => ((x > 0).then(|| (x - 1, y)), (x < self.width).then_some((x, y))),
        };
        before.into_iter().chain(after)
    }
}

impl Game for Dots {
    const ID: &'static str = "dots";
    const NAME: &'static str = "Clouds & Edges (Dots and Boxes)";
    const RULES_VERSION: u32 = 1;
    const MIN_SEATS: u8 = PLAYER_BOUNDS.0;
    const MAX_SEATS: u8 = PLAYER_BOUNDS.1;

    type Config = DotsConfig;
    type State = DotsState;
    type Move = Edge;
    type View = DotsState;

    fn seats(config: &DotsConfig) -> u8 {
        config.players
    }

    fn initial(config: &DotsConfig, _seed: u64) -> Result<DotsState, ConfigError> {
        check_bounds("width", config.width, SIDE_BOUNDS)?;
        check_bounds("height", config.height, SIDE_BOUNDS)?;
        check_bounds("players", config.players, PLAYER_BOUNDS)?;
        let (w, h) = (usize::from(config.width), usize::from(config.height));
        Ok(DotsState {
            width: config.width,
            height: config.height,
            players: config.players,
            h_edges: vec![false; (h + 1) * w],
            v_edges: vec![false; h * (w + 1)],
            owners: vec![None; w * h],
            scores: vec![0; usize::from(config.players)],
            to_move: 0,
            drawn: 0,
        })
    }

    fn validate(state: &DotsState, seat: Seat, edge: &Edge) -> Result<(), RuleError> {
        if seat >= state.players {
            return Err(RuleError::NotASeat { seat, seats: state.players });
        }
        if state.is_over() {
            return Err(RuleError::MatchOver);
        }
        if seat != state.to_move {
            return Err(RuleError::NotYourTurn { seat, to_move: state.to_move });
        }
        let Some(index) = state.index(*edge) else {
            return Err(RuleError::OutOfRange { what: edge.to_string() });
        };
        let taken = match edge.dir {
            Dir::H => state.h_edges[index],
            Dir::V => state.v_edges[index],
        };
        if taken {
            return Err(RuleError::AlreadyTaken { what: edge.to_string() });
        }
        Ok(())
    }

    fn apply(state: &mut DotsState, seat: Seat, edge: &Edge) {
        let index = state.index(*edge).expect("apply is only given validated edges");
        match edge.dir {
            Dir::H => state.h_edges[index] = true,
            Dir::V => state.v_edges[index] = true,
        }
        state.drawn += 1;
        let mut closed = 0;
        let beside: Vec<(u8, u8)> = state.boxes_beside(*edge).collect();
        for (x, y) in beside {
            if state.sides_drawn(x, y) == 4 {
                let owner =
                    &mut state.owners[usize::from(y) * usize::from(state.width) + usize::from(x)];
                debug_assert!(owner.is_none(), "a box closes once");
                *owner = Some(seat);
                closed += 1;
            }
        }
        state.scores[usize::from(seat)] += closed;
        if closed == 0 {
            state.to_move = (seat + 1) % state.players;
        }
    }

    /// A timeout (an empty tick) passes the turn to the next seat; inputs are played in order
    /// while they are still legal.
    fn tick(state: &mut DotsState, inputs: &[(Seat, Edge)]) {
        if inputs.is_empty() && !state.is_over() {
            state.to_move = (state.to_move + 1) % state.players;
        }
        for (seat, edge) in inputs {
            if Self::validate(state, *seat, edge).is_ok() {
                Self::apply(state, *seat, edge);
            }
        }
    }

    fn legal_moves(state: &DotsState, seat: Seat) -> Vec<Edge> {
        if seat != state.to_move || seat >= state.players || state.is_over() {
            return Vec::new();
        }
        let mut moves = Vec::with_capacity(usize::from(state.edge_count() - state.drawn));
        for y in 0..=state.height {
            for x in 0..state.width {
                moves.push(Edge { dir: Dir::H, x, y });
            }
        }
        for y in 0..state.height {
            for x in 0..=state.width {
                moves.push(Edge { dir: Dir::V, x, y });
            }
        }
        moves.retain(|edge| !state.drawn_at(edge.dir, edge.x, edge.y));
        moves
    }

    fn view(state: &DotsState, _viewer: Viewer) -> DotsState {
        state.clone()
    }

    fn status(state: &DotsState) -> Status {
        if !state.is_over() {
            return Status::Turn(state.to_move);
        }
        let best = state.scores.iter().copied().max().unwrap_or(0);
        Status::Over(Outcome {
            scores: state.scores.iter().map(|&s| i64::from(s)).collect(),
            winners: (0..state.players).filter(|&s| state.scores[usize::from(s)] == best).collect(),
        })
    }

    fn snapshot(state: &DotsState) -> Option<Vec<u8>> {
        rmp_serde::to_vec(state).ok()
    }

    fn restore(config: &DotsConfig, snapshot: &[u8]) -> Result<DotsState, SnapshotError> {
        let malformed = |reason: String| SnapshotError::Malformed { reason };
        let state: DotsState =
            rmp_serde::from_slice(snapshot).map_err(|e| malformed(e.to_string()))?;
        let empty = Self::initial(config, 0).map_err(|e| malformed(e.to_string()))?;
        if !same_shape(&state, &empty) {
            return Err(malformed("the board does not fit the config".into()));
        }
        Ok(state)
    }

    fn hash(state: &DotsState, h: &mut StateHasher) {
        for byte in [state.width, state.height, state.players, state.to_move] {
            h.write_u8(byte);
        }
        h.write_bits(state.h_edges.iter().copied());
        h.write_bits(state.v_edges.iter().copied());
        for owner in &state.owners {
            h.write_u8(owner.unwrap_or(0xff));
        }
        for score in &state.scores {
            h.write_u16(*score);
        }
    }
}

/// Whether `state` has the dimensions of `empty` and self-consistent counters, so that no
/// later move can index outside it.
fn same_shape(state: &DotsState, empty: &DotsState) -> bool {
    let drawn = state.h_edges.iter().chain(&state.v_edges).filter(|e| **e).count();
    let owners_valid = state.owners.iter().flatten().all(|s| *s < state.players);
    (state.width, state.height, state.players) == (empty.width, empty.height, empty.players)
        && state.h_edges.len() == empty.h_edges.len()
        && state.v_edges.len() == empty.v_edges.len()
        && state.owners.len() == empty.owners.len()
        && state.scores.len() == empty.scores.len()
        && state.to_move < state.players
        && owners_valid
        && usize::from(state.drawn) == drawn
}

fn check_bounds(field: &'static str, got: u8, (min, max): (u8, u8)) -> Result<(), ConfigError> {
    if (min..=max).contains(&got) {
        return Ok(());
    }
    Err(ConfigError::OutOfBounds {
        field,
        min: i64::from(min),
        max: i64::from(max),
        got: i64::from(got),
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::StateHash;

    fn new(width: u8, height: u8, players: u8) -> DotsState {
        Dots::initial(&DotsConfig { width, height, players }, 0).expect("valid config")
    }

    fn h(x: u8, y: u8) -> Edge {
        Edge { dir: Dir::H, x, y }
    }

    fn v(x: u8, y: u8) -> Edge {
        Edge { dir: Dir::V, x, y }
    }

    /// Plays the edges in order, each by the seat to move.
    fn play(state: &mut DotsState, edges: &[Edge]) {
        for edge in edges {
            let seat = state.to_move;
            Dots::validate(state, seat, edge).expect("scripted moves are legal");
            Dots::apply(state, seat, edge);
        }
    }

    #[test]
    fn config_bounds_are_typed_errors() {
        let bad = [
            (0, 3, 2, "width"),
            (17, 3, 2, "width"),
            (3, 0, 2, "height"),
            (3, 3, 1, "players"),
            (3, 3, 5, "players"),
        ];
        for (width, height, players, field) in bad {
            let err = Dots::initial(&DotsConfig { width, height, players }, 0)
                .expect_err("out of bounds");
            assert!(
                matches!(err, ConfigError::OutOfBounds { field: f, .. } if f == field),
                "{err}"
            );
        }
        assert!(Dots::initial(&DotsConfig { width: 16, height: 16, players: 4 }, 0).is_ok());
    }

    #[test]
    fn each_rejection_has_its_reason() {
        let mut s = new(2, 2, 2);
        play(&mut s, &[h(0, 0)]);
        assert_eq!(Dots::validate(&s, 2, &h(1, 0)), Err(RuleError::NotASeat { seat: 2, seats: 2 }));
        assert_eq!(
            Dots::validate(&s, 0, &h(1, 0)),
            Err(RuleError::NotYourTurn { seat: 0, to_move: 1 })
        );
        assert_eq!(Dots::validate(&s, 1, &h(0, 0)).map_err(|e| e.code()), Err("already_taken"));
        assert_eq!(Dots::validate(&s, 1, &h(2, 0)).map_err(|e| e.code()), Err("out_of_range"));
        assert_eq!(Dots::validate(&s, 1, &v(0, 2)).map_err(|e| e.code()), Err("out_of_range"));
        assert_eq!(Dots::validate(&s, 1, &v(2, 1)), Ok(()));
        let all = Dots::legal_moves(&s, 1);
        play(&mut s, &all);
        assert_eq!(Dots::validate(&s, s.to_move, &h(1, 0)), Err(RuleError::MatchOver));
    }

    #[test]
    fn closing_a_box_scores_and_moves_again() {
        let mut s = new(2, 1, 2);
        play(&mut s, &[h(0, 0), h(0, 1), v(0, 0)]);
        assert_eq!(s.to_move, 1, "seats alternate while nothing closes");
        play(&mut s, &[v(1, 0)]);
        assert_eq!((s.scores.clone(), s.owners.clone()), (vec![0, 1], vec![Some(1), None]));
        assert_eq!(s.to_move, 1, "closing a box grants another move");
        play(&mut s, &[h(1, 0), h(1, 1)]);
        assert_eq!(s.to_move, 1, "seat 1 drew h(1,0) without closing, then seat 0 drew h(1,1)");
        play(&mut s, &[v(2, 0)]);
        let over = Status::Over(Outcome { scores: vec![0, 2], winners: vec![1] });
        assert_eq!(Dots::status(&s), over);
    }

    #[test]
    fn one_edge_can_close_two_boxes() {
        let mut s = new(2, 1, 2);
        play(&mut s, &[h(0, 0), h(1, 0), h(0, 1), h(1, 1), v(0, 0), v(2, 0)]);
        let seat = s.to_move;
        play(&mut s, &[v(1, 0)]);
        assert_eq!(s.scores[usize::from(seat)], 2);
        assert!(s.is_over());
    }

    #[test]
    fn timeout_passes_the_turn() {
        let mut s = new(2, 2, 3);
        Dots::tick(&mut s, &[]);
        assert_eq!(s.to_move, 1);
        assert_eq!(s.drawn, 0);
    }

    #[test]
    fn moves_read_and_write_as_documented() {
        let edge: Edge =
            serde_json::from_str(r#"{"dir":"v","x":3,"y":1}"#).expect("documented form");
        assert_eq!(edge, v(3, 1));
        assert_eq!(edge.to_string(), "edge v(3,1)");
        assert!(serde_json::from_str::<Edge>(r#"{"dir":"v","x":3,"y":1,"z":0}"#).is_err());
    }

    /// Golden hashes: a change here changes every recorded match's hashes. Bump
    /// `RULES_VERSION` and update these only on purpose.
    #[test]
    fn canonical_encoding_is_as_documented() {
        let mut s = new(1, 1, 2);
        play(&mut s, &[h(0, 1)]);
        let mut hasher = StateHasher::new();
        Dots::hash(&s, &mut hasher);
        #[rustfmt::skip]
        let expected = [
            1, 1, 2, 1,             // width, height, players, to_move
            2, 0, 0, 0, 0b10,       // 2 horizontal edges: h(0,1) drawn
            2, 0, 0, 0, 0b00,       // 2 vertical edges
            0xff,                   // box (0,0) has no owner
            0, 0, 0, 0,             // scores u16 LE
        ];
        assert_eq!(hasher.as_bytes(), expected);
    }

    #[test]
    fn golden_state_hashes() {
        let mut s = new(5, 5, 2);
        assert_eq!(Dots::state_hash(&s), "0c8e209980f44adf".parse::<StateHash>().expect("hex"));
        play(&mut s, &[h(0, 0), v(0, 0), h(0, 1), v(1, 0)]);
        assert_eq!(s.scores, vec![0, 1]);
        assert_eq!(Dots::state_hash(&s), "ed7a8e3fe4ef9650".parse::<StateHash>().expect("hex"));
        let mut big = new(16, 16, 4);
        let all = Dots::legal_moves(&big, 0);
        play(&mut big, &all);
        assert_eq!(Dots::state_hash(&big), "5d66a3ae5c1b7a79".parse::<StateHash>().expect("hex"));
    }

    fn config() -> impl Strategy<Value = DotsConfig> {
        (1u8..=6, 1u8..=6, 2u8..=4).prop_map(|(width, height, players)| DotsConfig {
            width,
            height,
            players,
        })
    }

    proptest! {
        #[test]
        fn dots_invariants_hold_through_random_play(config in config(), picks in prop::collection::vec(any::<u16>(), 200)) {
            let mut s = Dots::initial(&config, 0).expect("valid config");
            let edges = s.edge_count();
            let mut moves = 0u16;
            for pick in picks {
                if s.is_over() { break; }
                let seat = s.to_move;
                let legal = Dots::legal_moves(&s, seat);
                let edge = legal[usize::from(pick) % legal.len()];
                let closed_before = s.owners.iter().flatten().count();
                Dots::apply(&mut s, seat, &edge);
                moves += 1;
                let closed = s.owners.iter().flatten().count();
                let total: u16 = s.scores.iter().sum();
                prop_assert_eq!(usize::from(total), closed, "total score equals closed boxes");
                let same_seat = s.to_move == seat;
                prop_assert_eq!(same_seat, closed > closed_before, "extra move iff a box closed");
                prop_assert_eq!(s.is_over(), moves == edges, "over exactly after edge_count moves");
            }
            prop_assert!(s.is_over(), "200 picks finish any board up to 6x6 (84 edges)");
            prop_assert_eq!(moves, edges);
        }
    }
}
