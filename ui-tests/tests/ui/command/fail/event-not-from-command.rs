use herald::prelude::*;

#[event("note.:note_id.added")]
struct NoteAdded {
    note_id: u64,
}

#[command("add.note.:note_id", event = NoteAdded)]
#[derive(Clone)]
struct AddNote {
    note_id: u64,
}

fn main() {}
