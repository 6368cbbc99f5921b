use herald::prelude::*;

#[event("door.:id.opened")]
struct Opened {
    id: u64,
}

#[command("open.door.:id")]
struct Open {
    id: u64,
}

#[aggregate("door")]
#[derive(Default)]
struct Door {
    open: bool,
}

fn main() {}
