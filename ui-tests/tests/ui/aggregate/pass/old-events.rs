//! An `#[apply]` method for an event no `#[handle]` produces any more still compiles:
//! the aggregate's old streams hold it. So does one for an event that declares no
//! aggregate.

use herald::prelude::*;

#[event("door.:id.opened", aggregate = Door)]
struct Opened {
    id: u64,
}

// Version 1 of the door knew only this; no handler produces it any more.
#[event("door.:id.unlocked", aggregate = Door)]
struct Unlocked {
    id: u64,
}

// Declares no aggregate: any aggregate may apply it.
#[event("door.:id.painted")]
struct Painted {
    id: u64,
}

#[command("open.door.:id")]
struct Open {
    id: u64,
}

#[aggregate(name = "door")]
#[derive(Default)]
struct Door {
    open: bool,
    unlocked: bool,
    painted: bool,
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

    #[apply]
    fn unlocked(&mut self, _: &Unlocked) {
        self.unlocked = true;
    }

    #[apply]
    fn painted(&mut self, _: &Painted) {
        self.painted = true;
    }
}

#[aggregate(name = "fence")]
#[derive(Default)]
struct Fence {
    painted: bool,
}

#[aggregate]
impl Fence {
    #[apply]
    fn painted(&mut self, _: &Painted) {
        self.painted = true;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    herald::Registry::all().check().expect("the registrations are consistent");
    let herald = Herald::builder().build().await.unwrap();
    herald.dispatch(Open { id: 1 }).await.unwrap();
    assert!(herald.load::<Door>(1).await.unwrap().state().open);
}
