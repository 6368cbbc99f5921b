use herald::prelude::*;

#[event("price.:id.changed", version = 2)]
struct PriceChanged {
    id: u64,
}

// An unknown key does not hide the function's other errors.
#[upcast(PriceChanged, bogus = 1)]
async fn cents<T>(payload: herald::json::Value) -> herald::json::Value {
    payload
}

fn main() {}
