//! Events recorded without an aggregate, on every store: in process and in a transaction
//! (committed or rolled back), idempotent by id, delivered like any event (strong handlers
//! in the transaction, eventual consumers and live subscribers after the commit); and a
//! command mapped straight to an event, whose hooks still run.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use herald::prelude::*;
use herald::store::StreamKey;
use herald::trace::Operation;
use herald::{Actor, ErrorKind, Herald};
use herald_tests::backends::TestStore;
use herald_tests::on_every_backend;

const WAIT: Duration = Duration::from_secs(10);

#[event("note.:note_id.added", stream = "notes")]
#[derive(Clone)]
struct NoteAdded {
    note_id: String,
    text: String,
}

/// Mapped straight to [`NoteAdded`]: no aggregate.
#[command("add.note.:note_id", event = NoteAdded)]
#[derive(Clone)]
struct AddNote {
    note_id: String,
    text: String,
}

impl From<AddNote> for NoteAdded {
    fn from(cmd: AddNote) -> Self {
        NoteAdded {
            note_id: cmd.note_id,
            text: cmd.text,
        }
    }
}

/// Rejects empty notes, trims the others: it runs before the event is made.
#[hook(before, "add.note.:note_id")]
async fn not_empty(cmd: &mut AddNote, _cx: &mut Cx<'_>) -> Result<(), String> {
    if cmd.text.trim().is_empty() {
        return Err("a note needs some text".into());
    }
    cmd.text = cmd.text.trim().to_owned();
    Ok(())
}

/// What the projectors saw, by note id.
static SEEN: Mutex<Option<HashMap<String, Vec<String>>>> = Mutex::new(None);

fn saw(note: &str, what: String) {
    SEEN.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(HashMap::new)
        .entry(note.to_owned())
        .or_default()
        .push(what);
}

fn seen(note: &str) -> Vec<String> {
    let seen = SEEN.lock().unwrap_or_else(PoisonError::into_inner);
    seen.as_ref()
        .and_then(|s| s.get(note).cloned())
        .unwrap_or_default()
}

/// Strong: in the recording's transaction; a note saying "fail" fails it.
#[projector("note.:note_id.added", consistency = strong)]
async fn note_index(e: &Recorded<NoteAdded>, _cx: &mut Cx<'_>) -> Result<(), String> {
    if e.text == "fail" {
        return Err("the index refuses this note".into());
    }
    saw(&e.note_id, format!("strong {}", e.text));
    Ok(())
}

/// Eventual: after the commit.
#[projector("note.:note_id.added", consistency = eventual)]
async fn note_search(e: &Recorded<NoteAdded>, _cx: &mut Cx<'_>) -> Result<(), String> {
    saw(&e.note_id, format!("eventual {}", e.text));
    Ok(())
}

async fn herald(test: &TestStore) -> Herald {
    Herald::builder()
        .store(test.store.clone())
        .modules(["standalone_events"])
        .consumer_poll(Duration::from_millis(20))
        .build()
        .await
        .expect("the runtime")
}

fn note_id() -> String {
    Uuid::now_v7().simple().to_string()
}

fn note(id: &str, text: &str) -> NoteAdded {
    NoteAdded {
        note_id: id.to_owned(),
        text: text.to_owned(),
    }
}

async fn stream_len(herald: &Herald, tenant: &str, id: &str) -> usize {
    let key = StreamKey::new(tenant, "notes", id).unwrap();
    herald.store().read_stream(&key, 0).await.unwrap().len()
}

#[on_every_backend]
async fn a_recorded_event_gets_a_stream_of_its_own_with_the_metadata_of_any_event(
    test: &TestStore,
) {
    let herald = herald(test).await;
    let id = note_id();
    let correlation = Uuid::now_v7();
    let noted = herald
        .record(note(&id, "call back"))
        .actor(Actor::new("ada", "acme"))
        .correlation_id(correlation)
        .await
        .unwrap();
    assert_eq!(noted.stream().tenant(), "acme");
    assert_eq!(noted.stream().stream_type(), "notes");
    assert_eq!(noted.stream().stream_id(), id);
    assert_eq!(noted.version(), 1);
    assert_eq!(noted.route().as_str(), format!("note.{id}.added"));
    let event = &noted.events()[0];
    assert_eq!(event.name, "NoteAdded");
    let meta = &event.metadata;
    assert_eq!((meta.actor.as_str(), meta.tenant.as_str()), ("ada", "acme"));
    assert_eq!(meta.command_id, noted.command_id());
    assert_eq!(meta.correlation_id, correlation);
    assert_eq!(meta.causation_id, noted.command_id());
    let decoded: NoteAdded = event.decode().unwrap();
    assert_eq!(decoded.text, "call back");
    assert!(
        noted
            .trace()
            .nodes()
            .any(|n| n.operation == Operation::Append),
        "traced like a command"
    );
    // A second event in the same stream follows it; an explicit stream id is another.
    let again = herald
        .record(note(&id, "again"))
        .actor(Actor::new("ada", "acme"));
    assert_eq!(again.expected_version(1).await.unwrap().version(), 2);
    let elsewhere = herald
        .record(note(&id, "elsewhere"))
        .stream_id("inbox")
        .await
        .unwrap();
    assert_eq!(elsewhere.stream().stream_id(), "inbox");
    assert_eq!(elsewhere.stream().tenant(), Actor::system().tenant());
    // A version the caller gave that is not the stream's: a conflict, nothing appended.
    let stale = herald
        .record(note(&id, "stale"))
        .actor(Actor::new("ada", "acme"))
        .expected_version(1)
        .await
        .unwrap_err();
    assert!(
        matches!(stale.kind(), ErrorKind::Conflict { .. }),
        "{stale}"
    );
    assert_eq!(stream_len(&herald, "acme", &id).await, 2);
}

