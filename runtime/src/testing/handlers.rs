//! [`HandlerTest`]: one hook, projector or processor at a time, by name, the way the
//! runtime runs it, in a transaction of a store of your choosing.

use std::any::Any;
use std::time::SystemTime;

use uuid::Uuid;

use crate::BoxError;
use crate::base::actor::Actor;
use crate::engine::handler::{Cx, IntoCommands};
use crate::facade::runtime::Herald;
use crate::model::command::Command;
use crate::model::event::Event;
use crate::outcome::error::{Error, ErrorKind};
use crate::route::Route;
use crate::store::{Metadata, Position, RecordedEvent, StoreError, StreamKey};

/// Runs one handler at a time, by name, as the runtime does, on a runtime of the modules
/// you name (in memory, or on a store you choose, for handlers that use SQL tables).
///
/// ```
/// # use herald_doc_fixtures::*;
/// use herald::testing::HandlerTest;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), herald::Error> {
/// let test = HandlerTest::new(["herald_doc_fixtures"]).await?;
/// test.hook("positive_deposits", Deposit { account_id: 1, amount: 0 })
///     .await?
///     .then_rejected_with("a deposit must be positive");
/// test.hook("positive_deposits", Deposit { account_id: 1, amount: 5 })
///     .await?
///     .then_command(|cmd| assert_eq!(cmd.amount, 5));
/// test.processor("reopen", AccountClosed { account_id: 1 })
///     .await?
///     .then_expect_commands(OpenAccount { account_id: 1 });
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct HandlerTest {
    herald: Herald,
    actor: Actor,
}

impl HandlerTest {
    /// A test of the handlers registered in `modules`, on an in-memory store.
    pub async fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(modules: I) -> Result<Self, Error> {
        let herald = Herald::builder().modules(modules).build().await?;
        Ok(HandlerTest::on(herald))
    }

    /// A test on a runtime of your own (`url("sqlite::memory:")` for handlers that write
    /// tables): create the tables with [`Herald::begin`] first.
    pub fn on(herald: Herald) -> Self {
        HandlerTest {
            herald,
            actor: Actor::system(),
        }
    }

    /// The actor the handlers see (default: [`Actor::system`]).
    pub fn actor(mut self, actor: Actor) -> Self {
        self.actor = actor;
        self
    }

    /// The runtime, to set up and check tables.
    pub fn herald(&self) -> &Herald {
        &self.herald
    }

    /// Runs hook `name` on `command`, in a transaction that is rolled back. Its pattern
    /// must match the command's route.
    pub async fn hook<C: Command>(
        &self,
        name: &str,
        mut command: C,
    ) -> Result<HookOutcome<C>, Error> {
        let registry = self.herald.registry();
        let (hook, pattern) = registry
            .hook_named(name)
            .ok_or_else(|| not_found("hook", name))?;
        let route = command.route().map_err(|source| ErrorKind::Route {
            command: C::NAME,
            source,
        })?;
        if !pattern.matches(route.as_str()) {
            return Err(mismatch("hook", name, pattern.as_str(), &route));
        }
        let mut tx = self.herald.begin().await?;
        let (store_tx, _, _) = tx.parts();
        let store = self.herald.store().kind();
        let mut cx = Cx::new(store_tx, &self.actor, &route, pattern, store);
        let erased: &mut (dyn Any + Send + Sync) = &mut command;
        let result = crate::base::unwind::or_error(|| (hook.run)(erased, &mut cx)).await;
        tx.rollback().await?;
        Ok(HookOutcome { command, result })
    }

    /// Runs projector `name` on `event`, recorded as the first event of a stream, in a
    /// transaction that commits (so that you can read what it wrote).
    pub async fn projector<E: Event>(
        &self,
        name: &str,
        event: E,
    ) -> Result<Result<(), BoxError>, Error> {
        let (projector, pattern) = self
            .herald
            .registry()
            .projector_named(name)
            .ok_or_else(|| not_found("projector", name))?;
        let recorded = self.record_for("projector", name, pattern, event)?;
        let mut tx = self.herald.begin().await?;
        let (store_tx, _, _) = tx.parts();
        let store = self.herald.store().kind();
        let mut cx = Cx::new(store_tx, &self.actor, &recorded.route, pattern, store);
        let result = crate::base::unwind::or_error(|| (projector.run)(&recorded, &mut cx)).await;
        match result.is_ok() {
            true => tx.commit().await?,
            false => tx.rollback().await?,
        }
        Ok(result)
    }

    /// Runs processor `name` on `event` and gives back the commands it returned, without
    /// dispatching them.
    pub async fn processor<E: Event>(
        &self,
        name: &str,
        event: E,
    ) -> Result<ProcessorOutcome, Error> {
        let (processor, pattern) = self
            .herald
            .registry()
            .processor_named(name)
            .ok_or_else(|| not_found("processor", name))?;
        let recorded = self.record_for("processor", name, pattern, event)?;
        let mut tx = self.herald.begin().await?;
        let (store_tx, _, _) = tx.parts();
        let store = self.herald.store().kind();
        let mut cx = Cx::new(store_tx, &self.actor, &recorded.route, pattern, store);
        let result = crate::base::unwind::or_error(|| (processor.run)(&recorded, &mut cx)).await;
        tx.rollback().await?;
        let result = result.map(|commands| {
            commands
                .iter()
                .map(|c| (c.name(), c.to_json().unwrap_or(serde_json::Value::Null)))
                .collect()
        });
        Ok(ProcessorOutcome {
            processor: processor.name,
            result,
        })
    }

