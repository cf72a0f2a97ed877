//! HTTP request rates, per client address and per player: every request counts against its
//! address and, when it carries a valid token, against its player; minting guests and creating
//! matches, which make identities and stored matches, have tighter budgets of their own. One
//! layer over every route, on `governor`'s keyed limiters, answering `429 rate_limited` with
//! `Retry-After`.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::app::{App, unix_s};
use crate::config::Limits;
use crate::error::ApiError;

/// How often limiters forget clients whose budget has refilled.
pub const FORGET_EVERY: Duration = Duration::from_secs(60);

/// Which budget ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Requests from one address.
    Address,
    /// Requests from one player.
    Player,
    /// Guests minted from one address.
    Guests,
    /// Matches created by one player or from one address.
    Creations,
}

/// A request over its rate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}; retry in {} s", budget_text(.budget), .retry_after.as_secs_f64().ceil())]
pub struct RateLimited {
    /// The budget that ran out.
    pub budget: Budget,
    /// When the next request would be let through.
    pub retry_after: Duration,
}

fn budget_text(budget: &Budget) -> &'static str {
    match budget {
        Budget::Address => "too many requests from this address",
        Budget::Player => "too many requests from this player",
        Budget::Guests => "too many guests minted from this address",
        Budget::Creations => "too many matches created",
    }
}

/// What a request spends, by route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cost {
    /// Health and metrics: never limited, so that monitoring works through a flood.
    Free,
    /// Any other request.
    Plain,
    /// `POST /api/auth/guest`.
    Guest,
    /// `POST /api/matches` and `POST /api/matches/{id}/fork`.
    Creation,
}

fn cost_of(method: &Method, path: &str) -> Cost {
    match (method, path) {
        (_, "/healthz" | "/readyz" | "/metrics") => Cost::Free,
        (&Method::POST, "/api/auth/guest") => Cost::Guest,
        (&Method::POST, "/api/matches") => Cost::Creation,
        (&Method::POST, p) if p.starts_with("/api/matches/") && p.ends_with("/fork") => {
            Cost::Creation
        }
        _ => Cost::Plain,
    }
}

/// One server's limiters.
pub struct RateLimits {
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    per_player: DefaultKeyedRateLimiter<String>,
    guests_per_address: DefaultKeyedRateLimiter<IpAddr>,
    creations_per_address: DefaultKeyedRateLimiter<IpAddr>,
    creations_per_player: DefaultKeyedRateLimiter<String>,
}

/// `rate` a period, with bursts of `burst`; zero is read as one (clap refuses zero anyway).
fn quota(per: fn(NonZeroU32) -> Quota, rate: u32, burst: u32) -> Quota {
    let nonzero = |n| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
    per(nonzero(rate)).allow_burst(nonzero(burst))
}

impl RateLimits {
    /// Limiters for these limits.
    pub fn new(limits: &Limits) -> RateLimits {
        let per_s = |rate, burst| quota(Quota::per_second, rate, burst);
        let per_min = |rate, burst| quota(Quota::per_minute, rate, burst);
        let creations = per_min(limits.creations_per_min, limits.creation_burst);
        RateLimits {
            per_address: DefaultKeyedRateLimiter::keyed(per_s(
                limits.http_per_ip_per_s,
                limits.http_burst_per_ip,
            )),
            per_player: DefaultKeyedRateLimiter::keyed(per_s(
                limits.http_per_player_per_s,
                limits.http_burst_per_player,
            )),
            guests_per_address: DefaultKeyedRateLimiter::keyed(per_min(
                limits.guests_per_ip_per_min,
                limits.guest_burst_per_ip,
            )),
            creations_per_address: DefaultKeyedRateLimiter::keyed(creations),
            creations_per_player: DefaultKeyedRateLimiter::keyed(creations),
        }
    }

    /// Spends a request's budgets: the route's own first, so that a request refused there
    /// costs nothing of the general ones.
    fn check(&self, cost: Cost, ip: IpAddr, player: Option<&String>) -> Result<(), RateLimited> {
        match cost {
            Cost::Free => return Ok(()),
            Cost::Plain => {}
            Cost::Guest => spend(&self.guests_per_address, &ip, Budget::Guests)?,
            Cost::Creation => {
                spend(&self.creations_per_address, &ip, Budget::Creations)?;
                if let Some(player) = player {
                    spend(&self.creations_per_player, player, Budget::Creations)?;
                }
            }
        }
        spend(&self.per_address, &ip, Budget::Address)?;
        match player {
            Some(player) => spend(&self.per_player, player, Budget::Player),
            None => Ok(()),
        }
    }

