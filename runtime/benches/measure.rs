//! Measuring, with no store: what every bench shares, those that open no database too.

#![allow(dead_code, reason = "each bench uses part of it")]

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
