//! What both sides of the peer benchmark share, so that they are measured alike: the
//! arguments of one run, the workload's accounts, the timed window and the line each run
//! reports. `peers/src/main.rs` (cqrs-es, esrs) and `runtime/benches/peers.rs` (Herald
//! and the by-hand floor) both include this file; it needs nothing beyond `std` and tokio.

#![allow(dead_code, reason = "each side uses part of it")]

use std::future::Future;
use std::io::Write;
use std::time::{Duration, Instant};

/// One run: one framework, one store, a number of writers, a window.
pub(crate) struct Args {
    /// Which framework runs the commands (`herald`, `by-hand`, `cqrs-es`, `esrs`).
    pub(crate) framework: String,
    /// `postgres` or `memory`.
    pub(crate) store: String,
    /// Concurrent tasks, each on accounts of its own.
    pub(crate) writers: usize,
    /// How long the commands are counted, after the warm-up.
    pub(crate) window: Duration,
    /// How long the same workload runs first, uncounted (pools fill, caches warm).
    pub(crate) warmup: Duration,
    /// Deposits each account gets before the writer moves on to a new account.
    pub(crate) per_account: u64,
    /// Where the JSON line goes (appended); standard output when absent.
    pub(crate) out: Option<String>,
    /// `postgres://` URL of the database that each run makes a fresh schema in.
    pub(crate) url: String,
}

impl Args {
    /// Parses `--framework F --store S --writers N --window-ms MS --warmup-ms MS
    /// --per-account K --out FILE` (the URL from `DATABASE_URL`).
    pub(crate) fn parse() -> Args {
        let mut args = Args {
            framework: String::new(),
            store: "postgres".into(),
            writers: 1,
            window: Duration::from_secs(3),
            warmup: Duration::from_millis(300),
            per_account: 10,
            out: None,
            url: std::env::var("DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into()),
        };
        let mut given = std::env::args().skip(1);
        while let Some(flag) = given.next() {
            // `cargo bench` passes `--bench` to a harness-less bench binary.
            if flag == "--bench" {
                continue;
            }
            let value = given
                .next()
                .unwrap_or_else(|| panic!("`{flag}` needs a value"));
            let millis = || Duration::from_millis(value.parse().expect("milliseconds"));
            match flag.as_str() {
                "--framework" => args.framework = value.clone(),
                "--store" => args.store = value.clone(),
                "--writers" => args.writers = value.parse().expect("a number of writers"),
                "--window-ms" => args.window = millis(),
                "--warmup-ms" => args.warmup = millis(),
                "--per-account" => args.per_account = value.parse().expect("a number"),
                "--out" => args.out = Some(value.clone()),
                other => panic!("unknown argument `{other}`"),
            }
        }
        assert!(args.per_account > 0, "`--per-account` is at least 1");
        args
    }

    /// The account a writer's `n`th command goes to (counting from 0, warm-up included):
    /// each writer has accounts of its own, `per_account` commands each.
    pub(crate) fn account(&self, writer: usize, n: u64) -> (u64, u64) {
        (writer as u64, n / self.per_account)
    }

    /// The same account as one number, for frameworks whose ids are numbers.
    pub(crate) fn account_number(&self, writer: usize, n: u64) -> u64 {
        let (writer, index) = self.account(writer, n);
        writer * 1_000_000_000 + index
    }

    /// The amount of a writer's `n`th deposit: never zero (a zero deposit is refused).
    pub(crate) fn amount(&self, n: u64) -> u64 {
        n % self.per_account + 1
    }

    /// Runs `command(writer, n)` in `writers` tasks, uncounted for the warm-up and then
    /// counted for the window, and reports commands per second of the window. Returns
    /// how many commands ran in all (warm-up included), for the caller to check against
    /// its store.
    pub(crate) async fn measure<F, Fut>(&self, command: F) -> u64
    where
        F: Fn(usize, u64) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let (warmup, window) = (self.warmup, self.window);
        let tasks: Vec<_> = (0..self.writers)
            .map(|writer| {
                let command = command.clone();
                tokio::spawn(async move {
                    let mut n = 0;
                    let warming = Instant::now();
                    while warming.elapsed() < warmup {
                        command(writer, n).await;
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let mut next = Vec::new();
        for task in tasks {
            next.push(task.await.expect("a warm-up task panicked"));
        }
        let next_total: u64 = next.iter().sum();
        let started = Instant::now();
        let tasks: Vec<_> = next
            .into_iter()
            .enumerate()
            .map(|(writer, first)| {
                let command = command.clone();
                tokio::spawn(async move {
                    let mut n = first;
                    while started.elapsed() < window {
                        command(writer, n).await;
                        n += 1;
                    }
                    n - first
                })
            })
            .collect();
        let mut done = 0;
        for task in tasks {
            done += task.await.expect("a writer panicked");
        }
        let seconds = started.elapsed().as_secs_f64();
        let rate = done as f64 / seconds;
        let line = format!(
            "{{\"framework\":\"{}\",\"store\":\"{}\",\"writers\":{},\"per_account\":{},\
             \"commands\":{done},\"seconds\":{seconds:.3},\"commands_per_s\":{rate:.1}}}\n",
            self.framework, self.store, self.writers, self.per_account
        );
        match &self.out {
            Some(path) => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut file| file.write_all(line.as_bytes()))
                .expect("the output file"),
            None => print!("{line}"),
        }
        next_total + done
    }
}
