//! A server-side log of one small match (Dots, or light cycles), kept with the game's real
//! rules, so tests feed clients the events (and hashes) a server would send.

use game_rules::DynMatch;
use protocol::replica::{decode_value, encode_value};
use protocol::v1::{Created, Event, EventBody, MoveEvent, Seated, Tick, TickInput, Value};

pub const M: &str = "m1";

/// A log of one two-seat match between seats 0 and 1, both seated.
pub struct Log {
    pub state: Box<dyn DynMatch>,
    pub events: Vec<Event>,
}

pub fn edge(dir: &str, x: u8, y: u8) -> Value {
    let json = serde_json::json!({"dir": dir, "x": x, "y": y});
    decode_value(&rmp_serde::to_vec_named(&json).expect("encodes"))
}

/// A JSON value as the wire carries it.
pub fn value(json: serde_json::Value) -> Value {
    decode_value(&rmp_serde::to_vec_named(&json).expect("encodes"))
}

impl Log {
    /// A 2×1 Dots match.
    pub fn new() -> Log {
        Log::of("dots", serde_json::json!({"width": 2, "height": 1, "players": 2}))
    }

    /// A light cycles match on a 10×8 board at the default tick rate (20 Hz).
    pub fn cycles() -> Log {
        Log::of("lightcycles", serde_json::json!({"width": 10, "height": 8, "players": 2}))
    }

    fn of(game_id: &str, config: serde_json::Value) -> Log {
        let config = value(config);
        let game = builtin_games::games().find(game_id).expect("the game is registered");
        let state = game.new_match(&encode_value(&config), 42).expect("a valid config");
        let created =
            Created { game: game_id.into(), rules_version: 1, config, seed: 42, seats: 2 };
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

    /// A tick with `inputs` (seat, move).
    pub fn tick(&mut self, inputs: &[(u8, Value)]) -> Event {
        let encoded: Vec<(u8, Vec<u8>)> =
            inputs.iter().map(|(seat, mv)| (*seat, encode_value(mv))).collect();
        self.state.tick(&encoded).expect("a tick of a real-time game");
        let inputs = inputs.iter().map(|(seat, mv)| TickInput {
            seat: *seat,
            mv: mv.clone(),
            move_id: None,
        });
        self.push(EventBody::Tick(Tick { inputs: inputs.collect() }))
    }

    pub fn play(&mut self, seat: u8, mv: Value, move_id: u64) -> Event {
        self.state.play(seat, &encode_value(&mv)).expect("a legal move");
        self.push(EventBody::Move(MoveEvent { seat, mv: mv.into(), move_id }))
    }
}
