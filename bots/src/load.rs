//! The load tool: keeps N matches of bots running against a server over real WebSocket or QUIC
//! connections, measures each move's latency from send to the broadcast that carries it,
//! reduces every event locally and counts state-hash mismatches as desyncs. In real-time
//! matches it also counts the bytes of each live tick event a connection receives, the time
//! between a connection's consecutive ticks, and each tick's delay against its match's schedule
//! (`arrivals.rs`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use game_rules::{Status, Viewer};
use hdrhistogram::Histogram;
use protocol::v1::{
    ClientMsg, Event, EventBody, Join, Leave, Move, Role, ServerMsg, VerdictResult,
};
use serde_json::json;
use std::sync::Mutex;

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use crate::arrivals::TickArrivals;
use crate::link::{Link, QuicTarget, Received, TransportKind, quic_target};
use crate::strategy::{Strategy, StrategyKind};

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// `http://host:port`.
    pub server: String,
    /// Matches kept running at once.
    pub matches: usize,
    /// How long to run.
    pub duration: Duration,
    /// Each bot waits this long before moving, on average.
    pub think: Duration,
    /// How far each wait strays from `think`, as a fraction of it: each wait is drawn
    /// uniformly from `think × [1 − spread, 1 + spread]` (seeded). Without it, bots whose
    /// events arrive in one group commit all answer at the same instant, and the load turns
    /// into waves that real players do not make. 0 keeps the lockstep.
    pub think_spread: f64,
    /// Spectators per match.
    pub spectators: usize,
    /// The bots' strategy.
    pub strategy: StrategyKind,
    /// Seed of every bot's strategy.
    pub seed: u64,
    /// The game every match plays: any game the server registers.
    pub game: String,
    /// Seats of each match, every one taken by a bot of this run: what `config` asks for.
    pub players: usize,
    /// The config each match is created with (`null`: the game's default).
    pub config: serde_json::Value,
    /// Where a desynced or failed match's events are saved.
    pub failures_dir: PathBuf,
    /// WebSocket or QUIC.
    pub transport: TransportKind,
}

/// What a run measured (the `--json` output).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    /// Matches played to the end.
    pub matches_completed: u64,
    /// Moves accepted.
    pub moves: u64,
    /// Accepted moves per second of run time.
    pub moves_per_s: f64,
    /// Send-to-broadcast latency percentiles, µs.
    pub latency_us_p50: u64,
    /// 99th percentile.
    pub latency_us_p99: u64,
    /// 99.9th percentile.
    pub latency_us_p999: u64,
    /// Worst.
    pub latency_us_max: u64,
    /// Moves the server refused.
    pub rejects: u64,
    /// Errors (connection failures, error messages, timeouts).
    pub errors: u64,
    /// Events whose state hash differed from the local replica's.
    pub desyncs: u64,
    /// Refusals for going over the server's rate limits: the server's limits (or the load's
    /// pace) need changing, see `bots load --help`.
    pub rate_limited: u64,
    /// WebSocket connections opened.
    pub connections: u64,
    /// Seconds run.
    pub elapsed_s: f64,
    /// `(percentile, µs)` points of the latency distribution, for plotting.
    pub latency_percentiles: Vec<(f64, u64)>,
    /// Live tick events received, summed over connections (one per tick per viewer; those of
    /// a catch-up are not counted).
    pub tick_events: u64,
    /// The bytes those events took on their connections (frame headers included).
    pub tick_bytes: u64,
    /// Time between two consecutive live ticks of a match on one connection, µs: the 1st
    /// percentile.
    pub tick_interval_us_p1: u64,
    /// Median.
    pub tick_interval_us_p50: u64,
    /// 99th percentile.
    pub tick_interval_us_p99: u64,
    /// Longest.
    pub tick_interval_us_max: u64,
    /// Each live tick's arrival on a connection after the time its match's schedule implies
    /// (`TickArrivals`), µs: the median.
    pub tick_delay_us_p50: u64,
    /// 99th percentile.
    pub tick_delay_us_p99: u64,
    /// Longest.
    pub tick_delay_us_max: u64,
}

