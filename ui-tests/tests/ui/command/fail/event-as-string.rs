use herald::prelude::*;

#[command("add.note.:note_id", event = "NoteAdded")]
struct AddNote {
    note_id: u64,
}

fn main() {}
