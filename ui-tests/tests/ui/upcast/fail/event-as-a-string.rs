use herald::prelude::*;

#[event("price.:id.changed", version = 2)]
struct PriceChanged {
    id: u64,
}

// The event is a type, not a string.
#[upcast("PriceChanged", from = 1)]
fn cents(payload: herald::json::Value) -> herald::json::Value {
    payload
}

fn main() {}
