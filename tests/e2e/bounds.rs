//! Every connection, request and room is bounded: crossing a bound gets its typed refusal, and
//! other clients and matches are served meanwhile.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use anyhow::Result;
use tests::{Instance, RawClient, status_and_code};

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
