use herald::prelude::*;

#[event("user.:id.renamed", version = 2)]
struct Renamed {
    id: u64,
    first: String,
    last: String,
}

#[upcast(Renamed, from = 1)]
struct SplitName;

fn main() {}
