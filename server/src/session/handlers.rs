//! What a session does with each decoded client message: authenticate, join, move, leave,
//! ping. Replies go back through the caller; an `Err` asks it to answer and then close.

use protocol::v1::{
    ClientMsg, ErrorBody, ErrorMsg, Hello, Join, Move, ServerMsg, VERSION, Verdict, VerdictResult,
    Welcome,
};
use protocol::{DecodeError, Encoding};

use super::{CloseReason, Session};
use crate::app::{unix_s, valid_match_id};
use crate::auth::Claims;
use crate::config::Limits;
use crate::room::task::{ConnSink, RoomMsg};
use crate::room::{Client, Input, PlayerRef};

/// A direct reply, or (`Err`) a reply followed by a close.
pub(super) type Reply = Result<Option<ServerMsg>, Box<(CloseReason, ServerMsg)>>;

/// Answers with `reply`, then closes for `reason`.
fn closing(reason: CloseReason, reply: ServerMsg) -> Reply {
    Err(Box::new((reason, reply)))
}

/// The `welcome` for an authenticated connection.
pub(super) fn welcome(claims: &Claims, limits: &Limits) -> ServerMsg {
    ServerMsg::Welcome(Welcome {
        version: VERSION,
        player_id: claims.sub.clone(),
        max_frame_bytes: limits.max_frame_bytes as u32,
    })
}

/// An `error` message.
pub(super) fn error(code: &str, message: impl Into<String>, match_id: Option<String>) -> ServerMsg {
    ServerMsg::Error(ErrorMsg { code: code.into(), message: message.into(), match_id })
}

/// Decodes a client message under the configured frame limit (at most the protocol's).
pub(super) fn decode_limited(
    bytes: &[u8],
    encoding: Encoding,
    max: usize,
) -> Result<ClientMsg, DecodeError> {
    if bytes.len() > max {
        return Err(DecodeError::TooLarge { len: bytes.len(), max });
    }
    protocol::decode_client(bytes, encoding)
}

impl Session {
    /// Handles one decoded message.
    pub(super) async fn handle_client_msg(&mut self, msg: ClientMsg, encoding: Encoding) -> Reply {
        match msg {
            ClientMsg::Hello(hello) => self.handle_hello(&hello),
            ClientMsg::Ping(ping) => Ok(Some(ServerMsg::Pong(ping))),
            msg => {
                let Some(claims) = self.claims.as_ref() else {
                    self.app.metrics.count_refused("unauthenticated");
                    return Ok(Some(error(
                        "unauthenticated",
                        "send hello with a token first",
                        None,
                    )));
                };
                Ok(match msg {
                    ClientMsg::Join(join) => {
                        let claims = claims.clone();
                        self.handle_join(join, &claims, encoding).await
                    }
                    ClientMsg::Move(mv) => {
                        let player_id = claims.sub.clone();
                        self.handle_move(mv, player_id, encoding).await
                    }
                    ClientMsg::Leave(leave) => self.handle_leave(&leave.match_id).await,
                    ClientMsg::Hello(_) | ClientMsg::Ping(_) => None,
                })
            }
        }
    }

    fn handle_hello(&mut self, hello: &Hello) -> Reply {
        if self.claims.is_some() {
            // Switching identity mid-connection would leave subscriptions under the old one.
            let text = "this connection is authenticated already";
            return Ok(Some(error("already_authenticated", text, None)));
        }
        if hello.version != VERSION {
            let text = format!("this server speaks version {VERSION}");
            return closing(
                CloseReason::UnsupportedVersion,
                error("unsupported_version", text, None),
            );
        }
        match self.app.keys.verify(&hello.token, unix_s()) {
            Ok(claims) => {
                let reply = welcome(&claims, &self.app.config.limits);
                self.live.set_player(&claims.sub, &claims.name);
                self.claims = Some(claims);
                Ok(Some(reply))
            }
            Err(e) => {
                closing(CloseReason::AuthFailed(e.code()), error(e.code(), e.to_string(), None))
            }
        }
    }

