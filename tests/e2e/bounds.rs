//! Every connection, request and room is bounded: crossing a bound gets its typed refusal, and
//! other clients and matches are served meanwhile.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use anyhow::Result;
use protocol::v1::{Role, VerdictResult};
use tests::{Instance, RawClient, WsClient, edge, status_and_code};

const HOME: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn config() -> server::Config {
    server::Config::ephemeral()
}

#[tokio::test]
async fn a_silent_connection_and_an_idle_keep_alive_are_closed_at_the_header_deadline() -> Result<()>
{
    let mut config = config();
    config.limits.header_timeout_ms = 300;
    let instance = Instance::with(config).await?;
    let addr = instance.server.addr();
    let started = Instant::now();
    let mut silent = RawClient::connect(addr, HOME).await?;
    let said = silent.read_to_close(Duration::from_secs(5)).await?;
    assert_eq!(said, "", "closed without an answer");
    assert!(started.elapsed() >= Duration::from_millis(250), "{:?}", started.elapsed());
    let mut kept = RawClient::connect(addr, HOME).await?;
    kept.send(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await?;
    let answered = Instant::now();
    let said = kept.read_to_close(Duration::from_secs(5)).await?;
    assert!(said.starts_with("HTTP/1.1 200"), "{said}");
    assert!(answered.elapsed() >= Duration::from_millis(250), "kept alive until the deadline");
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_body_that_never_finishes_is_cut_with_408_and_others_are_served() -> Result<()> {
    let mut config = config();
    config.limits.body_timeout_ms = 300;
    let instance = Instance::with(config).await?;
    let addr = instance.server.addr();
    let mut slow = RawClient::connect(addr, HOME).await?;
    slow.send(
        b"POST /api/auth/guest HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
          content-length: 100\r\n\r\n{\"name\":",
    )
    .await?;
    // Meanwhile another client is served at once.
    instance.http.guest("ada").await?;
    let said = slow.read_to_close(Duration::from_secs(5)).await?;
    assert_eq!(status_and_code(&said), (408, "body_timeout".to_string()), "{said}");
    instance.server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_content_length_over_the_limit_is_refused_from_its_header() -> Result<()> {
    let mut config = config();
    // Long enough that an answer in time can only come from the header.
    config.limits.body_timeout_ms = 60_000;
    let instance = Instance::with(config).await?;
    let mut huge = RawClient::connect(instance.server.addr(), HOME).await?;
    huge.send(
        b"POST /api/auth/guest HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
          content-length: 1000000000000\r\n\r\n",
    )
    .await?;
    let said = huge.read_to_close(Duration::from_secs(5)).await?;
    assert_eq!(status_and_code(&said), (413, "body_too_large".to_string()), "{said}");
    instance.server.shutdown().await;
    Ok(())
}

/// A loopback client address other than 127.0.0.1.
fn away(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

/// `GET path` on a fresh connection from `from`: the status and error code of the answer.
async fn get_from(instance: &Instance, from: IpAddr, path: &str) -> Result<(u16, String)> {
    let mut client = RawClient::connect(instance.server.addr(), from).await?;
    client
        .send(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes())
        .await?;
    Ok(status_and_code(&client.read_to_close(Duration::from_secs(5)).await?))
}

#[tokio::test]
async fn past_the_connection_caps_clients_are_refused_clearly_until_silent_ones_are_reaped()
-> Result<()> {
    let mut config = config();
    config.limits.max_connections = 6;
    config.limits.conns_per_ip = 3;
    config.limits.header_timeout_ms = 2_000;
    let instance = Instance::with(config).await?;
    let addr = instance.server.addr();
    let (id, a, b) = instance.http.dots_match(2, 2).await?;
    let mut ada = WsClient::connect(&instance.ws_url(), &a.token).await?;
    let mut bob = WsClient::connect(&instance.ws_url(), &b.token).await?;
    ada.join(&id, Role::Player, Some(0)).await?;
    bob.join(&id, Role::Player, Some(0)).await?;
    // The HTTP client's kept-alive connections are reaped by the header deadline too; then the
    // two WebSockets are the only connections.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(RawClient::connect(addr, away(2)).await?);
    }
    assert_eq!(
        get_from(&instance, away(2), "/healthz").await?,
        (429, "too_many_connections".to_string()),
        "one address cannot take more than its share"
    );
    silent.push(RawClient::connect(addr, away(3)).await?);
    assert_eq!(get_from(&instance, away(4), "/healthz").await?, (503, "server_full".to_string()));
    // The match goes on over the connections it holds.
    ada.play(&id, 1, edge("h", 0, 0)).await?;
    assert!(matches!(ada.verdict(1).await?, VerdictResult::Accepted { .. }));
    for mut socket in silent {
        socket.read_to_close(Duration::from_secs(5)).await?;
    }
    assert_eq!(get_from(&instance, away(4), "/healthz").await?, (200, String::new()));
    bob.play(&id, 1, edge("h", 0, 1)).await?;
    assert!(matches!(bob.verdict(1).await?, VerdictResult::Accepted { .. }));
    instance.server.shutdown().await;
    Ok(())
}
