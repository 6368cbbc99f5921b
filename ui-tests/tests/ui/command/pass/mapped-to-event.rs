use herald::prelude::*;

#[event("note.:note_id.added", stream = "notes")]
struct NoteAdded {
    note_id: u64,
    text: String,
}

#[command("add.note.:note_id", event = NoteAdded)]
#[derive(Clone)]
struct AddNote {
    note_id: u64,
    text: String,
}

impl From<AddNote> for NoteAdded {
    fn from(cmd: AddNote) -> Self {
        NoteAdded { note_id: cmd.note_id, text: cmd.text }
    }
}

fn main() {
    assert_eq!(<NoteAdded as Event>::STREAM, "notes");
    // Handled without an aggregate: the registry accepts it.
    herald::Registry::all().check().unwrap();
}
