//! A `tracing` subscriber that keeps every span's name and fields, for the tests that check
//! what Herald's spans say. Installed once per process as the global default (a server's
//! tasks run on other threads); each test picks out its own spans by a value only it used.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// A span as recorded: its name and the fields it was given, at creation or later.
#[derive(Clone, Debug, Default)]
pub struct Span {
    /// The span's name (`http`).
    pub name: &'static str,
    /// Each field's value, as `Debug` writes it (`"text"` without the quotes).
    pub fields: HashMap<&'static str, String>,
}

impl Span {
    /// The field's value, `""` when it was never recorded.
    pub fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }
}

/// Every span recorded since the process started.
#[derive(Clone, Default)]
pub struct Recorder {
    spans: Arc<Mutex<HashMap<u64, Span>>>,
    next: Arc<AtomicU64>,
}

impl Recorder {
    /// The process's recorder, installed as the global subscriber the first time.
    pub fn installed() -> Recorder {
        static RECORDER: OnceLock<Recorder> = OnceLock::new();
        RECORDER
            .get_or_init(|| {
                let recorder = Recorder::default();
                tracing::subscriber::set_global_default(recorder.clone())
                    .expect("no other global subscriber in the test process");
                recorder
            })
            .clone()
    }

    /// The spans named `name` whose field `field` has the value `value`.
    pub fn spans(&self, name: &str, field: &str, value: &str) -> Vec<Span> {
        let spans = self.spans.lock().unwrap_or_else(PoisonError::into_inner);
        let found = spans.values();
        found
            .filter(|s| s.name == name && s.field(field) == value)
            .cloned()
            .collect()
    }

    fn with(&self, id: &Id, record: impl FnOnce(&mut Span)) {
        let mut spans = self.spans.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(span) = spans.get_mut(&id.into_u64()) {
            record(span);
        }
    }
}

struct Fields<'a>(&'a mut HashMap<&'static str, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name(), format!("{value:?}"));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut span = Span {
            name: attributes.metadata().name(),
            fields: HashMap::new(),
        };
        attributes.record(&mut Fields(&mut span.fields));
        let mut spans = self.spans.lock().unwrap_or_else(PoisonError::into_inner);
        spans.insert(id, span);
        Id::from_non_zero_u64(NonZeroU64::new(id).expect("ids start at 1"))
    }

    fn record(&self, id: &Id, values: &Record<'_>) {
        self.with(id, |span| values.record(&mut Fields(&mut span.fields)));
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, _: &Event<'_>) {}

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
