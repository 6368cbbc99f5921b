// `#[derive(Aggregate)]` with its options in `#[herald(…)]`, beside `#[aggregate]` on the
// methods: declared before and after the `impl` block, and with the options split.
use herald::prelude::*;
use herald::serde::{Deserialize, Serialize};

#[event("door.:id.opened")]
struct Opened {
    id: u64,
}

#[command("open.door.:id")]
struct Open {
    id: u64,
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

#[derive(Default, Aggregate, Serialize, Deserialize)]
#[herald(name = "door", snapshot_every = 2)]
#[herald(version = 3)]
#[serde(crate = "herald::serde")]
struct Door {
    open: bool,
}

#[event("light.:id.on")]
struct On {
    id: u64,
}

#[command("switch.light.:id")]
struct Switch {
    id: u64,
}

#[derive(Default, Serialize, Deserialize, Aggregate)]
#[serde(crate = "herald::serde")]
struct Light;

#[aggregate]
impl Light {
    #[handle]
    fn switch(&self, cmd: &Switch) -> Result<On, String> {
        Ok(On { id: cmd.id })
    }

    #[apply]
    fn on(&mut self, _: &On) {}
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(<Door as herald::Aggregate>::NAME, "door");
    assert_eq!(<Door as herald::Aggregate>::SNAPSHOT_EVERY, 2);
    assert_eq!(<Door as herald::Aggregate>::VERSION, 3);
    assert_eq!(<Light as herald::Aggregate>::NAME, "Light");
    let herald = Herald::builder().build().await.unwrap();
    herald.dispatch(Open { id: 1 }).await.unwrap();
    herald.dispatch(Switch { id: 1 }).await.unwrap();
    assert!(herald.load::<Door>(1).await.unwrap().state().open);
}
