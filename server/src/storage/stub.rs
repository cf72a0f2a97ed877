//! A log for unit tests that holds nothing and answers every append as its function says:
//! at once with a failure (a full disk), or never (a stuck disk).

use super::{Append, AppendTicket, EventLog, ListFilter, MatchSummary, ReadError, StoredRecord};

/// An empty log whose appends are answered by `F`.
pub struct StubLog<F>(pub F);

impl<F: Fn(Append) -> AppendTicket + Send + Sync + 'static> EventLog for StubLog<F> {
    fn append(&self, append: Append) -> AppendTicket {
        (self.0)(append)
    }
    fn read(&self, _: &str, _: u64, _: usize) -> Result<Vec<StoredRecord>, ReadError> {
        Ok(Vec::new())
    }
    fn summary(&self, _: &str) -> Result<Option<MatchSummary>, ReadError> {
        Ok(None)
    }
    fn list(&self, _: &ListFilter) -> Result<Vec<MatchSummary>, ReadError> {
        Ok(Vec::new())
    }
    fn player_matches(&self, _: &str, _: usize) -> Result<Vec<MatchSummary>, ReadError> {
        Ok(Vec::new())
    }
    fn unfinished(&self) -> Result<Vec<String>, ReadError> {
        Ok(Vec::new())
    }
    fn close(&self) {}
}
