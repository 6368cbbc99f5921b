use herald::prelude::*;

#[command("user.change")]
enum ChangeUser {
    Rename { id: u64, name: String },
}

fn main() {}
