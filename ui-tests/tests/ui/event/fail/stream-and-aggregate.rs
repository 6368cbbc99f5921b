use herald::prelude::*;

#[aggregate]
#[derive(Default)]
struct Note;

#[aggregate]
impl Note {}

#[event("note.:note_id.added", aggregate = Note, stream = "notes")]
struct NoteAdded {
    note_id: u64,
}

fn main() {}
