//! The code under test's own `tracing` events, captured in this test process and read as positive
//! signals.
//!
//! The in-process harnesses run the API and the controller inside the test binary, and what they log
//! is the most direct evidence of what they did: the controller logs the action it planned on every
//! reconcile pass (`planned`, at debug level, inside the `deployment` span that names the deployment);
//! the HTTP layer logs each request it starts serving; the leader lease logs when it waits. A test
//! that must show "the controller looked at this and did nothing" waits for such a pass instead of
//! sleeping and hoping one happened.
//!
//! [`capture`] installs a subscriber, once per process, that keeps the events of stateplane's crates
//! and of `tower_http` in memory (nothing is printed); [`mark`] and [`since`] read what came after a
//! point, [`wait_for`] waits for an event. Sequence numbers grow with every event kept, so "after mark
//! m" is exact; at most [`KEEP`] events are kept, the oldest dropped first.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Record as SpanValues};
use tracing::{Event, Id, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// How many events are kept at most.
pub const KEEP: usize = 50_000;

/// The controller's per-pass event: its message, and the span naming the deployment (field
/// `deployment`, the deployment's id). One per reconcile pass (a pass that waits for a starting job's
/// tasks may plan twice).
pub const PLANNED: &str = "planned";
pub const DEPLOYMENT_SPAN: &str = "deployment";

/// One captured event.
#[derive(Debug, Clone)]
pub struct Record {
    /// Position among all captured events of this process.
    pub seq: u64,
    pub target: String,
    pub level: Level,
    pub message: String,
    /// The event's fields other than the message, values as logged (`?x` in Debug form).
    pub fields: Vec<(String, String)>,
    /// The enclosing spans, innermost first: name and fields.
    pub spans: Vec<(String, Vec<(String, String)>)>,
}

impl Record {
    /// The value of the event's field `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        find(&self.fields, name)
    }

    /// The value of field `field` of the innermost enclosing span named `span`.
    pub fn span_field(&self, span: &str, field: &str) -> Option<&str> {
        self.spans
            .iter()
            .find(|(name, _)| name == span)
            .and_then(|(_, fields)| find(fields, field))
    }
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} {} {}", self.seq, self.level, self.target)?;
        for (name, fields) in self.spans.iter().rev() {
            write!(f, " {name}{{{}}}", pairs(fields))?;
        }
        write!(f, ": {} {}", self.message, pairs(&self.fields))
    }
}

fn find<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn pairs(fields: &[(String, String)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Default)]
struct Buffer {
    next: u64,
    records: VecDeque<Record>,
}

fn buffer() -> &'static Mutex<Buffer> {
    static BUFFER: OnceLock<Mutex<Buffer>> = OnceLock::new();
    BUFFER.get_or_init(Mutex::default)
}

fn lock() -> std::sync::MutexGuard<'static, Buffer> {
    buffer().lock().unwrap_or_else(PoisonError::into_inner)
}

/// Installs the capturing subscriber for this process (again: no-op).
///
/// # Panics
/// When another global subscriber was installed first: the signals would never arrive.
pub fn capture() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let filter = Targets::new()
            .with_target("stateplane", Level::DEBUG)
            .with_target("tower_http", Level::DEBUG);
        tracing_subscriber::registry()
            .with(Capture.with_filter(filter))
            .try_init()
            .unwrap_or_else(|e| {
                panic!("cannot capture tracing events: another subscriber is installed ({e})")
            });
    });
}

/// The sequence number the next captured event gets: pass it to [`since`] or [`wait_for`].
pub fn mark() -> u64 {
    lock().next
}

/// The captured events after `mark` for which `pred` holds, oldest first.
pub fn since(mark: u64, pred: impl Fn(&Record) -> bool) -> Vec<Record> {
    lock()
        .records
        .iter()
        .filter(|r| r.seq >= mark && pred(r))
        .cloned()
        .collect()
}

