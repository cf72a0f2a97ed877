//! The Arbiter server as a library: a [`Server`] is a value, so many isolated instances can
//! run in one process (tests rely on it).

pub mod access;
pub mod admin;
pub mod app;
pub mod archive;
pub mod auth;
pub mod body;
pub mod botseat;
pub mod config;
pub mod error;
pub mod extract;
pub mod files;
pub mod health;
pub mod http;
pub mod idle;
pub mod journal;
pub mod listener;
pub mod lobby;
pub mod metrics;
pub mod openapi;
pub mod origin;
pub mod players;
pub mod process;
pub mod ratelimit;
pub mod replay;
pub mod room;
pub mod rooms;
pub mod server;
pub mod session;
pub mod storage;
pub mod tools;
pub mod transport;
pub mod web;

pub use config::{Config, Limits, StoreKind};
pub use server::{Server, StartError};
