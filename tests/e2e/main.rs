//! End-to-end tests over real sockets: one test binary, one module per concern.

mod abuse;
mod admin;
mod api;
mod bots;
mod bounds;
mod browser;
mod browser_cycles;
mod isolation;
mod lobby;
mod play;
mod readme;
mod realtime;
mod restart;
mod timers;
mod tools;
mod transports;
mod wasm;
mod web;
