//! A server-side log of one small Dots match, kept with the game's real rules, so tests feed
//! clients the events (and hashes) a server would send.

use game_rules::DynMatch;
use protocol::replica::{decode_value, encode_value};
use protocol::v1::{Created, Event, EventBody, MoveEvent, Seated, Value};

pub const M: &str = "m1";

/// A log of one 2×1 Dots match between seats 0 and 1, both seated.
pub struct Log {
    pub state: Box<dyn DynMatch>,
    pub events: Vec<Event>,
}

pub fn edge(dir: &str, x: u8, y: u8) -> Value {
    let json = serde_json::json!({"dir": dir, "x": x, "y": y});
    decode_value(&rmp_serde::to_vec_named(&json).expect("encodes"))
}

impl Log {
    pub fn new() -> Log {
        let config = serde_json::json!({"width": 2, "height": 1, "players": 2});
        let config = decode_value(&rmp_serde::to_vec_named(&config).expect("encodes"));
        let game = builtin_games::games().find("dots").expect("dots is registered");
        let state = game.new_match(&encode_value(&config), 42).expect("a valid config");
        let created = Created { game: "dots".into(), rules_version: 1, config, seed: 42, seats: 2 };
        let mut log = Log { state, events: Vec::new() };
        log.push(EventBody::Created(created));
        for seat in 0..2 {
            let name = format!("p{seat}");
            log.push(EventBody::Seated(Seated { seat, player_id: name.clone(), name }));
        }
        log
    }

    pub fn push(&mut self, body: EventBody) -> Event {
        let event = Event {
            match_id: M.into(),
            seq: self.events.len() as u64,
            state_hash: self.state.state_hash(),
            status: self.state.status(),
            body: Some(body),
            view: None,
        };
        self.events.push(event.clone());
        event
    }

    pub fn play(&mut self, seat: u8, mv: Value, move_id: u64) -> Event {
        self.state.play(seat, &encode_value(&mv)).expect("a legal move");
        self.push(EventBody::Move(MoveEvent { seat, mv, move_id }))
    }
}
