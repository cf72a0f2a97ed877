//! Moves: a turn-based move applied at once, a real-time one gathered for the next tick, and
//! the verdicts: every `(seat, move_id)` gets one, remembered (accepted ones for the match's
//! life, rejections up to `verdict_cap` per seat) so a retry gets the original.

use super::*;

impl Room {
    pub(super) fn handle_move(
        &mut self,
        from: Client,
        player_id: &str,
        move_id: MoveId,
        mv: &[u8],
    ) {
        let Some(seat) = self.m.seat_of(player_id) else {
            let body = ErrorBody {
                code: "not_seated".into(),
                message: "you hold no seat in this match".into(),
            };
            self.decide(from, move_id, VerdictResult::Rejected(body));
            return;
        };
        if let Client::Conn(conn) = from
            && self.subscribers.get(&conn).is_some_and(|s| s.viewer == Viewer::Spectator)
        {
            let body = ErrorBody {
                code: "spectator".into(),
                message: "spectators cannot move; join as player".into(),
            };
            self.decide(from, move_id, VerdictResult::Rejected(body));
            return;
        }
        if let Some(verdict) = self.verdict_of(seat, move_id) {
            self.send_verdict(from, move_id, verdict);
            return;
        }
        if let Some(pending) = self
            .pending
            .iter_mut()
            .find(|p| p.verdicts.iter().any(|v| (v.1, v.2) == (seat, move_id)))
        {
            let seq =
                pending.verdicts.iter().find(|v| (v.1, v.2) == (seat, move_id)).map_or(0, |v| v.3);
            pending.verdicts.push((from, seat, move_id, seq));
            return;
        }
        if self.m.seats.iter().any(Option::is_none) {
            let body = ErrorBody {
                code: "waiting_for_players".into(),
                message: "the match starts when every seat is taken".into(),
            };
            self.decide(from, move_id, VerdictResult::Rejected(body));
            return;
        }
        if self.m.ended.is_some() {
            // Resigned or cancelled: over, though the rules' own state is not.
            let over = game_rules::RuleError::MatchOver;
            return self.reject(from, seat, move_id, over.code(), over.to_string());
        }
        match self.m.state.mode() {
            Mode::Turns => self.play_turn(from, seat, move_id, mv),
            Mode::RealTime { .. } => match self.m.state.check_move(seat, mv) {
                Ok(canonical) => self.gather(from, seat, move_id, canonical),
                Err(e) => self.reject(from, seat, move_id, e.code(), e.to_string()),
            },
        }
    }

    pub(super) fn play_turn(&mut self, from: Client, seat: Seat, move_id: MoveId, mv: &[u8]) {
        let action = match self.m.state.play(seat, mv) {
            Ok(action) => action,
            Err(e) => return self.reject(from, seat, move_id, e.code(), e.to_string()),
        };
        let seq = self.m.head + 1;
        self.m.head = seq;
        self.clock_since_ms = self.now_ms;
        let at_ms = self.wall_ms();
        self.m.note_time(at_ms, Some(seat));
        let body = crate::replay::wire_action(&action, Some(move_id), &[]);
        let event = self.event(seq, body);
        let state_hash = self.recorded_hash(&event);
        let at_ms = Some(at_ms);
        let input_ids = Vec::new();
        let record =
            Record::Action { action, move_id: Some(move_id), at_ms, state_hash, input_ids };
        self.push_append(
            seq,
            vec![record.encode()],
            vec![event],
            vec![(from, seat, move_id, seq)],
            Vec::new(),
        );
    }

    pub(super) fn reject(
        &mut self,
        from: Client,
        seat: Seat,
        move_id: MoveId,
        code: &str,
        message: String,
    ) {
        let verdict = VerdictResult::Rejected(ErrorBody { code: code.into(), message });
        self.remember(seat, move_id, verdict.clone());
        self.decide(from, move_id, verdict);
    }

    /// The verdict a move id already got, if it is remembered.
    pub(super) fn verdict_of(&self, seat: Seat, move_id: MoveId) -> Option<VerdictResult> {
        if let Some(&seq) = self.accepted.get(&(seat, move_id)) {
            return Some(VerdictResult::Accepted { seq });
        }
        let refusals = self.rejected.get(&seat)?;
        refusals.iter().find(|(id, _)| *id == move_id).map(|(_, verdict)| verdict.clone())
    }

    /// Remembers a verdict for retries; false if this move id already had one.
    pub(super) fn remember(&mut self, seat: Seat, move_id: MoveId, verdict: VerdictResult) -> bool {
        if self.verdict_of(seat, move_id).is_some() {
            return false;
        }
        match verdict {
            VerdictResult::Accepted { seq } => {
                self.accepted.insert((seat, move_id), seq);
            }
            rejection => {
                let refusals = self.rejected.entry(seat).or_default();
                refusals.push_back((move_id, rejection));
                if refusals.len() > self.settings.verdict_cap {
                    refusals.pop_front();
                }
            }
        }
        true
    }

    /// Sends a verdict reached just now, and says it was reached (for counting).
    pub(super) fn decide(&mut self, to: Client, move_id: MoveId, result: VerdictResult) {
        let counted = match &result {
            VerdictResult::Accepted { .. } => Cow::Borrowed("accepted"),
            VerdictResult::Rejected(body) => Cow::Owned(body.code.clone()),
        };
        self.outputs.push_back(Output::Decided { result: counted });
        self.send_verdict(to, move_id, result);
    }

    pub(super) fn send_verdict(&mut self, to: Client, move_id: MoveId, result: VerdictResult) {
        match to {
            Client::Conn(conn) => {
                let verdict =
                    protocol::v1::Verdict { match_id: self.match_id.clone(), move_id, result };
                self.outputs.push_back(Output::Send { conn, msg: ServerMsg::Verdict(verdict) });
            }
            Client::Request(request) => {
                self.outputs.push_back(Output::Reply { request, reply: Reply::Verdict(result) })
            }
        }
    }
}
