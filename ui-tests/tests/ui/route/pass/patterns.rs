use herald::route::{Pattern, RouteTable, assert_can_match, can_match};

const _: () = assert_can_match("user.*", "UserCreated", &["user.:user_id.created"]);
const _: () = assert!(can_match("*.created", "user.:user_id.created"));

fn main() {
    let mut table = RouteTable::new();
    table.insert(Pattern::parse("user.:user_id.created").unwrap(), "profile");
    table.insert(Pattern::parse("user.*").unwrap(), "audit");
    let found: Vec<_> = table.matching("user.42.created").copied().collect();
    assert_eq!(found, ["profile", "audit"]);
}
