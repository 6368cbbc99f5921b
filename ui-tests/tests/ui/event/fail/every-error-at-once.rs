use herald::prelude::*;

// One compile reports every problem of the item.
#[event("order.:order_id.line.:line.added", version = 0, name = "")]
struct LineAdded<T> {
    id: u64,
    item: T,
}

fn main() {}
