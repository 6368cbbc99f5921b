use herald::prelude::*;

#[event("note.:note_id.added")]
struct NoteAdded {
    note_id: u64,
}

#[command("add.note.:note_id", event = NoteAdded)]
struct AddNote {
    note_id: u64,
}

impl From<AddNote> for NoteAdded {
    fn from(cmd: AddNote) -> Self {
        NoteAdded { note_id: cmd.note_id }
    }
}

fn main() {}
