//! The disk format of one log record (version 1): MessagePack with named fields, defined here
//! and nowhere else. A record says what happened; state hashes are recomputed on replay.

use serde::{Deserialize, Serialize};

/// One record of a match's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    /// Record 0: everything needed to replay the match.
    Created {
        /// The game's id.
        game: String,
        /// The rules version the match was created under.
        rules_version: u32,
        /// The game's config, canonical MessagePack.
        #[serde(with = "serde_bytes")]
        config: Vec<u8>,
        /// The seed of the initial state.
        seed: u64,
        /// Number of seats.
        seats: u8,
        /// Unix milliseconds at creation (display only; replay ignores it).
        created_at_ms: u64,
        /// Lobby terms that no rule reads: who created the match and, for a private one, its
        /// join code. Absent in older records.
        #[serde(default, skip_serializing_if = "Lobby::is_default")]
        lobby: Lobby,
        /// This match's turn timer, over the server's `--turn-timeout-ms`. Absent in older
        /// records.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timer: Option<TurnTimer>,
    },
    /// A player took a seat.
    Seated {
        /// The seat.
        seat: u8,
        /// The player's id.
        player_id: String,
        /// Their display name.
        name: String,
        /// Set when the seat is a server-side bot (so a restart resumes it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bot: Option<super::BotSpec>,
        /// Unix ms when it was decided: a match timer's clock reads it, no rule does.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_ms: Option<u64>,
    },
    /// A rules action (a move or a tick), as `game_rules::Action` MessagePack.
    Action {
        /// The encoded action.
        #[serde(with = "serde_bytes")]
        action: Vec<u8>,
        /// The client's move id, for moves.
        move_id: Option<u64>,
        /// Unix ms when it was decided: a match timer's clock reads it, no rule does.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_ms: Option<u64>,
        /// The rules state's hash once the action is applied (`game_rules::StateHash`), so
        /// `arbiter verify` can tell whether the current rules still reproduce the match. Absent
        /// in records of older releases.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state_hash: Option<u64>,
        /// For a tick, the move id of each input, in the inputs' order, so a retried input
        /// gets its verdict after any reload. Absent in records of older releases.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        input_ids: Vec<u64>,
    },
    /// A seat ran out of time under a match timer whose policy is `forfeit`: the match is
    /// over, every other seat winning.
    Forfeited {
        /// The seat.
        seat: u8,
        /// Unix ms when it was decided.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_ms: Option<u64>,
    },
    /// A player gave up a seat of a match not yet started; the seat is free again.
    Left {
        /// The seat.
        seat: u8,
    },
    /// A seat resigned a live match: it is over, every other seat winning.
    Resigned {
        /// The seat.
        seat: u8,
    },
    /// The creator cancelled a match not yet started: it is over, nobody winning.
    Cancelled,
}

/// What the lobby records about a match at its creation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lobby {
    /// The player who created it (`None`: the server, for a quick match).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,
    /// A private match's join code; `None`: a public match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// For a fork: the match and event it was forked from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// Where a fork comes from: its history is the events `0..=seq` of `match_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Origin {
    /// The match forked.
    pub match_id: String,
    /// The last event of it that the fork holds.
    pub seq: u64,
}

impl Lobby {
    fn is_default(&self) -> bool {
        *self == Lobby::default()
    }
}

/// A match's own turn timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TurnTimer {
    /// Time for one turn, in ms.
    pub move_ms: u64,
    /// Time for all of a seat's turns together, in ms (`None`: no total clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_ms: Option<u64>,
    /// What happens when a seat's time runs out.
    #[serde(default)]
    pub on_expiry: Expiry,
}

/// What a match timer does when a seat's time runs out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Expiry {
    /// The turn passes (an empty tick is logged).
    #[default]
    Pass,
    /// The seat forfeits the match (a `forfeited` event is logged).
    Forfeit,
}

/// A stored record that does not decode: the database is corrupt or from a newer release.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {seq} does not decode: {reason}")]
pub struct RecordError {
    /// Its sequence number.
    pub seq: u64,
    /// The decoder's complaint.
    pub reason: String,
}

