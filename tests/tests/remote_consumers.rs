//! Remote consumers on every store: a tenant registers a named consumer with route
//! patterns, polls its events after its checkpoint, acknowledges positions, and resumes
//! where it acknowledged in a new runtime; tenants never see each other's; archiving
//! waits for a registered consumer, names it, and polling reads through the archive.

use std::sync::Arc;

use herald::prelude::*;
use herald::store::{EventStore, Page, Position, RecordedEvent};
use herald::{Error, ErrorKind};

use herald_tests::backends::{TestArchive, TestStore};
use herald_tests::on_every_backend;

#[event("invoice.:invoice_id.issued")]
struct Issued {
    invoice_id: String,
}

#[event("invoice.:invoice_id.paid")]
struct Paid {
    invoice_id: String,
}

#[event("note.:note_id.written")]
struct Written {
    note_id: String,
}

#[command("issue.invoice.:invoice_id")]
struct Issue {
    invoice_id: String,
}

#[command("pay.invoice.:invoice_id")]
struct Pay {
    invoice_id: String,
}

#[command("write.note.:note_id")]
struct Write {
    note_id: String,
}

#[aggregate(name = "invoice")]
#[derive(Default)]
struct Invoice;

#[aggregate]
impl Invoice {
    #[handle]
    fn issue(&self, cmd: &Issue) -> Result<Issued, std::convert::Infallible> {
        Ok(Issued {
            invoice_id: cmd.invoice_id.clone(),
        })
    }

    #[handle]
    fn pay(&self, cmd: &Pay) -> Result<Paid, std::convert::Infallible> {
        Ok(Paid {
            invoice_id: cmd.invoice_id.clone(),
        })
    }

    #[apply]
    fn issued(&mut self, _: &Issued) {}

    #[apply]
    fn paid(&mut self, _: &Paid) {}
}

#[aggregate(name = "note")]
#[derive(Default)]
struct Note;

#[aggregate]
impl Note {
    #[handle]
    fn write(&self, cmd: &Write) -> Result<Written, std::convert::Infallible> {
        Ok(Written {
            note_id: cmd.note_id.clone(),
        })
    }

    #[apply]
    fn written(&mut self, _: &Written) {}
}

const ACME: &str = "acme";
const GLOBEX: &str = "globex";

fn builder(store: &Arc<dyn EventStore>) -> herald::HeraldBuilder {
    Herald::builder()
        .modules(["remote_consumers"])
        .store(store.clone())
}

async fn runtime(store: &Arc<dyn EventStore>) -> Herald {
    builder(store).build().await.unwrap()
}

fn actor(tenant: &str) -> Actor {
    Actor::new("clerk", tenant)
}

/// Issues invoice `id` in `tenant`: its route is `invoice.<id>.issued`.
async fn issue(herald: &Herald, tenant: &str, id: &str) -> RecordedEvent {
    let invoice_id = id.to_owned();
    let issued = herald.dispatch(Issue { invoice_id }).actor(actor(tenant));
    readable(herald, issued.await.unwrap().into_events().remove(0)).await
}

async fn pay(herald: &Herald, tenant: &str, id: &str) -> RecordedEvent {
    let invoice_id = id.to_owned();
    let paid = herald.dispatch(Pay { invoice_id }).actor(actor(tenant));
    readable(herald, paid.await.unwrap().into_events().remove(0)).await
}

async fn write(herald: &Herald, tenant: &str, id: &str) -> RecordedEvent {
    let note_id = id.to_owned();
    let written = herald.dispatch(Write { note_id }).actor(actor(tenant));
    readable(herald, written.await.unwrap().into_events().remove(0)).await
}

