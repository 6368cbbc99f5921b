use herald::prelude::*;

// An unknown key does not hide the item's other errors.
#[event("user.created", name = "", bogus = 1)]
struct UserCreated<T> {
    item: T,
}

fn main() {}
