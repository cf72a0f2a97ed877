//! Light cycles on a page: which turn a direction key asks for, and the player's own cycle
//! predicted ahead of the last tick the server sent, from the input it has sent and not yet
//! seen applied. Pure: the time since that tick comes in as an argument, and the server's
//! state always wins (a prediction is recomputed from it on every call, never kept).

use lightcycles::{ArenaView, Heading, Turn};
use protocol::v1::MoveId;
use serde::Serialize;

/// The most ticks the own cycle is drawn ahead of the server's last tick.
pub const MAX_LEAD_TICKS: u32 = 2;

/// The game's id, as events and views name it.
pub const GAME_ID: &str = "lightcycles";

/// The turn that takes a cycle heading `from` to `to`; `None` when `to` is `from` or its
/// opposite (a cycle turns a quarter at a tick, and never back onto its own trail).
pub fn turn_towards(from: Heading, to: Heading) -> Option<Turn> {
    [Turn::Left, Turn::Right].into_iter().find(|turn| from.turned(*turn) == to)
}

/// The player's steering: a turn sent to the server, and at most one more heading to ask for
/// once that turn is seen applied (two keys pressed within one tick make a U-turn over two).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Steering {
    /// The heading the server's state had when the turn was sent.
    pub from: Heading,
    /// The heading the turn leads to.
    pub to: Heading,
    /// The move that carries the turn.
    pub move_id: MoveId,
    /// The heading asked for after `to`, not sent yet.
    pub then: Option<Heading>,
}

impl Steering {
    /// Whether the turn still waits: the server's cycle still heads where it did when the
    /// turn was sent. Only this seat's own turns change its heading, so any other heading
    /// means the turn (or a later one of the server's choosing) was applied.
    pub fn waits(&self, server: Heading) -> bool {
        server == self.from
    }
}

/// What a direction key does, given the server's heading and the steering in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAction {
    /// Send this turn (it replaces any turn still waiting).
    Send(Turn),
    /// Ask for this heading after the waiting turn is applied.
    Queue(Heading),
    /// Nothing to do: the cycle heads that way, or cannot turn back.
    Ignore,
}

/// What pressing `to` does when the server's cycle heads `server` and `steering` is in flight.
pub fn on_key(server: Heading, steering: Option<&Steering>, to: Heading) -> KeyAction {
    let waiting = steering.filter(|s| s.waits(server));
    if waiting.is_some_and(|s| s.to == to) {
        return KeyAction::Ignore;
    }
    if let Some(turn) = turn_towards(server, to) {
        return KeyAction::Send(turn);
    }
    match waiting {
        Some(s) if turn_towards(s.to, to).is_some() => KeyAction::Queue(to),
        _ => KeyAction::Ignore,
    }
}

/// The own cycle as drawn ahead of the server's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prediction {
    /// The seat.
    pub seat: u8,
    /// The server's last tick.
    pub tick: u32,
    /// Ticks drawn ahead of it (the length of `cells`, unless `blocked`).
    pub lead: u32,
    /// The heading drawn.
    pub heading: Heading,
    /// The cells the cycle is predicted to enter, in order; the last is the head drawn.
    pub cells: Vec<[i16; 2]>,
    /// Whether the next cell is a wall, a trail or a head: the prediction stops short of it
    /// and leaves the crash to the server.
    pub blocked: bool,
}

/// How many ticks ahead to draw, `since_tick_ms` after the server's last tick arrived: one
/// (the input shows at once), and one more per tick period the next tick is late, at most
/// [`MAX_LEAD_TICKS`].
pub fn lead_ticks(since_tick_ms: u64, tick_hz: u32) -> u32 {
    let late = since_tick_ms.saturating_mul(u64::from(tick_hz)) / 1000;
    u32::try_from(late.saturating_add(1)).unwrap_or(u32::MAX).min(MAX_LEAD_TICKS)
}

/// The own cycle of `seat` predicted `lead` ticks ahead of `view`, steered by `steering`;
/// `None` when that cycle no longer rides (or the seat has none).
pub fn predict(
    view: &ArenaView,
    seat: u8,
    steering: Option<&Steering>,
    lead: u32,
) -> Option<Prediction> {
    let own = view.cycles.iter().find(|c| c.seat == seat && c.alive)?;
    let plan: Vec<Heading> = match steering.filter(|s| s.waits(own.heading)) {
        Some(s) => std::iter::once(s.to).chain(s.then).collect(),
        None => Vec::new(),
    };
    let mut heading = own.heading;
    let mut at = own.at;
    let mut cells = Vec::new();
    let mut blocked = false;
    for step in 0..lead {
        heading = plan.get(step as usize).copied().unwrap_or(heading);
        let (dx, dy) = heading.step();
        let next = [at[0] + dx, at[1] + dy];
        if !is_free(view, next) {
            blocked = true;
            break;
        }
        cells.push(next);
        at = next;
    }
    let lead = u32::try_from(cells.len()).unwrap_or(u32::MAX);
    Some(Prediction { seat, tick: view.tick, lead, heading, cells, blocked })
}

/// Whether a cycle may enter `cell` as far as the client can tell: inside the walls, on no
/// trail and on no other head.
fn is_free(view: &ArenaView, cell: [i16; 2]) -> bool {
    let inside = (0..i16::from(view.width)).contains(&cell[0])
        && (0..i16::from(view.height)).contains(&cell[1]);
    inside && view.cycles.iter().all(|c| c.at != cell && !c.trail.contains(&cell))
}

#[cfg(test)]
mod tests;
