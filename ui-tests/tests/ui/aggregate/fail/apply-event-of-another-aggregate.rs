use herald::prelude::*;

#[event("door.:id.opened", aggregate = Door)]
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

#[aggregate]
impl Door {
    #[handle]
    fn open(&self, cmd: &Open) -> Result<Opened, String> {
        Ok(Opened { id: cmd.id })
    }

    #[apply]
    fn opened(&mut self, _: &Opened) {
        self.open = true;
    }
}

#[aggregate]
#[derive(Default)]
struct House {
    doors_opened: u32,
}

#[aggregate]
impl House {
    // `Opened` is kept in the streams of `Door`, never of `House`.
    #[apply]
    fn door_opened(&mut self, _: &Opened) {
        self.doors_opened += 1;
    }
}

fn main() {}
