//! The README's commands, run as written against a server with the default settings: the
//! curl tour (with `bash`, `curl` and `jq`), the WebSocket transcript (replayed frame by
//! frame), and the `bots` commands (the debug binary for `cargo run --release -p bots --`).
//! Only the port changes, since the test's server cannot take 8080. `cargo xtask run`,
//! `test` and `bench` are not run here: CI runs `test`, and the browser tests serve what
//! `run` builds.

use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};
use protocol::Encoding;
use protocol::v1::ServerMsg;
use serde_json::Value as Json;
use tests::{Instance, WsClient};

/// The README's fenced `sh` blocks, in order.
fn sh_blocks() -> Result<Vec<String>> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))?;
    let mut blocks = Vec::new();
    let mut rest = readme.as_str();
    while let Some(start) = rest.find("```sh\n") {
        let body = &rest[start + 6..];
        let end = body.find("```").context("a closed code block")?;
        blocks.push(body[..end].to_string());
        rest = &body[end + 3..];
    }
    Ok(blocks)
}

fn block_with(needle: &str) -> Result<String> {
    sh_blocks()?
        .into_iter()
        .find(|b| b.contains(needle))
        .ok_or_else(|| anyhow!("no block with {needle}"))
}

/// A default server (the memory store, so the test leaves nothing behind).
async fn default_server() -> Result<(Instance, String)> {
    let instance = Instance::memory().await?;
    let port = instance.server.addr().port().to_string();
    Ok((instance, port))
}

fn run(command: &mut Command) -> Result<String> {
    let out = command.output().with_context(|| format!("running {command:?}"))?;
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        bail!("{command:?} failed ({}):\n{stdout}\n{stderr}", out.status);
    }
    Ok(stdout.into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_curl_tour_runs_as_written() -> Result<()> {
    let (instance, port) = default_server().await?;
    let script = block_with("curl -s -XPOST localhost:8080/api/auth/guest")?
        .replace("localhost:8080", &format!("localhost:{port}"));
    let out = tokio::task::spawn_blocking(move || {
        run(Command::new("bash").args(["-e", "-o", "pipefail", "-c", &script]))
    })
    .await??;
    for expected in [
        r#""seat":0}"#,
        r#""seat":1}"#,
        r#""result":{"accepted":{"seq":3}}"#,
        r#""code":"not_your_turn""#,
        r#""events":["#,
        r#""seq":3,"state_hash":""#,
    ] {
        assert!(out.contains(expected), "the tour printed no {expected}:\n{out}");
    }
    instance.server.shutdown().await;
    Ok(())
}

/// The transcript's frames, with its placeholders (`<Bob's token>`, `m…`) filled in.
fn transcript() -> Result<Vec<(char, String)>> {
    let block = block_with("websocat ws://localhost:8080/ws")?;
    Ok(block
        .lines()
        .filter_map(|l| Some((l.chars().next()?, l.get(2..)?.to_string())))
        .filter(|(d, _)| *d == '>' || *d == '<')
        .collect())
}

#[tokio::test]
async fn the_websocket_transcript_holds() -> Result<()> {
    let (instance, _) = default_server().await?;
    let (id, ada, bob) = instance.http.dots_match(1, 1).await?;
    instance
        .http
        .ok(
            "POST",
            &format!("/api/matches/{id}/moves"),
            Some(&ada.token),
            Some(serde_json::json!({"move_id":1,"move":{"dir":"h","x":0,"y":0}})),
        )
        .await?;
    let mut client = WsClient::connect_anonymous(&instance.ws_url()).await?;
    client.encoding = Encoding::Json;
    for (direction, frame) in transcript()? {
        let frame = frame.replace("<Bob's token>", &bob.token).replace("m…", &id);
        match direction {
            '>' => {
                client.send_raw(tokio_tungstenite::tungstenite::Message::Text(frame.into())).await?
            }
            _ if frame.starts_with('…') => {
                for _ in 1..=3 {
                    assert!(matches!(client.recv().await?, ServerMsg::Event(_)), "events 1 to 3");
                }
            }
            _ => {
                // The documented frame's message type and its fixed fields, against what came.
                let got = serde_json::to_value(client.recv().await?)?;
                let kind = frame.split('"').nth(1).context("a message type")?;
                assert!(got.get(kind).is_some(), "expected {kind}, got {got}");
                check_fixed_fields(&frame, &got[kind])?;
            }
        }
    }
    instance.server.shutdown().await;
    Ok(())
}

/// Every `"key":value` of the documented frame whose value is a plain number or a string
/// without placeholders equals the received one.
fn check_fixed_fields(documented: &str, got: &Json) -> Result<()> {
    for key in ["version", "seat", "head_seq", "seq", "move_id", "role", "game", "max_frame_bytes"]
    {
        let pattern = format!("\"{key}\":");
        let Some(at) = documented.find(&pattern) else { continue };
        let value: String = documented[at + pattern.len()..]
            .chars()
            .take_while(|c| !matches!(c, ',' | '}'))
            .collect();
        if value.contains('…') || got.get(key).is_none() {
            continue;
        }
        let expected: Json =
            serde_json::from_str(&value).with_context(|| format!("{key} in {documented}"))?;
        assert_eq!(got[key], expected, "{key} in {documented}");
    }
    Ok(())
}

/// The `bots` binary, built if needed.
fn bots() -> Result<std::path::PathBuf> {
    run(Command::new(env!("CARGO")).args([
        "build",
        "--quiet",
        "--package",
        "bots",
        "--bin",
        "bots",
    ]))?;
    let exe = std::env::current_exe()?;
    let target =
        exe.parent().and_then(|deps| deps.parent()).ok_or_else(|| anyhow!("no target dir"))?;
    Ok(target.join("bots"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bots_commands_run_clean_against_a_default_server() -> Result<()> {
    let (instance, port) = default_server().await?;
    let exe = tokio::task::spawn_blocking(bots).await??;
    let block = block_with("-p bots -- tournament")?;
    let mut runs = Vec::new();
    for line in block.lines().filter(|l| l.contains("-p bots --")) {
        let line = line.split(" # ").next().unwrap_or(line).replace("8080", &port);
        let args: Vec<String> = line
            .split("-p bots --")
            .nth(1)
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let exe = exe.clone();
        runs.push(tokio::task::spawn_blocking(move || {
            run(Command::new(&exe).args(&args)).with_context(|| line.clone())
        }));
    }
    assert_eq!(runs.len(), 3, "a tournament and two load runs");
    for finished in runs {
        let out = finished.await??;
        if out.trim_start().starts_with('{') {
            let report: Json = serde_json::from_str(out.trim())?;
            assert_eq!(
                (report["errors"].as_u64(), report["desyncs"].as_u64()),
                (Some(0), Some(0)),
                "{report}"
            );
            assert!(report["moves"].as_u64() > Some(0), "{report}");
        }
    }
    instance.server.shutdown().await;
    Ok(())
}
