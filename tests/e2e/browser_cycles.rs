//! Light cycles in the web client, in real headless Chromium: a person creates a match against
//! a server bot from the lobby and steers with arrow keys and a swipe on the canvas, a second page watches
//! it live, and the replay's scrubber shows the server's states. Screenshots land in
//! `target/browser-artifacts/`.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value as Json, json};
use tests::Instance;
use tests::browser::{Browser, Page};

use crate::browser::{create_game, scrub, shown_scores, sign_in, web_server};

/// A small board at the slowest tick rate the game allows: a match lasts seconds, and the
/// test's steering (one WebDriver round trip per tick) keeps up.
/// Cycles start on the middle row, so a cycle turned north has 11 ticks before the wall.
const CONFIG: &str = r#"{"width": 16, "height": 24, "players": 2, "tick_hz": 10}"#;

/// WebDriver key codes of the arrow keys, by the heading each asks for.
fn arrow(heading: &str) -> Result<char> {
    Ok(match heading {
        "north" => '\u{e013}',
        "east" => '\u{e014}',
        "south" => '\u{e015}',
        "west" => '\u{e012}',
        other => bail!("no arrow key for {other:?}"),
    })
}

/// The page's client's view of its own cycle: `{seq, hash, tick, heading, alive, over}`.
async fn own_cycle(page: &Page) -> Result<Json> {
    page.js(
        "const ui = window.arbiterUI; const s = ui.client && ui.client.state(ui.matchId); \
         if (!s || !s.view || !s.view.cycles) return null; \
         const c = s.view.cycles[s.seat]; \
         return {seq: s.seq, hash: s.state_hash, tick: s.view.tick, heading: c.heading, \
                 alive: c.alive, over: typeof s.status === 'object' && 'over' in s.status};",
        vec![],
    )
    .await
}

/// The heading with the longest free run ahead of the own cycle (its own heading on a tie),
/// as the page's client sees the arena; `null` once it no longer rides.
const SAFEST: &str = "const ui = window.arbiterUI; const s = ui.client.state(ui.matchId); \
    const v = s.view, me = v.cycles[s.seat]; if (!me.alive) return null; \
    const taken = new Set(); for (const c of v.cycles) { taken.add(c.at.join()); \
      for (const t of c.trail) taken.add(t.join()); } \
    const step = {north: [0, -1], east: [1, 0], south: [0, 1], west: [-1, 0]}; \
    const back = {north: 'south', south: 'north', east: 'west', west: 'east'}; \
    const run = (h) => { let [x, y] = me.at, n = 0; \
      for (;;) { x += step[h][0]; y += step[h][1]; \
        if (x < 0 || y < 0 || x >= v.width || y >= v.height || taken.has(x + ',' + y)) return n; \
        n++; } }; \
    let best = me.heading; \
    for (const h of Object.keys(step)) if (h !== back[me.heading] && run(h) > run(best)) best = h; \
    return best;";

