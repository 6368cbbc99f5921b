use herald::prelude::*;

#[event("light.:room.switched")]
enum Light {
    #[route("light.:room.on")]
    On { room: String },
}

fn main() {}
