//! What a room tells and does for an administrator: its summary (seats, who is connected,
//! spectators, head) and its close. Both stay sans-IO: the answer is an output like any other.

use game_rules::Viewer;
use serde::Serialize;

use super::{ConnId, Output, Reply, RequestId, Room};
use crate::storage::MatchStatus;

/// A loaded room as an administrator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoomSummary {
    /// The match.
    pub match_id: String,
    /// Its game.
    pub game: String,
    /// Open, live or finished.
    pub status: MatchStatus,
    /// The last durable seq.
    pub head_seq: u64,
    /// Who sits where (`None`: free).
    pub seats: Vec<Option<SeatSummary>>,
    /// Connections subscribed as spectators.
    pub spectators: usize,
    /// Connections subscribed in all: players, spectators and bot seats.
    pub subscribers: usize,
    /// Appends written but not yet durable.
    pub appends_in_flight: usize,
}

/// A seat's holder, and whether they follow the match now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeatSummary {
    /// Their player id.
    pub player_id: String,
    /// Their name.
    pub name: String,
    /// A server-side bot.
    pub bot: bool,
    /// A connection is subscribed as this seat's player.
    pub connected: bool,
}

impl Room {
    /// What the room holds now.
    pub fn summary_for_admin(&self) -> RoomSummary {
        let seated = |seat: usize| {
            self.subscribers.values().any(|s| s.viewer == Viewer::Seat(seat as game_rules::Seat))
        };
        let seats = self
            .m
            .seats
            .iter()
            .enumerate()
            .map(|(seat, holder)| {
                holder.as_ref().map(|h| SeatSummary {
                    player_id: h.player_id.clone(),
                    name: h.name.clone(),
                    bot: h.bot.is_some(),
                    connected: seated(seat),
                })
            })
            .collect();
        RoomSummary {
            match_id: self.match_id.clone(),
            game: self.m.created.game.clone(),
            status: self.m.listing_status(),
            head_seq: self.durable.unwrap_or(0),
            seats,
            spectators: self.subscribers.values().filter(|s| s.viewer == Viewer::Spectator).count(),
            subscribers: self.subscribers.len(),
            appends_in_flight: self.pending.len(),
        }
    }

    pub(super) fn handle_summary(&mut self, request: RequestId) {
        let reply = Reply::Summary(Box::new(self.summary_for_admin()));
        self.outputs.push_back(Output::Reply { request, reply });
    }

    /// Disconnects every subscriber (and every join still waiting) and stops. Appends in flight
    /// still land before the room is gone (the driver waits for them), but their verdicts go
    /// to no one: the disconnected clients learn them when they rejoin, as after any lost
    /// connection.
    pub(super) fn handle_close(&mut self, request: RequestId) {
        let mut conns: Vec<ConnId> = self.subscribers.keys().copied().collect();
        conns.extend(self.deferred_joins.iter().map(|d| d.0));
        conns.sort_unstable();
        conns.dedup();
        let people =
            conns.iter().filter(|c| self.subscribers.get(c).is_none_or(|s| s.human)).count();
        for &conn in &conns {
            self.outputs.push_back(Output::Disconnect { conn });
        }
        self.subscribers.clear();
        self.deferred_joins.clear();
        let reply = Reply::Closed { disconnected: people };
        self.outputs.push_back(Output::Reply { request, reply });
        self.outputs.push_back(Output::Stop { reason: "closed by an administrator" });
    }
}
