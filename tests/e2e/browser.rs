//! The web client and the JavaScript SDK in real headless Chromium, against servers started
//! here. Screenshots land in `target/browser-artifacts/`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use game_rules::Status;
use protocol::v1::{Role, ServerMsg, VerdictResult};
use serde_json::{Value as Json, json};
use server::Config;
use tests::browser::{Browser, Page, web_dir};
use tests::{Instance, WsClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// An in-memory server that serves the built web client.
pub(crate) async fn web_server() -> Result<Instance> {
    let mut config = Config::ephemeral();
    config.web_dir = Some(web_dir()?);
    Instance::with(config).await
}

/// The first ```html block of docs/CLIENT.md.
fn documented_page() -> Result<String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/CLIENT.md"))?;
    let start = doc.find("```html\n").context("docs/CLIENT.md has an html example")? + 8;
    let len = doc[start..].find("```").context("the example ends")?;
    Ok(doc[start..start + len].to_string())
}

/// Serves one HTML page at every path, from its own port: a page of another origin.
async fn serve_page(html: String) -> Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/", listener.local_addr()?);
    let html = Arc::new(html);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let html = html.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n",
                    html.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(html.as_bytes()).await;
            });
        }
    });
    Ok(url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_sdk_page_plays_a_match_from_another_origin() -> Result<()> {
    let arbiter = web_server().await?;
    let page_html = documented_page()?
        .replace("http://127.0.0.1:8080", &format!("http://{}", arbiter.server.addr()));
    let url = serve_page(page_html).await?;
    let browser = Browser::start().await?;
    let page = browser.page(1000, 800).await?;
    page.goto(&url).await?;
    let text = page.wait_until(r#"document.getElementById("out").textContent.includes('"over"') && document.getElementById("out").textContent"#).await;
    page.screenshot("sdk-example").await?;
    let text = text?;
    let Some(text) = text.as_str() else { bail!("no text: {text}") };
    assert!(text.contains(r#"{"over":{"scores":["#), "{text}");
    // The page's view is the state the server holds at the end.
    let listed = arbiter.http.ok("GET", "/api/matches?status=finished", None, None).await?;
    assert_eq!(listed["matches"].as_array().map(Vec::len), Some(1), "{listed}");
    page.close().await
}

/// Opens the web client and picks a name.
pub(crate) async fn sign_in(page: &Page, base: &str, name: &str) -> Result<()> {
    page.goto(&format!("{base}/")).await?;
    page.fill("#name-input", name).await?;
    page.click("#name-save").await?;
    page.wait_until("document.querySelector('#open-matches')").await?;
    Ok(())
}

/// Creates a match of `game` from the lobby form, with the form's `fields` (selector, value)
/// set after the game is picked and bots in `bot_seats`; returns its id once the page shows it.
pub(crate) async fn create_game(
    page: &Page,
    game: &str,
    fields: &[(&str, String)],
    bot_seats: &[u8],
) -> Result<String> {
    // The form's game list comes from the server, and its arrival resets the fields: until
    // then the select holds one placeholder option.
    page.wait_until("document.querySelectorAll('#create-game option').length > 1").await?;
    let mut values = vec![json!(["#create-game", game])];
    values.extend(fields.iter().map(|(selector, value)| json!([selector, value])));
    page.js(
        "const set = (sel, v) => { const e = document.querySelector(sel); e.value = v; \
           e.dispatchEvent(new Event('input', {bubbles: true})); \
           e.dispatchEvent(new Event('change', {bubbles: true})); }; \
         for (const [sel, v] of arguments[0]) set(sel, v);",
        vec![Json::Array(values)],
    )
    .await?;
    for seat in bot_seats {
        page.click(&format!("#bot-seat-{seat}")).await?;
        page.fill(&format!("#bot-think-{seat}"), "50").await?;
    }
    page.click("#create-submit").await?;
    let id = page.wait_until("window.arbiterUI && window.arbiterUI.matchId").await?;
    id.as_str().map(str::to_string).context("a match id")
}

/// Creates a two-player Dots match of `width` × `height` boxes (see [`create_game`]).
async fn create_dots(page: &Page, width: u8, height: u8, bot_seats: &[u8]) -> Result<String> {
    let fields = [
        ("#create-width", width.to_string()),
        ("#create-height", height.to_string()),
        ("#create-players", "2".to_string()),
    ];
    create_game(page, "dots", &fields, bot_seats).await
}

/// The page's own client's view of the match: `{seq, my_turn, over}`.
async fn client_state(page: &Page) -> Result<Json> {
    page.js(
        "const ui = window.arbiterUI; const s = ui && ui.client && ui.client.state(ui.matchId); \
         return s ? {seq: s.seq, my_turn: s.my_turn, over: typeof s.status === 'object' && 'over' in s.status} : null;",
        vec![],
    )
    .await
}

/// How a page makes its moves.
#[derive(Clone, Copy)]
enum Input {
    /// Clicks the Dots canvas on the edge of its first legal move.
    Board,
    /// Clicks the first of the generic view's legal-move buttons.
    MoveButtons,
}

/// Clicks the page's first legal move; false when there is nothing to click yet.
async fn click_first_move(page: &Page, input: Input) -> Result<bool> {
    match input {
        Input::Board => {
            let point = page
                .js(
                    "const ui = window.arbiterUI; const mv = ui.client.legalMoves(ui.matchId)[0]; \
                     return mv ? ui.edgePoint(mv) : null;",
                    vec![],
                )
                .await?;
            let (Some(x), Some(y)) = (point["x"].as_f64(), point["y"].as_f64()) else {
                return Ok(false);
            };
            page.click_at(x, y).await?;
        }
        Input::MoveButtons => {
            // The buttons of the render that saw the turn (the page renders on the next frame).
            page.wait_until(
                "document.querySelector('#turn').dataset.myTurn === 'true' \
                 && document.querySelector('#legal-moves button[data-move]')",
            )
            .await?;
            page.click("#legal-moves button[data-move]").await?;
        }
    }
    Ok(true)
}

/// Plays the match to its end: whichever page may move clicks its first legal move.
/// `between(n)` runs after the n-th move. Returns the number of moves.
async fn play_to_end<F>(pages: &[&Page], input: Input, mut between: F) -> Result<u32>
where
    F: AsyncFnMut(u32) -> Result<()>,
{
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut moves = 0;
    loop {
        if Instant::now() > deadline {
            bail!("the match did not end within 120 s, after {moves} clicks");
        }
        let mut any_over = false;
        for page in pages {
            let state = client_state(page).await?;
            any_over |= state["over"] == json!(true);
            if state["my_turn"] != json!(true) {
                continue;
            }
            let seq = state["seq"].as_u64().unwrap_or(0);
            if !click_first_move(page, input).await? {
                continue;
            }
            page.wait_until(&format!(
                "(() => {{ const ui = window.arbiterUI; return ui.client.state(ui.matchId).seq > {seq}; }})()"
            ))
            .await
            .with_context(|| format!("move {} was not applied", moves + 1))?;
            moves += 1;
            between(moves).await?;
        }
        if any_over {
            return Ok(moves);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The scores a page shows, by seat.
pub(crate) async fn shown_scores(page: &Page) -> Result<Json> {
    page.wait_until("!document.querySelector('#match-over').hidden").await?;
    page.js(
        "return [...document.querySelectorAll('#scores [data-seat]')] \
           .map(e => Number(e.querySelector('.score').textContent));",
        vec![],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browsers_play_a_match_by_clicking_through_a_reconnect_while_a_third_watches()
-> Result<()> {
    let arbiter = web_server().await?;
    let base = format!("http://{}", arbiter.server.addr());
    let browser = Browser::start().await?;
    let ada = browser.page(1280, 900).await?;
    let bob = browser.page(1280, 900).await?;
    let cy = browser.page(360, 760).await?;
    for (page, name) in [(&ada, "ada"), (&bob, "bob"), (&cy, "cy")] {
        sign_in(page, &base, name).await?;
    }
    ada.screenshot("lobby-1280").await?;
    let id = create_dots(&ada, 3, 2, &[]).await?;
    // Bob joins from the lobby's list, Cy from a link.
    let join = format!("li[data-match-id='{id}'] button[data-action='join']");
    bob.click(&join).await?;
    bob.wait_until(&format!("window.arbiterUI.matchId === '{id}'")).await?;
    cy.goto(&format!("{base}/#/match/{id}")).await?;
    cy.wait_until(
        "window.arbiterUI.client && window.arbiterUI.client.state(window.arbiterUI.matchId)",
    )
    .await?;
    let moves = play_to_end(&[&ada, &bob], Input::Board, async |n| {
        if n == 4 {
            ada.screenshot("play-1280").await?;
            cy.screenshot("spectate-360").await?;
            // Bob's socket drops mid-match; his client reconnects and the match goes on.
            bob.js(
                "window.__states = []; new MutationObserver(() => window.__states.push( \
                   document.querySelector('#conn-status').dataset.state)) \
                   .observe(document.querySelector('#conn-status'), {attributes: true}); \
                 window.arbiterUI.client.dropConnection();",
                vec![],
            )
            .await?;
            bob.wait_until("window.__states.includes('reconnecting') && document.querySelector('#conn-status').dataset.state === 'authenticated'").await?;
        }
        Ok(())
    })
    .await?;
    assert_eq!(moves, 17, "a 3×2 board has 17 edges, each clicked once");
    let summary = arbiter.http.ok("GET", &format!("/api/matches/{id}"), None, None).await?;
    let scores = summary["outcome"]["scores"].clone();
    for page in [&ada, &bob, &cy] {
        assert_eq!(shown_scores(page).await?, scores, "every page shows the server's result");
    }
    ada.screenshot("finished-1280").await?;
    cy.screenshot("finished-360").await?;
    check_replay(&cy, &arbiter, &base, &id).await?;
    for page in [ada, bob, cy] {
        page.close().await?;
    }
    Ok(())
}

/// Moves the replay page's slider to event `seq` and waits until the page shows it.
pub(crate) async fn scrub(page: &Page, seq: u64) -> Result<()> {
    page.js(
        "const r = document.querySelector('#replay-range'); r.value = String(arguments[0]); \
         r.dispatchEvent(new Event('input', {bubbles: true})); r.dispatchEvent(new Event('change', {bubbles: true}));",
        vec![json!(seq)],
    )
    .await?;
    let shown = format!("document.querySelector('#replay-seq').textContent.trim() === '{seq}'");
    page.wait_until(&shown).await?;
    Ok(())
}

/// The replay page, scrubbed to an event and stepped back, shows the states whose hashes the
/// server computes for those events.
async fn check_replay(page: &Page, arbiter: &Instance, base: &str, id: &str) -> Result<()> {
    page.goto(&format!("{base}/#/replay/{id}")).await?;
    page.wait_until("window.arbiterUI.replay").await?;
    let server_hash = async |at: u64| -> Result<Json> {
        let state =
            arbiter.http.ok("GET", &format!("/api/matches/{id}/state?at={at}"), None, None).await?;
        Ok(state["state_hash"].clone())
    };
    scrub(page, 9).await?;
    let shown = page
        .js("return document.querySelector('#replay-hash').textContent.trim();", vec![])
        .await?;
    assert_eq!(shown, server_hash(9).await?, "the state at event 9");
    page.screenshot("replay-360").await?;
    page.click("#replay-back").await?;
    page.wait_until("document.querySelector('#replay-seq').textContent.trim() === '8'").await?;
    let shown = page
        .js("return document.querySelector('#replay-hash').textContent.trim();", vec![])
        .await?;
    assert_eq!(shown, server_hash(8).await?, "one step back");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_sized_browser_plays_a_bot_seat_to_the_end() -> Result<()> {
    let arbiter = web_server().await?;
    let base = format!("http://{}", arbiter.server.addr());
    let browser = Browser::start().await?;
    let page = browser.page(360, 760).await?;
    sign_in(&page, &base, "ada").await?;
    page.screenshot("lobby-360").await?;
    let id = create_dots(&page, 2, 2, &[1]).await?;
    play_to_end(&[&page], Input::Board, async |n| {
        if n == 2 {
            page.screenshot("play-bot-360").await?;
        }
        Ok(())
    })
    .await?;
    let summary = arbiter.http.ok("GET", &format!("/api/matches/{id}"), None, None).await?;
    assert_eq!(summary["status"], "finished");
    assert_eq!(shown_scores(&page).await?, summary["outcome"]["scores"]);
    let seats = &summary["seats"];
    assert!(
        seats[1]["name"].as_str().is_some_and(|n| n.contains("bot")),
        "seat 1 is the bot: {seats}"
    );
    lobby_paint_figures(&page, &base).await?;
    page.js("document.querySelector('#finished-matches').scrollIntoView();", vec![]).await?;
    page.screenshot("lobby-played-360").await?;
    page.close().await
}

/// Reloads the lobby, signed in, and prints when it first painted and when its lists first
/// showed the server's matches (measured, not asserted: timing depends on the machine).
async fn lobby_paint_figures(page: &Page, base: &str) -> Result<()> {
    page.goto(&format!("{base}/")).await?;
    let figures = page
        .wait_until(
            "(() => { const ready = performance.getEntriesByName('lobby-ready')[0]; \
               const fcp = performance.getEntriesByName('first-contentful-paint')[0]; \
               return ready && fcp && [fcp.startTime, ready.startTime]; })()",
        )
        .await?;
    let ms = |i: usize| figures[i].as_f64().map_or(-1, |t| t.round() as i64);
    eprintln!("figure: lobby first-contentful-paint {} ms, lobby-ready {} ms", ms(0), ms(1));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browsers_play_tictactoe_through_the_generic_view() -> Result<()> {
    let arbiter = web_server().await?;
    let base = format!("http://{}", arbiter.server.addr());
    let browser = Browser::start().await?;
    let ada = browser.page(1280, 900).await?;
    let bob = browser.page(360, 760).await?;
    for (page, name) in [(&ada, "ada"), (&bob, "bob")] {
        sign_in(page, &base, name).await?;
    }
    let id = create_game(&ada, "tictactoe", &[], &[]).await?;
    bob.click(&format!("li[data-match-id='{id}'] button[data-action='join']")).await?;
    bob.wait_until(&format!("window.arbiterUI.matchId === '{id}'")).await?;
    let moves = play_to_end(&[&ada, &bob], Input::MoveButtons, async |n| {
        if n == 1 {
            // Bob's turn, with his legal moves shown.
            bob.wait_until("document.querySelector('#legal-moves button[data-move]')").await?;
            bob.screenshot("generic-360").await?;
        }
        Ok(())
    })
    .await?;
    // Each page clicks its first legal cell: X takes 0, 2, 4 and 6, the diagonal 2-4-6.
    assert_eq!(moves, 7, "seat 0 wins on its fourth move");
    let summary = arbiter.http.ok("GET", &format!("/api/matches/{id}"), None, None).await?;
    assert_eq!(summary["status"], "finished", "{summary}");
    assert_eq!(summary["outcome"]["winners"], json!([0]), "{summary}");
    for page in [&ada, &bob] {
        page.wait_until("!document.querySelector('#match-over').hidden").await?;
    }
    ada.screenshot("generic-1280").await?;
    bob.screenshot("generic-over-360").await?;
    // The banner leads back to the lobby, which lists the match as finished.
    ada.click("#match-over a[href='#/']").await?;
    ada.wait_until(&format!(
        "document.querySelector(\"#finished-matches li[data-match-id='{id}']\")"
    ))
    .await?;
    ada.screenshot("lobby-played-1280").await?;
    for page in [ada, bob] {
        page.close().await?;
    }
    Ok(())
}

/// Plays seat 0 of a match against a server bot until it ends, pausing before each move so
/// that the match lasts while a page watches it.
async fn play_slowly_against_bot(mut human: WsClient, id: String) -> Result<WsClient> {
    let mut move_id = 1;
    loop {
        let last = human.events.last().context("no events")?;
        match &last.status {
            Status::Over(_) => return Ok(human),
            Status::Turn(0) => {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let legal = human.replica.state().context("no replica")?.legal_moves(0);
                let mv: Json = rmp_serde::from_slice(legal.first().context("a legal move")?)?;
                human.play(&id, move_id, mv).await?;
                let VerdictResult::Accepted { .. } = human.verdict(move_id).await? else {
                    bail!("move {move_id} refused");
                };
                move_id += 1;
            }
            _ => {
                let seq = last.seq;
                human
                    .until(|m| matches!(m, ServerMsg::Event(e) if e.seq > seq).then_some(()))
                    .await?;
            }
        }
    }
}

/// Opens `#/admin`, gives the admin token (after a wrong one, refused on the form, when
/// `wrong_first` names the screenshot to take of that), and waits for the dashboard's first
/// overview.
async fn open_admin(page: &Page, base: &str, wrong_first: Option<&str>) -> Result<()> {
    page.goto(&format!("{base}/#/admin")).await?;
    if let Some(name) = wrong_first {
        page.fill("#admin-token-input", "not-the-admin-token-at-all").await?;
        page.click("#admin-token-save").await?;
        page.wait_until(
            "document.querySelector('#admin-error').textContent.includes(\"not this server's admin token\")",
        )
        .await?;
        page.screenshot(name).await?;
    }
    page.fill("#admin-token-input", crate::admin::TOKEN).await?;
    page.click("#admin-token-save").await?;
    page.wait_until("document.querySelector('#admin-chart[data-drawn]')").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_page_follows_a_bot_match_live_and_disconnects_a_spectator() -> Result<()> {
    // SQLite, so that the chart has group commits to show beside the moves.
    let data = tempfile::tempdir()?;
    let mut config = crate::admin::admin_config()?;
    config.web_dir = Some(web_dir()?);
    config.store = server::StoreKind::Disk;
    config.data_dir = data.path().to_path_buf();
    let arbiter = Instance::with(config).await?;
    let base = format!("http://{}", arbiter.server.addr());
    let ada = arbiter.http.guest("ada").await?;
    let body = json!({"game": "dots", "config": {"width": 4, "height": 4, "players": 2},
                      "bots": [{"seat": 1, "strategy": "greedy", "think_ms": 50}]});
    let created = arbiter.http.ok("POST", "/api/matches", Some(&ada.token), Some(body)).await?;
    let id = created["match_id"].as_str().context("a match id")?.to_string();
    arbiter.http.join(&ada, &id).await?;
    let mut human = WsClient::connect(&arbiter.ws_url(), &ada.token).await?;
    human.join(&id, Role::Player, Some(0)).await?;
    let cy = arbiter.http.guest("cy").await?;
    let mut spectator = WsClient::connect(&arbiter.ws_url(), &cy.token).await?;
    spectator.join(&id, Role::Spectator, Some(0)).await?;

    let browser = Browser::start().await?;
    let wide = browser.page(1280, 900).await?;
    open_admin(&wide, &base, None).await?;
    let row = format!("#admin-rooms tr[data-match-id='{id}']");
    wide.wait_until(&format!("document.querySelector(\"{row} [data-spectators='1']\")")).await?;
    let playing = tokio::spawn(play_slowly_against_bot(human, id.clone()));
    // Three polls make two rates; moves are being made, so the latest rate is not zero.
    wide.wait_until(
        "Number(document.querySelector('#admin-chart').dataset.points) >= 3 \
         && parseFloat(document.querySelector('#admin-moves-rate').textContent) > 0",
    )
    .await?;
    let seats =
        wide.js(&format!("return document.querySelector(\"{row}\").textContent;"), vec![]).await?;
    let seats = seats.as_str().unwrap_or_default();
    assert!(seats.contains("ada") && seats.contains("greedy bot"), "{seats}");
    wide.screenshot("admin-1280").await?;
    wide.js("document.querySelector('#admin-connections').scrollIntoView();", vec![]).await?;
    wide.screenshot("admin-tables-1280").await?;

    let narrow = browser.page(360, 760).await?;
    open_admin(&narrow, &base, Some("admin-token-360")).await?;
    narrow.wait_until(&format!("document.querySelector(\"{row}\")")).await?;
    narrow.wait_until("Number(document.querySelector('#admin-chart').dataset.points) >= 2").await?;
    narrow.screenshot("admin-360").await?;
    narrow.js("document.querySelector('#admin-rooms').scrollIntoView();", vec![]).await?;
    narrow.screenshot("admin-tables-360").await?;

    // The spectator's connection, disconnected from its row's button.
    let overview = arbiter.http.ok("GET", "/api/admin/overview", Some(crate::admin::TOKEN), None);
    let overview = overview.await?;
    let conn = overview["sessions"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["player_id"] == cy.player_id.as_str()))
        .context("the spectator's connection is listed")?["conn"]
        .clone();
    wide.wait_until(&format!(
        "document.querySelector(\"#admin-connections tr[data-conn='{conn}']\")"
    ))
    .await?;
    wide.js("window.confirm = () => true;", vec![]).await?;
    wide.click(&format!(
        "#admin-connections tr[data-conn='{conn}'] button[data-action='disconnect']"
    ))
    .await?;
    assert_eq!(spectator.closed().await?, (1008, "closed by an administrator".to_string()));
    wide.wait_until(&format!(
        "document.querySelector('#admin-message').textContent.includes('Disconnected connection {conn}') \
         && !document.querySelector(\"#admin-connections tr[data-conn='{conn}']\") \
         && document.querySelector(\"#admin-recent li[data-kind='admin_disconnect']\")"
    ))
    .await?;
    let human = playing.await??;
    assert!(human.events.last().is_some_and(|e| e.status.is_over()), "the match was played out");
    for page in [wide, narrow] {
        page.close().await?;
    }
    Ok(())
}

/// A web server and two signed-in pages, Ada's and Bob's, each with its own profile.
async fn ada_and_bob() -> Result<(Instance, Browser, Page, Page)> {
    let arbiter = web_server().await?;
    let base = format!("http://{}", arbiter.server.addr());
    let browser = Browser::start().await?;
    let (ada, bob) = (browser.page(1000, 800).await?, browser.page(1000, 800).await?);
    sign_in(&ada, &base, "Ada").await?;
    sign_in(&bob, &base, "Bob").await?;
    Ok((arbiter, browser, ada, bob))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_players_find_each_other_by_quick_match_and_one_resigns() -> Result<()> {
    let (arbiter, _browser, ada, bob) = ada_and_bob().await?;
    let ready = "document.querySelectorAll('#create-game option').length > 1";
    ada.wait_until(ready).await?;
    bob.wait_until(ready).await?;
    ada.click("#quick-match").await?;
    let waiting = ada
        .wait_until(
            "(() => { const s = document.querySelector('#quick-status'); \
             return !s.hidden && s.textContent; })()",
        )
        .await?;
    assert_eq!(waiting, json!("finding an opponent…"));
    ada.screenshot("quick-match-finding").await?;
    bob.click("#quick-match").await?;
    let in_match = "window.arbiterUI && window.arbiterUI.matchId";
    let (ada_match, bob_match) = (ada.wait_until(in_match).await?, bob.wait_until(in_match).await?);
    assert_eq!(ada_match, bob_match, "one match for both");
    ada.wait_until("!document.querySelector('#resign-match').hidden").await?;
    ada.click("#resign-match").await?;
    bob.wait_until("!document.querySelector('#match-over').hidden").await?;
    bob.screenshot("quick-match-resigned").await?;
    let id = ada_match.as_str().context("a match id")?;
    let summary = arbiter.http.ok("GET", &format!("/api/matches/{id}"), None, None).await?;
    assert_eq!(summary["status"], "finished");
    assert_eq!(summary["outcome"]["winners"].as_array().map(Vec::len), Some(1));
    ada.close().await?;
    bob.close().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_match_is_joined_by_code_left_and_cancelled_from_the_page() -> Result<()> {
    let (arbiter, _browser, ada, bob) = ada_and_bob().await?;
    ada.wait_until("document.querySelectorAll('#create-game option').length > 1").await?;
    ada.click("#create-private").await?;
    let id = create_game(&ada, "dots", &[("#create-players", "3".to_string())], &[]).await?;
    let notice = ada.wait_until("document.querySelector('#page-notice')?.textContent").await?;
    let code =
        notice.as_str().and_then(|n| n.split("code ").nth(1)).map(|c| c.trim_end_matches('.'));
    let code = code.context("the page shows the code")?.to_string();
    let listed = arbiter.http.ok("GET", "/api/matches", None, None).await?;
    assert_eq!(listed["matches"], json!([]), "a private match is listed to nobody");
    bob.fill("#join-code", &code.to_lowercase()).await?;
    bob.click("#join-code-go").await?;
    assert_eq!(bob.wait_until("window.arbiterUI && window.arbiterUI.matchId").await?, json!(id));
    bob.wait_until("!document.querySelector('#leave-match').hidden").await?;
    bob.click("#leave-match").await?;
    bob.wait_until("document.querySelector('#open-matches')").await?;
    ada.wait_until("!document.querySelector('#cancel-match').hidden").await?;
    ada.click("#cancel-match").await?;
    ada.wait_until("!document.querySelector('#match-over').hidden").await?;
    ada.screenshot("private-match-cancelled").await?;
    let summary = arbiter.http.ok("GET", &format!("/api/matches/{id}"), None, None).await?;
    assert_eq!(summary["status"], "finished");
    assert_eq!(summary["seats"][1], Json::Null, "bob left his seat");
    ada.close().await?;
    bob.close().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_from_the_replay_view_is_played_to_the_end() -> Result<()> {
    let (arbiter, _browser, ada, bob) = ada_and_bob().await?;
    let base = format!("http://{}", arbiter.server.addr());
    // The original match: two moves on a 2×1 board, played over HTTP by two other players.
    let http = &arbiter.http;
    let (x, y) = (http.guest("xi").await?, http.guest("yu").await?);
    let id = http.create(&x, "dots", json!({"width": 2, "height": 1, "players": 2})).await?;
    http.join(&x, &id).await?;
    http.join(&y, &id).await?;
    for (who, mv) in [(&x, tests::edge("h", 0, 0)), (&y, tests::edge("h", 1, 0))] {
        let body = json!({"move_id": 1, "move": mv});
        http.ok("POST", &format!("/api/matches/{id}/moves"), Some(&who.token), Some(body)).await?;
    }
    ada.goto(&format!("{base}/#/replay/{id}")).await?;
    ada.wait_until("window.arbiterUI.replay").await?;
    scrub(&ada, 3).await?;
    ada.click("#fork-here").await?;
    let fork = ada
        .wait_until(&format!("window.arbiterUI.matchId !== '{id}' && window.arbiterUI.matchId"))
        .await?;
    let fork = fork.as_str().context("the fork's id")?.to_string();
    bob.goto(&format!("{base}/#/match/{fork}")).await?;
    bob.wait_until("!document.querySelector('#take-seat').hidden").await?;
    bob.click("#take-seat").await?;
    let moves = play_to_end(&[&ada, &bob], Input::Board, async |_| Ok(())).await?;
    assert!(moves >= 6, "a 2×1 board has 7 edges, one drawn before the fork: {moves}");
    ada.screenshot("fork-played").await?;
    let summary = http.ok("GET", &format!("/api/matches/{fork}"), None, None).await?;
    assert_eq!(summary["status"], "finished");
    assert_eq!(summary["forked_from"], json!({"match_id": id, "seq": 3}));
    let state = |m: &str, at: u64| {
        let (http, path) = (http.clone(), format!("/api/matches/{m}/state?at={at}"));
        async move { http.ok("GET", &path, None, None).await.map(|s| s["state_hash"].clone()) }
    };
    assert_eq!(state(&fork, 3).await?, state(&id, 3).await?, "the fork starts where it forked");
    ada.close().await?;
    bob.close().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_timer_set_in_the_form_forfeits_a_player_who_lets_it_run_out() -> Result<()> {
    let (arbiter, _browser, ada, bob) = ada_and_bob().await?;
    bob.close().await?;
    ada.wait_until("document.querySelectorAll('#create-game option').length > 1").await?;
    ada.click("#timer-on").await?;
    let fields = [
        ("#create-width", "2".to_string()),
        ("#create-height", "2".to_string()),
        ("#create-players", "2".to_string()),
        ("#timer-move-s", "2".to_string()),
        ("#timer-total-min", "0".to_string()),
        ("#timer-expiry", "forfeit".to_string()),
    ];
    let id = create_game(&ada, "dots", &fields, &[1]).await?;
    let terms = ada.wait_until("!document.querySelector('#timer-terms').hidden && document.querySelector('#timer-terms').textContent").await?;
    assert_eq!(terms, json!("Turn timer: 2 s a move · out of time loses"));
    let summary = arbiter.http.ok("GET", &format!("/api/matches/{id}"), None, None).await?;
    assert_eq!(summary["timer"], json!({"move_ms": 2000, "on_expiry": "forfeit"}));
    // Ada, seat 0, moves first and does not: her two seconds run out.
    ada.wait_until("!document.querySelector('#match-over').hidden").await?;
    ada.screenshot("timer-forfeited").await?;
    let summary = arbiter.http.ok("GET", &format!("/api/matches/{id}"), None, None).await?;
    assert_eq!(summary["status"], "finished");
    assert_eq!(summary["outcome"]["winners"], json!([1]), "the bot wins on time");
    assert_eq!(shown_scores(&ada).await?, summary["outcome"]["scores"], "the result's scores");
    ada.close().await
}
