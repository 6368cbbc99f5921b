use herald::prelude::*;

#[derive(Clone)]
struct NotAnEvent {
    note_id: u64,
}

#[command("add.note.:note_id", event = NotAnEvent)]
#[derive(Clone)]
struct AddNote {
    note_id: u64,
}

impl From<AddNote> for NotAnEvent {
    fn from(cmd: AddNote) -> Self {
        NotAnEvent { note_id: cmd.note_id }
    }
}

fn main() {}