/// The percentiles a report lists.
const PERCENTILES: [f64; 10] = [0.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.99, 100.0];

/// Counters shared by every driver.
#[derive(Default)]
pub struct Counters {
    /// Matches completed.
    pub matches: AtomicU64,
    /// Moves accepted.
    pub moves: AtomicU64,
    /// Rejects.
    pub rejects: AtomicU64,
    /// Errors.
    pub errors: AtomicU64,
    /// Desyncs.
    pub desyncs: AtomicU64,
    /// Refusals for going over the server's rate limits (messages or HTTP requests).
    pub rate_limited: AtomicU64,
    /// Connections.
    pub connections: AtomicU64,
    /// Live tick events received (one per tick per viewer).
    pub tick_events: AtomicU64,
    /// Their bytes on the wire.
    pub tick_bytes: AtomicU64,
}

/// Runs the load; `progress` is called about once a second with the counters.
pub async fn run(
    config: LoadConfig,
    progress: impl Fn(&Counters, Duration) + Send + 'static,
) -> Result<Report> {
    let counters = Arc::new(Counters::default());
    let latency = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?));
    let tick_intervals = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?));
    let tick_delays = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?));
    let started = Instant::now();
    let deadline = started + config.duration;
    let http = http_client()?;
    let quic = match config.transport {
        TransportKind::Quic => Some(quic_target(&http, &config.server).await?),
        TransportKind::Ws => None,
    };
    let mut tasks = Vec::new();
    for n in 0..config.matches {
        let driver = Driver {
            config: config.clone(),
            quic: quic.clone(),
            http: http.clone(),
            counters: counters.clone(),
            latency: latency.clone(),
            tick_intervals: tick_intervals.clone(),
            tick_delays: tick_delays.clone(),
            n,
        };
        tasks.push(tokio::spawn(async move { driver.run(deadline).await }));
    }
    let ticker = {
        let counters = counters.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                progress(&counters, started.elapsed());
            }
        })
    };
    for task in tasks {
        if let Ok(Err(e)) = task.await {
            counters.errors.fetch_add(1, Ordering::Relaxed);
            eprintln!("driver failed: {e:#}");
        }
    }
    ticker.abort();
    let elapsed = started.elapsed().as_secs_f64();
    let h = latency.lock().unwrap_or_else(|p| p.into_inner());
    let moves = counters.moves.load(Ordering::Relaxed);
    let intervals = tick_intervals.lock().unwrap_or_else(|p| p.into_inner());
    let delays = tick_delays.lock().unwrap_or_else(|p| p.into_inner());
    Ok(Report {
        matches_completed: counters.matches.load(Ordering::Relaxed),
        moves,
        moves_per_s: moves as f64 / elapsed.max(1e-9),
        latency_us_p50: h.value_at_quantile(0.5),
        latency_us_p99: h.value_at_quantile(0.99),
        latency_us_p999: h.value_at_quantile(0.999),
        latency_us_max: h.max(),
        rejects: counters.rejects.load(Ordering::Relaxed),
        errors: counters.errors.load(Ordering::Relaxed),
        desyncs: counters.desyncs.load(Ordering::Relaxed),
        rate_limited: counters.rate_limited.load(Ordering::Relaxed),
        connections: counters.connections.load(Ordering::Relaxed),
        elapsed_s: elapsed,
        latency_percentiles: PERCENTILES.iter().map(|&p| (p, h.value_at_percentile(p))).collect(),
        tick_events: counters.tick_events.load(Ordering::Relaxed),
        tick_bytes: counters.tick_bytes.load(Ordering::Relaxed),
        tick_interval_us_p1: intervals.value_at_quantile(0.01),
        tick_interval_us_p50: intervals.value_at_quantile(0.5),
        tick_interval_us_p99: intervals.value_at_quantile(0.99),
        tick_interval_us_max: intervals.max(),
        tick_delay_us_p50: delays.value_at_quantile(0.5),
        tick_delay_us_p99: delays.value_at_quantile(0.99),
        tick_delay_us_max: delays.max(),
    })
}

