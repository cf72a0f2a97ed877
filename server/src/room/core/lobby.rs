//! Seats given up and matches ended outside the rules: a player leaving a match not yet
//! started, its creator cancelling it, a seat resigning a live one. Each is checked here,
//! written as one record, and answered once that record is durable.

use super::{Output, Reply, RequestId, Room, RoomError};
use crate::storage::Record;

/// What a player does to a match from the lobby.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LobbyAct {
    /// Give up one's seat of a match not yet started.
    Leave,
    /// End a match not yet started, as its creator.
    Cancel,
    /// End a live match, one's own seat losing.
    Resign,
}

impl Room {
    /// Checks a lobby act and, if it stands, appends its record; the request is answered with
    /// the record's seq once it is durable.
    pub(super) fn handle_lobby(&mut self, request: RequestId, player_id: &str, act: LobbyAct) {
        let record = match self.check_lobby(player_id, act) {
            Ok(record) => record,
            Err(refusal) => {
                let reply = Reply::Done(Err(refusal));
                self.outputs.push_back(Output::Reply { request, reply });
                return;
            }
        };
        let seq = self.m.head + 1;
        let body = self.m.apply(seq, &record).expect("a checked lobby record applies");
        let event = self.event(seq, body);
        let reply = (request, Reply::Done(Ok(seq)));
        self.push_append(seq, vec![record.encode()], vec![event], Vec::new(), vec![reply]);
    }

    /// The record an act writes, or why it is refused. A match has started once every seat
    /// has been taken.
    fn check_lobby(&self, player_id: &str, act: LobbyAct) -> Result<Record, RoomError> {
        if self.m.status().is_over() {
            return Err(RoomError::MatchOver);
        }
        let started = self.m.seats.iter().all(Option::is_some);
        let seat = self.m.seat_of(player_id);
        match act {
            LobbyAct::Leave => {
                let seat = seat.ok_or(RoomError::NotSeated)?;
                if started { Err(RoomError::MatchStarted) } else { Ok(Record::Left { seat }) }
            }
            LobbyAct::Cancel if self.m.lobby.creator.as_deref() != Some(player_id) => {
                Err(RoomError::NotCreator)
            }
            LobbyAct::Cancel if started => Err(RoomError::MatchStarted),
            LobbyAct::Cancel => Ok(Record::Cancelled),
            LobbyAct::Resign => {
                let seat = seat.ok_or(RoomError::NotSeated)?;
                if started { Ok(Record::Resigned { seat }) } else { Err(RoomError::NotStarted) }
            }
        }
    }
}
