//! A room's appends in flight, answered in the order they were made. The store completes a
//! room's appends in order, so only the oldest is waited on: no future is boxed per append
//! and nothing polls the later ones before their turn.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Poll, ready};
use std::time::Instant;

use crate::storage::{AppendError, AppendTicket};

/// One append the store has not answered yet.
struct InFlight {
    first_seq: u64,
    ticket: AppendTicket,
    asked: Instant,
}

/// What an append came to.
pub struct Landed {
    /// The append's first seq.
    pub first_seq: u64,
    /// The store's answer; a dropped ticket counts as a closed store.
    pub result: Result<(), AppendError>,
    /// When the room asked for it.
    pub asked: Instant,
}

/// The appends in flight, oldest first.
#[derive(Default)]
pub struct Appends {
    queue: VecDeque<InFlight>,
}

impl Appends {
    /// Waits for `ticket`, after every append made before it.
    pub fn push(&mut self, first_seq: u64, ticket: AppendTicket) {
        self.queue.push_back(InFlight { first_seq, ticket, asked: Instant::now() });
    }

    /// The oldest append once it lands; `None` at once when nothing is in flight. Cancel-safe:
    /// an append is taken off only in the poll that returns it.
    pub fn next(&mut self) -> impl Future<Output = Option<Landed>> + '_ {
        std::future::poll_fn(move |cx| {
            let Some(front) = self.queue.front_mut() else { return Poll::Ready(None) };
            let answer = ready!(Pin::new(&mut front.ticket).poll(cx));
            let landed = self.queue.pop_front().map(|InFlight { first_seq, asked, .. }| Landed {
                first_seq,
                result: answer.unwrap_or(Err(AppendError::Closed)),
                asked,
            });
            Poll::Ready(landed)
        })
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::oneshot;

    use super::*;

    #[tokio::test]
    async fn appends_land_in_the_order_they_were_made() {
        let mut appends = Appends::default();
        assert!(appends.next().await.is_none(), "nothing in flight");
        let (first, first_ticket) = oneshot::channel();
        let (second, second_ticket) = oneshot::channel();
        appends.push(1, first_ticket);
        appends.push(2, second_ticket);
        let _ = second.send(Ok(()));
        drop(first);
        let landed = appends.next().await.expect("the first");
        assert_eq!((landed.first_seq, landed.result), (1, Err(AppendError::Closed)));
        let landed = appends.next().await.expect("the second");
        assert_eq!((landed.first_seq, landed.result), (2, Ok(())));
    }
}
