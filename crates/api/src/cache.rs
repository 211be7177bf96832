//! A cache of rendered GET responses, valid until the next committed write.
//!
//! Lists are the hot read path (UIs and CLIs poll them), and rendering one costs a query, parsing every
//! stored resource and encoding the answer again. With one process owning the store (SQLite), every
//! committed write is announced on the store's change feed, so a rendered answer stays true until the
//! next announcement. Every cached lookup first drains the feed (without waiting): any change, or a
//! lagging feed, bumps a generation counter, and an entry is served only while the generation it was
//! rendered under is current.
//!
//! Correctness: the store announces a write before the write call returns, so a request that follows a
//! write (from any client) drains its announcement first: reads see writes. A request takes the
//! generation *before* it reads the store, so an entry can only be older than the data it claims, never
//! newer: a write that commits during the read is drained by the next request and drops the entry. Only successful plain GETs of answers read from the store (not `…/storage/…`, read from blob storage) are cached
//! (no long-polls: `waitFor`), keyed by path, query, `Accept` and the credentials presented, so two
//! callers who may see different things never share an entry. With several replicas on one database
//! (PostgreSQL), changes from other replicas arrive a moment later, so the server does not use the
//! cache there.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use stateplane_store::{Change, Store};
use tokio::sync::broadcast::{self, error::TryRecvError};

/// Bytes of rendered answers kept at most; the cache is emptied when a new answer would not fit
/// (answers are cheap to render again, and memory stays bounded whatever the clients ask for).
const MAX_BYTES: usize = 8 << 20;
/// Larger answers are not kept.
const MAX_BODY: usize = 256 << 10;

struct Entry {
    generation: u64,
    status: StatusCode,
    content_type: Option<HeaderValue>,
    body: Bytes,
}

struct Inner {
    changes: broadcast::Receiver<Change>,
    generation: u64,
    entries: HashMap<String, Entry>,
    /// Bytes held by `entries` (keys and bodies).
    bytes: usize,
}

impl Inner {
    /// Takes in every announced change; returns the current generation.
    fn catch_up(&mut self) -> u64 {
        loop {
            match self.changes.try_recv() {
                Ok(_) | Err(TryRecvError::Lagged(_)) => self.generation += 1,
                Err(TryRecvError::Empty) => return self.generation,
                Err(TryRecvError::Closed) => {
                    // No more announcements can come: nothing may be served from memory any more.
                    self.generation += 1;
                    self.entries.clear();
                    self.bytes = 0;
                    return self.generation;
                }
            }
        }
    }
}

/// The shared cache; cheap to clone.
#[derive(Clone)]
pub struct ResponseCache {
    inner: Arc<Mutex<Inner>>,
}

impl ResponseCache {
    /// A cache invalidated by `store`'s change feed.
    pub fn new(store: &Arc<dyn Store>) -> Self {
        let inner = Inner {
            changes: store.changes(),
            generation: 0,
            entries: HashMap::new(),
            bytes: 0,
        };
        Self {
            inner: Arc::new(Mutex::new(inner)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn key(req: &Request) -> Option<String> {
    if req.method() != Method::GET {
        return None;
    }
    let uri = req.uri();
    if !uri.path().starts_with("/api/v1/") || uri.path().ends_with("/openapi.json") {
        return None;
    }
    // Answers read from blob storage (the orphan report): storage announces no changes.
    if uri.path().contains("/storage/") {
        return None;
    }
    if uri
        .query()
        .is_some_and(|q| q.contains("waitFor") || q.contains("timeout"))
    {
        return None;
    }
    let h = req.headers();
    let hv = |name: header::HeaderName, h: &HeaderMap| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    Some(format!(
        "{uri}\n{}\n{}\n{}",
        hv(header::ACCEPT, h),
        hv(header::AUTHORIZATION, h),
        hv(header::COOKIE, h)
    ))
}

/// Serves a GET from the cache when its entry is current, else renders it and keeps the answer.
pub async fn middleware(State(cache): State<ResponseCache>, req: Request, next: Next) -> Response {
    let Some(key) = key(&req) else {
        return next.run(req).await;
    };
    let generation = {
        let mut inner = cache.lock();
        let generation = inner.catch_up();
        if let Some(e) = inner
            .entries
            .get(&key)
            .filter(|e| e.generation == generation)
        {
            let mut r = Response::new(Body::from(e.body.clone()));
            *r.status_mut() = e.status;
            if let Some(ct) = &e.content_type {
                r.headers_mut().insert(header::CONTENT_TYPE, ct.clone());
            }
            return r;
        }
        generation
    };
    let resp = next.run(req).await;
    if resp.status() != StatusCode::OK {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read a rendered response");
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            return r;
        }
    };
    if bytes.len() <= MAX_BODY {
        let mut inner = cache.lock();
        let size = key.len() + bytes.len();
        if inner.bytes + size > MAX_BYTES {
            inner.entries.clear();
            inner.bytes = 0;
        }
        let entry = Entry {
            generation,
            status: parts.status,
            content_type: parts.headers.get(header::CONTENT_TYPE).cloned(),
            body: bytes.clone(),
        };
        if let Some(old) = inner.entries.insert(key.clone(), entry) {
            inner.bytes -= key.len() + old.body.len();
        }
        inner.bytes += size;
    }
    Response::from_parts(parts, Body::from(bytes))
}
