//! Measuring, with no store: what every bench shares, those that open no database too.

#![allow(dead_code, reason = "each bench uses part of it")]

use std::time::{Duration, Instant};

/// The middle of `values` (the upper one of an even count).
pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The CPU time this process has used, all threads (user and system), from
/// `/proc/self/stat` (Linux; zero elsewhere), in seconds.
pub(crate) fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command's name in parentheses; utime and stime are 14 and 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Clock ticks of 1/100 s, as Linux reports them to user space.
    (ticks(11) + ticks(12)) / 100.0
}

/// Commands per second with `writers` tasks, each on its own stream, for `window`.
pub(crate) async fn throughput<F, Fut>(writers: usize, window: Duration, command: F) -> f64
where
    F: Fn(usize, u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    throughput_of(writers, move |writer, started| {
        let command = command.clone();
        async move {
            let mut done = 0u64;
            while started.elapsed() < window {
                command(writer, done).await;
                done += 1;
            }
            done
        }
    })
    .await
}

/// Commands per second of `writers` tasks, each `writer(index, started)`: it sends
/// commands until its window since `started` has passed and says how many it sent (for
/// a writer with state of its own across commands, a connection say).
pub(crate) async fn throughput_of<F, Fut>(writers: usize, writer: F) -> f64
where
    F: Fn(usize, Instant) -> Fut,
    Fut: std::future::Future<Output = u64> + Send + 'static,
{
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|index| tokio::spawn(writer(index, started)))
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}
