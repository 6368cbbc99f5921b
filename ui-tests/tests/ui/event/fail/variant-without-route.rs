use herald::prelude::*;

#[event]
enum Light {
    #[route("light.:room.on")]
    On { room: String },
    Off { room: String },
}

fn main() {}
