//! A counting HTTP proxy in front of Flink's REST API: what reaches the JobManager, counted where it
//! arrives rather than where a client thinks it sent it. Every request is forwarded as it came
//! (method, path, query, body, content type) over a kept-alive connection, and its arrival time is
//! recorded with its kind (method and path, ids replaced by placeholders), so a measure can say how
//! many requests a phase sent, of which kinds, and the most that arrived within any one second.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

#[derive(Clone)]
struct Forward {
    target: String,
    http: reqwest::Client,
    arrivals: Arc<Mutex<Vec<(Instant, String)>>>,
}

/// A running proxy; dropped with the bench process.
pub struct CountingProxy {
    pub url: String,
    arrivals: Arc<Mutex<Vec<(Instant, String)>>>,
}

/// Requests that arrived in a phase.
pub struct Phase {
    pub requests: usize,
    /// The most requests that arrived within any one second of the phase.
    pub peak_per_second: usize,
    /// Requests per kind (`GET /jobs/{id}/savepoints/{trigger}`), most frequent first.
    pub by_kind: Vec<(String, usize)>,
}

impl CountingProxy {
    /// Listens on a free loopback port and forwards to `target` (e.g. `http://127.0.0.1:8081`).
    pub async fn start(target: &str) -> anyhow::Result<CountingProxy> {
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let state = Forward {
            target: target.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()?,
            arrivals: arrivals.clone(),
        };
        let app = axum::Router::new().fallback(forward).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(CountingProxy { url, arrivals })
    }

    /// A mark to measure a phase from.
    pub fn mark(&self) -> usize {
        self.arrivals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The requests that arrived since `mark`.
    pub fn since(&self, mark: usize) -> Phase {
        let all = self.arrivals.lock().unwrap_or_else(PoisonError::into_inner);
        let times = &all[mark.min(all.len())..];
        // Arrivals are in order: a sliding one-second window over them.
        let (mut peak, mut start) = (0, 0);
        let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
        for (end, (t, kind)) in times.iter().enumerate() {
            *kinds.entry(kind).or_default() += 1;
            while *t - times[start].0 >= Duration::from_secs(1) {
                start += 1;
            }
            peak = peak.max(end - start + 1);
        }
        let mut by_kind: Vec<(String, usize)> =
            kinds.into_iter().map(|(k, n)| (k.to_string(), n)).collect();
        by_kind.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Phase {
            requests: times.len(),
            peak_per_second: peak,
            by_kind,
        }
    }
}

/// A request's kind: its method and path with every id (a job id, a trigger id, a jar name) replaced
/// by `{id}`, so requests about different jobs count as one kind.
fn kind(method: &str, path: &str) -> String {
    let segments: Vec<&str> = path
        .split('/')
        .map(|seg| {
            let hexish = seg.len() >= 16 && seg.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
            if hexish || seg.ends_with(".jar") {
                "{id}"
            } else {
                seg
            }
        })
        .collect();
    format!("{method} {}", segments.join("/"))
}

async fn forward(State(f): State<Forward>, req: Request) -> Response {
    let arrived = Instant::now();
    let (parts, body) = req.into_parts();
    f.arrivals
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((arrived, kind(parts.method.as_str(), parts.uri.path())));
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let Ok(body) = to_bytes(body, usize::MAX).await else {
        return (StatusCode::BAD_REQUEST, "unreadable body").into_response();
    };
    let mut out = f
        .http
        .request(parts.method, format!("{}{path}", f.target))
        .body(body);
    if let Some(ct) = parts.headers.get(header::CONTENT_TYPE) {
        out = out.header(header::CONTENT_TYPE, ct);
    }
    match out.send().await {
        Ok(resp) => {
            let status = resp.status();
            let ct = resp.headers().get(header::CONTENT_TYPE).cloned();
            let bytes = resp.bytes().await.unwrap_or_default();
            let mut r = Response::new(Body::from(bytes));
            *r.status_mut() = status;
            if let Some(ct) = ct {
                r.headers_mut().insert(header::CONTENT_TYPE, ct);
            } else {
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
            }
            r
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_what_arrives_and_the_busiest_second() {
        let p = CountingProxy {
            url: String::new(),
            arrivals: Arc::default(),
        };
        let t0 = Instant::now();
        {
            let mut a = p.arrivals.lock().unwrap();
            for ms in [0, 100, 200, 900, 1050, 1100, 2500] {
                let path = if ms < 1000 {
                    "/jobs/0123456789abcdef0123456789abcdef"
                } else {
                    "/overview"
                };
                a.push((t0 + Duration::from_millis(ms), kind("GET", path)));
            }
        }
        let all = p.since(0);
        assert_eq!(all.requests, 7);
        // 100, 200, 900 and 1050 (or 200 to 1100) lie within one second.
        assert_eq!(all.peak_per_second, 4);
        assert_eq!(
            all.by_kind,
            vec![
                ("GET /jobs/{id}".to_string(), 4),
                ("GET /overview".to_string(), 3)
            ]
        );
        let tail = p.since(5);
        assert_eq!((tail.requests, tail.peak_per_second), (2, 1));
    }
}
