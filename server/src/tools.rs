//! The log's tools behind `arbiter export`, `import` and `verify`: each works on a data dir
//! (read-only where it only reads, so a running server is no obstacle) or an export file.

use std::path::Path;

use game_rules::{Games, StateHash};

use crate::archive::{self, ArchiveError, Divergence, Export};
use crate::storage::{
    Append, AppendError, DiskLog, EventLog, ReadError, Record, StoredRecord, read_all,
};

/// Why a tool failed.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The log could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The match does not exist.
    #[error("no match {0} in this data dir")]
    UnknownMatch(String),
    /// The match already exists where it was to be imported.
    #[error("match {0} already exists here (import it under another id with --as)")]
    Exists(String),
    /// The export file is refused.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The match does not replay under the current rules.
    #[error("match {match_id} {divergence}")]
    Replay {
        /// The match.
        match_id: String,
        /// Why.
        divergence: Divergence,
    },
    /// The log refused the import or the fork.
    #[error(transparent)]
    Append(#[from] AppendError),
    /// The match cannot be forked there.
    #[error("{0}")]
    Refused(String),
}

/// The export of one match of a data dir.
pub fn export(games: &Games, data_dir: &Path, match_id: &str) -> Result<Export, ToolError> {
    let log = DiskLog::open_read_only(data_dir)?;
    let records = read_all(&log, match_id)?;
    if records.is_empty() {
        return Err(ToolError::UnknownMatch(match_id.into()));
    }
    archive::export(games, match_id, &records)
        .map_err(|e| ToolError::Replay { match_id: match_id.into(), divergence: e.into() })
}

/// Loads an export file into `log` as match `as_id` (default: its own id), after checking
/// its chain and that the current rules reproduce every state hash. Returns the match id.
pub fn import(
    games: &Games,
    log: &dyn EventLog,
    json: &[u8],
    as_id: Option<&str>,
) -> Result<String, ToolError> {
    let (export, records) = archive::check(json, games)?;
    let id = as_id.unwrap_or(&export.match_id).to_string();
    if log.summary(&id)?.is_some() || !log.read(&id, 0, 1)?.is_empty() {
        return Err(ToolError::Exists(id));
    }
    let summary = crate::replay::summarize(games, &id, &records)
        .map_err(|e| ToolError::Archive(ArchiveError::Shape(e)))?;
    let append = Append {
        match_id: id.clone(),
        first_seq: 0,
        records: records.into_iter().map(|r| r.bytes).collect(),
        summary,
    };
    log.append(append).blocking_recv().unwrap_or(Err(AppendError::Closed))?;
    Ok(id)
}

/// Forks `match_id` at event `at` into a new match of `log` (as `POST
/// /api/matches/{id}/fork` does, the server stopped): its events `0..=at`, then every seat
/// freed. Returns the new match's id.
pub fn fork(
    games: &Games,
    log: &dyn EventLog,
    match_id: &str,
    at: u64,
) -> Result<String, ToolError> {
    use crate::lobby::fork::{check_forkable, fork_creation};
    use crate::room::{Output, Room, RoomSettings};
    let stored = read_all(log, match_id)?;
    let Some(head) = stored.len().checked_sub(1) else {
        return Err(ToolError::UnknownMatch(match_id.into()));
    };
    if at > head as u64 {
        return Err(ToolError::Refused(format!("at {at} is past the head {head}")));
    }
    let decode = |s: &StoredRecord| Record::decode(s.seq, &s.bytes);
    let records: Vec<Record> = stored[..=at as usize]
        .iter()
        .map(decode)
        .collect::<Result<_, _>>()
        .map_err(|e| ToolError::Refused(e.to_string()))?;
    let origin = crate::storage::Origin { match_id: match_id.into(), seq: at };
    let refused = |e: crate::error::ApiError| ToolError::Refused(e.message);
    let created = fork_creation(&records[0], "arbiter fork", origin).map_err(refused)?;
    check_forkable(games, &created, &records[1..]).map_err(refused)?;
    let settings = RoomSettings { games: games.clone(), ..RoomSettings::default() };
    let id = crate::lobby::new_match_id();
    let mut room = Room::fork(id.clone(), created, &records[1..], settings, 0, None)
        .map_err(|e| ToolError::Refused(e.to_string()))?;
    let append = std::iter::from_fn(|| room.poll_output())
        .find_map(|o| if let Output::Append(a) = o { Some(a) } else { None })
        .ok_or_else(|| ToolError::Refused("the fork wrote nothing".into()))?;
    log.append(append).blocking_recv().unwrap_or(Err(AppendError::Closed))?;
    Ok(id)
}

/// What `verify` found for one match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The match.
    pub match_id: String,
    /// Its records.
    pub events: usize,
    /// `None` if the current rules reproduce it.
    pub divergence: Option<String>,
}

