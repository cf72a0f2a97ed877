//! Joining a match: subscriptions as player or spectator, catch-up from a cursor (the history
//! in memory, older events backfilled from the log) or a snapshot of the state, and joins
//! deferred while appends are in flight.

use super::*;

impl Room {
    pub(super) fn handle_join(
        &mut self,
        conn: ConnId,
        player: PlayerRef,
        role: Role,
        from_seq: Option<u64>,
    ) {
        let seat = self.m.seat_of(&player.player_id);
        if role == Role::Player && seat.is_none() {
            self.refuse_join(conn, &JoinRefusal::NotSeated);
            return;
        }
        let max = self.settings.max_subscribers;
        if role == Role::Spectator
            && !self.subscribers.contains_key(&conn)
            && self.subscribers.len() >= max
        {
            self.refuse_join(conn, &JoinRefusal::TooManySubscribers { max });
            return;
        }
        let seat_in_flight =
            seat.is_some_and(|s| self.pending.iter().any(|p| p.seated.contains(&s)));
        let Some(head) = self.durable.filter(|_| !seat_in_flight) else {
            // The creation or this player's seat is still in flight: answer once it is durable.
            self.deferred_joins.push((conn, player, role, from_seq));
            return;
        };
        let viewer = match (role, seat) {
            (Role::Player, Some(seat)) => Viewer::Seat(seat),
            _ => Viewer::Spectator,
        };
        let joined = Joined {
            match_id: self.match_id.clone(),
            game: self.m.created.game.clone(),
            role,
            seat: if role == Role::Player { seat } else { None },
            head_seq: head,
        };
        // Hidden-information games cannot replay history to a viewer without leaking it, so
        // they always catch up by snapshot.
        let from_seq = from_seq.filter(|_| self.m.state.is_public());
        match from_seq {
            Some(from) if from <= head + 1 => {
                self.outputs.push_back(Output::Send { conn, msg: ServerMsg::Joined(joined) });
                self.subscribe(conn, viewer, &player.player_id);
                self.catch_up(conn, from, head);
                return;
            }
            Some(from) => {
                self.refuse_join(conn, &JoinRefusal::BadCursor { from, head });
                return;
            }
            None if !self.pending.is_empty() => {
                self.deferred_joins.push((conn, player, role, None));
                return;
            }
            None => {
                self.outputs.push_back(Output::Send { conn, msg: ServerMsg::Joined(joined) });
                self.send_snapshot(conn, viewer, head);
            }
        }
        self.subscribe(conn, viewer, &player.player_id);
        let caught_up = CaughtUp { match_id: self.match_id.clone(), seq: head };
        self.outputs.push_back(Output::Send { conn, msg: ServerMsg::CaughtUp(caught_up) });
    }

    /// Sends `from..=head` and `caught_up`: what is older than the history from the log, the
    /// rest from memory as one batch (one outbox slot, however long the catch-up).
    pub(super) fn catch_up(&mut self, conn: ConnId, from: u64, head: u64) {
        let oldest = self.history.front().map_or(head + 1, |e| e.seq);
        if from < oldest {
            self.outputs.push_back(Output::Backfill { conn, from_seq: from, to_seq: oldest - 1 });
        }
        let mut msgs: Vec<ServerMsg> = self
            .history
            .iter()
            .filter(|e| e.seq >= from)
            .map(|e| ServerMsg::Event(e.clone()))
            .collect();
        msgs.push(ServerMsg::CaughtUp(CaughtUp { match_id: self.match_id.clone(), seq: head }));
        self.outputs.push_back(Output::SendBatch { conn, msgs });
    }

    /// Whether a person is connected.
    pub(super) fn watched(&self) -> bool {
        self.subscribers.values().any(|s| s.human)
    }

    /// Subscribes a connection; the first person to arrive restarts the game clock, which does
    /// not run while nobody watches.
    pub(super) fn subscribe(&mut self, conn: ConnId, viewer: Viewer, player_id: &str) {
        let bot =
            self.m.seats.iter().flatten().any(|h| h.player_id == player_id && h.bot.is_some());
        if !bot && !self.watched() {
            self.restart_clock();
        }
        self.subscribers.insert(conn, Subscriber { viewer, human: !bot });
    }

    /// Refuses a join: the error, then detach (the session must not count it as joined).
    pub(super) fn refuse_join(&mut self, conn: ConnId, refusal: &JoinRefusal) {
        self.send_error(conn, refusal.code(), &refusal.to_string());
        self.subscribers.remove(&conn);
        self.outputs.push_back(Output::Detach { conn });
    }

    pub(super) fn send_snapshot(&mut self, conn: ConnId, viewer: Viewer, seq: u64) {
        let snapshot = Snapshot {
            match_id: self.match_id.clone(),
            seq,
            state_hash: self.m.hash_for(viewer),
            status: self.m.status(),
            view: crate::replay::to_value(&self.m.state.view(viewer)),
            created: self.m.created.clone(),
        };
        self.outputs.push_back(Output::Send { conn, msg: ServerMsg::Snapshot(snapshot) });
    }

    pub(super) fn serve_deferred_joins(&mut self) {
        if !self.pending.is_empty() {
            return;
        }
        for (conn, player, role, from_seq) in std::mem::take(&mut self.deferred_joins) {
            self.handle_join(conn, player, role, from_seq);
        }
    }
}
