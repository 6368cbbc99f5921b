use herald::prelude::*;

// An unknown key does not hide the item's other errors.
#[command("create.user", bogus = 1, roles = [], id = missing)]
struct CreateUser<T> {
    item: T,
}

fn main() {}