/// Waits for an event after `mark` for which `pred` holds; returns the first.
///
/// # Panics
/// After `timeout`, naming `what` and the last few events captured.
pub async fn wait_for(
    what: &str,
    timeout: Duration,
    mark: u64,
    pred: impl Fn(&Record) -> bool,
) -> Record {
    crate::wait::until_async(what, timeout, || {
        let found = since(mark, &pred).into_iter().next();
        async move { found.ok_or_else(recent) }
    })
    .await
}

/// The last few captured events, for failure messages.
fn recent() -> String {
    let b = lock();
    let n = b.records.len();
    let lines: Vec<String> = b
        .records
        .iter()
        .skip(n.saturating_sub(8))
        .map(|r| r.to_string())
        .collect();
    if lines.is_empty() {
        "no events captured (was logs::capture() called?)".into()
    } else {
        format!("the last events:\n{}", lines.join("\n"))
    }
}

/// The actions the controller planned for deployment `id` after `mark`, oldest first (Debug form, e.g.
/// `Steady`, `Wait { reason: "..." }`), one per reconcile pass.
pub fn planned(id: &str, mark: u64) -> Vec<String> {
    since(mark, |r| is_pass_of(r, id))
        .into_iter()
        .map(|r| r.field("action").unwrap_or_default().to_string())
        .collect()
}

/// Whether `r` is a reconcile pass of deployment `id`.
pub fn is_pass_of(r: &Record, id: &str) -> bool {
    r.message == PLANNED && r.span_field(DEPLOYMENT_SPAN, "deployment") == Some(id)
}

/// The layer that records events.
struct Capture;

/// A span's fields, kept in its extensions.
struct SpanFields(Vec<(String, String)>);

struct Fields<'a> {
    message: Option<&'a mut String>,
    fields: &'a mut Vec<(String, String)>,
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}"));
    }
}

impl Fields<'_> {
    fn put(&mut self, field: &Field, value: String) {
        match (&mut self.message, field.name()) {
            (Some(m), "message") => **m = value,
            _ => self.fields.push((field.name().to_string(), value)),
        }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Vec::new();
        attrs.record(&mut Fields {
            message: None,
            fields: &mut fields,
        });
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields));
        }
    }

    fn on_record(&self, id: &Id, values: &SpanValues<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut ext = span.extensions_mut();
            if let Some(SpanFields(fields)) = ext.get_mut::<SpanFields>() {
                values.record(&mut Fields {
                    message: None,
                    fields,
                });
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut message = String::new();
        let mut fields = Vec::new();
        event.record(&mut Fields {
            message: Some(&mut message),
            fields: &mut fields,
        });
        let spans = ctx
            .event_scope(event)
            .map(|scope| {
                scope
                    .map(|span| {
                        let fields = span
                            .extensions()
                            .get::<SpanFields>()
                            .map(|f| f.0.clone())
                            .unwrap_or_default();
                        (span.name().to_string(), fields)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let meta = event.metadata();
        let mut b = lock();
        let seq = b.next;
        b.next += 1;
        if b.records.len() >= KEEP {
            b.records.pop_front();
        }
        b.records.push_back(Record {
            seq,
            target: meta.target().to_string(),
            level: *meta.level(),
            message,
            fields,
            spans,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn events_are_captured_with_their_spans() {
        capture();
        let m = mark();
        let span = tracing::info_span!(target: "stateplane_controller::worker", "deployment", deployment = "d-1");
        span.in_scope(|| {
            tracing::debug!(target: "stateplane_controller::execute", action = ?Some(3), "planned");
            tracing::debug!(target: "elsewhere", "not kept");
        });
        let r = wait_for("the planned event", Duration::from_secs(5), m, |r| {
            is_pass_of(r, "d-1")
        })
        .await;
        assert_eq!(r.field("action"), Some("Some(3)"));
        assert!(r.to_string().contains("deployment{deployment=d-1}"), "{r}");
        assert_eq!(planned("d-1", m), vec!["Some(3)"]);
        assert!(planned("d-2", m).is_empty());
        assert!(since(m, |r| r.target == "elsewhere").is_empty());
        assert!(
            planned("d-1", mark()).is_empty(),
            "nothing after a fresh mark"
        );
    }
}
