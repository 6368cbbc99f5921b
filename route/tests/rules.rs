//! Every rule and example of DESIGN.md's route section.

use herald_route::{ErrorKind, Pattern, Route, RouteTable, Syntax, Template, can_match};

fn pattern(s: &str) -> Pattern {
    Pattern::parse(s).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn literal_segments_match_exactly_and_case_sensitively() {
    let p = pattern("test.created");
    assert!(p.matches("test.created"));
    assert!(!p.matches("Test.created"));
    assert!(!p.matches("test.created.list"));
    assert!(!p.matches("test"));
}

#[test]
fn param_matches_exactly_one_segment() {
    let p = pattern("test.:crud");
    assert!(p.matches("test.created"));
    assert!(p.matches("test.anything"));
    assert!(!p.matches("test.1.created"));
    assert!(!p.matches("test"));
    assert_eq!(
        p.captures("test.created").unwrap().get("crud"),
        Some("created")
    );
}

#[test]
fn optional_param_matches_zero_or_one_segment() {
    let p = pattern("user.:id?.created");
    assert!(p.matches("user.created"));
    assert!(p.matches("user.42.created"));
    assert!(!p.matches("user.4.2.created"));
    assert_eq!(p.captures("user.created").unwrap().get("id"), None);
    assert_eq!(p.captures("user.42.created").unwrap().get("id"), Some("42"));
}

#[test]
fn optional_param_is_present_if_it_can_be() {
    // `user.created` could be id = absent, x = created or id = created, x = absent.
    let p = pattern("user.:id?.:x?");
    let caps = p.captures("user.created").unwrap();
    assert_eq!(caps.get("id"), Some("created"));
    assert_eq!(caps.get("x"), None);
}

#[test]
fn wildcard_matches_one_or_more_segments() {
    let p = pattern("test.*");
    assert!(p.matches("test.created"));
    assert!(p.matches("test.created.list"));
    assert!(!p.matches("test"));
    let p = pattern("*.test");
    assert!(p.matches("create.test"));
    assert!(p.matches("create.1234.test"));
    assert!(!p.matches("test"));
}

#[test]
fn wildcards_are_greedy_and_captured_in_order() {
    let p = pattern("*.*");
    let caps = p.captures("a.b.c.d").unwrap();
    assert_eq!(caps.wildcards().collect::<Vec<_>>(), ["a.b.c", "d"]);
    let p = pattern("*.:last.*");
    let caps = p.captures("a.b.c.d").unwrap();
    assert_eq!(caps.wildcards().collect::<Vec<_>>(), ["a.b", "d"]);
    assert_eq!(caps.get("last"), Some("c"));
}

#[test]
fn matching_is_anchored() {
    assert!(!pattern("user.created").matches("x.user.created"));
    assert!(!pattern("user.created").matches("user.created.x"));
}

#[test]
fn invalid_concrete_routes_never_match() {
    let p = pattern("*");
    for bad in ["", "a..b", "a.", ".a", "a.*", "a.:b", "a b", "a.>", "a\tb"] {
        assert!(!p.matches(bad), "{bad:?} matched");
    }
    assert!(
        p.matches("a.7f3e-uuid.ü"),
        "concrete segments may hold any other text"
    );
}

#[test]
fn concrete_route_errors_point_at_the_segment() {
    let cases = [
        ("", ErrorKind::Empty, 0),
        ("user..created", ErrorKind::EmptySegment, 1),
        (".user", ErrorKind::EmptySegment, 0),
        ("user.created.", ErrorKind::TrailingDot, 2),
        ("user.*", ErrorKind::WildcardNotAllowed, 1),
        ("user.:id", ErrorKind::ParamNotAllowed, 1),
        ("user.a b", ErrorKind::InvalidConcrete, 1),
        ("user.a\u{7}", ErrorKind::InvalidConcrete, 1),
        ("user.>", ErrorKind::FullWildcard, 1),
    ];
    for (text, kind, segment) in cases {
        let err = Route::parse(text).unwrap_err();
        assert_eq!(
            (err.kind(), err.segment(), err.syntax()),
            (kind, segment, Syntax::Concrete),
            "{text:?}: {err}"
        );
    }
}

#[test]
fn pattern_errors_point_at_the_segment() {
    let cases = [
        ("user.cre*ated", ErrorKind::MisplacedWildcard, 1),
        ("user.**", ErrorKind::MisplacedWildcard, 1),
        ("user.>", ErrorKind::FullWildcard, 1),
        ("user.é", ErrorKind::InvalidLiteral, 1),
        ("user.a b", ErrorKind::InvalidLiteral, 1),
        ("user.:", ErrorKind::EmptyParamName, 1),
        ("user.:?", ErrorKind::EmptyParamName, 1),
        ("user.:1id", ErrorKind::InvalidParamName, 1),
        ("user.:_", ErrorKind::InvalidParamName, 1),
        ("user.:a-b", ErrorKind::InvalidParamName, 1),
        ("user.:id.:id?", ErrorKind::DuplicateParam, 2),
        ("a..b", ErrorKind::EmptySegment, 1),
        ("a.", ErrorKind::TrailingDot, 1),
    ];
    for (text, kind, segment) in cases {
        let err = Pattern::parse(text).unwrap_err();
        assert_eq!(
            (err.kind(), err.segment()),
            (kind, segment),
            "{text:?}: {err}"
        );
    }
}

#[test]
fn templates_hold_only_literals_and_params() {
    assert_eq!(
        Template::parse("user.*").unwrap_err().kind(),
        ErrorKind::WildcardNotAllowed
    );
    assert_eq!(
        Template::parse("user.:id?").unwrap_err().kind(),
        ErrorKind::OptionalNotAllowed
    );
    assert!(Template::parse("user.:user_id.created").is_ok());
}

#[test]
fn limits_are_32_segments_and_1024_bytes() {
    let ok = vec!["a"; 32].join(".");
    assert!(Route::parse(&ok).is_ok());
    let err = Route::parse(&vec!["a"; 33].join(".")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooManySegments);
    assert!(Route::parse(&"a".repeat(1024)).is_ok());
    assert_eq!(
        Route::parse(&"a".repeat(1025)).unwrap_err().kind(),
        ErrorKind::TooLong
    );
}

#[test]
fn error_messages_name_what_is_wrong() {
    let msg = |r: Result<Pattern, herald_route::RouteError>| r.unwrap_err().to_string();
    assert_eq!(
        msg(Pattern::parse("user.cre*ated")),
        "invalid route pattern `user.cre*ated`: segment 2 `cre*ated`: `*` must be a whole segment (it matches one or more segments)"
    );
    assert_eq!(
        msg(Pattern::parse("user.")),
        "invalid route pattern `user.`: it ends with `.`; remove the trailing dot"
    );
    assert_eq!(
        Template::parse("user.*").unwrap_err().to_string(),
        "invalid route template `user.*`: segment 2 `*` is a wildcard; command and event routes hold only literals and `:params` (`*` is for patterns)"
    );
}

#[test]
fn templates_render_values_and_refuse_bad_ones() {
    let t = Template::parse("user.:user_id.:action").unwrap();
    let render = |a: &str, b: &str| t.render(|i, _, out| out.push_str([a, b][i]));
    assert_eq!(render("42", "created").unwrap().as_str(), "user.42.created");
    let err = render("a.b", "created").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DotInValue);
    assert_eq!(
        err.to_string(),
        "cannot render route `user.:user_id.:action`: the value \"a.b\" of `:user_id` has \".\"; a value cannot contain `.`"
    );
    assert_eq!(render("", "x").unwrap_err().kind(), ErrorKind::EmptyValue);
    assert_eq!(
        render("1", "a*").unwrap_err().kind(),
        ErrorKind::WildcardNotAllowed
    );
    assert_eq!(
        render("1", "a b").unwrap_err().kind(),
        ErrorKind::InvalidConcrete
    );
    assert_eq!(
        render(&"x".repeat(1100), "a").unwrap_err().kind(),
        ErrorKind::TooLong
    );
}

#[test]
fn can_match_compares_patterns_with_templates() {
    const CREATED: &str = "user.:user_id.created";
    assert!(can_match("user.:id.created", CREATED));
    assert!(can_match("user.*", CREATED));
    assert!(can_match("*", CREATED));
    assert!(can_match("user.7.created", CREATED));
    assert!(!can_match("user.:id.deleted", CREATED));
    assert!(!can_match("user.*.created.*", CREATED));
    const { assert!(can_match("*.created", CREATED)) };
}

#[test]
fn table_finds_every_matching_value_in_insertion_order() {
    let mut table = RouteTable::new();
    for (i, p) in [
        "user.:id.created",
        "user.*",
        "*",
        "user.:id?.created",
        "order.*",
        "*.created",
        "user.:id.created",
    ]
    .into_iter()
    .enumerate()
    {
        table.insert_str(p, i).unwrap();
    }
    let found: Vec<_> = table.matching("user.42.created").copied().collect();
    assert_eq!(found, [0, 1, 2, 3, 5, 6]);
    let found: Vec<_> = table.matching("user.created").copied().collect();
    assert_eq!(found, [1, 2, 3, 5]);
    assert_eq!(table.matching("user..created").count(), 0);
}
