//! `Pattern` and `RouteTable` against a reference matcher written the obvious way, on
//! random patterns and routes.

use herald_route::{Pattern, RouteTable, can_match};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Elem {
    Lit(&'static str),
    Param,
    Optional,
    Star,
}

const WORDS: [&str; 3] = ["a", "b", "c"];

fn elem() -> impl Strategy<Value = Elem> {
    prop_oneof![
        4 => prop::sample::select(&WORDS[..]).prop_map(Elem::Lit),
        2 => Just(Elem::Param),
        1 => Just(Elem::Optional),
        2 => Just(Elem::Star),
    ]
}

fn pattern_text(elems: &[Elem]) -> String {
    let parts: Vec<String> = elems
        .iter()
        .enumerate()
        .map(|(i, e)| match e {
            Elem::Lit(w) => w.to_string(),
            Elem::Param => format!(":p{i}"),
            Elem::Optional => format!(":p{i}?"),
            Elem::Star => "*".to_string(),
        })
        .collect();
    parts.join(".")
}

fn route() -> impl Strategy<Value = Vec<&'static str>> {
    prop::collection::vec(prop::sample::select(&["a", "b", "c", "d"][..]), 1..7)
}

/// Every way `route` splits over `elems`, as the number of segments each element takes.
fn splits(elems: &[Elem], route: &[&str]) -> Vec<Vec<usize>> {
    let Some((first, rest)) = elems.split_first() else {
        return if route.is_empty() {
            vec![vec![]]
        } else {
            vec![]
        };
    };
    let takes: Vec<usize> = match first {
        Elem::Lit(w) => (route.first() == Some(w))
            .then_some(1)
            .into_iter()
            .collect(),
        Elem::Param => (!route.is_empty()).then_some(1).into_iter().collect(),
        Elem::Optional => [0, 1].into_iter().filter(|&n| n <= route.len()).collect(),
        Elem::Star => (1..=route.len()).collect(),
    };
    let mut out = Vec::new();
    for n in takes {
        for mut tail in splits(rest, &route[n..]) {
            tail.insert(0, n);
            out.push(tail);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn matches_agrees_with_reference(elems in prop::collection::vec(elem(), 1..6), route in route()) {
        let pattern = Pattern::parse(&pattern_text(&elems)).unwrap();
        let text = route.join(".");
        prop_assert_eq!(pattern.matches(&text), !splits(&elems, &route).is_empty());
    }

    /// Earlier elements take as much as they can: the chosen split is the
    /// lexicographically greatest vector of segment counts.
    #[test]
    fn captures_take_the_preferred_split(elems in prop::collection::vec(elem(), 1..6), route in route()) {
        let pattern = Pattern::parse(&pattern_text(&elems)).unwrap();
        let text = route.join(".");
        let Some(best) = splits(&elems, &route).into_iter().max() else { return Ok(()) };
        let caps = pattern.captures(&text).unwrap();
        let mut at = 0;
        let mut stars = caps.wildcards();
        for (i, (elem, n)) in elems.iter().zip(&best).enumerate() {
            let taken = route[at..at + n].join(".");
            match elem {
                Elem::Param | Elem::Optional => {
                    prop_assert_eq!(caps.get(&format!("p{i}")), (*n > 0).then_some(taken.as_str()));
                }
                Elem::Star => prop_assert_eq!(stars.next(), Some(taken.as_str())),
                Elem::Lit(_) => {}
            }
            at += n;
        }
    }

    #[test]
    fn table_agrees_with_scan(
        patterns in prop::collection::vec(prop::collection::vec(elem(), 1..5), 1..30),
        route in route(),
    ) {
        let texts: Vec<String> = patterns.iter().map(|e| pattern_text(e)).collect();
        let table: RouteTable<usize> = texts.iter().map(|t| Pattern::parse(t).unwrap()).zip(0..).collect();
        let text = route.join(".");
        let found: Vec<usize> = table.matching(&text).copied().collect();
        let expected: Vec<usize> = (0..patterns.len()).filter(|&i| !splits(&patterns[i], &route).is_empty()).collect();
        prop_assert_eq!(found, expected);
    }

    /// A pattern can match a template exactly when it matches some rendering of it;
    /// rendering each `:param` as a fresh word or as each literal covers every case.
    #[test]
    fn can_match_agrees_with_renderings(
        elems in prop::collection::vec(elem(), 1..5),
        template in prop::collection::vec(prop_oneof![prop::sample::select(&WORDS[..]).prop_map(Some), Just(None)], 1..5),
    ) {
        let pattern_text = pattern_text(&elems);
        let template_text: Vec<String> = template.iter().enumerate()
            .map(|(i, s)| s.map_or(format!(":t{i}"), str::to_string)).collect();
        let mut renderings: Vec<Vec<&str>> = vec![vec![]];
        for seg in &template {
            let choices: Vec<&str> = match seg { Some(w) => vec![*w], None => vec!["a", "b", "c", "z"] };
            renderings = renderings.iter().flat_map(|r| choices.iter().map(move |c| {
                let mut r = r.clone();
                r.push(*c);
                r
            })).collect();
        }
        let expected = renderings.iter().any(|r| !splits(&elems, r).is_empty());
        prop_assert_eq!(can_match(&pattern_text, &template_text.join(".")), expected);
    }
}