/// Replays one match's records and compares every recorded state hash.
pub fn check_match(games: &Games, match_id: &str, records: &[StoredRecord]) -> Checked {
    let divergence = recorded_hashes(records)
        .map_err(Divergence::from)
        .and_then(|recorded| {
            let now = archive::hashes(games, records)?;
            let differs = recorded.iter().find(|(i, hash)| now.get(*i) != Some(hash));
            match differs {
                Some(&(i, recorded)) => {
                    Err(Divergence::Hash { seq: records[i].seq, recorded, now: now[i] })
                }
                None => Ok(()),
            }
        })
        .err()
        .map(|d| d.to_string());
    Checked { match_id: match_id.into(), events: records.len(), divergence }
}

/// The state hashes the records hold, by index (records that hold none are left out).
fn recorded_hashes(
    records: &[StoredRecord],
) -> Result<Vec<(usize, StateHash)>, crate::replay::ReplayError> {
    let mut out = Vec::new();
    for (i, r) in records.iter().enumerate() {
        if let Record::Action { state_hash: Some(h), .. } = Record::decode(r.seq, &r.bytes)? {
            out.push((i, StateHash(h)));
        }
    }
    Ok(out)
}

/// Checks every match of a data dir, calling `progress` after each; damaged bytes of the log
/// that no match could be tied to are reported as failures too.
pub fn verify_dir(
    games: &Games,
    data_dir: &Path,
    mut progress: impl FnMut(usize, usize, &Checked),
) -> Result<Vec<Checked>, ToolError> {
    let log = DiskLog::open_read_only(data_dir)?;
    let ids = log.match_ids();
    let mut out = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let checked = match log.quarantined(id) {
            Some(why) => Checked { match_id: id.clone(), events: 0, divergence: Some(why) },
            None => match read_all(&log, id) {
                Ok(records) => check_match(games, id, &records),
                Err(e) => {
                    Checked { match_id: id.clone(), events: 0, divergence: Some(e.to_string()) }
                }
            },
        };
        progress(i + 1, ids.len(), &checked);
        out.push(checked);
    }
    // Damage no match could be tied to still fails the check: the log is not as written.
    for damage in log.damage().unattributed {
        out.push(Checked { match_id: "(log)".into(), events: 0, divergence: Some(damage) });
    }
    Ok(out)
}

/// Checks an export file: its chain, and every state hash under the current rules.
pub fn verify_file(games: &Games, json: &[u8]) -> Checked {
    match archive::check(json, games) {
        Ok((export, records)) => {
            Checked { match_id: export.match_id, events: records.len(), divergence: None }
        }
        Err(e) => Checked { match_id: "(file)".into(), events: 0, divergence: Some(e.to_string()) },
    }
}

#[cfg(test)]
mod tests {
    use game_rules::{
        ConfigError, DynGame, DynMatch, GameInfo, Mode, RuleError, Seat, SnapshotError, Status,
        Viewer,
    };

    use super::*;
    use crate::storage::MemoryLog;

    /// A 1×1 Dots match played out: created, both seats taken, every move, each action
    /// record holding its state hash as a room writes it.
    fn played() -> Vec<StoredRecord> {
        let dots = builtin().find("dots").expect("dots is built in");
        let config =
            rmp_serde::to_vec_named(&serde_json::json!({"width": 1, "height": 1, "players": 2}))
                .expect("encodes");
        let mut m = dots.new_match(&config, 7).expect("a valid config");
        let mut records = vec![
            Record::Created {
                game: "dots".into(),
                rules_version: 1,
                config: m.config(),
                seed: 7,
                seats: 2,
                created_at_ms: 1,
                lobby: Default::default(),
                timer: None,
            },
            seated(0, "p0", "Ada"),
            seated(1, "p1", "Bob"),
        ];
        while let Status::Turn(seat) = m.status() {
            let mv = m.legal_moves(seat).remove(0);
            let action = m.play(seat, &mv).expect("a legal move");
            let state_hash = Some(m.state_hash().0);
            records.push(Record::Action {
                action,
                move_id: Some(records.len() as u64),
                at_ms: None,
                state_hash,
                input_ids: Vec::new(),
            });
        }
        records
            .iter()
            .enumerate()
            .map(|(i, r)| StoredRecord { seq: i as u64, bytes: r.encode() })
            .collect()
    }

    fn seated(seat: u8, player_id: &str, name: &str) -> Record {
        let (player_id, name) = (player_id.into(), name.into());
        Record::Seated { seat, player_id, name, bot: None, at_ms: None }
    }

    /// Dots with a rule changed on purpose: from its third action on, states hash otherwise
    /// (as a changed scoring rule would make them).
    struct Changed;
    static CHANGED: Changed = Changed;

    /// The built-in games.
    fn builtin() -> Games {
        Games::new().with::<game_rules::dots::Dots>()
    }

    /// The games with Dots' rule changed.
    fn changed_rules() -> Games {
        Games::new().with_dyn(&CHANGED)
    }

