use herald::prelude::*;

#[command("tag.items", id = items)]
struct TagItems {
    items: Vec<u64>,
}

fn main() {}
