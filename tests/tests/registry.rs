//! Registrations are checked when a runtime starts: every problem at once, sorted; a
//! runtime with problems does not start; a runtime of chosen modules sees only theirs.

use herald::Registry;
use herald::error::RegistryError;
use herald::prelude::*;

/// Three mistakes compile: they are only visible across items.
mod broken {
    use herald::prelude::*;

    #[event("a.:id.happened", name = "Happened")]
    pub(crate) struct A {
        pub(crate) id: u64,
    }

    #[event("b.:id.happened", name = "Happened")]
    pub(crate) struct B {
        pub(crate) id: u64,
    }

    #[command("forgotten.:id")]
    pub(crate) struct Forgotten {
        pub(crate) id: u64,
    }

    #[command("make.:id")]
    pub(crate) struct Make {
        pub(crate) id: u64,
    }

    #[event("thing.:id.made")]
    pub(crate) struct Made {
        pub(crate) id: u64,
    }

    #[aggregate]
    #[derive(Default)]
    pub(crate) struct Thing;

    #[aggregate]
    impl Thing {
        #[handle]
        fn make(&self, cmd: &Make) -> Result<(Made, Option<A>), String> {
            Ok((Made { id: cmd.id }, None))
        }

        #[apply]
        fn a(&mut self, _: &A) {}
    }
}

mod fine {
    use herald::prelude::*;

    #[event("light.:room.on")]
    pub(crate) struct On {
        pub(crate) room: String,
    }

    #[command("switch.on.:room")]
    pub(crate) struct SwitchOn {
        pub(crate) room: String,
    }

    #[aggregate]
    #[derive(Default)]
    pub(crate) struct Light;

    #[aggregate]
    impl Light {
        #[handle]
        fn switch_on(&self, cmd: &SwitchOn) -> Result<On, String> {
            Ok(On {
                room: cmd.room.clone(),
            })
        }

        #[apply]
        fn on(&mut self, _: &On) {}
    }
}

/// Handles `fine::SwitchOn` a second time.
mod rival {
    use herald::prelude::*;

    #[aggregate]
    #[derive(Default)]
    pub(crate) struct Rival;

    #[aggregate]
    impl Rival {
        #[handle]
        fn switch_on(&self, cmd: &super::fine::SwitchOn) -> Result<super::fine::On, String> {
            Ok(super::fine::On {
                room: cmd.room.clone(),
            })
        }

        #[apply]
        fn on(&mut self, _: &super::fine::On) {}
    }
}

/// Upcasters whose chain cannot bring every old version to the current one.
mod gappy {
    use herald::json::Value;
    use herald::prelude::*;

    #[event("doc.:id.saved", version = 4)]
    pub(crate) struct Saved {
        pub(crate) id: u64,
    }

    #[upcast(Saved, from = 1)]
    fn one_to_two(v: Value) -> Value {
        v
    }

    #[upcast(Saved, from = 1)]
    fn also_one_to_two(v: Value) -> Value {
        v
    }

    #[upcast(Saved, from = 3)]
    fn three_to_four(v: Value) -> Value {
        v
    }
}

#[test]
fn a_chain_of_upcasters_with_a_gap_or_a_duplicate_is_reported() {
    let error = Registry::modules(["registry::gappy"]).check().unwrap_err();
    assert_eq!(
        error.problems(),
        [
            "event `Saved` has several upcasters from version 1 (registry::gappy::also_one_to_two, registry::gappy::one_to_two): keep one",
            "event `Saved` has upcasters from version 1 but none from version 2 to 3: add `#[upcast(Saved, from = 2)]`",
        ]
    );
}

/// Pattern handlers whose mistakes are only visible across items.
mod strays {
    use herald::prelude::*;
    use herald::store::RecordedEvent;

    #[event("thing.:id.done")]
    pub(crate) struct Done {
        pub(crate) id: u64,
    }

