use herald::prelude::*;

#[event("door.:id.opened")]
struct Opened {
    id: u64,
}

#[command("open.door.:id")]
struct Open {
    id: u64,
}

#[aggregate]
#[derive(Default)]
struct Door {
    open: bool,
}

#[aggregate(name = "door")]
impl Door {
    #[handle]
    fn open(&self, cmd: &Open) -> Result<Opened, String> {
        Ok(Opened { id: cmd.id })
    }

    #[apply]
    fn opened(&mut self, _: &Opened) {}
}

fn main() {}