/// `event`, once readers can read it. On PostgreSQL a committed event becomes readable
/// when every transaction of the store that began before it has ended, so one still
/// ending (a rollback, say) can hold it back for a moment after its dispatch returned;
/// the tests poll and acknowledge what they just wrote.
async fn readable(herald: &Herald, event: RecordedEvent) -> RecordedEvent {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while herald.store().consumers().head().await.unwrap() < event.position {
        assert!(
            std::time::Instant::now() < deadline,
            "event {:?} not readable after 10 s",
            event.position
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    event
}

fn routes(page: &Page) -> Vec<&str> {
    page.events.iter().map(|e| e.route.as_str()).collect()
}

fn code(error: &Error) -> &'static str {
    error.kind().code()
}

/// A consumer that crashes before it acknowledges gets the same events again from a new
/// runtime on the store; after it acknowledges, none of them again, and nothing missed.
#[on_every_backend]
async fn a_consumer_resumes_where_it_acknowledged(test: &TestStore) {
    let first = runtime(&test.store).await;
    let remote = first.consumers().remote(ACME);
    let registered = remote.register("billing", ["invoice.*"]).await.unwrap();
    assert!(registered.created);
    assert_eq!(registered.consumer.position, Position::START);
    assert_eq!(registered.consumer.acked_at, None);
    issue(&first, ACME, "1").await;
    write(&first, ACME, "n").await;
    let paid = pay(&first, ACME, "1").await;
    let page = remote.poll("billing", 10).await.unwrap();
    assert_eq!(routes(&page), ["invoice.1.issued", "invoice.1.paid"]);
    assert_eq!(page.next, paid.position);
    assert_eq!(remote.get("billing").await.unwrap().lag, 2);
    drop(first); // crashed: nothing acknowledged

    // Another process, on PostgreSQL: another connection to the same schema.
    let store = test.reopen().await.unwrap_or_else(|| test.store.clone());
    let second = runtime(&store).await;
    let remote = second.consumers().remote(ACME);
    let again = remote.poll("billing", 10).await.unwrap();
    assert_eq!(again, page, "the same events, in the same order");
    let acked = remote.acknowledge("billing", again.next).await.unwrap();
    assert!(acked.moved);
    assert_eq!(acked.position, paid.position);
    let status = remote.get("billing").await.unwrap();
    assert_eq!((status.position, status.lag), (paid.position, 0));
    assert!(status.acked_at.is_some());
    assert!(remote.poll("billing", 10).await.unwrap().events.is_empty());
    drop(second);

    let third = runtime(&test.store).await;
    let remote = third.consumers().remote(ACME);
    assert!(remote.poll("billing", 10).await.unwrap().events.is_empty());
    let issued = issue(&third, ACME, "2").await;
    let page = remote.poll("billing", 10).await.unwrap();
    assert_eq!(
        page.events,
        [issued],
        "only what came after the acknowledgement"
    );
}

/// Two tenants may both register `billing`: each polls only its own tenant's events,
/// lists only its own consumers, and another tenant's name is unknown to it.
#[on_every_backend]
async fn tenants_never_see_each_others_consumers(test: &TestStore) {
    let herald = runtime(&test.store).await;
    let (acme, globex) = (
        herald.consumers().remote(ACME),
        herald.consumers().remote(GLOBEX),
    );
    assert!(
        acme.register("billing", ["invoice.*"])
            .await
            .unwrap()
            .created
    );
    let theirs = globex.register("billing", ["*"]).await.unwrap();
    assert!(
        theirs.created,
        "the same name in another tenant is another consumer"
    );
    acme.register("payroll", ["invoice.*"]).await.unwrap();
    issue(&herald, ACME, "a").await;
    issue(&herald, GLOBEX, "g").await;
    write(&herald, GLOBEX, "n").await;

    assert_eq!(
        routes(&acme.poll("billing", 10).await.unwrap()),
        ["invoice.a.issued"]
    );
    assert_eq!(
        routes(&globex.poll("billing", 10).await.unwrap()),
        ["invoice.g.issued", "note.n.written"]
    );
    let names = |list: Vec<herald::consumer::RemoteConsumer>| {
        list.into_iter()
            .map(|c| (c.tenant, c.name))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(acme.list().await.unwrap()),
        [
            (ACME.to_owned(), "billing".to_owned()),
            (ACME.to_owned(), "payroll".to_owned())
        ]
    );
    assert_eq!(
        names(globex.list().await.unwrap()),
        [(GLOBEX.to_owned(), "billing".to_owned())]
    );

    // Acme's `payroll` is as unknown to globex as a name no one has.
    let head = herald.store().consumers().head().await.unwrap();
    let errors = [
        globex.delete("payroll").await.unwrap_err(),
        globex.poll("payroll", 10).await.unwrap_err(),
        globex.acknowledge("payroll", head).await.unwrap_err(),
        globex.get("payroll").await.unwrap_err(),
    ];
    for error in &errors {
        assert_eq!(code(error), "unknown_consumer", "{error}");
    }
    let nobody = globex.delete("nobody").await.unwrap_err().to_string();
    let payroll = errors[0].to_string();
    assert_eq!(
        payroll.replace("payroll", "nobody"),
        nobody,
        "nothing tells them apart"
    );
    assert_eq!(acme.get("payroll").await.unwrap().position, Position::START);

    // Deleting one tenant's `billing` leaves the other's.
    globex.delete("billing").await.unwrap();
    assert!(globex.list().await.unwrap().is_empty());
    assert_eq!(acme.poll("billing", 10).await.unwrap().events.len(), 1);
}

/// Patterns choose the events; a full page stops at its last event, a page of events
/// that did not match still moves the cursor on; registering again with the same
/// patterns is fine, with others an error; bad patterns and names are errors.
#[on_every_backend]
async fn patterns_choose_the_events(test: &TestStore) {
    let herald = runtime(&test.store).await;
    let remote = herald.consumers().remote(ACME);
    let patterns = ["invoice.*.paid", "note.:id.written"];
    remote.register("paid", patterns).await.unwrap();
    issue(&herald, ACME, "1").await;
    let first = pay(&herald, ACME, "1").await;
    issue(&herald, ACME, "2").await;
    let second = write(&herald, ACME, "n").await;
    let last = issue(&herald, ACME, "3").await;

    let page = remote.poll("paid", 1).await.unwrap();
    assert_eq!(
        (routes(&page), page.next),
        (vec!["invoice.1.paid"], first.position)
    );
    let page = remote.poll_after("paid", page.next, 10).await.unwrap();
    assert_eq!(routes(&page), ["note.n.written"]);
    assert_eq!(
        page.next, last.position,
        "past the events that did not match"
    );
    assert_eq!(remote.get("paid").await.unwrap().lag, 2);
    remote.acknowledge("paid", second.position).await.unwrap();
    let page = remote.poll("paid", 10).await.unwrap();
    assert!(page.events.is_empty());
    assert_eq!(page.next, last.position);
    remote.acknowledge("paid", page.next).await.unwrap();
    assert_eq!(remote.get("paid").await.unwrap().lag, 0);

    // The same patterns, in another order and once more: the same consumer.
    let again = remote.register(
        "paid",
        ["note.:id.written", "invoice.*.paid", "invoice.*.paid"],
    );
    let again = again.await.unwrap();
    assert!(!again.created);
    assert_eq!(
        again.consumer.position, last.position,
        "its checkpoint is kept"
    );
    let other = remote.register("paid", ["invoice.*"]).await.unwrap_err();
    assert!(
        matches!(other.kind(), ErrorKind::ConsumerRegistered { registered, .. } if registered.len() == 2),
        "{other}"
    );
    let bad = remote
        .register("typo", ["invoice.:id?.*.x:"])
        .await
        .unwrap_err();
    assert!(matches!(bad.kind(), ErrorKind::Pattern { .. }), "{bad}");
    assert!(bad.to_string().contains("x:"), "names the segment: {bad}");
    for name in ["", "a:b", "with space"] {
        let error = remote.register(name, ["*"]).await.unwrap_err();
        assert_eq!(code(&error), "invalid_consumer_name", "{name:?}: {error}");
    }
    assert_eq!(
        remote.list().await.unwrap().len(),
        1,
        "nothing else was registered"
    );

    // From now: only what commits after it.
    let late = remote
        .register("late", ["invoice.*"])
        .from_now()
        .await
        .unwrap();
    assert_eq!(late.consumer.position, last.position);
    assert!(remote.poll("late", 10).await.unwrap().events.is_empty());
    let paid = pay(&herald, ACME, "2").await;
    assert_eq!(remote.poll("late", 10).await.unwrap().events, [paid]);
}

/// An acknowledgement never moves a checkpoint back (and says so), and one past every
/// event that can be read is an error.
#[on_every_backend]
async fn acknowledgements_only_move_forward(test: &TestStore) {
    let herald = runtime(&test.store).await;
    let remote = herald.consumers().remote(ACME);
    remote.register("billing", ["invoice.*"]).await.unwrap();
    let first = issue(&herald, ACME, "1").await;
    let second = pay(&herald, ACME, "1").await;
    assert!(
        remote
            .acknowledge("billing", second.position)
            .await
            .unwrap()
            .moved
    );
    let acked_at = remote.get("billing").await.unwrap().acked_at;

    for older in [first.position, second.position, Position::START] {
        let acked = remote.acknowledge("billing", older).await.unwrap();
        assert!(!acked.moved, "{older}");
        assert_eq!(acked.position, second.position);
    }
    let status = remote.get("billing").await.unwrap();
    assert_eq!(
        (status.position, status.acked_at),
        (second.position, acked_at)
    );

    // A position no poll gave: past the head.
    let made_up: Position =
        serde_json::from_value(serde_json::json!({ "tx": 1_u64 << 60, "seq": 1_u64 << 60 }))
            .unwrap();
    let error = remote.acknowledge("billing", made_up).await.unwrap_err();
    assert_eq!(code(&error), "ack_beyond_head", "{error}");
    assert_eq!(
        remote.get("billing").await.unwrap().position,
        second.position
    );
}

/// Reading the global order without a registration: a tenant's events matching the
/// patterns, page by page.
#[on_every_backend]
async fn events_are_read_by_tenant_and_pattern(test: &TestStore) {
    let herald = runtime(&test.store).await;
    let mut mine = Vec::new();
    for id in ["1", "2", "3"] {
        mine.push(issue(&herald, ACME, id).await);
        issue(&herald, GLOBEX, id).await;
        write(&herald, ACME, id).await;
    }
    let (mut read, mut at) = (Vec::new(), Position::START);
    loop {
        let page = herald
            .read_events(ACME, at, ["invoice.*"], 2)
            .await
            .unwrap();
        if page.next == at {
            break;
        }
        read.extend(page.events);
        at = page.next;
    }
    assert_eq!(read, mine);
    let every = herald.read_events(GLOBEX, Position::START, None::<&str>, 100);
    assert_eq!(
        every.await.unwrap().events.len(),
        3,
        "no pattern: every route"
    );
    let bad = herald
        .read_events(ACME, Position::START, ["a..b"], 10)
        .await;
    assert!(matches!(bad.unwrap_err().kind(), ErrorKind::Pattern { .. }));
}

/// Archiving waits for a registered consumer that has acknowledged nothing, and names
/// it; an acknowledgement or deleting it lets the pass on. A consumer polls events that
/// were discarded from the active store: they are read through the archive.
#[on_every_backend]
async fn archiving_waits_for_remote_consumers(test: &TestStore) {
    let archive = TestArchive::sqlite().await;
    let archive = archive.archive.clone().discard(true);
    let herald = builder(&test.store).archive(archive).build().await.unwrap();
    let remote = herald.consumers().remote(ACME);
    remote.register("billing", ["invoice.*"]).await.unwrap();
    let mut events = Vec::new();
    for id in ["a", "b"] {
        events.push(issue(&herald, ACME, id).await);
        events.push(pay(&herald, ACME, id).await);
    }

    let report = herald.consumers().archive().await.unwrap();
    assert_eq!((report.archived, report.discarded), (0, 0));
    let billing = "remote consumer `billing` of tenant `acme`";
    assert_eq!(report.held_back_by.as_deref(), Some(billing));

    let page = remote.poll("billing", 2).await.unwrap();
    remote.acknowledge("billing", page.next).await.unwrap();
    let report = herald.consumers().archive().await.unwrap();
    assert_eq!(
        (report.archived, report.discarded),
        (2, 1),
        "up to its checkpoint"
    );
    assert_eq!(report.up_to, events[1].position);
    assert_eq!(report.held_back_by.as_deref(), Some(billing));
    let page = remote.poll("billing", 10).await.unwrap();
    assert_eq!(
        page.events,
        events[2..],
        "nothing past its checkpoint was lost"
    );
    remote.acknowledge("billing", page.next).await.unwrap();
    let report = herald.consumers().archive().await.unwrap();
    assert_eq!((report.archived, report.discarded), (2, 1));
    assert_eq!(report.held_back_by, None);

    // A consumer registered now reads from the start, through the archive, and holds
    // the next pass back until it is deleted.
    let audit = herald.consumers().remote(ACME);
    audit.register("audit", ["*"]).await.unwrap();
    let page = audit.poll("audit", 10).await.unwrap();
    assert_eq!(page.events, events, "the discarded ones from the archive");
    let last = issue(&herald, ACME, "c").await;
    let report = herald.consumers().archive().await.unwrap();
    let held = "remote consumer `audit` of tenant `acme`";
    assert_eq!(report.held_back_by.as_deref(), Some(held));
    assert_eq!(report.archived, 0);
    audit.delete("audit").await.unwrap();
    remote.acknowledge("billing", last.position).await.unwrap();
    let report = herald.consumers().archive().await.unwrap();
    assert_eq!((report.archived, report.held_back_by), (1, None));
}
