//! State snapshots: every `snapshot_every` events the room hands the driver a snapshot of its
//! durable state, which the log keeps as a projection. A room loaded from a snapshot counts
//! from it; one loaded by replaying a long log snapshots at once, so the next load is short.

use super::{Output, Room};

impl Room {
    /// Records that the room was rebuilt from the snapshot at `seq` (0: from the creation),
    /// and snapshots now if the replay since then was long.
    pub fn resumed_from(&mut self, seq: u64) {
        self.snapshot_seq = seq;
        self.snapshot_if_due();
    }

    /// Hands out a snapshot when `snapshot_every` events have become durable since the last
    /// one, and only while nothing is pending: then the in-memory state is the durable one.
    pub(super) fn snapshot_if_due(&mut self) {
        let every = self.settings.snapshot_every;
        let due = every > 0 && self.m.head >= self.snapshot_seq.saturating_add(every);
        if !due || self.poisoned || !self.pending.is_empty() {
            return;
        }
        if let Some(snapshot) = self.m.snapshot(&self.match_id) {
            self.snapshot_seq = snapshot.seq;
            self.outputs.push_back(Output::Snapshot(snapshot));
        }
    }
}