/// Steers the own cycle with arrow keys, one decision per tick, towards the longest free run
/// until the match is over.
async fn steer_to_the_end(page: &Page) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut decided_at = None;
    while Instant::now() < deadline {
        let me = own_cycle(page).await?;
        if me["over"] == json!(true) {
            return Ok(());
        }
        let tick = me["tick"].as_u64();
        if me["alive"] == json!(true) && tick != decided_at {
            decided_at = tick;
            let best = page.js(SAFEST, vec![]).await?;
            if let Some(best) = best.as_str().filter(|b| Some(*b) != me["heading"].as_str()) {
                page.press(arrow(best)?).await?;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("the match did not end within 120 s")
}

/// Pixels of the canvas in a seat's colour (`rgb`), read back with `getImageData`.
async fn pixels_of(page: &Page, rgb: [u8; 3]) -> Result<u64> {
    let n = page
        .js(
            "const c = document.querySelector('#cycles-board'); const [r, g, b] = arguments[0]; \
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; \
             for (let i = 0; i < d.length; i += 4) \
               if (d[i] === r && d[i + 1] === g && d[i + 2] === b && d[i + 3] === 255) n++; \
             return n;",
            vec![json!(rgb)],
        )
        .await?;
    n.as_u64().context("a pixel count")
}

/// The tick the page shows under the canvas (`#cycles-tick`: "tick N").
const TICK_SHOWN: &str =
    "Number(document.querySelector('#cycles-tick').textContent.replace('tick ', ''))";

async fn tick_shown(page: &Page) -> Result<u64> {
    let tick = page.js(&format!("return {TICK_SHOWN};"), vec![]).await?;
    tick.as_u64().context("a tick number under the canvas")
}

/// The server's state after event `at`.
async fn server_state(arbiter: &Instance, id: &str, at: u64) -> Result<Json> {
    arbiter.http.ok("GET", &format!("/api/matches/{id}/state?at={at}"), None, None).await
}

/// The first key press turns the own cycle north (a quarter turn from either start): the
/// canvas draws it heading north at once, and the server's tick applies the turn.
async fn first_turn(page: &Page, arbiter: &Instance, id: &str) -> Result<()> {
    page.wait_until("Number(document.querySelector('#cycles-board').dataset.tick) >= 1").await?;
    page.press(arrow("north")?).await?;
    page.wait_until("document.querySelector('#cycles-board').dataset.heading === 'north'").await?;
    let lead = page.js("return document.querySelector('#cycles-board').dataset.lead;", vec![]);
    assert_ne!(lead.await?, json!("0"), "the own cycle is drawn ahead of the server's tick");
    let applied = page
        .wait_until(
            "(() => { const ui = window.arbiterUI; const s = ui.client.state(ui.matchId); \
             const c = s.view.cycles[s.seat]; return c.heading === 'north' && s.seq; })()",
        )
        .await?;
    let seq = applied.as_u64().context("a seq")?;
    let events = arbiter.http.ok("GET", &format!("/api/matches/{id}/events"), None, None).await?;
    let steered = events["events"].as_array().context("events")?.iter().any(|e| {
        e["seq"].as_u64() <= Some(seq)
            && e["body"]["tick"]["inputs"].as_array().is_some_and(|inputs| {
                inputs.iter().any(|i| i["seat"] == json!(0) && i["move"]["turn"].is_string())
            })
    });
    assert!(steered, "a tick of the server applied seat 0's turn by event {seq}");
    Ok(())
}

/// A swipe on the canvas turns the own cycle (heading north) towards the middle of the board.
async fn swipe_turn(page: &Page) -> Result<()> {
    let me = own_cycle(page).await?;
    assert_eq!(me["heading"], "north", "{me}");
    let towards = page
        .js(
            "const ui = window.arbiterUI; const s = ui.client.state(ui.matchId);              const r = document.querySelector('#cycles-board').getBoundingClientRect();              const east = s.view.cycles[s.seat].at[0] < s.view.width / 2;              return {east, x: r.left + r.width / 2, y: r.top + r.height / 2};",
            vec![],
        )
        .await?;
    let (x, y) = (towards["x"].as_f64().context("x")?, towards["y"].as_f64().context("y")?);
    let (heading, dx) =
        if towards["east"] == json!(true) { ("east", 80.0) } else { ("west", -80.0) };
    page.drag((x, y), (x + dx, y + 10.0)).await?;
    page.wait_until(&format!(
        "(() => {{ const ui = window.arbiterUI; const s = ui.client.state(ui.matchId);          return s.view.cycles[s.seat].heading === '{heading}'; }})()"
    ))
    .await
    .context("the swipe's turn was not applied")?;
    Ok(())
}

/// The spectator's page shows a tick and hash the server's state at that event has.
async fn check_spectator(page: &Page, arbiter: &Instance, id: &str) -> Result<()> {
    // The canvas draws on the next frame after an event: read it when it shows the client's.
    let shown = page
        .wait_until(
            "(() => { const ui = window.arbiterUI; const s = ui.client.state(ui.matchId); \
             const t = Number(document.querySelector('#cycles-board').dataset.tick); \
             return s && s.role === 'spectator' && s.view.tick === t && t > 0 \
               && {seq: s.seq, hash: s.state_hash, tick: t}; })()",
        )
        .await?;
    let seq = shown["seq"].as_u64().context("a seq")?;
    let server = server_state(arbiter, id, seq).await?;
    assert_eq!(shown["hash"], server["state_hash"], "the spectator's state at event {seq}");
    assert_eq!(shown["tick"], server["view"]["tick"], "the spectator's tick at event {seq}");
    page.screenshot("cycles-spectate-360").await?;
    Ok(())
}

/// The replay, scrubbed to the middle of the match, shows the server's state there.
async fn check_replay(page: &Page, arbiter: &Instance, base: &str, id: &str) -> Result<()> {
    page.goto(&format!("{base}/#/replay/{id}")).await?;
    page.wait_until("window.arbiterUI.replay && document.querySelector('#cycles-board')").await?;
    let head = page.js("return window.arbiterUI.replay.head();", vec![]).await?;
    let at = head.as_u64().context("a head")? / 2;
    scrub(page, at).await?;
    let shown = page
        .js(
            "return {hash: document.querySelector('#replay-hash').textContent.trim(), \
             tick: Number(document.querySelector('#cycles-board').dataset.tick)};",
            vec![],
        )
        .await?;
    let server = server_state(arbiter, id, at).await?;
    assert_eq!(shown["hash"], server["state_hash"], "the replay's state at event {at}");
    assert_eq!(shown["tick"], server["view"]["tick"], "the replay's tick at event {at}");
    page.screenshot("cycles-replay-360").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_steers_a_light_cycle_with_arrow_keys_while_a_second_page_watches() -> Result<()> {
    let arbiter = web_server().await?;
    let base = format!("http://{}", arbiter.server.addr());
    let browser = Browser::start().await?;
    let ada = browser.page(1280, 900).await?;
    let cy = browser.page(360, 760).await?;
    sign_in(&ada, &base, "ada").await?;
    sign_in(&cy, &base, "cy").await?;
    let id = create_game(&ada, "lightcycles", &[("#create-config", CONFIG.into())], &[1]).await?;
    first_turn(&ada, &arbiter, &id).await?;
    let before = tick_shown(&ada).await?;
    swipe_turn(&ada).await?;
    let after = ada.wait_until(&format!("{TICK_SHOWN} > {before} && {TICK_SHOWN}")).await?;
    assert!(after.as_u64() > Some(before), "the tick shown advances: {before}, then {after}");
    // Seat 0's colour (#e4572e) and seat 1's (#2e86ab) are on the canvas.
    assert!(pixels_of(&ada, [0xe4, 0x57, 0x2e]).await? > 0, "seat 0's cycle is drawn");
    assert!(pixels_of(&ada, [0x2e, 0x86, 0xab]).await? > 0, "seat 1's cycle is drawn");
    ada.screenshot("cycles-play-1280").await?;

    cy.goto(&format!("{base}/#/match/{id}")).await?;
    let (steered, watched) =
        tokio::join!(steer_to_the_end(&ada), check_spectator(&cy, &arbiter, &id));
    steered?;
    watched?;

    let summary = arbiter.http.ok("GET", &format!("/api/matches/{id}"), None, None).await?;
    assert_eq!(summary["status"], "finished");
    let scores = summary["outcome"]["scores"].clone();
    for page in [&ada, &cy] {
        assert_eq!(shown_scores(page).await?, scores, "every page shows the server's result");
        let winners = page.js(
            "return [...document.querySelectorAll('#cycles-legend li[data-state=winner]')] \
               .map(li => Number(li.dataset.seat));",
            vec![],
        );
        assert_eq!(winners.await?, summary["outcome"]["winners"], "the legend names the winners");
    }
    ada.screenshot("cycles-finished-1280").await?;
    cy.screenshot("cycles-finished-360").await?;
    check_replay(&cy, &arbiter, &base, &id).await?;
    for page in [ada, cy] {
        page.close().await?;
    }
    Ok(())
}