    #[projector("nothing.*")]
    async fn nowhere(_e: &RecordedEvent, _cx: &mut Cx<'_>) {}

    #[projector("thing.*", name = "twice")]
    async fn one(_e: &RecordedEvent, _cx: &mut Cx<'_>) {}

    #[projector("thing.:id.done", name = "twice")]
    async fn two(_e: &Recorded<Done>, _cx: &mut Cx<'_>) {}
}

#[test]
fn pattern_handlers_that_match_nothing_or_share_a_name_are_reported() {
    let error = Registry::modules(["registry::strays"]).check().unwrap_err();
    assert_eq!(
        error.problems(),
        [
            "handler name `twice` is used 2 times (registry::strays, registry::strays): give each a unique `name = \"…\"`",
            "projector `nowhere`: pattern `nothing.*` matches no event registered in this runtime (is its module among the runtime's modules?)",
        ]
    );
}

/// Channels whose mistakes are only visible at start.
mod stray_channels {
    use herald::channels::{Forbidden, Join};
    use herald::prelude::*;

    #[event("lamp.:id.lit")]
    pub(crate) struct Lit {
        pub(crate) id: u64,
    }

    #[channel("lamp.*", "nothing.:id.*")]
    async fn nowhere(_join: &Join, _reader: &mut Reader) -> Result<(), Forbidden> {
        Ok(())
    }

    #[channel("light.*", event = super::fine::On)]
    async fn lights(_join: &Join, _reader: &mut Reader) -> bool {
        true
    }

    #[channel("lamp.*", name = "twice")]
    async fn one(_join: &Join, _reader: &mut Reader) -> bool {
        true
    }

    #[channel("lamp.:id.lit", name = "twice", event = Lit)]
    async fn two(_join: &Join, _reader: &mut Reader) -> bool {
        true
    }
}

#[test]
fn channels_that_match_nothing_carry_an_unregistered_event_or_share_a_name_are_reported() {
    let error = Registry::modules(["registry::stray_channels"])
        .check()
        .unwrap_err();
    assert_eq!(
        error.problems(),
        [
            "channel `lights` carries event `On`, which is not registered in this runtime (is its module among the runtime's modules?)",
            "channel `nowhere`: pattern `nothing.:id.*` matches no event registered in this runtime (is its module among the runtime's modules?)",
            "channel name `twice` is used 2 times (registry::stray_channels, registry::stray_channels): give each a unique `name = \"…\"`",
        ]
    );
    let with_lights = Registry::modules(["registry::stray_channels", "registry::fine"]);
    let problems = with_lights.check().unwrap_err();
    assert!(
        !problems.problems().iter().any(|p| p.contains("`lights`")),
        "{problems}"
    );
}

const BROKEN: [&str; 3] = [
    "aggregate `Thing` has no `#[apply]` method for event `Made`, which `Thing::make` produces: add one (an empty body is fine for an event that changes no state)",
    "command `Forgotten` (registry::broken::Forgotten) is not handled: add a `#[handle]` method taking it to an `#[aggregate] impl` block, or record it as an event with `#[command(…, event = SomeEvent)]` (is its module among the runtime's modules?)",
    "event name `Happened` is used 2 times (registry::broken::A, registry::broken::B): give each a unique `name = \"…\"`",
];

#[tokio::test]
async fn every_problem_is_reported_at_once_and_the_runtime_does_not_start() {
    let error = Herald::builder()
        .modules(["registry::broken"])
        .build()
        .await
        .unwrap_err();
    let herald::ErrorKind::Registry(error) = error.kind() else {
        panic!("expected registry problems, got {error}")
    };
    assert_eq!(error.problems(), BROKEN);
    assert!(
        error
            .to_string()
            .starts_with("3 problems in the registered handlers:\n  - aggregate `Thing`"),
        "{error}"
    );
}

#[tokio::test]
async fn a_runtime_of_everything_sees_every_problem() {
    let error = Herald::builder().build().await.unwrap_err();
    let herald::ErrorKind::Registry(error) = error.kind() else {
        panic!("expected registry problems, got {error}")
    };
    let problems = error.problems();
    assert_eq!(problems.len(), 11, "{error}");
    assert!(problems.iter().any(|p| p.starts_with(
        "command `SwitchOn` is handled by several aggregates (Light::switch_on, Rival::switch_on)"
    )));
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("command `Write` is recorded as event `Written`"))
    );
    let mut sorted = problems.to_vec();
    sorted.sort();
    assert_eq!(problems, sorted, "sorted");
}

#[tokio::test]
async fn a_runtime_of_chosen_modules_sees_only_theirs() {
    let herald = Herald::builder()
        .modules(["registry::fine"])
        .build()
        .await
        .unwrap();
    let registry = herald.registry();
    assert_eq!(registry.event_names().collect::<Vec<_>>(), ["On"]);
    assert_eq!(registry.command_names().collect::<Vec<_>>(), ["SwitchOn"]);
    assert_eq!(registry.aggregate_names().collect::<Vec<_>>(), ["Light"]);
    let on = herald
        .dispatch(fine::SwitchOn {
            room: "hall".into(),
        })
        .await
        .unwrap();
    assert_eq!(on.events()[0].route.as_str(), "light.hall.on");
}

#[test]
fn two_handlers_of_one_command_are_reported() {
    let error: RegistryError = Registry::modules(["registry::fine", "registry::rival"])
        .check()
        .unwrap_err();
    assert_eq!(
        error.problems(),
        [
            "command `SwitchOn` is handled by several aggregates (Light::switch_on, Rival::switch_on): a command has one handler"
        ]
    );
}

#[test]
fn module_prefixes_are_whole_path_segments() {
    assert_eq!(
        Registry::modules(["registry::fin"]).command_names().count(),
        0
    );
    assert_eq!(Registry::modules(["registry"]).command_names().count(), 4);
}

/// Herald's documentation fixtures are a dev-dependency of Herald's own: a user's binary
/// holds none of their registrations (it once held them all, filtered out by name).
#[test]
fn a_users_binary_holds_no_documentation_fixtures() {
    assert!(
        !Registry::all()
            .command_names()
            .any(|name| name == "OpenAccount")
    );
    let fixtures = Registry::modules(["herald::doc_fixtures"])
        .check()
        .unwrap_err();
    assert!(
        fixtures.to_string().contains("holds no registration"),
        "{fixtures}"
    );
}

/// A command mapped to an event with `event = …` that an aggregate handles too.
mod doubly {
    use herald::prelude::*;

    #[event("post.:id.written", stream = "posts")]
    pub(crate) struct Written {
        pub(crate) id: u64,
    }

    #[command("write.:id", event = Written)]
    #[derive(Clone)]
    pub(crate) struct Write {
        pub(crate) id: u64,
    }

    impl From<Write> for Written {
        fn from(cmd: Write) -> Self {
            Written { id: cmd.id }
        }
    }

    #[aggregate]
    #[derive(Default)]
    pub(crate) struct Post;

    #[aggregate]
    impl Post {
        #[handle]
        fn write(&self, cmd: &Write) -> Result<Written, String> {
            Ok(Written { id: cmd.id })
        }

        #[apply]
        fn written(&mut self, _: &Written) {}
    }
}

#[test]
fn a_command_mapped_to_an_event_and_handled_too_is_reported() {
    let error = Registry::modules(["registry::doubly"]).check().unwrap_err();
    assert_eq!(
        error.problems(),
        [
            "command `Write` is recorded as event `Written` (`#[command(…, event = …)]`) and also handled by Post::write: a command has one handler; remove `event = …` or the `#[handle]` method",
        ]
    );
}
