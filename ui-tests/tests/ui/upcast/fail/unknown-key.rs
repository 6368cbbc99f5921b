use herald::json::Value;
use herald::prelude::*;

#[event("user.:id.renamed", version = 2)]
struct Renamed {
    id: u64,
    first: String,
    last: String,
}

#[upcast(Renamed, from = 1, to = 2)]
fn split_name(v: Value) -> Value {
    v
}

fn main() {}