    /// Forgets clients whose budgets are full again, so the limiters hold only recent ones.
    pub fn forget_idle(&self) {
        self.per_address.retain_recent();
        self.per_player.retain_recent();
        self.guests_per_address.retain_recent();
        self.creations_per_address.retain_recent();
        self.creations_per_player.retain_recent();
        self.per_address.shrink_to_fit();
        self.per_player.shrink_to_fit();
        self.guests_per_address.shrink_to_fit();
        self.creations_per_address.shrink_to_fit();
        self.creations_per_player.shrink_to_fit();
    }
}

fn spend<K: std::hash::Hash + Eq + Clone>(
    limiter: &DefaultKeyedRateLimiter<K>,
    key: &K,
    budget: Budget,
) -> Result<(), RateLimited> {
    limiter.check_key(key).map_err(|not_until| RateLimited {
        budget,
        retry_after: not_until.wait_time_from(DefaultClock::default().now()),
    })
}

/// The layer: counts the request against its budgets before it is routed.
pub async fn limit(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let cost = cost_of(req.method(), req.uri().path());
    // Only a valid token names a player: a forged one must not spend a real player's budget.
    let player = crate::extract::bearer(req.headers())
        .ok()
        .flatten()
        .and_then(|token| app.keys.verify(token, unix_s()).ok())
        .map(|claims| claims.sub);
    match app.rate_limits.check(cost, peer.ip(), player.as_ref()) {
        Ok(()) => next.run(req).await,
        Err(limited) => ApiError::from(limited).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            http_per_ip_per_s: 1,
            http_burst_per_ip: 3,
            http_per_player_per_s: 1,
            http_burst_per_player: 2,
            guests_per_ip_per_min: 1,
            guest_burst_per_ip: 1,
            creations_per_min: 1,
            creation_burst: 1,
            ..Limits::default()
        }
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    fn budget(result: Result<(), RateLimited>) -> Option<Budget> {
        result.err().map(|e| e.budget)
    }

    #[test]
    fn routes_cost_what_they_make() {
        assert_eq!(cost_of(&Method::GET, "/healthz"), Cost::Free);
        assert_eq!(cost_of(&Method::POST, "/api/auth/guest"), Cost::Guest);
        assert_eq!(cost_of(&Method::POST, "/api/matches"), Cost::Creation);
        assert_eq!(cost_of(&Method::POST, "/api/matches/m1/fork"), Cost::Creation);
        assert_eq!(cost_of(&Method::GET, "/api/matches"), Cost::Plain);
        assert_eq!(cost_of(&Method::GET, "/ws"), Cost::Plain);
    }

    #[test]
    fn each_budget_is_kept_by_its_own_key() {
        let limits = RateLimits::new(&limits());
        let (ada, bob) = ("ada".to_string(), "bob".to_string());
        assert_eq!(budget(limits.check(Cost::Plain, A, Some(&ada))), None);
        assert_eq!(budget(limits.check(Cost::Plain, B, Some(&ada))), None);
        assert_eq!(budget(limits.check(Cost::Plain, B, Some(&ada))), Some(Budget::Player));
        assert_eq!(budget(limits.check(Cost::Plain, B, Some(&bob))), None);
        assert_eq!(budget(limits.check(Cost::Plain, B, None)), Some(Budget::Address));
        assert_eq!(budget(limits.check(Cost::Free, B, None)), None, "monitoring is free");
        assert_eq!(budget(limits.check(Cost::Guest, A, None)), None);
        assert_eq!(budget(limits.check(Cost::Guest, A, None)), Some(Budget::Guests));
        assert_eq!(budget(limits.check(Cost::Creation, A, Some(&bob))), None);
        assert_eq!(budget(limits.check(Cost::Creation, A, Some(&ada))), Some(Budget::Creations));
        assert_eq!(budget(limits.check(Cost::Creation, B, Some(&bob))), Some(Budget::Creations));
    }

    #[test]
    fn a_refusal_says_when_to_retry() {
        let limits = RateLimits::new(&limits());
        let _ = limits.check(Cost::Guest, A, None);
        let refused = limits.check(Cost::Guest, A, None).expect_err("over the budget");
        assert!(refused.retry_after > Duration::from_secs(50), "{refused:?}");
        assert!(refused.to_string().ends_with("retry in 60 s"), "{refused}");
    }
}
