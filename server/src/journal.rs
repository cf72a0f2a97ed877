//! The server's recent notable events (failed appends, room failures, administrators'
//! actions), kept in a small ring for the admin overview: an operator looking at a live server
//! sees what went wrong lately without reading its log. The log has them all; this keeps the
//! last [`JOURNAL_ENTRIES`].

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

use crate::app::unix_ms;

/// Entries kept; the oldest is dropped for a new one.
pub const JOURNAL_ENTRIES: usize = 50;

/// Longest message kept, in bytes: an error's text comes from below (SQLite, the OS), and the
/// ring must stay small whatever it says.
const MAX_MESSAGE_BYTES: usize = 300;

/// Something that happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// When, in Unix milliseconds.
    pub at_ms: u64,
    /// What kind of thing (`append_failed`, `room_panicked`, `room_unloadable`,
    /// `admin_close`, `admin_disconnect`).
    pub kind: &'static str,
    /// For people.
    pub message: String,
}

/// The ring of recent notes.
#[derive(Debug)]
pub struct Journal {
    notes: Mutex<VecDeque<Note>>,
    capacity: usize,
}

impl Default for Journal {
    fn default() -> Journal {
        Journal::with_capacity(JOURNAL_ENTRIES)
    }
}

impl Journal {
    /// A ring holding at most `capacity` notes (at least one).
    pub fn with_capacity(capacity: usize) -> Journal {
        let capacity = capacity.max(1);
        Journal { notes: Mutex::new(VecDeque::with_capacity(capacity)), capacity }
    }

    /// Records a note now.
    pub fn note(&self, kind: &'static str, message: impl Into<String>) {
        self.note_at(unix_ms(), kind, message.into());
    }

    fn note_at(&self, at_ms: u64, kind: &'static str, mut message: String) {
        if message.len() > MAX_MESSAGE_BYTES {
            let end = (0..=MAX_MESSAGE_BYTES).rev().find(|&i| message.is_char_boundary(i));
            message.truncate(end.unwrap_or(0));
            message.push('…');
        }
        let mut notes = self.notes.lock().unwrap_or_else(|p| p.into_inner());
        if notes.len() == self.capacity {
            notes.pop_front();
        }
        notes.push_back(Note { at_ms, kind, message });
    }

    /// The notes, newest first.
    pub fn recent(&self) -> Vec<Note> {
        let notes = self.notes.lock().unwrap_or_else(|p| p.into_inner());
        notes.iter().rev().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_notes_newest_first() {
        let journal = Journal::with_capacity(3);
        for n in 0..5u64 {
            journal.note_at(n, "append_failed", format!("failure {n}"));
        }
        let kept: Vec<(u64, String)> =
            journal.recent().into_iter().map(|n| (n.at_ms, n.message)).collect();
        let expected: Vec<(u64, String)> =
            (2..5).rev().map(|n| (n, format!("failure {n}"))).collect();
        assert_eq!(kept, expected);
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let journal = Journal::default();
        journal.note("admin_close", "é".repeat(400));
        let note = &journal.recent()[0];
        assert!(note.message.len() <= MAX_MESSAGE_BYTES + '…'.len_utf8(), "{}", note.message);
        assert!(note.message.ends_with('…') && note.message.starts_with("éé"));
        assert!(note.at_ms > 0);
    }

    #[test]
    fn an_empty_ring_lists_nothing_and_a_zero_capacity_still_keeps_one() {
        assert!(Journal::default().recent().is_empty());
        let journal = Journal::with_capacity(0);
        journal.note("admin_close", "a");
        journal.note("admin_close", "b");
        assert_eq!(journal.recent().len(), 1);
    }
}