/// Opens `count` connections that join `match_id` as spectators and stay idle; calls `ready`
/// once all are open, then holds them for `hold`. Returns how many opened.
pub async fn hold_idle(
    server: &str,
    transport: TransportKind,
    count: usize,
    hold: Duration,
    ready: impl FnOnce(usize),
) -> Result<usize> {
    let http = reqwest::Client::new();
    let quic = match transport {
        TransportKind::Quic => Some(quic_target(&http, server).await?),
        TransportKind::Ws => None,
    };
    let far = Instant::now() + Duration::from_secs(3600);
    let token = guest(&http, server, "idle", &Counters::default(), far)
        .await?
        .ok_or_else(|| anyhow!("no guest token"))?;
    let created: serde_json::Value = http
        .post(format!("{server}/api/matches"))
        .bearer_auth(&token)
        .json(&json!({"game": "dots"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let match_id = created["match_id"].as_str().ok_or_else(|| anyhow!("no match id"))?.to_string();
    let mut sockets = Vec::with_capacity(count);
    // Open in batches: fast, without a thundering herd of handshakes.
    for batch in (0..count).collect::<Vec<_>>().chunks(200) {
        let opening = batch.iter().map(|_| {
            let (token, match_id, quic) = (token.clone(), match_id.clone(), quic.as_ref());
            async move {
                let mut link = open_link(server, quic, &token).await?;
                let join = Join { match_id, role: Role::Spectator, from_seq: None };
                link.send(&ClientMsg::Join(join)).await?;
                anyhow::Ok(link)
            }
        });
        for socket in futures_util::future::join_all(opening).await {
            sockets.push(socket?);
        }
    }
    // Read what each was sent (welcome, joined, snapshot, caught_up) so nothing waits on us.
    for socket in &mut sockets {
        for _ in 0..4 {
            let _ = tokio::time::timeout(Duration::from_secs(5), socket.recv()).await;
        }
    }
    ready(sockets.len());
    tokio::time::sleep(hold).await;
    let opened = sockets.len();
    for mut socket in sockets {
        socket.close().await;
    }
    Ok(opened)
}

/// Keeps one match slot busy: two players (and spectators) on long-lived connections, one
/// match after another.
struct Driver {
    config: LoadConfig,
    /// Where QUIC connects, when the run is over QUIC.
    quic: Option<QuicTarget>,
    http: reqwest::Client,
    counters: Arc<Counters>,
    latency: Arc<Mutex<Histogram<u64>>>,
    /// Time between consecutive live ticks on a connection, µs.
    tick_intervals: Arc<Mutex<Histogram<u64>>>,
    /// Each live tick's delay against its match's schedule, µs.
    tick_delays: Arc<Mutex<Histogram<u64>>>,
    n: usize,
}

/// One wait, drawn uniformly from `think × [1 − spread, 1 + spread]`.
fn think_time(think: Duration, spread: f64, thinking: &mut Pcg64Mcg) -> Duration {
    let spread = if spread.is_finite() { spread.clamp(0.0, 1.0) } else { 0.0 };
    if spread == 0.0 || think.is_zero() {
        return think;
    }
    think.mul_f64(thinking.random_range(1.0 - spread..=1.0 + spread))
}

/// One connection and what it knows of the current match.
struct Bot {
    socket: Link,
    seat: Option<u8>,
    replica: protocol::Replica,
    events: Vec<Event>,
    strategy: Strategy,
    /// Move id → when it was sent.
    sent: HashMap<u64, Instant>,
    next_move_id: u64,
    /// Whether the current match's catch-up is over (its events now arrive as they happen).
    live: bool,
    /// When the current match's last live tick arrived.
    last_tick: Option<Instant>,
    /// The current match's live ticks, to time against its schedule when it ends.
    arrivals: TickArrivals,
}

impl Driver {
    async fn run(&self, deadline: Instant) -> Result<()> {
        // A server's budgets may pace these; the deadline may come first.
        let mut tokens = Vec::with_capacity(self.config.players);
        for i in 0..self.config.players {
            let Some(token) = self.guest(&format!("bot-{i}"), deadline).await? else {
                return Ok(());
            };
            tokens.push(token);
        }
        let mut bots = Vec::new();
        for (i, token) in tokens.iter().enumerate() {
            let seed = self.config.seed.wrapping_add((self.n * self.config.players + i) as u64);
            bots.push(self.connect(token, self.config.strategy.player(seed)).await?);
        }
        let Some(watcher) = self.guest("watcher", deadline).await? else { return Ok(()) };
        for i in 0..self.config.spectators {
            bots.push(self.connect(&watcher, StrategyKind::Random.player(i as u64)).await?);
        }
        let mut thinking = Pcg64Mcg::seed_from_u64(self.config.seed ^ (self.n as u64) << 32);
        while Instant::now() < deadline {
            let Some(match_id) = self.new_match(&tokens, deadline).await? else { break };
            match self.play(&match_id, &mut bots, deadline, &mut thinking).await {
                Ok(true) => {
                    self.counters.matches.fetch_add(1, Ordering::Relaxed);
                }
                Ok(false) => {}
                Err(e) => {
                    self.counters.errors.fetch_add(1, Ordering::Relaxed);
                    self.save_failure(&match_id, &bots, &format!("{e:#}"));
                    return Err(e);
                }
            }
            for bot in &mut bots {
                let leave = ClientMsg::Leave(Leave { match_id: match_id.clone() });
                bot.socket.send(&leave).await?;
            }
        }
        for bot in &mut bots {
            self.time_arrivals(bot);
            bot.socket.close().await;
        }
        Ok(())
    }

    async fn guest(&self, name: &str, deadline: Instant) -> Result<Option<String>> {
        guest(&self.http, &self.config.server, name, &self.counters, deadline).await
    }

    async fn connect(&self, token: &str, strategy: Strategy) -> Result<Bot> {
        let socket = open_link(&self.config.server, self.quic.as_ref(), token).await?;
        self.counters.connections.fetch_add(1, Ordering::Relaxed);
        Ok(Bot {
            socket,
            seat: None,
            replica: protocol::Replica::new(builtin_games::games()),
            events: Vec::new(),
            strategy,
            sent: HashMap::new(),
            next_move_id: 1,
            live: false,
            last_tick: None,
            arrivals: TickArrivals::new(tick_period(&self.config.config)),
        })
    }

    /// A new match with both bots seated; `None` when the server's budgets pace it past the
    /// deadline.
    async fn new_match(&self, tokens: &[String], deadline: Instant) -> Result<Option<String>> {
        let body = json!({"game": self.config.game, "config": self.config.config});
        let url = format!("{}/api/matches", self.config.server);
        let create = self.http.post(url).bearer_auth(&tokens[0]).json(&body);
        let Some(created) = paced(create, &self.counters, deadline).await? else { return Ok(None) };
        let created: serde_json::Value = created.json().await?;
        let id = created["match_id"]
            .as_str()
            .ok_or_else(|| anyhow!("no match_id in {created}"))?
            .to_string();
        for token in tokens {
            let url = format!("{}/api/matches/{id}/join", self.config.server);
            let join = self.http.post(url).bearer_auth(token);
            if paced(join, &self.counters, deadline).await?.is_none() {
                return Ok(None);
            }
        }
        Ok(Some(id))
    }

    /// Plays one match to its end (true) or to the deadline (false).
    async fn play(
        &self,
        match_id: &str,
        bots: &mut [Bot],
        deadline: Instant,
        thinking: &mut Pcg64Mcg,
    ) -> Result<bool> {
        for (i, bot) in bots.iter_mut().enumerate() {
            let player = i < self.config.players;
            bot.seat = player.then_some(i as u8);
            bot.replica = protocol::Replica::new(builtin_games::games());
            bot.events.clear();
            bot.sent.clear();
            self.time_arrivals(bot);
            (bot.live, bot.last_tick) = (false, None);
            let role = if player { Role::Player } else { Role::Spectator };
            let join = Join { match_id: match_id.into(), role, from_seq: Some(0) };
            bot.socket.send(&ClientMsg::Join(join)).await?;
        }
        let mut over = vec![false; bots.len()];
        // The next move: which bot, and when its think time is up. Moves are scheduled, not
        // slept on, so that reading (and so latency measurement) never waits on thinking.
        let mut due: Option<(usize, tokio::time::Instant)> = None;
        while over.iter().any(|o| !o) {
            if Instant::now() >= deadline {
                return Ok(false);
            }
            let think_over = async {
                match due {
                    Some((_, at)) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let (i, msg, bytes) = tokio::select! {
                biased;
                read = next_message(bots) => read?,
                () = think_over => {
                    let (i, _) = due.take().ok_or_else(|| anyhow!("no move due"))?;
                    self.send_move(match_id, &mut bots[i]).await?;
                    continue;
                }
            };
            let bot = &mut bots[i];
            match msg {
                ServerMsg::Event(event) => {
                    self.count_tick(bot, &event, bytes);
                    if self.observe(bot, event)? {
                        over[i] = true;
                    } else if self.my_tick(bot) {
                        self.send_move(match_id, bot).await?;
                    } else if self.my_turn(bot) {
                        let think =
                            think_time(self.config.think, self.config.think_spread, thinking);
                        due = Some((i, tokio::time::Instant::now() + think));
                    }
                }
                // The verdict of a move sent as the bot's previous match ended (a real-time
                // input refused `match_over`) can arrive after that match's last event.
                ServerMsg::Verdict(v) if v.match_id != match_id => {}
                ServerMsg::Verdict(v) => match v.result {
                    VerdictResult::Accepted { .. } => {}
                    // A real-time input overtaken by a tick (its cycle crashed, or the match
                    // ended, before it arrived) is late, not wrong.
                    VerdictResult::Rejected(body)
                        if real_time(bot)
                            && ["match_over", "illegal_move"].contains(&body.code.as_str()) =>
                    {
                        bot.sent.remove(&v.move_id);
                    }
                    VerdictResult::Rejected(body) => {
                        self.counters.rejects.fetch_add(1, Ordering::Relaxed);
                        bail!("move {} rejected: {} {}", v.move_id, body.code, body.message);
                    }
                },
                ServerMsg::CaughtUp(_) => bot.live = true,
                ServerMsg::Error(e) => {
                    if e.code == "rate_limited" {
                        self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
                    }
                    bail!("server error {}: {}", e.code, e.message)
                }
                _ => {}
            }
        }
        Ok(true)
    }

    /// Counts a live tick event's bytes, and the time since the connection's previous one.
    fn count_tick(&self, bot: &mut Bot, event: &Event, bytes: usize) {
        if !bot.live || !matches!(event.body, Some(EventBody::Tick(_))) {
            return;
        }
        self.counters.tick_events.fetch_add(1, Ordering::Relaxed);
        self.counters.tick_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        let now = Instant::now();
        bot.arrivals.note(event.seq, now);
        if let Some(last) = bot.last_tick.replace(now) {
            let us = now.duration_since(last).as_micros() as u64;
            let mut h = self.tick_intervals.lock().unwrap_or_else(|p| p.into_inner());
            let _ = h.record(us.max(1));
        }
    }

    /// Records the delays of the ticks the bot saw in its last match.
    fn time_arrivals(&self, bot: &mut Bot) {
        let delays = bot.arrivals.take_delays();
        let mut h = self.tick_delays.lock().unwrap_or_else(|p| p.into_inner());
        for delay in delays {
            let _ = h.record((delay.as_micros() as u64).max(1));
        }
    }

    /// Reduces an event into the bot's replica; true when the match is over.
    fn observe(&self, bot: &mut Bot, event: Event) -> Result<bool> {
        if let Some(sent) = applied_here(bot, &event) {
            let us = sent.elapsed().as_micros() as u64;
            let mut h = self.latency.lock().unwrap_or_else(|p| p.into_inner());
            let _ = h.record(us.max(1));
            self.counters.moves.fetch_add(1, Ordering::Relaxed);
        }
        let reduced = bot.replica.apply(&event);
        let over = event.status.is_over();
        bot.events.push(event);
        if let Err(e) = reduced {
            if matches!(e, protocol::ReplicaError::Desync { .. }) {
                self.counters.desyncs.fetch_add(1, Ordering::Relaxed);
            }
            bail!("{e}");
        }
        Ok(over)
    }

    /// Whether the last event left this bot to move (and it has no move in flight).
    fn my_turn(&self, bot: &Bot) -> bool {
        let (Some(seat), Some(last)) = (bot.seat, bot.events.last()) else { return false };
        last.status == Status::Turn(seat) && bot.sent.is_empty()
    }

    /// Whether a real-time match just ticked and this player has no input waiting: it then
    /// steers (or not) at once, so it never has two inputs waiting for one tick.
    fn my_tick(&self, bot: &Bot) -> bool {
        let Some(last) = bot.events.last() else { return false };
        bot.seat.is_some() && last.status == Status::Simultaneous && bot.sent.is_empty()
    }

    /// Chooses and sends the bot's move, remembering when it left.
    async fn send_move(&self, match_id: &str, bot: &mut Bot) -> Result<()> {
        let (Some(seat), Some(replica)) = (bot.seat, bot.replica.state()) else { return Ok(()) };
        let legal = replica.legal_moves(seat);
        let view = replica.view(Viewer::Seat(seat));
        let Some(pick) = bot.strategy.choose(replica.game_id(), seat, &view, &legal) else {
            return Ok(());
        };
        let mv = protocol::v1::RawValue::from_msgpack_unchecked(legal[pick].clone());
        let move_id = bot.next_move_id;
        bot.next_move_id += 1;
        bot.sent.insert(move_id, Instant::now());
        bot.socket.send(&ClientMsg::Move(Move { match_id: match_id.into(), move_id, mv })).await
    }

    /// Saves what the bots received of a failed match, for a test to replay.
    fn save_failure(&self, match_id: &str, bots: &[Bot], why: &str) {
        let events: Vec<&Vec<Event>> = bots.iter().map(|b| &b.events).collect();
        let record = json!({"match_id": match_id, "why": why, "events_per_connection": events});
        let path = self.config.failures_dir.join(format!("{match_id}.json"));
        let written = std::fs::create_dir_all(&self.config.failures_dir)
            .and_then(|()| std::fs::write(&path, record.to_string()));
        match written {
            Ok(()) => eprintln!("saved failed match to {}", path.display()),
            Err(e) => eprintln!("could not save failed match {match_id}: {e}"),
        }
    }
}

/// Keep-alive connections idle past this are not reused: a server closes an idle one after
/// its header timeout (10 s by default), and a request sent as it closes fails.
const HTTP_IDLE: Duration = Duration::from_secs(4);

/// The load's HTTP client: its pooled connections are dropped before a server drops them.
fn http_client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder().pool_idle_timeout(HTTP_IDLE).build()?)
}

/// A real-time match's tick period: its config's `tick_hz`, or light cycles' default of 20.
fn tick_period(config: &serde_json::Value) -> Duration {
    let hz = config["tick_hz"].as_u64().filter(|&hz| hz > 0).unwrap_or(20);
    Duration::from_nanos(1_000_000_000 / hz)
}

/// Whether the bot's match is real-time: its last event is a tick.
fn real_time(bot: &Bot) -> bool {
    matches!(bot.events.last().and_then(|e| e.body.as_ref()), Some(EventBody::Tick(_)))
}

/// When this bot sent the move `event` applies, if it applies one of its moves: a turn's
/// move carries its id; a tick carries at most one input of the seat, the one in flight.
fn applied_here(bot: &mut Bot, event: &Event) -> Option<Instant> {
    let seat = bot.seat?;
    match &event.body {
        Some(EventBody::Move(m)) if m.seat == seat => bot.sent.remove(&m.move_id),
        Some(EventBody::Tick(t)) if t.inputs.iter().any(|i| i.seat == seat) => {
            let first = bot.sent.keys().min().copied()?;
            bot.sent.remove(&first)
        }
        _ => None,
    }
}

/// Sends a request, waiting out each `429` for as long as its `Retry-After` says, so a run
/// stays within the server's request budgets; every wait is counted as rate-limited. `None`
/// when the deadline would come first.
async fn paced(
    request: reqwest::RequestBuilder,
    counters: &Counters,
    deadline: Instant,
) -> Result<Option<reqwest::Response>> {
    loop {
        let attempt = request.try_clone().context("a request that can be sent again")?;
        let response = attempt.send().await?;
        if response.status() != reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Ok(Some(response.error_for_status()?));
        }
        counters.rate_limited.fetch_add(1, Ordering::Relaxed);
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
            .unwrap_or(1);
        let wait = Duration::from_secs(retry_after.clamp(1, 60));
        if Instant::now() + wait >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(wait).await;
    }
}

/// A guest token from the server at `server`, paced by its budgets; `None` past `deadline`.
async fn guest(
    http: &reqwest::Client,
    server: &str,
    name: &str,
    counters: &Counters,
    deadline: Instant,
) -> Result<Option<String>> {
    let request = http.post(format!("{server}/api/auth/guest")).json(&json!({"name": name}));
    let Some(response) = paced(request, counters, deadline).await? else { return Ok(None) };
    let body: serde_json::Value = response.json().await?;
    let token = body["token"].as_str().ok_or_else(|| anyhow!("no token in {body}"))?;
    Ok(Some(token.to_string()))
}

/// An authenticated connection: WebSocket with the token in its upgrade, or QUIC with a
/// `hello` sent at once (its `welcome` is read with the other messages).
async fn open_link(server: &str, quic: Option<&QuicTarget>, token: &str) -> Result<Link> {
    match quic {
        None => Link::websocket(server, Some(token)).await,
        Some(target) => {
            let mut link = Link::quic(target).await?;
            let hello = protocol::v1::Hello { version: protocol::v1::VERSION, token: token.into() };
            link.send(&ClientMsg::Hello(hello)).await?;
            Ok(link)
        }
    }
}

/// The next message from any bot's connection, with the bytes it took on the wire.
async fn next_message(bots: &mut [Bot]) -> Result<(usize, ServerMsg, usize)> {
    let reads = bots
        .iter_mut()
        .enumerate()
        .map(|(i, bot)| Box::pin(async move { (i, bot.socket.recv_sized().await) }));
    let ((i, frame), _, _) =
        tokio::time::timeout(Duration::from_secs(30), futures_util::future::select_all(reads))
            .await
            .context("no message for 30 s")?;
    match frame {
        Ok((Received::Msg(msg), bytes)) => Ok((i, msg, bytes)),
        Ok((Received::Closed(code, reason), _)) => bail!("connection {i} closed: {code} {reason}"),
        Err(e) => bail!("connection {i}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn think_times_stay_within_the_spread_and_follow_the_seed() {
        let think = Duration::from_millis(50);
        let draw = |seed| {
            let mut rng = Pcg64Mcg::seed_from_u64(seed);
            (0..1000).map(|_| think_time(think, 0.5, &mut rng)).collect::<Vec<_>>()
        };
        let times = draw(7);
        assert!(times.iter().all(|t| (25..=75).contains(&t.as_millis())), "{times:?}");
        // Spread out, not one value: both halves of the range are drawn.
        assert!(
            times.iter().any(|t| t.as_millis() < 40) && times.iter().any(|t| t.as_millis() > 60)
        );
        assert_eq!(times, draw(7));
        assert_ne!(times, draw(8));
    }

    #[test]
    fn no_spread_or_no_think_is_exact() {
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        let think = Duration::from_millis(50);
        assert_eq!(think_time(think, 0.0, &mut rng), think);
        assert_eq!(think_time(think, f64::NAN, &mut rng), think);
        assert_eq!(think_time(Duration::ZERO, 0.5, &mut rng), Duration::ZERO);
    }
}