    async fn handle_join(
        &mut self,
        join: Join,
        claims: &Claims,
        encoding: Encoding,
    ) -> Option<ServerMsg> {
        if !valid_match_id(&join.match_id) {
            return Some(error("unknown_match", "no such match", Some(join.match_id)));
        }
        if !self.joined.contains_key(&join.match_id)
            && self.joined.len() >= self.app.config.limits.joins_per_conn
        {
            let text = "leave a match before joining another";
            return Some(error("too_many_joins", text, Some(join.match_id)));
        }
        // A catch-up is one outbox entry however long: a client that asks for more while it
        // has not read what it was sent could make us hold many histories for it.
        if self.outbox.capacity() < self.outbox.max_capacity() / 2 {
            let text = "read what you were sent before joining again";
            return Some(error("slow_down", text, Some(join.match_id)));
        }
        self.joins += 1;
        let generation = self.joins;
        self.joined.insert(join.match_id.clone(), generation);
        let player = PlayerRef { player_id: claims.sub.clone(), name: claims.name.clone() };
        let input =
            Input::Join { conn: self.conn, player, role: join.role, from_seq: join.from_seq };
        let sink = self.sink(encoding, generation);
        let refused = self.to_room(&join.match_id, RoomMsg::Join { input, sink }).await;
        if refused.is_some() && self.joined.get(&join.match_id) == Some(&generation) {
            // The room never got the join: no room will detach it, so forget it here.
            self.joined.remove(&join.match_id);
        }
        self.live.set_matches(self.joined.keys());
        refused
    }

    async fn handle_move(
        &mut self,
        mv: Move,
        player_id: String,
        encoding: Encoding,
    ) -> Option<ServerMsg> {
        if !self.joined.contains_key(&mv.match_id) {
            // Every move gets a verdict, wherever it is refused.
            let body = ErrorBody {
                code: "not_joined".into(),
                message: "join the match before moving".into(),
            };
            let verdict = Verdict {
                match_id: mv.match_id,
                move_id: mv.move_id,
                result: VerdictResult::Rejected(body),
            };
            return Some(ServerMsg::Verdict(verdict));
        }
        let input = Input::Move {
            from: Client::Conn(self.conn),
            player_id,
            move_id: mv.move_id,
            mv: mv.mv.into_bytes(),
        };
        let sink = self.sink(encoding, 0);
        self.to_room(&mv.match_id, RoomMsg::Move { input, sink }).await
    }

    async fn handle_leave(&mut self, match_id: &str) -> Option<ServerMsg> {
        self.joined.remove(match_id)?;
        self.live.set_matches(self.joined.keys());
        // A room that is not loaded holds no subscription of ours: no need to load it.
        let leave = RoomMsg::Input(Input::Leave { conn: self.conn });
        self.app.rooms.send_if_loaded(match_id, leave).await;
        None
    }

    fn sink(&self, encoding: Encoding, generation: u64) -> ConnSink {
        ConnSink { outbox: self.outbox.clone(), encoding, kick: self.kick.clone(), generation }
    }

    async fn to_room(&self, match_id: &str, msg: RoomMsg) -> Option<ServerMsg> {
        match self.app.rooms.send(match_id, msg).await {
            Ok(()) => None,
            Err(e) => Some(error(e.code(), e.to_string(), Some(match_id.to_string()))),
        }
    }

    /// Tells every loaded room followed that this connection is gone. A room that is not
    /// loaded is not loaded for it: it would hold no subscription of ours (a room closed by an
    /// administrator, which disconnected us, stays closed).
    pub(super) async fn leave_all(&mut self) {
        for match_id in std::mem::take(&mut self.joined).into_keys() {
            let leave = RoomMsg::Input(Input::Leave { conn: self.conn });
            self.app.rooms.send_if_loaded(&match_id, leave).await;
        }
        self.live.set_matches(self.joined.keys());
    }
}
