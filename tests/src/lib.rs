//! The end-to-end harness: servers started as values (or as `arbiter` processes), an HTTP
//! client, and a WebSocket client that reduces every event with the real rules and checks its
//! state hash. Harness code, so failures are `anyhow` errors with context.

pub mod browser;

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use bots::link::{Link, QuicTarget, Received};
use futures_util::SinkExt;
use protocol::Encoding;
use protocol::v1::{ClientMsg, Event, Hello, Join, Move, Role, ServerMsg};
use serde_json::{Value as Json, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// How long any single expected message may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// A server started in this process on port 0.
pub struct Instance {
    /// The server.
    pub server: server::Server,
    /// Its HTTP API.
    pub http: Http,
}

impl Instance {
    /// An isolated in-memory instance.
    pub async fn memory() -> Result<Instance> {
        Instance::with(server::Config::ephemeral()).await
    }

    /// An instance keeping its SQLite log and signing key in `dir`, so that another instance
    /// started on the same `dir` is the same server restarted.
    pub async fn on_disk(dir: &std::path::Path) -> Result<Instance> {
        let mut config = server::Config::ephemeral();
        config.store = server::StoreKind::Disk;
        config.data_dir = dir.to_path_buf();
        config.no_quic = true;
        Instance::with(config).await
    }

    /// An instance with this config.
    pub async fn with(config: server::Config) -> Result<Instance> {
        let server = server::Server::start(config).await?;
        let http = Http::new(&format!("http://{}", server.addr()));
        Ok(Instance { server, http })
    }

    /// The WebSocket URL.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.server.addr())
    }

    /// Where its QUIC listens and the certificate to pin, as `GET /api/quic` says.
    pub async fn quic_target(&self) -> Result<QuicTarget> {
        bots::link::quic_target(&reqwest::Client::new(), &self.http.base).await
    }
}

/// A client of the HTTP API.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    /// `http://host:port`.
    pub base: String,
}

/// A guest: token and player id.
#[derive(Debug, Clone)]
pub struct Guest {
    /// Bearer token.
    pub token: String,
    /// Player id.
    pub player_id: String,
}

impl Http {
    /// A client of the server at `base`.
    pub fn new(base: &str) -> Http {
        Http { client: reqwest::Client::new(), base: base.to_string() }
    }

    /// A client of the server at `base` whose connections come from the loopback address
    /// `from` (any of 127.0.0.0/8), so that tests can play several client addresses.
    pub fn from_address(base: &str, from: std::net::IpAddr) -> Result<Http> {
        let client = reqwest::Client::builder().local_address(from).build()?;
        Ok(Http { client, base: base.to_string() })
    }

    /// Sends a request; returns the status and the JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Json>,
    ) -> Result<(u16, Json)> {
        let (status, _, json) = self.call_with_headers(method, path, token, body).await?;
        Ok((status, json))
    }

    /// Sends a request; returns the status, the headers and the JSON body.
    pub async fn call_with_headers(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Json>,
    ) -> Result<(u16, reqwest::header::HeaderMap, Json)> {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.with_context(|| format!("calling {path}"))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await?;
        let json = serde_json::from_str(&text).unwrap_or(Json::String(text));
        Ok((status, headers, json))
    }

    /// Calls and insists on 200.
    pub async fn ok(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Json>,
    ) -> Result<Json> {
        let (status, json) = self.call(method, path, token, body).await?;
        if status != 200 {
            bail!("{method} {path} -> {status} {json}");
        }
        Ok(json)
    }

    /// A new guest.
    pub async fn guest(&self, name: &str) -> Result<Guest> {
        let json = self.ok("POST", "/api/auth/guest", None, Some(json!({ "name": name }))).await?;
        Ok(Guest { token: str_field(&json, "token")?, player_id: str_field(&json, "player_id")? })
    }

    /// Creates a match; returns its id.
    pub async fn create(&self, who: &Guest, game: &str, config: Json) -> Result<String> {
        let body = json!({ "game": game, "config": config });
        str_field(&self.ok("POST", "/api/matches", Some(&who.token), Some(body)).await?, "match_id")
    }

    /// Takes a seat; returns it.
    pub async fn join(&self, who: &Guest, match_id: &str) -> Result<u8> {
        let json = self
            .ok("POST", &format!("/api/matches/{match_id}/join"), Some(&who.token), None)
            .await?;
        json["seat"].as_u64().map(|s| s as u8).ok_or_else(|| anyhow!("no seat in {json}"))
    }

    /// A 1×1 … n×m dots match with two seated guests.
    pub async fn dots_match(&self, width: u8, height: u8) -> Result<(String, Guest, Guest)> {
        let a = self.guest("ada").await?;
        let b = self.guest("bob").await?;
        let id = self
            .create(&a, "dots", json!({"width": width, "height": height, "players": 2}))
            .await?;
        self.join(&a, &id).await?;
        self.join(&b, &id).await?;
        Ok((id, a, b))
    }
}

