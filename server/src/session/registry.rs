//! The live sessions by connection id: what the admin overview lists, and where an
//! administrator's disconnect finds a session's kick. An entry lives exactly as long as its
//! session (a guard removes it however the session ends), so the registry never holds more
//! entries than there are connection places (`--max-connections`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::CloseReason;
use crate::app::unix_ms;
use crate::room::ConnId;
use crate::room::task::Kick;

type Map = BTreeMap<ConnId, Arc<LiveSession>>;

/// Every live session.
#[derive(Default)]
pub struct Sessions {
    map: Arc<Mutex<Map>>,
}

/// One live session, as the registry holds it.
struct LiveSession {
    transport: &'static str,
    peer: SocketAddr,
    opened_at_ms: u64,
    kick: Arc<Kick>,
    /// What changes while it runs: who it is and what it follows.
    detail: Mutex<Detail>,
}

#[derive(Default, Clone)]
struct Detail {
    player: Option<(String, String)>,
    matches: Vec<String>,
}

/// A session, as the admin overview lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionInfo {
    /// Its connection id.
    pub conn: ConnId,
    /// `ws` or `quic`.
    pub transport: &'static str,
    /// The client's address.
    pub peer: String,
    /// When it opened, in Unix milliseconds.
    pub opened_at_ms: u64,
    /// The authenticated player's id (`None` before `hello`).
    pub player_id: Option<String>,
    /// Their name.
    pub name: Option<String>,
    /// The matches it follows, by id.
    pub matches: Vec<String>,
}

/// A session's entry, removed when this is dropped; the session updates it through this.
pub struct Registered {
    map: Arc<Mutex<Map>>,
    conn: ConnId,
    entry: Arc<LiveSession>,
}

fn lock(map: &Mutex<Map>) -> std::sync::MutexGuard<'_, Map> {
    map.lock().unwrap_or_else(|p| p.into_inner())
}

impl Sessions {
    /// Adds a session; it stays listed until the returned guard is dropped.
    pub fn register(
        &self,
        conn: ConnId,
        transport: &'static str,
        peer: SocketAddr,
        kick: Arc<Kick>,
    ) -> Registered {
        let entry = Arc::new(LiveSession {
            transport,
            peer,
            opened_at_ms: unix_ms(),
            kick,
            detail: Mutex::default(),
        });
        lock(&self.map).insert(conn, entry.clone());
        Registered { map: self.map.clone(), conn, entry }
    }

    /// Live sessions in all.
    pub fn len(&self) -> usize {
        lock(&self.map).len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first `limit` sessions by connection id.
    pub fn list(&self, limit: usize) -> Vec<SessionInfo> {
        let entries: Vec<(ConnId, Arc<LiveSession>)> =
            lock(&self.map).iter().take(limit).map(|(c, e)| (*c, e.clone())).collect();
        entries.into_iter().map(|(conn, e)| e.info(conn)).collect()
    }

    /// Asks a session to close with `reason`; returns it as it was listed, or `None` if no
    /// session has that id.
    pub fn disconnect(&self, conn: ConnId, reason: CloseReason) -> Option<SessionInfo> {
        let entry = lock(&self.map).get(&conn).cloned()?;
        entry.kick.close(reason);
        Some(entry.info(conn))
    }
}

impl LiveSession {
    fn info(&self, conn: ConnId) -> SessionInfo {
        let detail = self.detail.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let (player_id, name) = detail.player.unzip();
        SessionInfo {
            conn,
            transport: self.transport,
            peer: self.peer.to_string(),
            opened_at_ms: self.opened_at_ms,
            player_id,
            name,
            matches: detail.matches,
        }
    }
}

impl Registered {
    fn update(&self, change: impl FnOnce(&mut Detail)) {
        change(&mut self.entry.detail.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// The session authenticated as this player.
    pub fn set_player(&self, player_id: &str, name: &str) {
        self.update(|d| d.player = Some((player_id.to_string(), name.to_string())));
    }

    /// The session follows these matches now.
    pub fn set_matches<'a>(&self, matches: impl Iterator<Item = &'a String>) {
        let mut matches: Vec<String> = matches.cloned().collect();
        matches.sort_unstable();
        self.update(|d| d.matches = matches);
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut map = lock(&self.map);
        // Only its own entry: connection ids are never reused, but be exact anyway.
        if map.get(&self.conn).is_some_and(|e| Arc::ptr_eq(e, &self.entry)) {
            map.remove(&self.conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 4000))
    }

    #[test]
    fn a_session_is_listed_while_it_lives_and_can_be_told_to_close() {
        let sessions = Sessions::default();
        let kick = Arc::new(Kick::default());
        let live = sessions.register(7, "ws", peer(), kick.clone());
        let _other = sessions.register(9, "quic", peer(), Arc::default());
        live.set_player("p1", "ada");
        live.set_matches([String::from("m2"), String::from("m1")].iter());
        let listed = sessions.list(1);
        let expected = SessionInfo {
            conn: 7,
            transport: "ws",
            peer: "127.0.0.1:4000".into(),
            opened_at_ms: listed[0].opened_at_ms,
            player_id: Some("p1".into()),
            name: Some("ada".into()),
            matches: vec!["m1".into(), "m2".into()],
        };
        assert_eq!(listed, vec![expected]);
        let told = sessions.disconnect(7, CloseReason::Admin).map(|s| s.conn);
        assert_eq!(told, Some(7));
        assert_eq!(kick.reason(), Some(&CloseReason::Admin));
        assert!(sessions.disconnect(8, CloseReason::Admin).is_none(), "no such session");
        drop(live);
        assert_eq!(sessions.list(10).iter().map(|s| s.conn).collect::<Vec<_>>(), vec![9]);
        assert!(sessions.disconnect(7, CloseReason::Admin).is_none(), "gone with its session");
    }
}
