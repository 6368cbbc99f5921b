//! Channels under load, with the subscribers in another process.
//!
//! The server is this process: a runtime on a scratch store, served by
//! `herald::http::Server` on a loopback port with one channel, `feed` (`feed.*`). The
//! subscribers are a child process (this same binary, run with `--clients`) that opens N
//! WebSocket connections (tokio-tungstenite), each subscribed to `feed.*` after
//! authenticating its upgrade, and notes when each event frame arrives on each
//! connection. Both processes read the same clock, `SystemTime` (nanoseconds since the
//! Unix epoch, one machine).
//!
//! 1. **Latency**: with N subscribers (100, 1,000, 10,000) attached, commands commit at a
//!    steady 100 commands/s, one event each with a 1 KiB payload. For each event, the
//!    time from its commit (`dispatch` returning) to its receipt by the *last* of the N
//!    subscribers; p50, p99 and the largest, over 1,000 events after 200 of warm-up.
//!    Also: whether every subscriber got every event, the server's resident memory once
//!    the N are subscribed (`VmRSS` of `/proc/self/status`) and the CPU each process
//!    used (`/proc/<pid>/stat`), as a share of one core.
//! 2. **What a channel costs `dispatch`**: one writer dispatching as fast as it can,
//!    with no subscriber and with 1,000 subscribers attached (hearing every event), in
//!    interleaved rounds of the same run; the medians and their ratio. After each round
//!    with subscribers, every one of them must have received every event.
//! 3. **A flood of bad input**: 200 connections that each send 64 subscriptions and then
//!    2,000 malformed, unknown or refused messages without ever reading, beside 100
//!    well-behaved subscribers at 100 commands/s: the server's memory before, at the
//!    flood's height and after, and the well-behaved subscribers' latency meanwhile.
//!
//! Run: `cargo bench -p herald-tests --bench channels` (SQLite; `-- --postgres` also on
//! PostgreSQL from `DATABASE_URL`; `-- --quick` for short phases; `-- --subscribers
//! 100,1000` to choose the rows; `-- --only latency,dispatch,flood` to choose the phases). 10,000 subscribers need about 10,100 open files in
//! each process: the bench raises its soft limit to the hard one (`prlimit`) and skips
//! the row, saying so, when that is not enough.

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use herald::channels::Join;
use herald::http::{Api, StaticTokens};
use herald::prelude::*;
use herald::{Actor, Herald};
use herald_tests::backends::TestStore;
use herald_tests::http::Served;

#[event("feed.:id.posted")]
struct Posted {
    /// First, so that a client finds it at once in the frame.
    seq: u64,
    id: u64,
    pad: String,
}

#[command("post.feed.:id")]
struct Post {
    id: u64,
    seq: u64,
    pad: String,
}

#[aggregate(name = "feed")]
#[derive(Default)]
struct Feed {
    posts: u64,
}

#[aggregate]
impl Feed {
    #[handle]
    fn post(&self, cmd: &Post) -> Result<Posted, Infallible> {
        Ok(Posted {
            seq: cmd.seq,
            id: cmd.id,
            pad: cmd.pad.clone(),
        })
    }

    #[apply]
    fn posted(&mut self, _: &Posted) {
        self.posts += 1;
    }
}

/// Every event of the bench.
#[channel("feed.*")]
async fn feed(_join: &Join, _reader: &mut Reader) -> bool {
    true
}

const TOKEN: &str = "bench-token";
/// Streams the commands go to, in turn.
const STREAMS: u64 = 64;

fn actor() -> Actor {
    Actor::new("bench", Actor::DEFAULT_TENANT)
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos() as u64
}

/// The payload's padding: with `seq`, about 1 KiB of JSON.
fn pad() -> String {
    "x".repeat(1000)
}

// ---------------------------------------------------------------------------------------
// Measuring a process.

/// `VmRSS` of `/proc/<pid>/status`, in MiB.
fn rss_mib(pid: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// The CPU time `/proc/<pid>/stat` counts for the process (every thread, user and
/// system), in seconds.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime, in clock ticks of 1/100 s.
    (ticks(11) + ticks(12)) / 100.0
}

