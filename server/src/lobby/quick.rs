//! The quick-match queue: players waiting for a match, grouped by game and canonical config.
//! A group that fills a match's seats leaves the queue whole, under one lock, so no player is
//! taken into two matches and no match gets more players than seats. It holds at most `max`
//! waiting players; past that a request is refused at once. No clock and no IO: the handler
//! decides when to wait, fill with bots, or give up.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::oneshot;

use crate::error::ApiError;
use crate::http::SeatTaken;
use crate::room::PlayerRef;

/// What players are grouped by: the game's id and its config's canonical bytes.
pub type PoolKey = (String, Vec<u8>);

/// Where a waiting player hears its seat (or why it got none).
pub type Answer = oneshot::Sender<Result<SeatTaken, ApiError>>;

/// A waiting player.
#[derive(Debug)]
pub struct Waiter {
    /// Its place in the queue.
    pub ticket: u64,
    /// Who.
    pub player: PlayerRef,
    /// Where to answer it.
    pub answer: Answer,
}

/// Why a player cannot wait.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuickError {
    /// The player waits already (from another request).
    #[error("you are already waiting for a quick match")]
    AlreadyQueued,
    /// The queue holds its maximum (`--quickmatch-queue`).
    #[error("{max} players are waiting for a quick match already; retry later")]
    Full {
        /// The cap.
        max: usize,
    },
}

impl QuickError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            QuickError::AlreadyQueued => "already_queued",
            QuickError::Full { .. } => "quickmatch_full",
        }
    }
}

#[derive(Default)]
struct Inner {
    pools: HashMap<PoolKey, Vec<Waiter>>,
    /// Each waiting ticket's pool.
    tickets: HashMap<u64, PoolKey>,
    next_ticket: u64,
}

/// The queue of every game and config.
pub struct QuickPool {
    inner: Mutex<Inner>,
    max: usize,
}

impl QuickPool {
    /// An empty queue holding at most `max` waiting players.
    pub fn new(max: usize) -> QuickPool {
        QuickPool { inner: Mutex::default(), max }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a player for a match of `seats` seats. Returns its ticket, and the whole group
    /// (in arrival order, this player last) when this player completes one.
    pub fn join(
        &self,
        key: PoolKey,
        player: PlayerRef,
        seats: u8,
        answer: Answer,
    ) -> Result<(u64, Option<Vec<Waiter>>), QuickError> {
        let mut inner = self.lock();
        let queued = inner.pools.values().flatten().any(|w| w.player.player_id == player.player_id);
        if queued {
            return Err(QuickError::AlreadyQueued);
        }
        if inner.tickets.len() >= self.max {
            return Err(QuickError::Full { max: self.max });
        }
        let ticket = inner.next_ticket;
        inner.next_ticket += 1;
        inner.tickets.insert(ticket, key.clone());
        let pool = inner.pools.entry(key.clone()).or_default();
        pool.push(Waiter { ticket, player, answer });
        if pool.len() < usize::from(seats) {
            return Ok((ticket, None));
        }
        Ok((ticket, Some(take_pool(&mut inner, &key))))
    }

    /// The whole group waiting with `ticket` (fewer than a match's seats), if it still waits:
    /// its wait for people is over, and bots take the seats left.
    pub fn take_group(&self, ticket: u64) -> Option<Vec<Waiter>> {
        let mut inner = self.lock();
        let key = inner.tickets.get(&ticket)?.clone();
        Some(take_pool(&mut inner, &key))
    }

    /// Takes a player out of the queue; false if it was no longer waiting (it was grouped).
    pub fn withdraw(&self, ticket: u64) -> bool {
        let mut inner = self.lock();
        let Some(key) = inner.tickets.remove(&ticket) else { return false };
        if let Some(pool) = inner.pools.get_mut(&key) {
            pool.retain(|w| w.ticket != ticket);
            if pool.is_empty() {
                inner.pools.remove(&key);
            }
        }
        true
    }

    /// Players waiting now.
    pub fn waiting(&self) -> usize {
        self.lock().tickets.len()
    }
}

fn take_pool(inner: &mut Inner, key: &PoolKey) -> Vec<Waiter> {
    let group = inner.pools.remove(key).unwrap_or_default();
    for waiter in &group {
        inner.tickets.remove(&waiter.ticket);
    }
    group
}

#[cfg(test)]
mod tests {
    use super::*;

    fn player(n: u32) -> PlayerRef {
        PlayerRef { player_id: format!("p{n}"), name: format!("P{n}") }
    }

    fn key(game: &str) -> PoolKey {
        (game.to_string(), vec![0x80])
    }

    fn join(
        pool: &QuickPool,
        k: PoolKey,
        n: u32,
        seats: u8,
    ) -> Result<(u64, Option<Vec<Waiter>>), QuickError> {
        pool.join(k, player(n), seats, oneshot::channel().0)
    }

    fn ids(group: &[Waiter]) -> Vec<&str> {
        group.iter().map(|w| w.player.player_id.as_str()).collect()
    }

    #[test]
    fn a_full_group_leaves_whole_and_other_games_wait_apart() {
        let pool = QuickPool::new(10);
        assert!(join(&pool, key("dots"), 1, 3).expect("queued").1.is_none());
        assert!(join(&pool, key("ttt"), 2, 2).expect("queued").1.is_none());
        assert!(join(&pool, key("dots"), 3, 3).expect("queued").1.is_none());
        let (_, group) = join(&pool, key("dots"), 4, 3).expect("queued");
        assert_eq!(ids(&group.expect("a whole match")), ["p1", "p3", "p4"]);
        assert_eq!(pool.waiting(), 1, "only the other game's player waits");
    }

    #[test]
    fn a_player_waits_once_and_the_queue_is_bounded() {
        let pool = QuickPool::new(2);
        join(&pool, key("dots"), 1, 3).expect("queued");
        assert_eq!(join(&pool, key("ttt"), 1, 2).map(|_| ()), Err(QuickError::AlreadyQueued));
        join(&pool, key("ttt"), 2, 3).expect("queued");
        assert_eq!(join(&pool, key("dots"), 3, 3).map(|_| ()), Err(QuickError::Full { max: 2 }));
    }

    #[test]
    fn a_group_is_taken_for_bots_once_and_withdrawn_players_leave() {
        let pool = QuickPool::new(10);
        let (first, _) = join(&pool, key("dots"), 1, 4).expect("queued");
        let (second, _) = join(&pool, key("dots"), 2, 4).expect("queued");
        let (third, _) = join(&pool, key("dots"), 3, 4).expect("queued");
        assert!(pool.withdraw(second));
        assert!(!pool.withdraw(second), "gone already");
        let group = pool.take_group(first).expect("still waiting");
        assert_eq!(ids(&group), ["p1", "p3"]);
        assert!(pool.take_group(third).is_none(), "taken with the first");
        assert!(!pool.withdraw(third), "grouped, so it cannot withdraw");
        assert_eq!(pool.waiting(), 0);
    }
}