#[on_every_backend]
async fn a_repeated_event_id_returns_the_first_result_and_appends_nothing(test: &TestStore) {
    let herald = herald(test).await;
    let id = note_id();
    let event_id = Uuid::now_v7();
    let first = herald
        .record(note(&id, "once"))
        .event_id(event_id)
        .await
        .unwrap();
    assert_eq!(first.events()[0].event_id, event_id);
    assert_eq!(first.command_id(), event_id, "the event id is the key");
    let again = herald
        .record(note(&id, "once"))
        .event_id(event_id)
        .await
        .unwrap();
    assert!(again.is_repeat());
    assert_eq!(again.events()[0].event_id, event_id);
    assert_eq!(stream_len(&herald, "default", &id).await, 1);
    let strong: Vec<String> = seen(&id)
        .into_iter()
        .filter(|s| s.starts_with("strong"))
        .collect();
    assert_eq!(strong, ["strong once"], "the strong projector ran once");
    // The same id with another event: the typed error, nothing appended.
    let reused = herald
        .record(note(&id, "other"))
        .event_id(event_id)
        .await
        .unwrap_err();
    assert!(
        matches!(reused.kind(), ErrorKind::CommandIdReused { .. }),
        "{reused}"
    );
    // A command id works the same.
    let key = Uuid::now_v7();
    herald
        .record(note(&id, "keyed"))
        .command_id(key)
        .await
        .unwrap();
    let keyed = herald
        .record(note(&id, "keyed"))
        .command_id(key)
        .await
        .unwrap();
    assert!(keyed.is_repeat());
    assert_eq!(stream_len(&herald, "default", &id).await, 2);
}

#[on_every_backend]
async fn an_event_recorded_in_a_transaction_commits_with_it_or_not_at_all(test: &TestStore) {
    let herald = herald(test).await;
    let (kept, dropped) = (note_id(), note_id());
    let mut tx = herald.begin().await.unwrap();
    let noted = tx.record(note(&kept, "kept")).await.unwrap();
    tx.record(note(&kept, "kept too")).await.unwrap();
    assert_eq!(noted.version(), 1);
    assert_eq!(stream_len(&herald, "default", &kept).await, 0, "not yet");
    tx.commit().await.unwrap();
    assert_eq!(stream_len(&herald, "default", &kept).await, 2);

    let mut tx = herald.begin().await.unwrap();
    tx.record(note(&dropped, "dropped")).await.unwrap();
    // A failing strong projector undoes its own recording only; the transaction goes on.
    let failed = tx.record(note(&dropped, "fail")).await.unwrap_err();
    assert!(
        matches!(failed.kind(), ErrorKind::Project { .. }),
        "{failed}"
    );
    tx.rollback().await.unwrap();
    assert_eq!(stream_len(&herald, "default", &dropped).await, 0);
}

#[on_every_backend]
async fn strong_handlers_run_in_the_transaction_and_eventual_ones_after_the_commit(
    test: &TestStore,
) {
    let herald = herald(test).await;
    let id = note_id();
    let mut live = herald.live("note.*").await.unwrap();
    let noted = herald
        .record(note(&id, "hello"))
        .wait_for(["note_search"], WAIT)
        .await
        .unwrap();
    assert!(
        noted.trace().nodes().any(
            |n| n.operation == Operation::Project && n.handler.as_deref() == Some("note_index")
        ),
        "the strong projector is in the recording's trace"
    );
    assert_eq!(seen(&id), ["strong hello", "eventual hello"]);
    match tokio::time::timeout(WAIT, live.next()).await.unwrap() {
        Some(herald::Live::Event(event)) => {
            assert_eq!(event.event_id, noted.events()[0].event_id)
        }
        other => panic!("expected the event, got {other:?}"),
    }
    // A strong projector that fails fails the recording: nothing is appended.
    let failed = herald.record(note(&id, "fail")).await.unwrap_err();
    assert!(
        matches!(failed.kind(), ErrorKind::Project { .. }),
        "{failed}"
    );
    assert_eq!(stream_len(&herald, "default", &id).await, 1);
}

#[on_every_backend]
async fn a_mapped_command_runs_its_hooks_and_appends_the_event_made_from_it(test: &TestStore) {
    let herald = herald(test).await;
    let id = note_id();
    let rejected = herald
        .dispatch(AddNote {
            note_id: id.clone(),
            text: "  ".into(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(rejected.kind(), ErrorKind::Hook { .. }),
        "{rejected}"
    );
    assert_eq!(
        stream_len(&herald, "default", &id).await,
        0,
        "nothing written"
    );
    assert!(seen(&id).is_empty());

    let added = herald
        .dispatch(AddNote {
            note_id: id.clone(),
            text: "  buy milk ".into(),
        })
        .await
        .unwrap();
    assert_eq!(added.route().as_str(), format!("add.note.{id}"));
    assert_eq!(added.stream().stream_type(), "notes");
    assert_eq!(added.stream().stream_id(), id);
    let event: NoteAdded = added.events()[0].decode().unwrap();
    assert_eq!(
        event.text, "buy milk",
        "made from the command as the hook left it"
    );
    assert_eq!(added.events()[0].route.as_str(), format!("note.{id}.added"));
    assert_eq!(
        seen(&id).first().map(String::as_str),
        Some("strong buy milk")
    );
    // Recorded directly, the same event goes into the same stream.
    let direct = herald.record(note(&id, "direct")).await.unwrap();
    assert_eq!((direct.stream(), direct.version()), (added.stream(), 2));
}

#[tokio::test]
async fn the_registry_accepts_a_mapped_command_as_handled() {
    herald::Registry::modules(["standalone_events"])
        .check()
        .unwrap();
}
