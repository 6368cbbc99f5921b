//! Routes as NATS subjects: `prefix.route`. A concrete route is a valid subject as it is
//! (its segments hold no `.`, `*`, `>` or whitespace). A pattern becomes subject filters
//! where it translates, and broader ones where it does not; a worker always filters the
//! events it receives with the pattern itself as well.

use crate::route::{Pattern, SegmentKind};

/// The subject a concrete route is published on.
pub(crate) fn subject(prefix: &str, route: &str) -> String {
    format!("{prefix}.{route}")
}

/// At most this many filters for one pattern (each `:name?` doubles them); beyond, one
/// broader filter.
const MAX_FILTERS: usize = 8;

/// The subject filters that select at least every event `pattern` matches:
/// `:name` → `*`; `*` at the end → `>`; `:name?` → one filter with the segment and one
/// without. A `*` before other segments cannot be written in NATS (`>` must come last):
/// the filter ends there with `>`, which is broader.
pub(crate) fn filters(prefix: &str, pattern: &Pattern) -> Vec<String> {
    let mut filters = vec![prefix.to_owned()];
    let segments: Vec<(SegmentKind, &str)> = pattern.segments().collect();
    for (index, (kind, text)) in segments.iter().enumerate() {
        let last = index + 1 == segments.len();
        match kind {
            SegmentKind::Literal => filters.iter_mut().for_each(|f| push(f, text)),
            SegmentKind::Param => filters.iter_mut().for_each(|f| push(f, "*")),
            SegmentKind::Wildcard => {
                // One or more segments: `>` says exactly that, and it ends a filter.
                filters.iter_mut().for_each(|f| push(f, ">"));
                if !last {
                    break; // broader: the segments after it are left to the local filter
                }
            }
            SegmentKind::OptionalParam => {
                let with: Vec<String> = filters
                    .iter()
                    .map(|f| {
                        let mut f = f.clone();
                        push(&mut f, "*");
                        f
                    })
                    .collect();
                filters.extend(with);
                if filters.len() > MAX_FILTERS {
                    return vec![format!("{prefix}.>")];
                }
            }
        }
    }
    // NATS refuses filters that overlap: drop repeats and those another covers, and if
    // some still overlap (`:x?.b.:y?` gives `*.b` and `b.*`, which share `b.b`), take one
    // broader filter.
    filters.sort();
    filters.dedup();
    let covered: Vec<bool> = filters
        .iter()
        .map(|f| filters.iter().any(|g| g != f && covers(g, f)))
        .collect();
    let filters: Vec<String> = filters
        .into_iter()
        .zip(covered)
        .filter(|(_, covered)| !covered)
        .map(|(f, _)| f)
        .collect();
    let overlapping = filters
        .iter()
        .enumerate()
        .any(|(i, f)| filters[i + 1..].iter().any(|g| overlap(f, g)));
    match overlapping {
        true => vec![format!("{prefix}.>")],
        false => filters,
    }
}

/// Whether some subject is selected by both filters.
fn overlap(a: &str, b: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    for index in 0.. {
        match (a.get(index), b.get(index)) {
            (Some(&">"), Some(_)) | (Some(_), Some(&">")) => return true,
            (None, None) => return true,
            (None, _) | (_, None) => return false,
            (Some(&x), Some(&y)) if x == y || x == "*" || y == "*" => {}
            _ => return false,
        }
    }
    unreachable!("the loop returns")
}

fn push(filter: &mut String, token: &str) {
    filter.push('.');
    filter.push_str(token);
}

/// Whether every subject `narrow` selects, `wide` selects too.
fn covers(wide: &str, narrow: &str) -> bool {
    let (wide, narrow): (Vec<&str>, Vec<&str>) =
        (wide.split('.').collect(), narrow.split('.').collect());
    for (index, w) in wide.iter().enumerate() {
        match (*w, narrow.get(index)) {
            (">", Some(_)) => return true,
            (_, None) => return false,
            ("*", Some(&n)) if n != ">" => {}
            (w, Some(&n)) if w == n => {}
            _ => return false,
        }
    }
    wide.len() == narrow.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(pattern: &str) -> Vec<String> {
        filters("app", &Pattern::parse(pattern).unwrap())
    }

    #[test]
    fn literals_and_params_translate_exactly() {
        assert_eq!(of("user.:id.created"), ["app.user.*.created"]);
        assert_eq!(of("user.created"), ["app.user.created"]);
    }

    #[test]
    fn a_final_wildcard_is_a_full_wildcard() {
        assert_eq!(of("user.*"), ["app.user.>"]);
        assert_eq!(of("*"), ["app.>"]);
    }

    #[test]
    fn a_wildcard_before_other_segments_broadens_the_filter() {
        assert_eq!(of("*.created"), ["app.>"]);
        assert_eq!(of("user.*.created"), ["app.user.>"]);
    }

    #[test]
    fn an_optional_param_is_a_filter_with_and_one_without() {
        assert_eq!(
            of("user.:id?.created"),
            ["app.user.*.created", "app.user.created"]
        );
        assert_eq!(of("user.:id?"), ["app.user", "app.user.*"]);
    }

    #[test]
    fn filters_that_would_overlap_become_one_broad_filter() {
        assert_eq!(of("a.:x?.b.:y?"), ["app.>"]);
        assert!(overlap("app.*.b", "app.b.*"));
        assert!(!overlap("app.user", "app.user.*"));
    }

    #[test]
    fn too_many_optional_params_become_one_broad_filter() {
        assert_eq!(of("a.:b?.:c?.:d?.:e?"), ["app.>"]);
    }

    #[test]
    fn every_filter_selects_what_the_pattern_matches() {
        let cases = [
            (
                "user.:id?.created",
                ["user.created", "user.7.created"].as_slice(),
            ),
            ("user.*.created", &["user.1.created", "user.1.2.created"]),
            ("*.test", &["create.test", "create.1234.test"]),
        ];
        for (pattern, routes) in cases {
            let filters = of(pattern);
            for route in routes {
                let subject = subject("app", route);
                assert!(
                    filters.iter().any(|f| covers(f, &subject)),
                    "{pattern}: {filters:?} miss {subject}"
                );
            }
        }
    }
}