/// The soft limit on open files, raised to the hard limit when it is lower.
fn open_files_limit() -> u64 {
    let read = || {
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .map(|l| {
                let numbers: Vec<u64> = l
                    .split_whitespace()
                    .filter_map(|w| w.parse().ok())
                    .collect();
                (
                    numbers.first().copied().unwrap_or(1024),
                    numbers.get(1).copied().unwrap_or(1024),
                )
            })
            .unwrap_or((1024, 1024))
    };
    let (soft, hard) = read();
    if soft < hard {
        let _ = Command::new("prlimit")
            .arg(format!("--pid={}", std::process::id()))
            .arg(format!("--nofile={hard}:{hard}"))
            .status();
    }
    read().0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

// ---------------------------------------------------------------------------------------
// The subscribers' process, from the server's side.

/// The child process holding the subscribers.
struct Clients {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// The first sequence number it tracks.
    base: u64,
    pid: String,
}

impl Clients {
    /// Starts `n` subscribers (or, with `flood`, `n` connections that flood) of the
    /// server at `addr`, tracking sequence numbers from `base` on; returns once all are
    /// subscribed.
    fn spawn(addr: &str, n: usize, base: u64, capacity: u64, mode: &str) -> Clients {
        let mut child = Command::new(std::env::current_exe().expect("this binary"))
            .args([
                "--clients",
                mode,
                addr,
                &n.to_string(),
                &base.to_string(),
                &capacity.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the clients' process");
        let stdin = child.stdin.take().expect("its input");
        let mut stdout = BufReader::new(child.stdout.take().expect("its output"));
        let mut line = String::new();
        tokio::task::block_in_place(|| stdout.read_line(&mut line)).expect("its first line");
        assert_eq!(line.trim(), "ready", "the clients' process said {line:?}");
        let pid = child.id().to_string();
        Clients {
            child,
            stdin,
            stdout,
            base,
            pid,
        }
    }

    /// For each sequence number in `from..to`: how many subscribers received it, and
    /// when the last of them did (ns since the epoch).
    fn report(&mut self, from: u64, to: u64) -> Vec<(u32, u64)> {
        writeln!(self.stdin, "report {} {}", from - self.base, to - self.base).expect("asked");
        self.stdin.flush().expect("asked");
        tokio::task::block_in_place(|| {
            let mut out = Vec::with_capacity((to - from) as usize);
            let mut line = String::new();
            loop {
                line.clear();
                self.stdout.read_line(&mut line).expect("a report line");
                let line = line.trim();
                if line == "end" || line.is_empty() {
                    return out;
                }
                let (count, last) = line.split_once(' ').expect("`count last`");
                out.push((count.parse().unwrap(), last.parse().unwrap()));
            }
        })
    }

    /// Waits (at most `patience`) until every subscriber has every event of `from..to`;
    /// what they got by then.
    async fn delivered(
        &mut self,
        from: u64,
        to: u64,
        n: usize,
        patience: Duration,
    ) -> Vec<(u32, u64)> {
        let started = Instant::now();
        loop {
            let report = self.report(from, to);
            if report.iter().all(|(count, _)| *count as usize >= n) || started.elapsed() > patience
            {
                return report;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn quit(mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// The phases.

struct Server {
    herald: Herald,
    served: Served,
    addr: String,
    /// The next sequence number.
    seq: u64,
    pad: String,
}

impl Server {
    async fn start(store: &TestStore) -> Server {
        let herald = Herald::builder()
            .modules([module_path!()])
            .store(store.store.clone())
            .build()
            .await
            .expect("the runtime");
        let tokens = StaticTokens::new().token(TOKEN, actor());
        let router = Api::new(herald.clone(), tokens).router();
        let served = Served::start(herald.clone(), router).await;
        let addr = served.addr.to_string();
        Server {
            herald,
            served,
            addr,
            seq: 0,
            pad: pad(),
        }
    }

    /// Dispatches the next command; its sequence number and when it committed.
    async fn post(&mut self) -> (u64, u64) {
        let seq = self.seq;
        self.seq += 1;
        self.herald
            .dispatch(Post {
                id: seq % STREAMS,
                seq,
                pad: self.pad.clone(),
            })
            .actor(actor())
            .await
            .expect("dispatched");
        (seq, now_ns())
    }

    /// Commands at a steady `rate` a second for `count` commands: when each committed.
    async fn steady(&mut self, rate: u32, count: u64) -> Vec<u64> {
        let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
        let mut committed = Vec::with_capacity(count as usize);
        for _ in 0..count {
            tick.tick().await;
            committed.push(self.post().await.1);
        }
        committed
    }

    /// Commands per second, one writer as fast as it goes, for `window`.
    async fn flat_out(&mut self, window: Duration) -> (f64, u64, u64) {
        let from = self.seq;
        let started = Instant::now();
        while started.elapsed() < window {
            self.post().await;
        }
        let rate = (self.seq - from) as f64 / started.elapsed().as_secs_f64();
        (rate, from, self.seq)
    }
}

struct Latency {
    p50: f64,
    p99: f64,
    max: f64,
    /// Events every subscriber got, of those measured.
    complete: usize,
    measured: usize,
}

/// Latency (ms) from commit to the last subscriber's receipt, over the `measured`
/// commands after `warmup` ones of `committed`.
fn latencies(report: &[(u32, u64)], committed: &[u64], warmup: usize, n: usize) -> Latency {
    let mut ms: Vec<f64> = report
        .iter()
        .zip(committed)
        .skip(warmup)
        .filter(|((count, _), _)| *count as usize >= n)
        .map(|((_, last), commit)| (*last as f64 - *commit as f64) / 1e6)
        .collect();
    ms.sort_by(f64::total_cmp);
    Latency {
        p50: percentile(&ms, 50.0),
        p99: percentile(&ms, 99.0),
        max: ms.last().copied().unwrap_or(f64::NAN),
        complete: ms.len(),
        measured: committed.len() - warmup,
    }
}

struct Phases {
    warmup: u64,
    measured: u64,
    window: Duration,
    rounds: usize,
}

async fn latency_row(server: &mut Server, store: &str, n: usize, phases: &Phases) {
    let me = std::process::id().to_string();
    let limit = open_files_limit();
    if limit < n as u64 + 512 {
        println!(
            "| {store} | {n} | skipped: the open-file limit is {limit}; raise it (`ulimit -n {}`) | | | | | | |",
            n + 1024
        );
        return;
    }
    let total = phases.warmup + phases.measured;
    let connecting = Instant::now();
    let mut clients = Clients::spawn(&server.addr, n, server.seq, total, "subscribe");
    let connected = connecting.elapsed();
    let rss = rss_mib(&me);
    let (cpu_server, cpu_clients) = (cpu_seconds(&me), cpu_seconds(&clients.pid));
    let from = server.seq;
    let started = Instant::now();
    let committed = server.steady(100, total).await;
    let elapsed = started.elapsed().as_secs_f64();
    let rate = total as f64 / elapsed;
    let report = clients
        .delivered(from, server.seq, n, Duration::from_secs(30))
        .await;
    let (cpu_server, cpu_clients) = (
        (cpu_seconds(&me) - cpu_server) / elapsed,
        (cpu_seconds(&clients.pid) - cpu_clients) / elapsed,
    );
    clients.quit();
    let l = latencies(&report, &committed, phases.warmup as usize, n);
    println!(
        "| {store} | {n} | {rate:.0} | {:.1} ms | {:.1} ms | {:.1} ms | {}/{} | {rss:.0} MiB | {:.0}% / {:.0}% | {:.1} s |",
        l.p50,
        l.p99,
        l.max,
        l.complete,
        l.measured,
        cpu_server * 100.0,
        cpu_clients * 100.0,
        connected.as_secs_f64(),
    );
}

async fn dispatch_row(server: &mut Server, store: &str, phases: &Phases) {
    let n = 1000;
    let (mut without, mut with) = (Vec::new(), Vec::new());
    let mut incomplete = 0;
    for round in 0..phases.rounds {
        for side in [round % 2, 1 - round % 2] {
            if side == 0 {
                without.push(server.flat_out(phases.window).await.0);
            } else {
                // Room for what one writer can commit in the window.
                let capacity = 20_000 * phases.window.as_secs().max(1);
                let mut clients =
                    Clients::spawn(&server.addr, n, server.seq, capacity, "subscribe");
                let (rate, from, to) = server.flat_out(phases.window).await;
                with.push(rate);
                let report = clients
                    .delivered(from, to, n, Duration::from_secs(60))
                    .await;
                incomplete += report.iter().filter(|(c, _)| (*c as usize) < n).count();
                clients.quit();
                // The sockets close; let the server settle before the next round.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    let (without, with) = (median(without), median(with));
    println!(
        "| {store} | {without:.0} | {with:.0} | {:.2}x | {} |",
        with / without,
        if incomplete == 0 {
            "every event to every subscriber".to_owned()
        } else {
            format!("{incomplete} events missed by someone")
        }
    );
}

async fn flood_row(server: &mut Server, store: &str, phases: &Phases) {
    let me = std::process::id().to_string();
    let before = rss_mib(&me);
    let n = 100;
    let total = phases.warmup + phases.measured;
    let mut clients = Clients::spawn(&server.addr, n, server.seq, total, "subscribe");
    let flood = Clients::spawn(&server.addr, 200, 0, 1, "flood");
    let from = server.seq;
    let mut height = rss_mib(&me);
    let mut committed = Vec::with_capacity(total as usize);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    for _ in 0..total {
        tick.tick().await;
        committed.push(server.post().await.1);
        height = height.max(rss_mib(&me));
    }
    let report = clients
        .delivered(from, server.seq, n, Duration::from_secs(30))
        .await;
    flood.quit();
    clients.quit();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_mib(&me);
    let l = latencies(&report, &committed, phases.warmup as usize, n);
    println!(
        "| {store} | {before:.0} MiB | {height:.0} MiB | {after:.0} MiB | {:.1} ms | {:.1} ms | {}/{} |",
        l.p50, l.p99, l.complete, l.measured
    );
}

// ---------------------------------------------------------------------------------------
// The subscribers' process.

mod clients {
    use std::io::{BufRead, Write};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
    use std::time::Duration;

    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::HeaderValue;
    use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

    use super::{TOKEN, now_ns};

    struct Receipts {
        base: u64,
        last: Vec<AtomicU64>,
        count: Vec<AtomicU32>,
    }

    /// `--clients <mode> <addr> <n> <base> <capacity>`: opens the connections, says
    /// `ready` once all are subscribed, then answers `report <from> <to>` and `quit`.
    pub(super) fn main(args: &[String]) {
        let [mode, addr, n, base, capacity] = args else {
            panic!("--clients <mode> <addr> <n> <base> <capacity>, not {args:?}");
        };
        let n: usize = n.parse().expect("n");
        let capacity: usize = capacity.parse().expect("capacity");
        let receipts = Arc::new(Receipts {
            base: base.parse().expect("base"),
            last: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
            count: (0..capacity).map(|_| AtomicU32::new(0)).collect(),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let ready = Arc::new(AtomicUsize::new(0));
            let connecting = Arc::new(tokio::sync::Semaphore::new(128));
            for i in 0..n {
                let (addr, ready, connecting, receipts) = (
                    addr.clone(),
                    ready.clone(),
                    connecting.clone(),
                    receipts.clone(),
                );
                let flood = mode == "flood";
                tokio::spawn(async move {
                    let permit = connecting.acquire_owned().await.expect("open");
                    let mut socket = connect(&addr).await;
                    if flood {
                        drop(permit);
                        ready.fetch_add(1, Ordering::SeqCst);
                        return self::flood(socket).await;
                    }
                    let subscribe =
                        r#"{"type":"subscribe","id":"b","channel":"feed","pattern":"feed.*"}"#;
                    socket.send(Message::text(subscribe)).await.expect("sent");
                    while let Some(Ok(message)) = socket.next().await {
                        if let Message::Text(text) = message {
                            assert!(text.contains("\"subscribed\""), "{text}");
                            break;
                        }
                    }
                    drop(permit);
                    ready.fetch_add(1, Ordering::SeqCst);
                    while let Some(message) = socket.next().await {
                        match message {
                            Ok(Message::Text(text)) => {
                                let at = now_ns();
                                if let Some(seq) = seq_of(&text) {
                                    let i = (seq - receipts.base) as usize;
                                    if let (Some(last), Some(count)) =
                                        (receipts.last.get(i), receipts.count.get(i))
                                    {
                                        last.fetch_max(at, Ordering::Relaxed);
                                        count.fetch_add(1, Ordering::Relaxed);
                                    }
                                }
                            }
                            Ok(Message::Close(frame)) => {
                                eprintln!(
                                    "clients: connection {i} closed by the server: {frame:?}"
                                );
                                return;
                            }
                            Ok(_) => {}
                            Err(error) => {
                                eprintln!("clients: connection {i}: {error}");
                                return;
                            }
                        }
                    }
                });
            }
            while ready.load(Ordering::SeqCst) < n {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            println!("ready");
            std::io::stdout().flush().expect("said");
            let receipts = receipts.clone();
            tokio::task::spawn_blocking(move || {
                let stdin = std::io::stdin();
                let mut out = std::io::BufWriter::new(std::io::stdout());
                for line in stdin.lock().lines() {
                    let line = line.expect("a line");
                    let words: Vec<&str> = line.split_whitespace().collect();
                    match words.as_slice() {
                        ["report", from, to] => {
                            let (from, to): (usize, usize) =
                                (from.parse().unwrap(), to.parse().unwrap());
                            for i in from..to {
                                let count = receipts
                                    .count
                                    .get(i)
                                    .map_or(0, |c| c.load(Ordering::Relaxed));
                                let last = receipts
                                    .last
                                    .get(i)
                                    .map_or(0, |l| l.load(Ordering::Relaxed));
                                writeln!(out, "{count} {last}").unwrap();
                            }
                            writeln!(out, "end").unwrap();
                            out.flush().unwrap();
                        }
                        _ => return,
                    }
                }
            })
            .await
            .expect("the control loop");
        });
        // Do not wait for the connections' tasks.
        runtime.shutdown_background();
    }

    type Socket = tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >;

    async fn connect(addr: &str) -> Socket {
        let mut tries = 0;
        loop {
            let mut request = format!("ws://{addr}/v1/channels")
                .into_client_request()
                .expect("a request");
            let headers = request.headers_mut();
            headers.insert(
                "sec-websocket-protocol",
                HeaderValue::from_static("herald.v1"),
            );
            headers.insert(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {TOKEN}")).expect("a header"),
            );
            // tungstenite zeroes its read buffer before every read (128 KiB by
            // default): 16 KiB still takes a dozen frames a read, and keeps the clients'
            // process from spending the two cores on memset while the server works.
            let config = WebSocketConfig::default().read_buffer_size(16 * 1024);
            match tokio_tungstenite::connect_async_with_config(request, Some(config), false).await {
                Ok((socket, _)) => return socket,
                Err(error) if tries < 20 => {
                    tries += 1;
                    eprintln!("clients: connecting again after {error}");
                    tokio::time::sleep(Duration::from_millis(50 * tries)).await;
                }
                Err(error) => panic!("clients: could not connect: {error}"),
            }
        }
    }

    /// The most subscriptions a connection may hold, then a stream of refused and
    /// malformed messages, and never a read.
    async fn flood(mut socket: Socket) {
        let mut messages = Vec::new();
        for k in 0..64 {
            messages.push(format!(
                r#"{{"type":"subscribe","id":{k},"channel":"feed","pattern":"feed.*"}}"#
            ));
        }
        for k in 0..2000 {
            messages.push(match k % 5 {
                0 => format!(
                    r#"{{"type":"subscribe","id":"x{k}","channel":"feed","pattern":"feed.*"}}"#
                ),
                1 => "{not json".to_owned(),
                2 => format!(r#"{{"type":"teleport","id":{k}}}"#),
                3 => format!(
                    r#"{{"type":"subscribe","id":"y{k}","channel":"nope","pattern":"a.b"}}"#
                ),
                _ => format!(
                    r#"{{"type":"subscribe","id":"z{k}","channel":"feed","pattern":"feed..{k}"}}"#
                ),
            });
        }
        for message in messages {
            if socket.feed(Message::text(message)).await.is_err() {
                return;
            }
        }
        if socket.flush().await.is_err() {
            return;
        }
        // Never read: hold the socket until the process ends.
        std::future::pending::<()>().await;
    }

    /// The `seq` of an event frame: the first field of its payload.
    fn seq_of(frame: &str) -> Option<u64> {
        let at = frame.find("\"seq\":")? + 6;
        let digits = frame[at..].bytes().take_while(u8::is_ascii_digit).count();
        frame[at..at + digits].parse().ok()
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--clients") {
        clients::main(&args[at + 1..]);
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let postgres = args.iter().any(|a| a == "--postgres");
    let subscribers: Vec<usize> = args
        .iter()
        .position(|a| a == "--subscribers")
        .and_then(|at| args.get(at + 1))
        .map(|list| {
            list.split(',')
                .map(|n| n.parse().expect("a number"))
                .collect()
        })
        .unwrap_or_else(|| vec![100, 1000, 10_000]);
    let phases = if quick {
        Phases {
            warmup: 50,
            measured: 200,
            window: Duration::from_secs(1),
            rounds: 1,
        }
    } else {
        Phases {
            warmup: 200,
            measured: 1000,
            window: Duration::from_secs(3),
            rounds: 3,
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let only: Option<String> = args
            .iter()
            .position(|a| a == "--only")
            .and_then(|at| args.get(at + 1).cloned());
        let runs = |phase: &str| only.as_deref().is_none_or(|o| o.split(',').any(|p| p == phase));
        let mut stores = vec!["SQLite"];
        if postgres {
            stores.push("PostgreSQL");
        }
        println!(
            "Commit → last subscriber's receipt, 100 commands/s, one event of 1 KiB each ({} measured after {} of warm-up)\n",
            phases.measured, phases.warmup
        );
        println!(
            "| store | subscribers | commands/s | p50 | p99 | max | events every subscriber got | server RSS | CPU, server / clients | connecting took |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        let mut servers = Vec::new();
        for name in &stores {
            let store = open(name).await;
            let mut server = Server::start(&store).await;
            for &n in subscribers.iter().filter(|_| runs("latency")) {
                latency_row(&mut server, name, n, &phases).await;
            }
            servers.push((name, store, server));
        }
        println!(
            "\nOne writer as fast as it goes, without and with 1,000 subscribers (median of {} interleaved rounds of {:?})\n",
            phases.rounds, phases.window
        );
        println!("| store | without, commands/s | with 1,000 subscribers | with / without | delivered |");
        println!("|---|---:|---:|---:|---|");
        for (name, _, server) in servers.iter_mut().filter(|_| runs("dispatch")) {
            dispatch_row(server, name, &phases).await;
        }
        println!(
            "\n200 connections flooding bad input (64 subscriptions, then 2,000 refused or malformed messages each, never reading) beside 100 subscribers at 100 commands/s\n"
        );
        println!("| store | server RSS before | at the flood's height | after | subscribers' p50 | p99 | events every subscriber got |");
        println!("|---|---:|---:|---:|---:|---:|---:|");
        for (name, _, server) in servers.iter_mut().filter(|_| runs("flood")) {
            flood_row(server, name, &phases).await;
        }
        for (_, store, server) in servers {
            server.served.stop().await;
            server.herald.shutdown().await;
            drop(store);
        }
    });
}

async fn open(name: &str) -> TestStore {
    match name {
        "PostgreSQL" => TestStore::postgres().await,
        _ => TestStore::sqlite().await,
    }
}
