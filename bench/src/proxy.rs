//! A counting HTTP proxy in front of Flink's REST API: what reaches the JobManager, counted where it
//! arrives rather than where a client thinks it sent it. Every request is forwarded as it came
//! (method, path, query, body, content type) over a kept-alive connection, and its arrival time is
//! recorded, so a measure can say how many requests a phase sent and the most that arrived within
//! any one second.

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
    arrivals: Arc<Mutex<Vec<Instant>>>,
}

/// A running proxy; dropped with the bench process.
pub struct CountingProxy {
    pub url: String,
    arrivals: Arc<Mutex<Vec<Instant>>>,
}

/// Requests that arrived in a phase.
pub struct Phase {
    pub requests: usize,
    /// The most requests that arrived within any one second of the phase.
    pub peak_per_second: usize,
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
        for (end, t) in times.iter().enumerate() {
            while *t - times[start] >= Duration::from_secs(1) {
                start += 1;
            }
            peak = peak.max(end - start + 1);
        }
        Phase {
            requests: times.len(),
            peak_per_second: peak,
        }
    }
}

async fn forward(State(f): State<Forward>, req: Request) -> Response {
    f.arrivals
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Instant::now());
    let (parts, body) = req.into_parts();
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
                a.push(t0 + Duration::from_millis(ms));
            }
        }
        let all = p.since(0);
        assert_eq!(all.requests, 7);
        // 100, 200, 900 and 1050 (or 200 to 1100) lie within one second.
        assert_eq!(all.peak_per_second, 4);
        let tail = p.since(5);
        assert_eq!((tail.requests, tail.peak_per_second), (2, 1));
    }
}
