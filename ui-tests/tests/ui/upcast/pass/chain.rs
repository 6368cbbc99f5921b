use herald::json::{Value, json};
use herald::prelude::*;

#[event("user.:id.renamed", version = 2)]
struct Renamed {
    id: u64,
    first: String,
    last: String,
}

#[upcast(Renamed, from = 1)]
fn split_name(mut v: Value) -> Value {
    let name = v["name"].take();
    let (first, last) = name.as_str().unwrap().split_once(' ').unwrap();
    json!({ "id": v["id"], "first": first, "last": last })
}

fn main() {
    herald::Registry::all().check().unwrap();
    assert_eq!(split_name(json!({ "id": 1, "name": "Ada Lovelace" }))["last"], "Lovelace");
}
