use herald::prelude::*;
use herald::testing::AggregateTest;

#[event("door.:id.opened")]
struct Opened {
    id: u64,
}

#[event("door.:id.knocked")]
struct Knocked {
    id: u64,
    times: u32,
}

#[command("open.door.:id")]
struct Open {
    id: u64,
}

#[command("knock.door.:id")]
#[derive(Clone)]
struct Knock {
    id: u64,
    times: u32,
}

#[derive(Debug, PartialEq)]
struct AlreadyOpen;

impl std::fmt::Display for AlreadyOpen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the door is already open")
    }
}

impl std::error::Error for AlreadyOpen {}

#[aggregate(name = "door", snapshot_every = 10, version = 2)]
#[derive(Default)]
struct Door {
    open: bool,
    knocks: u32,
}

#[aggregate]
impl Door {
    #[handle]
    fn open(&self, cmd: &Open) -> Result<Opened, AlreadyOpen> {
        if self.open {
            return Err(AlreadyOpen);
        }
        Ok(Opened { id: cmd.id })
    }

    // By value (the command is `Clone`), several events, a `String` error.
    #[handle(name = "door-knock")]
    fn knock(&self, cmd: Knock) -> Result<Vec<Knocked>, String> {
        Ok((0..cmd.times).map(|_| Knocked { id: cmd.id, times: 1 }).collect())
    }

    #[apply]
    fn opened(&mut self, _: &Opened) {
        self.open = true;
    }

    #[apply]
    fn knocked(&mut self, e: &Knocked) {
        self.knocks += e.times;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let herald = Herald::builder().build().await.expect("the registrations are consistent");
    let opened = herald.dispatch(Open { id: 1 }).await.unwrap();
    assert_eq!(opened.events()[0].route.as_str(), "door.1.opened");
    let knocked = herald.dispatch(Knock { id: 1, times: 3 }).await.unwrap();
    assert_eq!(knocked.version(), 4);
    let err = herald.dispatch(Open { id: 1 }).await.unwrap_err();
    assert_eq!(err.rejection(), Some(&AlreadyOpen));
    let door = herald.load::<Door>(1).await.unwrap();
    assert_eq!((door.state().open, door.state().knocks), (true, 3));

    AggregateTest::<Door>::given(Opened { id: 1 })
        .when(Open { id: 1 })
        .then_expect_error(AlreadyOpen);
}
