//! The games Arbiter ships: the one list the `arbiter` binary, the `bots` binary, the web
//! client and the tests register. A server embedding its own game builds its own [`Games`]
//! instead (or extends this one); nothing here is special to the server.

use game_rules::Games;
use game_rules::dots::Dots;
use game_rules::tictactoe::TicTacToe;
use lightcycles::LightCycles;

/// Dots and Boxes, tic-tac-toe and light cycles, in that order.
pub fn games() -> Games {
    Games::new().with::<Dots>().with::<TicTacToe>().with::<LightCycles>()
}
