// A type nested in an event derives serde through Herald's re-export: the crate that
// compiles this case does not depend on serde itself.
use herald::prelude::*;

#[derive(Debug, PartialEq, herald::serde::Serialize, herald::serde::Deserialize)]
#[serde(crate = "herald::serde")]
struct Line {
    sku: String,
    quantity: u32,
}

#[event("cart.:cart_id.checked_out")]
struct CheckedOut {
    cart_id: u64,
    lines: Vec<Line>,
}

fn main() {
    let event = CheckedOut { cart_id: 1, lines: vec![Line { sku: "tea".into(), quantity: 2 }] };
    let json = herald::json::to_value(&event).unwrap();
    assert_eq!(json["lines"][0]["quantity"], 2);
    let back: CheckedOut = herald::json::from_value(json).unwrap();
    assert_eq!(back.lines, event.lines);
}
