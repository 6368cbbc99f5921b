use herald::prelude::*;

#[event("door.:id.opened")]
struct Opened {
    id: u64,
}

#[event("door.:id.closed")]
struct Closed {
    id: u64,
}

#[command("open.door.:id")]
struct Open {
    id: u64,
}

#[command("close.door.:id")]
struct Close {
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

mod closing {
    use super::*;

    #[aggregate]
    impl Door {
        #[handle]
        fn close(&self, cmd: &Close) -> Result<Closed, String> {
            Ok(Closed { id: cmd.id })
        }

        #[apply]
        fn closed(&mut self, _: &Closed) {
            self.open = false;
        }
    }
}

fn main() {}
