//! Tic-tac-toe: the worked example of adding a game (see docs/ADDING_A_GAME.md).
//! Cells are numbered 0..9 row by row; seat 0 plays X and moves first; a timeout passes.
use crate::{
    ConfigError, Game, Outcome, RuleError, Seat, SnapshotError, StateHasher, Status, Viewer,
};
use serde::{Deserialize, Serialize};
/// Marker type for the game.
pub struct TicTacToe;
/// No settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Config {}
/// Mark this cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mark {
    /// 0..9, row by row.
    pub cell: u8,
}
/// The board (`None` or the seat that marked each cell) and the seat to move.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Board {
    /// Cells row by row.
    pub cells: [Option<Seat>; 9],
    /// Seat to move.
    pub to_move: Seat,
}
const LINES: [[usize; 3]; 8] =
    [[0, 1, 2], [3, 4, 5], [6, 7, 8], [0, 3, 6], [1, 4, 7], [2, 5, 8], [0, 4, 8], [2, 4, 6]];
fn winner(b: &Board) -> Option<Seat> {
    LINES.iter().find_map(|l| b.cells[l[0]].filter(|s| l.iter().all(|&i| b.cells[i] == Some(*s))))
}
impl Game for TicTacToe {
    const ID: &'static str = "tictactoe";
    const NAME: &'static str = "Tic-tac-toe";
    const RULES_VERSION: u32 = 1;
    const MIN_SEATS: u8 = 2;
    const MAX_SEATS: u8 = 2;
    type Config = Config;
    type State = Board;
    type Move = Mark;
    type View = Board;
    fn initial(_: &Config, _seed: u64) -> Result<Board, ConfigError> {
        Ok(Board { cells: [None; 9], to_move: 0 })
    }
    fn validate(b: &Board, seat: Seat, m: &Mark) -> Result<(), RuleError> {
        let cell = || format!("cell {}", m.cell);
        match (Self::status(b), b.cells.get(usize::from(m.cell))) {
            _ if seat > 1 => Err(RuleError::NotASeat { seat, seats: 2 }),
            (Status::Over(_), _) => Err(RuleError::MatchOver),
            _ if seat != b.to_move => Err(RuleError::NotYourTurn { seat, to_move: b.to_move }),
            (_, None) => Err(RuleError::OutOfRange { what: cell() }),
            (_, Some(Some(_))) => Err(RuleError::AlreadyTaken { what: cell() }),
            _ => Ok(()),
        }
    }
    fn apply(b: &mut Board, seat: Seat, m: &Mark) {
        b.cells[usize::from(m.cell)] = Some(seat);
        b.to_move = 1 - seat;
    }
    fn tick(b: &mut Board, _inputs: &[(Seat, Mark)]) {
        b.to_move = if Self::status(b).is_over() { b.to_move } else { 1 - b.to_move };
    }
    fn legal_moves(b: &Board, seat: Seat) -> Vec<Mark> {
        (0..9).map(|cell| Mark { cell }).filter(|m| Self::validate(b, seat, m).is_ok()).collect()
    }
    fn view(b: &Board, _: Viewer) -> Board {
        b.clone()
    }
    fn status(b: &Board) -> Status {
        let full = b.cells.iter().all(Option::is_some);
        let scores = |w: Option<Seat>| (0..2).map(|s| i64::from(w == Some(s))).collect();
        match winner(b) {
            Some(w) => Status::Over(Outcome { scores: scores(Some(w)), winners: vec![w] }),
            None if full => Status::Over(Outcome { scores: scores(None), winners: vec![0, 1] }),
            None => Status::Turn(b.to_move),
        }
    }
    fn snapshot(b: &Board) -> Option<Vec<u8>> {
        rmp_serde::to_vec(b).ok()
    }
    fn restore(_: &Config, snapshot: &[u8]) -> Result<Board, SnapshotError> {
        let malformed = |reason: String| SnapshotError::Malformed { reason };
        let b: Board = rmp_serde::from_slice(snapshot).map_err(|e| malformed(e.to_string()))?;
        let seats_valid = b.cells.iter().flatten().chain([&b.to_move]).all(|s| *s < 2);
        seats_valid.then_some(b).ok_or_else(|| malformed("a seat beyond 1".into()))
    }
    fn hash(b: &Board, h: &mut StateHasher) {
        b.cells.iter().for_each(|c| h.write_u8(c.unwrap_or(0xff)));
        h.write_u8(b.to_move);
    }
}
