//! The registered games. Adding a game is one line in `GAMES`.

use crate::erased::{DynGame, Registered};
use crate::{dots, tictactoe};

static GAMES: &[&dyn DynGame] =
    &[&Registered::<dots::Dots>::NEW, &Registered::<tictactoe::TicTacToe>::NEW];

/// Every registered game, in a stable order.
pub fn games() -> &'static [&'static dyn DynGame] {
    GAMES
}

/// The game with this id, if registered.
pub fn find_game(id: &str) -> Option<&'static dyn DynGame> {
    GAMES.iter().copied().find(|game| game.id() == id)
}
