//! A real-time match over real sockets: light cycles between a person's client (steered by
//! the greedy strategy) and a server-side bot, ticking at the config's rate until one crashes.

use anyhow::{Result, anyhow};
use bots::strategy::StrategyKind;
use game_rules::{Status, Viewer};
use protocol::v1::{Event, EventBody, Role, ServerMsg, VerdictResult};
use tests::{Instance, WsClient};

/// Every event of a match read over HTTP, page by page.
async fn logged_events(instance: &Instance, id: &str) -> Result<Vec<Event>> {
    let mut events = Vec::new();
    let mut from = Some(0);
    while let Some(at) = from {
        let url = format!("/api/matches/{id}/events?from={at}&limit=1000");
        let page = instance.http.ok("GET", &url, None, None).await?;
        events.extend(serde_json::from_value::<Vec<Event>>(page["events"].clone())?);
        from = page["next_from"].as_u64();
    }
    Ok(events)
}

/// Steers seat 0 on every tick until the match is over; returns the accepted verdicts as
/// `(move_id, seq)`.
async fn steer_to_the_end(human: &mut WsClient, id: &str) -> Result<Vec<(u64, u64)>> {
    let mut strategy = StrategyKind::Greedy.player(7);
    let mut accepted = Vec::new();
    for _ in 0..10_000 {
        match human.recv().await? {
            ServerMsg::Event(e) if e.status.is_over() => return Ok(accepted),
            ServerMsg::Event(e) if e.status == Status::Simultaneous => {
                let state = human.replica.state().ok_or_else(|| anyhow!("no state"))?;
                let legal = state.legal_moves(0);
                let view = state.view(Viewer::Seat(0));
                if let Some(pick) = strategy.choose(state.game_id(), 0, &view, &legal) {
                    let mv = serde_json::to_value(protocol::replica::decode_value(&legal[pick]))?;
                    human.play(id, e.seq + 1, mv).await?;
                }
            }
            ServerMsg::Verdict(v) => match v.result {
                VerdictResult::Accepted { seq } => accepted.push((v.move_id, seq)),
                VerdictResult::Rejected(r) => {
                    assert!(["superseded", "match_over"].contains(&r.code.as_str()), "{r:?}")
                }
            },
            _ => {}
        }
    }
    Err(anyhow!("the match did not end"))
}

#[tokio::test]
async fn a_light_cycles_match_against_a_bot_ticks_to_its_end_and_replays_from_its_log() -> Result<()>
{
    let instance = Instance::memory().await?;
    let ada = instance.http.guest("ada").await?;
    let body = serde_json::json!({"game": "lightcycles",
        "config": {"width": 12, "height": 12, "players": 2, "tick_hz": 50},
        "bots": [{"seat": 1, "strategy": "greedy", "think_ms": 0}]});
    let created = instance.http.ok("POST", "/api/matches", Some(&ada.token), Some(body)).await?;
    let id = created["match_id"].as_str().ok_or_else(|| anyhow!("id"))?.to_string();
    assert_eq!(instance.http.join(&ada, &id).await?, 0);
    let mut human = WsClient::connect(&instance.ws_url(), &ada.token).await?;
    human.join(&id, Role::Player, Some(0)).await?;
    // Every event the client reduces is checked against the server's hash on arrival.
    let mut accepted = steer_to_the_end(&mut human, &id).await?;
    let ticks: Vec<&Event> =
        human.events.iter().filter(|e| matches!(e.body, Some(EventBody::Tick(_)))).collect();
    assert!(ticks.len() >= 5, "cycles ride at least across the gap: {}", ticks.len());
    let inputs_of_0: usize = ticks
        .iter()
        .filter_map(|e| match &e.body {
            Some(EventBody::Tick(t)) => Some(t.inputs.iter().filter(|i| i.seat == 0).count()),
            _ => None,
        })
        .sum();
    // A verdict follows its tick's event, so the last ones may come after the final event;
    // every applied input gets one (a missing verdict times out here).
    while accepted.len() < inputs_of_0 {
        if let ServerMsg::Verdict(v) = human.recv().await?
            && let VerdictResult::Accepted { seq } = v.result
        {
            accepted.push((v.move_id, seq));
        }
    }
    assert_eq!(inputs_of_0, accepted.len(), "no input applied without its verdict");
    // Each accepted input is in the tick its verdict names, once.
    for (_, seq) in &accepted {
        let Some(EventBody::Tick(t)) = &human.events[*seq as usize].body else {
            panic!("verdict seq {seq} is not a tick");
        };
        assert_eq!(t.inputs.iter().filter(|i| i.seat == 0).count(), 1);
    }

    // The durable log replays to every hash the live match broadcast.
    let logged = logged_events(&instance, &id).await?;
    let hashes =
        |events: &[Event]| events.iter().map(|e| (e.seq, e.state_hash)).collect::<Vec<_>>();
    assert_eq!(hashes(&logged), hashes(&human.events), "the log holds what was broadcast");
    assert_eq!(protocol::first_desync(builtin_games::games(), &logged), None);

    // Each tick was timed against its deadline, and again when its event went out.
    let metrics = reqwest::get(format!("{}/metrics", instance.http.base)).await?.text().await?;
    let count = |name: &str| -> Option<usize> {
        metrics.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    };
    let logged_ticks = logged.iter().filter(|e| matches!(e.body, Some(EventBody::Tick(_)))).count();
    assert_eq!(count("arbiter_tick_lateness_seconds_count"), Some(logged_ticks), "{metrics}");
    assert_eq!(count("arbiter_tick_broadcast_seconds_count"), Some(logged_ticks), "{metrics}");
    instance.server.shutdown().await;
    Ok(())
}