    /// Dots' rules as built in.
    fn dots() -> &'static dyn DynGame {
        builtin().find("dots").expect("built in")
    }

    struct ChangedMatch(Box<dyn DynMatch>, u32);

    impl DynGame for Changed {
        fn info(&self) -> GameInfo {
            dots().info()
        }
        fn id(&self) -> &'static str {
            "dots"
        }
        fn new_match(&self, config: &[u8], seed: u64) -> Result<Box<dyn DynMatch>, ConfigError> {
            let inner = dots().new_match(config, seed)?;
            Ok(Box::new(ChangedMatch(inner, 0)))
        }
        fn restore_match(&self, _: &[u8], _: &[u8]) -> Result<Box<dyn DynMatch>, SnapshotError> {
            Err(SnapshotError::Unsupported)
        }
    }

    impl DynMatch for ChangedMatch {
        fn game_id(&self) -> &'static str {
            self.0.game_id()
        }
        fn config(&self) -> Vec<u8> {
            self.0.config()
        }
        fn seats(&self) -> u8 {
            self.0.seats()
        }
        fn mode(&self) -> Mode {
            self.0.mode()
        }
        fn is_public(&self) -> bool {
            self.0.is_public()
        }
        fn status(&self) -> Status {
            self.0.status()
        }
        fn snapshot(&self) -> Option<Vec<u8>> {
            None
        }
        fn state_hash(&self) -> StateHash {
            let h = self.0.state_hash();
            if self.1 >= 3 { StateHash(h.0 ^ 1) } else { h }
        }
        fn check_move(&self, seat: Seat, mv: &[u8]) -> Result<Vec<u8>, RuleError> {
            self.0.check_move(seat, mv)
        }
        fn play(&mut self, seat: Seat, mv: &[u8]) -> Result<Vec<u8>, RuleError> {
            self.1 += 1;
            self.0.play(seat, mv)
        }
        fn tick(&mut self, inputs: &[(Seat, Vec<u8>)]) -> Result<Vec<u8>, RuleError> {
            self.0.tick(inputs)
        }
        fn apply_action(&mut self, action: &[u8]) -> Result<(), RuleError> {
            self.1 += 1;
            self.0.apply_action(action)
        }
        fn legal_moves(&self, seat: Seat) -> Vec<Vec<u8>> {
            self.0.legal_moves(seat)
        }
        fn view(&self, viewer: Viewer) -> Vec<u8> {
            self.0.view(viewer)
        }
    }

    #[test]
    fn a_changed_rule_is_caught_at_the_first_event_it_changes() {
        let records = played();
        assert_eq!(check_match(&builtin(), "m", &records).divergence, None);
        let checked = check_match(&changed_rules(), "m", &records);
        let why = checked.divergence.expect("the change is caught");
        // Records 0–2 create and seat; actions are 3, 4, 5…: the third action is record 5.
        assert!(why.starts_with("event 5: recorded state hash"), "{why}");
        let json =
            serde_json::to_vec(&archive::export(&builtin(), "m", &records).expect("exports"))
                .expect("json");
        let file = verify_file(&changed_rules(), &json);
        assert!(file.divergence.is_some_and(|d| d.contains("event 5")));
    }

    #[test]
    fn an_export_round_trips_and_its_bytes_are_pinned() {
        let records = played();
        let export = archive::export(&builtin(), "m1", &records).expect("exports");
        expect_test::expect_file!["../../docs/examples/match-export.json"]
            .assert_eq(&serde_json::to_string_pretty(&export).expect("json"));
        let log = MemoryLog::new();
        let json = serde_json::to_vec(&export).expect("json");
        assert_eq!(import(&builtin(), &log, &json, Some("m2")).expect("imports"), "m2");
        assert_eq!(read_all(&log, "m2").expect("reads"), records);
        assert!(matches!(import(&builtin(), &log, &json, Some("m2")), Err(ToolError::Exists(_))));
        let forked = fork(&builtin(), &log, "m2", 4).expect("forks at a move");
        let copy = read_all(&log, &forked).expect("reads");
        assert_eq!(copy[1..=4], records[1..=4], "the history up to the event, as it was");
        assert_eq!(copy.len(), 7, "and both seats freed");
        assert!(matches!(fork(&builtin(), &log, "m2", 99), Err(ToolError::Refused(_))));
        let last = records.len() as u64 - 1;
        assert!(matches!(fork(&builtin(), &log, "m2", last), Err(ToolError::Refused(_))));
        let mut bad: serde_json::Value = serde_json::from_slice(&json).expect("json");
        bad["events"][1]["state_hash"] = "0000000000000000".into();
        let err = archive::check(&serde_json::to_vec(&bad).expect("json"), &builtin());
        assert_eq!(err.err(), Some(ArchiveError::Chain { seq: 1 }));
    }
}
