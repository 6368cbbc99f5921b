//! One concrete route against 10, 100 and 1,000 registered patterns: the trie index
//! (`RouteTable::matching`) against a plain scan of every pattern (`Pattern::matches`).
//! Run: `cargo bench -p herald-route --bench lookup`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use herald_route::{Pattern, RouteTable};

/// `n` patterns in the shapes handlers use: exact, one parameter, optional, wildcards.
fn patterns(n: usize) -> Vec<Pattern> {
    (0..n)
        .map(|i| {
            let text = match i % 5 {
                0 => format!("svc{i}.:id.created"),
                1 => format!("svc{i}.:id?.updated"),
                2 => format!("svc{i}.*"),
                3 => format!("*.svc{i}.deleted"),
                _ => format!("svc{i}.:id.items.:item.added"),
            };
            Pattern::parse(&text).unwrap()
        })
        .collect()
}

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("route lookup");
    // Matches `svc5.*` and, for n >= 1000, nothing else: a route's cost should be the
    // branches it can take, not the table's size.
    let route = "svc5.42.profile.created";
    for n in [10, 100, 1000] {
        let patterns = patterns(n);
        let table: RouteTable<usize> = patterns.iter().cloned().zip(0..).collect();
        assert_eq!(
            table.matching(route).count(),
            patterns.iter().filter(|p| p.matches(route)).count()
        );
        group.bench_with_input(BenchmarkId::new("table", n), &n, |b, _| {
            b.iter(|| table.matching(black_box(route)).count())
        });
        group.bench_with_input(BenchmarkId::new("scan", n), &n, |b, _| {
            b.iter(|| {
                patterns
                    .iter()
                    .filter(|p| p.matches(black_box(route)))
                    .count()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, lookup);
criterion_main!(benches);
