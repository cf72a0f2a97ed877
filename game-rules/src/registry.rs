//! [`Games`]: the games one server, client or bot knows, registered from outside this crate.
//! The `arbiter` binary registers the built-in games; an embedder registers its own the same
//! way, so adding a game changes no file of the server.

use std::fmt;
use std::sync::Arc;

use crate::erased::{DynGame, Registered};
use crate::game::Game;

/// A set of games, in registration order, each under a distinct id. Cheap to clone (the list
/// is shared), so every room, session and replica holds its own handle.
#[derive(Clone, Default)]
pub struct Games {
    list: Arc<[&'static dyn DynGame]>,
}

impl Games {
    /// No games yet.
    pub fn new() -> Games {
        Games::default()
    }

    /// This set with `G` added after the others.
    ///
    /// # Panics
    /// When a game with `G::ID` is already registered: two games under one id would make logs
    /// ambiguous, and registration happens once at start-up, never from input.
    #[must_use]
    pub fn with<G: Game>(self) -> Games {
        // `Registered<G>` is zero-sized, so leaking it allocates nothing.
        let game: &'static Registered<G> = Box::leak(Box::new(Registered::<G>::NEW));
        self.with_dyn(game)
    }

    /// This set with an already erased game added (see [`with`](Games::with)).
    #[must_use]
    pub fn with_dyn(self, game: &'static dyn DynGame) -> Games {
        assert!(self.find(game.id()).is_none(), "game id {:?} registered twice", game.id());
        let mut list = self.list.to_vec();
        list.push(game);
        Games { list: list.into() }
    }

    /// Every game, in registration order.
    pub fn all(&self) -> &[&'static dyn DynGame] {
        &self.list
    }

    /// The game with this id, if registered.
    pub fn find(&self, id: &str) -> Option<&'static dyn DynGame> {
        self.list.iter().copied().find(|game| game.id() == id)
    }

    /// How many games are registered.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether no game is registered.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The registered ids, in order.
    pub fn ids(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.list.iter().map(|game| game.id())
    }
}

impl fmt::Debug for Games {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.ids()).finish()
    }
}

/// Two sets are equal when they list the same games (ids and rules versions) in one order.
impl PartialEq for Games {
    fn eq(&self, other: &Games) -> bool {
        let key = |g: &&dyn DynGame| (g.id(), g.info().rules_version);
        self.list.iter().map(key).eq(other.list.iter().map(key))
    }
}

impl Eq for Games {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{dots::Dots, tictactoe::TicTacToe};

    #[test]
    fn games_are_found_by_id_in_registration_order() {
        let games = Games::new().with::<TicTacToe>().with::<Dots>();
        assert_eq!(games.ids().collect::<Vec<_>>(), ["tictactoe", "dots"]);
        assert_eq!(games.find("dots").map(|g| g.id()), Some("dots"));
        assert!(games.find("chess").is_none());
        assert_ne!(games, Games::new().with::<Dots>().with::<TicTacToe>());
        assert_eq!(format!("{games:?}"), r#"["tictactoe", "dots"]"#);
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn one_id_is_registered_once() {
        let _ = Games::new().with::<Dots>().with::<Dots>();
    }
}