fn str_field(json: &Json, key: &str) -> Result<String> {
    json[key].as_str().map(str::to_string).ok_or_else(|| anyhow!("no {key} in {json}"))
}

/// A client over WebSocket or QUIC that keeps a local replica of the match it follows.
pub struct WsClient {
    link: Link,
    /// The encoding it sends (and so receives) in; JSON exists over WebSocket only.
    pub encoding: Encoding,
    /// Every event received, in order.
    pub events: Vec<Event>,
    /// The local replica, reduced from events and checked against every state hash.
    pub replica: protocol::Replica,
}

impl WsClient {
    fn over(link: Link) -> WsClient {
        WsClient {
            link,
            encoding: Encoding::MsgPack,
            events: Vec::new(),
            replica: protocol::Replica::new(builtin_games::games()),
        }
    }

    /// Connects, authenticating with the token in the upgrade's Authorization header.
    pub async fn connect(url: &str, token: &str) -> Result<WsClient> {
        let server = url.trim_end_matches("/ws").replacen("ws", "http", 1);
        let mut client = WsClient::over(Link::websocket(&server, Some(token)).await?);
        match client.recv().await? {
            ServerMsg::Welcome(_) => Ok(client),
            other => bail!("expected welcome, got {other:?}"),
        }
    }

    /// Connects without a token (it must send hello).
    pub async fn connect_anonymous(url: &str) -> Result<WsClient> {
        let server = url.trim_end_matches("/ws").replacen("ws", "http", 1);
        Ok(WsClient::over(Link::websocket(&server, None).await?))
    }

    /// Connects over QUIC without authenticating (it must send hello).
    pub async fn connect_quic_anonymous(target: &QuicTarget) -> Result<WsClient> {
        Ok(WsClient::over(Link::quic(target).await?))
    }

    /// Connects over QUIC and authenticates with hello.
    pub async fn connect_quic(target: &QuicTarget, token: &str) -> Result<WsClient> {
        let mut client = WsClient::connect_quic_anonymous(target).await?;
        client.hello(token).await?;
        match client.recv().await? {
            ServerMsg::Welcome(_) => Ok(client),
            other => bail!("expected welcome, got {other:?}"),
        }
    }

    /// Sends hello.
    pub async fn hello(&mut self, token: &str) -> Result<()> {
        self.send(&ClientMsg::Hello(Hello { version: 1, token: token.into() })).await
    }

    /// Sends a message in this client's encoding.
    pub async fn send(&mut self, msg: &ClientMsg) -> Result<()> {
        let bytes = protocol::encode(msg, self.encoding);
        match self.encoding {
            Encoding::MsgPack => self.link.send_bytes(bytes.into()).await,
            Encoding::Json => self.send_raw(Message::Text(String::from_utf8(bytes)?.into())).await,
        }
    }

    /// Sends any bytes as one message (a binary frame over WebSocket).
    pub async fn send_bytes(&mut self, bytes: Vec<u8>) -> Result<()> {
        self.link.send_bytes(bytes.into()).await
    }

    /// Sends any WebSocket frame.
    pub async fn send_raw(&mut self, frame: Message) -> Result<()> {
        match &mut self.link {
            Link::Ws(ws) => ws.send(frame).await.context("sending a frame"),
            Link::Quic(_) => bail!("raw WebSocket frames need a WebSocket"),
        }
    }

    /// The next server message (skipping pings), reducing events into the replica.
    pub async fn recv(&mut self) -> Result<ServerMsg> {
        let received = tokio::time::timeout(WAIT, self.link.recv())
            .await
            .context("waiting for a message")??;
        match received {
            Received::Msg(msg) => {
                self.observe(&msg)?;
                Ok(msg)
            }
            Received::Closed(code, reason) => bail!("closed: {code} {reason}"),
        }
    }

    /// Reads until the connection closes; returns the close code and reason.
    pub async fn closed(&mut self) -> Result<(u16, String)> {
        loop {
            match tokio::time::timeout(WAIT, self.link.recv())
                .await
                .context("waiting for close")??
            {
                Received::Closed(code, reason) => return Ok((code, reason)),
                Received::Msg(_) => {}
            }
        }
    }

    /// Closes from the client's side.
    pub async fn close(&mut self) {
        self.link.close().await;
    }

    /// Reads until `pick` returns something.
    pub async fn until<T>(&mut self, mut pick: impl FnMut(&ServerMsg) -> Option<T>) -> Result<T> {
        loop {
            let msg = self.recv().await?;
            if let Some(found) = pick(&msg) {
                return Ok(found);
            }
        }
    }

    /// Reads until an `error`; returns its code.
    pub async fn error_code(&mut self) -> Result<String> {
        self.until(|m| if let ServerMsg::Error(e) = m { Some(e.code.clone()) } else { None }).await
    }

