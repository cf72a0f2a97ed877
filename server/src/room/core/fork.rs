//! A fork: a new match whose log starts with the history of another, up to an event, and then
//! frees every seat, so new players can take the position from there.

use game_rules::Seat;
use protocol::v1::EventBody;

use super::{Reply, RequestId, Room, RoomSettings};
use crate::replay::{MatchState, ReplayError};
use crate::storage::Record;

impl Room {
    /// A new match from its creation record and `history`, the records after another match's
    /// creation up to the fork's event, all queued as one append with a `Left` record for
    /// every seat held at that point. The request is answered once the append is durable.
    pub fn fork(
        match_id: String,
        created: Record,
        history: &[Record],
        settings: RoomSettings,
        now_ms: u64,
        request: Option<RequestId>,
    ) -> Result<Room, ReplayError> {
        let m = MatchState::create(&settings.games, &created)?;
        let mut room = Room::new(match_id, m, None, settings, now_ms);
        room.set_wall_base(room.m.created_at_ms.saturating_sub(now_ms));
        let mut events = vec![room.event(0, EventBody::Created(room.m.created.clone()))];
        let mut records = vec![created.encode()];
        let mut append = |room: &mut Room, record: &Record| -> Result<(), ReplayError> {
            let seq = room.m.head + 1;
            let body = room.m.apply(seq, record)?;
            events.push(room.event(seq, body));
            records.push(record.encode());
            Ok(())
        };
        for record in history {
            append(&mut room, record)?;
        }
        let held: Vec<Seat> = (0..room.m.seats.len() as Seat)
            .filter(|s| room.m.seats[usize::from(*s)].is_some())
            .collect();
        for seat in held {
            append(&mut room, &Record::Left { seat })?;
        }
        let replies = request.map(|r| (r, Reply::Created(Ok(())))).into_iter().collect();
        room.push_append(0, records, events, Vec::new(), replies);
        Ok(room)
    }
}
