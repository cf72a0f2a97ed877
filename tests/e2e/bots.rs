//! The load tool against a real server: a short run must finish with no error and no desync;
//! and a tampered log is caught as a desync.

use std::time::Duration;

use anyhow::Result;
use bots::StrategyKind;
use bots::link::TransportKind;
use bots::load::{LoadConfig, run};
use protocol::first_desync;
use protocol::v1::{EventBody, ServerMsg};
use tests::{Instance, WsClient, all_edges};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_load_run_has_no_errors_and_no_desyncs() -> Result<()> {
    short_load_run(TransportKind::Ws).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_load_run_over_quic_has_no_errors_and_no_desyncs() -> Result<()> {
    short_load_run(TransportKind::Quic).await
}

/// A server whose limits let the load tool mint guests, create matches and move as fast as
/// it can from one address.
async fn unlimited() -> Result<Instance> {
    let mut config = server::Config::ephemeral();
    config.limits.msgs_per_s = 100_000;
    config.limits.msg_burst = 100_000;
    config.limits.http_per_ip_per_s = 100_000;
    config.limits.http_burst_per_ip = 100_000;
    config.limits.guests_per_ip_per_min = 1_000_000;
    config.limits.guest_burst_per_ip = 100_000;
    config.limits.creations_per_min = 1_000_000;
    config.limits.creation_burst = 100_000;
    Instance::with(config).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_real_time_load_run_plays_four_player_light_cycles_with_no_errors_or_desyncs()
-> Result<()> {
    let instance = unlimited().await?;
    let failures = tempfile::tempdir()?;
    let load = LoadConfig {
        server: instance.http.base.clone(),
        matches: 2,
        duration: Duration::from_secs(4),
        think: Duration::ZERO,
        think_spread: 0.0,
        spectators: 1,
        strategy: StrategyKind::Greedy,
        seed: 3,
        game: "lightcycles".into(),
        players: 4,
        // At most 36 ticks at 50 Hz: every match ends well within the run.
        config: serde_json::json!({"width": 12, "height": 12, "players": 4, "tick_hz": 50}),
        failures_dir: failures.path().to_path_buf(),
        transport: TransportKind::Ws,
    };
    let report = run(load, |_, _| {}).await?;
    assert_eq!((report.errors, report.desyncs, report.rejects), (0, 0, 0), "{report:?}");
    assert!(report.matches_completed >= 2, "{report:?}");
    assert!(report.moves > 0, "the bots steered: {report:?}");
    assert_eq!(std::fs::read_dir(failures.path())?.count(), 0, "nothing saved");
    instance.server.shutdown().await;
    Ok(())
}

async fn short_load_run(transport: TransportKind) -> Result<()> {
    let instance = unlimited().await?;
    let failures = tempfile::tempdir()?;
    let load = LoadConfig {
        server: instance.http.base.clone(),
        matches: 4,
        duration: Duration::from_secs(2),
        // Waits drawn from 1–3 ms: the spread path runs, and the run still plays many matches.
        think: Duration::from_millis(2),
        think_spread: 0.5,
        spectators: 1,
        strategy: StrategyKind::Greedy,
        seed: 9,
        game: "dots".into(),
        players: 2,
        config: serde_json::json!({"width": 2, "height": 2, "players": 2}),
        failures_dir: failures.path().to_path_buf(),
        transport,
    };
    let report = run(load, |_, _| {}).await?;
    assert_eq!((report.errors, report.desyncs, report.rejects), (0, 0, 0), "{report:?}");
    assert!(report.matches_completed >= 4, "{report:?}");
    assert!(
        report.moves >= 12 * report.matches_completed,
        "every completed match has 12 moves: {report:?}"
    );
    assert_eq!(report.connections, 4 * 3);
    assert!(report.latency_us_p50 > 0 && report.latency_us_p50 <= report.latency_us_max);
    assert_eq!(std::fs::read_dir(failures.path())?.count(), 0, "nothing saved");
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_tampered_event_log_is_reported_as_a_desync() -> Result<()> {
    let instance = Instance::memory().await?;
    let (id, a, _b) = instance.http.dots_match(1, 1).await?;
    let mut ada = WsClient::connect(&instance.ws_url(), &a.token).await?;
    ada.join(&id, protocol::v1::Role::Player, Some(0)).await?;
    ada.play(&id, 1, all_edges(1, 1)[0].clone()).await?;
    ada.until(|m| matches!(m, ServerMsg::Event(e) if e.seq == 3).then_some(())).await?;
    let mut events = ada.events.clone();
    assert_eq!(first_desync(builtin_games::games(), &events), None, "the real log replays");
    // A server that broadcast a different move than it applied.
    if let Some(EventBody::Move(m)) = events[3].body.as_mut() {
        m.mv = serde_json::from_value(serde_json::json!({"dir": "v", "x": 0, "y": 0}))?;
    }
    assert_eq!(first_desync(builtin_games::games(), &events), Some(3));
    instance.server.shutdown().await;
    Ok(())
}