    /// Pings and reads until the matching pong: the connection still answers.
    pub async fn pong(&mut self, nonce: u64) -> Result<()> {
        self.send(&ClientMsg::Ping(protocol::v1::Ping { nonce })).await?;
        self.until(|m| matches!(m, ServerMsg::Pong(p) if p.nonce == nonce).then_some(())).await
    }

    /// Joins and reads up to `caught_up`.
    pub async fn join(&mut self, match_id: &str, role: Role, from_seq: Option<u64>) -> Result<()> {
        self.send(&ClientMsg::Join(Join { match_id: match_id.into(), role, from_seq })).await?;
        self.until(|m| match m {
            ServerMsg::CaughtUp(_) => Some(Ok(())),
            ServerMsg::Error(e) => Some(Err(anyhow!("join refused: {} {}", e.code, e.message))),
            _ => None,
        })
        .await?
    }

    /// Sends a move given as JSON.
    pub async fn play(&mut self, match_id: &str, move_id: u64, mv: Json) -> Result<()> {
        let mv = serde_json::from_value(mv)?;
        self.send(&ClientMsg::Move(Move { match_id: match_id.into(), move_id, mv })).await
    }

    /// Waits for the verdict on `move_id`.
    pub async fn verdict(&mut self, move_id: u64) -> Result<protocol::v1::VerdictResult> {
        self.until(|m| match m {
            ServerMsg::Verdict(v) if v.move_id == move_id => Some(v.result.clone()),
            _ => None,
        })
        .await
    }

    /// The last seq received.
    pub fn last_seq(&self) -> Option<u64> {
        self.events.last().map(|e| e.seq)
    }

    /// Keeps events gapless and the replica's hash equal to the server's.
    fn observe(&mut self, msg: &ServerMsg) -> Result<()> {
        match msg {
            // A snapshot replaces history: the replica restarts with the next join from 0.
            ServerMsg::Snapshot(_) => {
                self.replica = protocol::Replica::new(builtin_games::games());
                self.events.clear();
            }
            ServerMsg::Event(e) => {
                if let Some(last) = self.last_seq()
                    && e.seq != last + 1
                {
                    bail!("gap or repeat: event {} after {last}", e.seq);
                }
                if self.replica.last_seq().is_some() || e.seq == 0 {
                    self.replica.apply(e)?;
                }
                self.events.push(e.clone());
            }
            _ => {}
        }
        Ok(())
    }
}

/// A dots edge as JSON.
pub fn edge(dir: &str, x: u8, y: u8) -> Json {
    json!({"dir": dir, "x": x, "y": y})
}

/// Every edge of a width × height board, in an order that plays a whole match.
pub fn all_edges(width: u8, height: u8) -> Vec<Json> {
    let mut edges = Vec::new();
    for y in 0..=height {
        for x in 0..width {
            edges.push(edge("h", x, y));
        }
    }
    for y in 0..height {
        for x in 0..=width {
            edges.push(edge("v", x, y));
        }
    }
    edges
}

/// A bare TCP client, for what an HTTP library will not do: stay silent, send half a request,
/// or read exactly what the server answers before it closes.
pub struct RawClient {
    stream: TcpStream,
}

impl RawClient {
    /// Connects to `addr` from the loopback address `from` (any of 127.0.0.0/8 reaches a server
    /// on 127.0.0.1, so tests can play several client addresses).
    pub async fn connect(addr: std::net::SocketAddr, from: std::net::IpAddr) -> Result<RawClient> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(std::net::SocketAddr::new(from, 0))?;
        let stream = socket.connect(addr).await.context("connecting")?;
        Ok(RawClient { stream })
    }

    /// Writes these bytes.
    pub async fn send(&mut self, bytes: &[u8]) -> Result<()> {
        use tokio::io::AsyncWriteExt;
        self.stream.write_all(bytes).await.context("writing")
    }

    /// Reads until the server closes (or resets) the connection, for at most `within`; returns
    /// what it sent, or an error if it kept the connection open that long.
    pub async fn read_to_close(&mut self, within: Duration) -> Result<String> {
        use tokio::io::AsyncReadExt;
        let mut received = Vec::new();
        let mut buf = [0u8; 4096];
        let read_all = async {
            loop {
                match self.stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => received.extend_from_slice(&buf[..n]),
                }
            }
        };
        tokio::time::timeout(within, read_all).await.context("the server kept it open")?;
        Ok(String::from_utf8_lossy(&received).into_owned())
    }
}

/// The status code and the JSON error code of a raw HTTP answer.
pub fn status_and_code(answer: &str) -> (u16, String) {
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    let code = serde_json::from_str::<Json>(body)
        .ok()
        .and_then(|j| j["error"]["code"].as_str().map(str::to_string))
        .unwrap_or_default();
    (status, code)
}
