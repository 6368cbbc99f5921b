//! Pipelines: a sequence of commands, each dispatched in a transaction of its own and
//! built from what the steps before it did. A step may be skipped by a condition; the
//! first one that fails ends the pipeline, and the steps before it stay committed.

use std::future::IntoFuture;

use crate::BoxFuture;
use crate::base::actor::Actor;
use crate::engine::dispatch::Dispatched;
use crate::facade::runtime::Herald;
use crate::model::command::Command;
use crate::outcome::error::Error;

/// What the steps so far did, to build the next one's command from.
#[derive(Debug, Default)]
pub struct Progress {
    steps: Vec<StepOutcome>,
}

impl Progress {
    /// What the last committed step did, if any committed.
    pub fn last(&self) -> Option<&Dispatched> {
        self.steps.iter().rev().find_map(StepOutcome::committed)
    }

    /// How each step before this one ended, in order.
    pub fn steps(&self) -> &[StepOutcome] {
        &self.steps
    }
}

/// How a pipeline step ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum StepOutcome {
    /// Its command committed.
    Committed(Box<Dispatched>),
    /// Its condition was false: it did not run.
    Skipped,
    /// Its command failed; the pipeline ended here.
    Failed(Error),
    /// A step before it failed: it did not run.
    NotRun,
}

impl StepOutcome {
    /// What the step's command did, when it committed.
    pub fn committed(&self) -> Option<&Dispatched> {
        match self {
            StepOutcome::Committed(done) => Some(done),
            _ => None,
        }
    }
}

type StepFn = Box<
    dyn for<'a> FnOnce(
            &'a Herald,
            &'a Actor,
            &Progress,
        ) -> Option<BoxFuture<'a, Result<Dispatched, Error>>>
        + Send,
>;

/// A pipeline being declared; `.await` it to run it. See [`Herald::pipeline`].
///
/// ```
/// # use herald_doc_fixtures::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # let herald = herald().await;
/// let ran = herald
///     .pipeline("open and fund")
///     .then(|_| OpenAccount { account_id: 5 })
///     .then(|done| Deposit { account_id: 5, amount: 10 * done.last().unwrap().version() })
///     .then_if(|done| done.last().unwrap().version() > 5, |_| Withdraw { account_id: 5, amount: 1 })
///     .then(|_| Withdraw { account_id: 5, amount: 1_000 }) // more than there is: fails
///     .then(|_| Deposit { account_id: 5, amount: 1 })
///     .await;
/// assert_eq!(ran.committed(), 2);
/// assert!(matches!(ran.steps()[2], herald::StepOutcome::Skipped));
/// assert!(matches!(ran.steps()[3], herald::StepOutcome::Failed(_)));
/// assert!(matches!(ran.steps()[4], herald::StepOutcome::NotRun));
/// # }
/// ```
#[must_use = "a pipeline does nothing until it is awaited"]
pub struct Pipeline<'h> {
    herald: &'h Herald,
    name: String,
    actor: Actor,
    steps: Vec<StepFn>,
}

impl<'h> Pipeline<'h> {
    pub(crate) fn new(herald: &'h Herald, name: String) -> Self {
        Pipeline {
            herald,
            name,
            actor: Actor::system(),
            steps: Vec::new(),
        }
    }

    /// Who sends the pipeline's commands (default: [`Actor::system`]).
    pub fn actor(mut self, actor: Actor) -> Self {
        self.actor = actor;
        self
    }

    /// Adds a step: the command `build` makes from what the steps before it did.
    pub fn then<C: Command>(self, build: impl FnOnce(&Progress) -> C + Send + 'static) -> Self {
        self.then_if(|_| true, build)
    }

    /// Adds a step that runs only when `when` says so; otherwise it is
    /// [`StepOutcome::Skipped`] and the pipeline goes on.
    pub fn then_if<C: Command>(
        mut self,
        when: impl FnOnce(&Progress) -> bool + Send + 'static,
        build: impl FnOnce(&Progress) -> C + Send + 'static,
    ) -> Self {
        self.steps.push(Box::new(move |herald, actor, progress| {
            if !when(progress) {
                return None;
            }
            let command = build(progress);
            Some(herald.dispatch(command).actor(actor.clone()).into_future())
        }));
        self
    }
}

impl<'h> IntoFuture for Pipeline<'h> {
    type Output = Ran;
    type IntoFuture = BoxFuture<'h, Ran>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let Pipeline {
                herald,
                name,
                actor,
                steps,
            } = self;
            let mut progress = Progress::default();
            let mut failed = false;
            for step in steps {
                let outcome = match failed {
                    true => StepOutcome::NotRun,
                    false => match step(herald, &actor, &progress) {
                        None => StepOutcome::Skipped,
                        Some(dispatch) => match dispatch.await {
                            Ok(done) => StepOutcome::Committed(Box::new(done)),
                            Err(error) => {
                                failed = true;
                                StepOutcome::Failed(error)
                            }
                        },
                    },
                };
                progress.steps.push(outcome);
            }
            Ran {
                name,
                steps: progress.steps,
            }
        })
    }
}

/// What a pipeline did: how each step ended.
#[derive(Debug)]
pub struct Ran {
    name: String,
    steps: Vec<StepOutcome>,
}

impl Ran {
    /// The pipeline's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How each step ended, in order.
    pub fn steps(&self) -> &[StepOutcome] {
        &self.steps
    }

    /// How many steps committed.
    pub fn committed(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| s.committed().is_some())
            .count()
    }

    /// The error of the step that failed, if one did.
    pub fn error(&self) -> Option<&Error> {
        self.steps.iter().find_map(|s| match s {
            StepOutcome::Failed(error) => Some(error),
            _ => None,
        })
    }

    /// Whether every step committed or was skipped.
    pub fn is_complete(&self) -> bool {
        self.error().is_none()
    }
}
