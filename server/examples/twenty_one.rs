//! A game added from outside Arbiter: "twenty-one", registered with the built-in games into a
//! server this program starts. Nothing in the server, the bots or the rules crate changes.
//!
//! Two players take turns adding 1, 2 or 3 to a running total starting at 0; whoever brings it
//! to 21 wins. A move is `{"add": n}`.
//!
//! `cargo run -p server --example twenty_one -- --http 127.0.0.1:8080 --store memory` serves it
//! (any `arbiter serve` flag works); `GET /api/games` then lists `"twenty_one"` beside the rest.

use clap::Parser;
use game_rules::{ConfigError, Game, Outcome, RuleError, Seat, StateHasher, Status, Viewer};
use serde::{Deserialize, Serialize};

/// The game's marker type.
pub struct TwentyOne;

/// No settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Config {}

/// Add 1, 2 or 3 to the total.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Add {
    /// 1..=3.
    pub add: u8,
}

/// The total and the seat to move; the whole state is public, so it is also the view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Total {
    /// 0..=21.
    pub total: u8,
    /// The seat to move (after the end: the seat that would have).
    pub to_move: Seat,
}

impl Game for TwentyOne {
    const ID: &'static str = "twenty_one";
    const NAME: &'static str = "Twenty-one";
    const RULES_VERSION: u32 = 1;
    const MIN_SEATS: u8 = 2;
    const MAX_SEATS: u8 = 2;

    type Config = Config;
    type State = Total;
    type Move = Add;
    type View = Total;

    fn initial(_: &Config, _seed: u64) -> Result<Total, ConfigError> {
        Ok(Total { total: 0, to_move: 0 })
    }

    fn validate(t: &Total, seat: Seat, mv: &Add) -> Result<(), RuleError> {
        match () {
            _ if seat > 1 => Err(RuleError::NotASeat { seat, seats: 2 }),
            _ if t.total >= 21 => Err(RuleError::MatchOver),
            _ if seat != t.to_move => Err(RuleError::NotYourTurn { seat, to_move: t.to_move }),
            _ if !(1..=3).contains(&mv.add) || t.total + mv.add > 21 => {
                Err(RuleError::OutOfRange { what: format!("add {}", mv.add) })
            }
            _ => Ok(()),
        }
    }

    fn apply(t: &mut Total, seat: Seat, mv: &Add) {
        t.total += mv.add;
        t.to_move = 1 - seat;
    }

    /// A turn timer running out passes the turn.
    fn tick(t: &mut Total, _inputs: &[(Seat, Add)]) {
        if t.total < 21 {
            t.to_move = 1 - t.to_move;
        }
    }

    fn legal_moves(t: &Total, seat: Seat) -> Vec<Add> {
        (1..=3).map(|add| Add { add }).filter(|m| Self::validate(t, seat, m).is_ok()).collect()
    }

    fn view(t: &Total, _: Viewer) -> Total {
        t.clone()
    }

    fn status(t: &Total) -> Status {
        if t.total < 21 {
            return Status::Turn(t.to_move);
        }
        // The seat that reached 21 moved last, so the turn has passed to the other one.
        let winner = 1 - t.to_move;
        let scores = (0..2).map(|s| i64::from(s == winner)).collect();
        Status::Over(Outcome { scores, winners: vec![winner] })
    }

    fn hash(t: &Total, h: &mut StateHasher) {
        h.write_u8(t.total);
        h.write_u8(t.to_move);
    }
}

/// `arbiter serve`'s flags.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    config: server::Config,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config =
        server::Config { games: builtin_games::games().with::<TwentyOne>(), ..Cli::parse().config };
    let server = server::Server::start(config).await?;
    eprintln!("serving twenty_one and the built-in games on http://{}", server.addr());
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use game_rules::Games;
    use game_rules::conformance::{Fixture, check, enc, garbage};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[test]
    fn twenty_one_passes_conformance() {
        let game = Games::new().with::<TwentyOne>().find("twenty_one").expect("registered");
        let mut extra_moves = garbage();
        extra_moves.extend([enc(&Add { add: 0 }), enc(&Add { add: 4 })]);
        check(game, &Fixture { configs: vec![enc(&Config {})], extra_moves }, 64);
    }

    #[tokio::test]
    async fn a_server_built_with_it_lists_it() -> anyhow::Result<()> {
        let games = builtin_games::games().with::<TwentyOne>();
        let server =
            server::Server::start(server::Config { games, ..server::Config::ephemeral() }).await?;
        let mut socket = tokio::net::TcpStream::connect(server.addr()).await?;
        socket
            .write_all(b"GET /api/games HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await?;
        let mut answer = String::new();
        socket.read_to_string(&mut answer).await?;
        assert!(answer.contains("\"id\":\"twenty_one\""), "{answer}");
        assert!(answer.contains("\"id\":\"lightcycles\""), "{answer}");
        server.shutdown().await;
        Ok(())
    }
}