impl Record {
    /// When the room decided it (Unix ms), for the records that say.
    pub fn at_ms(&self) -> Option<u64> {
        match self {
            Record::Seated { at_ms, .. }
            | Record::Action { at_ms, .. }
            | Record::Forfeited { at_ms, .. } => *at_ms,
            _ => None,
        }
    }

    /// Encodes the record.
    pub fn encode(&self) -> Vec<u8> {
        // A move's record fits: the buffer is not regrown field by field.
        let mut out = Vec::with_capacity(128);
        rmp_serde::encode::write_named(&mut out, self).expect("records always encode");
        out
    }

    /// Decodes the record stored at `seq`.
    pub fn decode(seq: u64, bytes: &[u8]) -> Result<Record, RecordError> {
        rmp_serde::from_slice(bytes).map_err(|e| RecordError { seq, reason: e.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    /// The disk format is a schema: these bytes are what databases in the field hold.
    #[test]
    fn golden_record_bytes() {
        let records = [
            Record::Created {
                game: "dots".into(),
                rules_version: 1,
                config: vec![0x80],
                seed: 7,
                seats: 2,
                created_at_ms: 1000,
                lobby: Lobby::default(),
                timer: None,
            },
            Record::Created {
                game: "dots".into(),
                rules_version: 1,
                config: vec![0x80],
                seed: 7,
                seats: 2,
                created_at_ms: 1000,
                lobby: Lobby {
                    creator: Some("p1".into()),
                    code: Some("K7Q2MX".into()),
                    origin: Some(Origin { match_id: "m0".into(), seq: 4 }),
                },
                timer: Some(TurnTimer {
                    move_ms: 30_000,
                    total_ms: Some(600_000),
                    on_expiry: Expiry::Forfeit,
                }),
            },
            Record::Seated {
                seat: 1,
                player_id: "p1".into(),
                name: "Ada".into(),
                bot: None,
                at_ms: None,
            },
            Record::Action {
                action: vec![0xc0],
                move_id: Some(9),
                at_ms: None,
                state_hash: None,
                input_ids: Vec::new(),
            },
            Record::Action {
                action: vec![0xc0],
                move_id: None,
                at_ms: Some(1500),
                state_hash: Some(0xfeed),
                input_ids: vec![4, 5],
            },
            Record::Forfeited { seat: 1, at_ms: Some(2000) },
            Record::Left { seat: 1 },
            Record::Resigned { seat: 0 },
            Record::Cancelled,
        ];
        let hex: Vec<String> = records
            .iter()
            .map(|r| r.encode().iter().map(|b| format!("{b:02x}")).collect())
            .collect();
        expect![[r#"
            81a76372656174656486a467616d65a4646f7473ad72756c65735f76657273696f6e01a6636f6e666967c40180a47365656407a5736561747302ad637265617465645f61745f6d73cd03e8
            81a76372656174656488a467616d65a4646f7473ad72756c65735f76657273696f6e01a6636f6e666967c40180a47365656407a5736561747302ad637265617465645f61745f6d73cd03e8a56c6f62627983a763726561746f72a27031a4636f6465a64b3751324d58a66f726967696e82a86d617463685f6964a26d30a373657104a574696d657283a76d6f76655f6d73cd7530a8746f74616c5f6d73ce000927c0a96f6e5f657870697279a7666f7266656974
            81a673656174656483a47365617401a9706c617965725f6964a27031a46e616d65a3416461
            81a6616374696f6e82a6616374696f6ec401c0a76d6f76655f696409
            81a6616374696f6e85a6616374696f6ec401c0a76d6f76655f6964c0a561745f6d73cd05dcaa73746174655f68617368cdfeeda9696e7075745f696473920405
            81a9666f7266656974656482a47365617401a561745f6d73cd07d0
            81a46c65667481a47365617401
            81a872657369676e656481a47365617400
            a963616e63656c6c6564"#]].assert_eq(&hex.join("\n"));
        for (seq, record) in records.iter().enumerate() {
            assert_eq!(Record::decode(seq as u64, &record.encode()).as_ref(), Ok(record));
        }
        assert!(Record::decode(3, &[0xc1]).is_err());
    }
}