    /// `event` recorded for handler `name`, whose pattern must match it.
    fn record_for<E: Event>(
        &self,
        what: &str,
        name: &str,
        pattern: &crate::route::Pattern,
        event: E,
    ) -> Result<RecordedEvent, Error> {
        let recorded = self.record(event)?;
        match pattern.matches(recorded.route.as_str()) {
            true => Ok(recorded),
            false => Err(mismatch(what, name, pattern.as_str(), &recorded.route)),
        }
    }

    /// `event` as the store would give it to a handler: the first event of a stream of
    /// the actor's tenant.
    fn record<E: Event>(&self, event: E) -> Result<RecordedEvent, Error> {
        let store_error = |source| ErrorKind::Store {
            context: format!("recording event `{}` for a test", E::NAME),
            source,
        };
        let route = event
            .route()
            .map_err(|e| store_error(StoreError::Backend(e.into())))?;
        let payload = crate::base::json_value::to_value(&event)
            .map_err(|e| store_error(StoreError::Backend(e.into())))?;
        let id = Uuid::now_v7();
        let stream = StreamKey::new(self.actor.tenant(), "test", "1")
            .map_err(|invalid| store_error(invalid.into()))?;
        Ok(RecordedEvent {
            position: Position::from_parts(0, 1),
            event_id: id,
            stream,
            version: 1,
            route,
            name: E::NAME.to_owned(),
            schema_version: E::VERSION,
            payload,
            metadata: Metadata {
                event_id: id,
                command_id: id,
                correlation_id: id,
                causation_id: id,
                actor: self.actor.id().to_owned(),
                tenant: self.actor.tenant().to_owned(),
                roles: self.actor.roles().to_vec(),
                traceparent: None,
            },
            recorded_at: SystemTime::now(),
        })
    }
}

fn not_found(what: &str, name: &str) -> Error {
    let message = format!("no {what} named `{name}` is registered in this test's runtime");
    ErrorKind::Store {
        context: "a handler test".into(),
        source: StoreError::Unsupported(message),
    }
    .into()
}

fn mismatch(what: &str, name: &str, pattern: &str, route: &Route) -> Error {
    let message = format!("{what} `{name}`: its pattern `{pattern}` does not match `{route}`");
    ErrorKind::Store {
        context: "a handler test".into(),
        source: StoreError::Unsupported(message),
    }
    .into()
}

/// What a hook did to a command, to check.
#[derive(Debug)]
pub struct HookOutcome<C> {
    command: C,
    result: Result<(), BoxError>,
}

impl<C> HookOutcome<C> {
    /// Checks that the hook let the command through, and the command as it left it.
    #[track_caller]
    pub fn then_command(self, check: impl FnOnce(&C)) -> Self {
        if let Err(error) = &self.result {
            panic!("the hook rejected the command: {error}");
        }
        check(&self.command);
        self
    }

    /// Checks that the hook rejected the command with an error whose message is
    /// `expected`.
    #[track_caller]
    pub fn then_rejected_with(self, expected: &str) -> Self {
        match &self.result {
            Err(error) => assert_eq!(error.to_string(), expected, "the hook's rejection"),
            Ok(()) => panic!("the hook let the command through, expected `{expected}`"),
        }
        self
    }

    /// The command and the hook's result, for checks of your own.
    pub fn into_parts(self) -> (C, Result<(), BoxError>) {
        (self.command, self.result)
    }
}

/// What a processor returned, to check.
#[derive(Debug)]
pub struct ProcessorOutcome {
    processor: &'static str,
    result: Result<Vec<(&'static str, serde_json::Value)>, BoxError>,
}

impl ProcessorOutcome {
    /// Checks that the processor returned exactly these commands (compared by name and
    /// JSON), in order.
    #[track_caller]
    pub fn then_expect_commands(self, expected: impl IntoCommands) -> Self {
        let mut list = Vec::new();
        expected.into_commands(&mut list);
        let want: Vec<(&str, serde_json::Value)> = list
            .iter()
            .map(|c| (c.name(), c.to_json().unwrap_or(serde_json::Value::Null)))
            .collect();
        match &self.result {
            Ok(got) => assert_eq!(got, &want, "the commands `{}` returned", self.processor),
            Err(error) => panic!("`{}` failed: {error}; expected {want:?}", self.processor),
        }
        self
    }

    /// Checks that the processor failed with an error whose message is `expected`.
    #[track_caller]
    pub fn then_failed_with(self, expected: &str) -> Self {
        match &self.result {
            Err(error) => assert_eq!(error.to_string(), expected),
            Ok(got) => panic!(
                "`{}` returned {got:?}, expected `{expected}`",
                self.processor
            ),
        }
        self
    }
}
