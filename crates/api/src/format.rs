//! Content negotiation: request bodies in JSON or YAML, responses in JSON or YAML.
//!
//! - Input: `application/json` (and `*+json`, e.g. `application/merge-patch+json`), `application/yaml`,
//!   `application/x-yaml`, `text/yaml`. Without a Content-Type the body is read as JSON, and as YAML if
//!   it is not JSON. Anything else is 415. Bodies over [`BODY_LIMIT`] are 413; malformed ones are 400
//!   with the line and column.
//! - Output: handlers and errors attach a [`Payload`] (a JSON value) to an empty response; the
//!   [`render`] middleware encodes it as JSON, or YAML when `Accept` prefers it. Responses that axum or a
//!   layer produced without a payload (unknown route, wrong method, panic) are replaced there by the
//!   JSON error shape, so a client never sees a plain-text error.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult};

/// The largest request body accepted: 1 MiB.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// How much of an oversized body is read (and dropped) so that the client, still sending, receives the
/// 413 instead of a reset connection. Beyond this the connection is simply closed.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

/// A response body not yet encoded. Attached as an extension; [`render`] encodes it.
#[derive(Clone)]
pub(crate) struct Payload(Arc<Value>);

impl Payload {
    pub(crate) fn response(status: StatusCode, value: Value) -> Response {
        let mut r = (status, Body::empty()).into_response();
        r.extensions_mut().insert(Payload(Arc::new(value)));
        r
    }
}

/// A successful reply: status and resource.
pub struct Reply {
    status: StatusCode,
    value: Value,
}

impl Reply {
    pub fn with_status<T: Serialize>(status: StatusCode, v: &T) -> ApiResult<Self> {
        let mut value = serde_json::to_value(v)
            .map_err(|e| ApiError::Internal(format!("serialising a reply: {e}")))?;
        crate::masking::mask_answer(&mut value);
        Ok(Self { status, value })
    }
    /// 200 with `v`.
    pub fn ok<T: Serialize>(v: &T) -> ApiResult<Self> {
        Self::with_status(StatusCode::OK, v)
    }
    /// 201 with `v`.
    pub fn created<T: Serialize>(v: &T) -> ApiResult<Self> {
        Self::with_status(StatusCode::CREATED, v)
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        Payload::response(self.status, self.value)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Yaml,
}

const YAML_TYPES: [&str; 3] = ["application/yaml", "application/x-yaml", "text/yaml"];

fn media_type(v: &str) -> String {
    v.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

impl Format {
    /// The format `Accept` prefers: YAML only when a YAML type has the highest quality (the first one
    /// listed wins a tie); JSON otherwise, including for a missing or unparseable header.
    pub(crate) fn preferred(headers: &HeaderMap) -> Self {
        let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
            return Self::Json;
        };
        let mut best: Option<(f32, Format)> = None;
        for part in accept.split(',') {
            let mt = media_type(part);
            let q = part
                .split(';')
                .skip(1)
                .find_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.trim().parse::<f32>().ok())
                })
                .unwrap_or(1.0);
            let f = if YAML_TYPES.contains(&mt.as_str()) {
                Format::Yaml
            } else if mt == "application/json"
                || mt == "*/*"
                || mt == "application/*"
                || mt.ends_with("+json")
            {
                Format::Json
            } else {
                continue;
            };
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, f));
            }
        }
        best.map_or(Self::Json, |(_, f)| f)
    }

    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::Json => "application/json",
            Self::Yaml => "application/yaml",
        })
    }

    fn encode(self, v: &Value) -> Result<Vec<u8>, String> {
        match self {
            Self::Json => serde_json::to_vec(v).map_err(|e| e.to_string()),
            Self::Yaml => crate::yaml::to_string(v).map(String::into_bytes),
        }
    }
}

/// Encodes every response's [`Payload`] in the preferred format, and gives responses that carry none
/// but signal an error the JSON error shape.
pub(crate) async fn render(req: Request, next: Next) -> Response {
    let format = Format::preferred(req.headers());
    let route = format!("{} {}", req.method(), req.uri().path());
    let resp = next.run(req).await;
    finish(format, route, resp)
}

/// What [`render`] does to a response, for responses made outside it (by layers around it, such as
/// access control): encodes its [`Payload`] in `format`, or gives an error without one the JSON error
/// shape. `route` (`METHOD /path`) names the request in those errors.
pub(crate) fn finish(format: Format, route: String, mut resp: Response) -> Response {
    let payload = match resp.extensions_mut().remove::<Payload>() {
        Some(p) => p,
        None if resp.status().is_client_error() || resp.status().is_server_error() => {
            let err = match resp.status() {
                StatusCode::NOT_FOUND => ApiError::RouteNotFound(route),
                StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed(route),
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge { limit: BODY_LIMIT },
                s if s.is_client_error() => {
                    ApiError::MalformedBody(format!("request refused ({s})"))
                }
                s => ApiError::Internal(format!("{route} answered {s} without a body")),
            };
            let status = resp.status();
            let mut r = err.into_response();
            *r.status_mut() = status;
            // keep headers such as `Allow` of a 405
            for (k, v) in resp.headers() {
                if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
                    r.headers_mut().insert(k.clone(), v.clone());
                }
            }
            resp = r;
            match resp.extensions_mut().remove::<Payload>() {
                Some(p) => p,
                None => return resp,
            }
        }
        None => return resp,
    };
    let (mut parts, _) = resp.into_parts();
    let (format, bytes) = match format.encode(&payload.0) {
        Ok(b) => (format, b),
        // YAML cannot fail on a JSON value in practice; fall back to JSON rather than fail the request.
        Err(_) => (
            Format::Json,
            serde_json::to_vec(&*payload.0).unwrap_or_default(),
        ),
    };
    parts
        .headers
        .insert(header::CONTENT_TYPE, format.content_type());
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}

/// How the body's Content-Type says to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InputKind {
    Json,
    Yaml,
    /// No Content-Type: JSON, else YAML.
    Sniff,
}

fn input_kind(headers: &HeaderMap) -> ApiResult<InputKind> {
    let Some(v) = headers.get(header::CONTENT_TYPE) else {
        return Ok(InputKind::Sniff);
    };
    let raw = v
        .to_str()
        .map_err(|_| ApiError::UnsupportedMediaType("<not ASCII>".into()))?;
    let mt = media_type(raw);
    if mt == "application/json" || mt.ends_with("+json") {
        Ok(InputKind::Json)
    } else if YAML_TYPES.contains(&mt.as_str()) {
        Ok(InputKind::Yaml)
    } else {
        Err(ApiError::UnsupportedMediaType(raw.to_string()))
    }
}

/// Reads at most [`BODY_LIMIT`] bytes; more is a 413 (after draining, see [`DRAIN_LIMIT`]).
async fn read_limited(headers: &HeaderMap, body: Body) -> ApiResult<Vec<u8>> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let mut buf = Vec::with_capacity(declared.unwrap_or(0).min(BODY_LIMIT));
    let mut total = 0usize;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|_| ApiError::MalformedBody("the request body could not be read".into()))?;
        total = total.saturating_add(chunk.len());
        if total > DRAIN_LIMIT {
            break;
        }
        if total <= BODY_LIMIT {
            buf.extend_from_slice(&chunk);
        }
    }
    if total > BODY_LIMIT {
        return Err(ApiError::PayloadTooLarge { limit: BODY_LIMIT });
    }
    Ok(buf)
}

fn json_error(e: &serde_json::Error) -> ApiError {
    ApiError::MalformedBody(format!("request body is not valid JSON: {e}"))
}

fn from_yaml(bytes: &[u8], schema: Schema) -> ApiResult<Value> {
    crate::yaml::from_slice_as(bytes, schema)
        .map_err(|m| ApiError::MalformedBody(format!("request body is not valid YAML: {m}")))
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The JSON schema of a body and the document it is in (see [`crate::yaml::from_slice_as`]).
type Schema = Option<(&'static Value, &'static Value)>;

/// Parses a body as the Content-Type says; it must be an object. YAML is read by the body's schema.
fn parse(kind: InputKind, bytes: &[u8], schema: Schema) -> ApiResult<Value> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::MalformedBody(
            "the request body is empty; send a JSON or YAML object".into(),
        ));
    }
    let value = match kind {
        InputKind::Json => serde_json::from_slice(bytes).map_err(|e| json_error(&e))?,
        InputKind::Yaml => from_yaml(bytes, schema)?,
        InputKind::Sniff => match serde_json::from_slice::<Value>(bytes) {
            Ok(v) => v,
            Err(je) => {
                let looks_like_json = bytes
                    .iter()
                    .find(|b| !b.is_ascii_whitespace())
                    .is_some_and(|b| *b == b'{' || *b == b'[');
                match from_yaml(bytes, schema) {
                    Ok(v) if v.is_object() => v,
                    Ok(_) => return Err(json_error(&je)),
                    Err(_) if looks_like_json => return Err(json_error(&je)),
                    Err(ye) => return Err(ye),
                }
            }
        },
    };
    if !value.is_object() {
        return Err(ApiError::MalformedField {
            field: "body".into(),
            message: format!(
                "must be an object (a JSON object or YAML mapping), not {}",
                kind_of(&value)
            ),
        });
    }
    Ok(value)
}

/// A request body of type `T`: a JSON or YAML object, at most [`BODY_LIMIT`] bytes, read into `T`
/// (see [`crate::bodies`] for how each failure answers).
pub struct Input<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + ToSchema> FromRequest<S> for Input<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let kind = input_kind(req.headers())?;
        let (parts, body) = req.into_parts();
        let bytes = read_limited(&parts.headers, body).await?;
        let value = parse(kind, &bytes, crate::openapi::body_schema::<T>())?;
        Ok(Input(stateplane_model::error::from_value(value, "")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> Format {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        Format::preferred(&h)
    }

    #[test]
    fn accept_prefers_json_unless_yaml_ranks_higher() {
        assert_eq!(Format::preferred(&HeaderMap::new()), Format::Json);
        assert_eq!(accept("application/yaml"), Format::Yaml);
        assert_eq!(accept("text/yaml"), Format::Yaml);
        assert_eq!(accept("application/x-yaml, application/json"), Format::Yaml);
        assert_eq!(accept("application/json, application/yaml"), Format::Json);
        assert_eq!(
            accept("application/json;q=0.5, application/yaml"),
            Format::Yaml
        );
        assert_eq!(accept("*/*"), Format::Json);
        assert_eq!(accept("text/html"), Format::Json);
        assert_eq!(accept("application/yaml;q=0"), Format::Json);
    }

    #[test]
    fn bodies_parse_by_content_type_and_sniffing() {
        assert!(parse(InputKind::Json, b"{\"a\": 1}", None).is_ok());
        assert!(parse(InputKind::Yaml, b"a: 1\nb: [1, 2]\n", None).is_ok());
        assert_eq!(parse(InputKind::Sniff, b"a: 1\n", None).unwrap()["a"], 1);
        assert_eq!(
            parse(InputKind::Sniff, b"{\"a\": 2}", None).unwrap()["a"],
            2
        );
        let e = parse(InputKind::Json, b"{\"a\": \n  1,,}", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
        let e = parse(InputKind::Yaml, b"a: 1\n b: 2\n", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("line"), "{e}");
        let e = parse(InputKind::Sniff, b"{\"a\": 1", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("JSON") && e.contains("line 1"), "{e}");
        assert!(matches!(
            parse(InputKind::Sniff, b"just words", None),
            Err(ApiError::MalformedBody(_))
        ));
        assert!(matches!(
            parse(InputKind::Json, b"[1]", None),
            Err(ApiError::MalformedField { .. })
        ));
        assert!(matches!(
            parse(InputKind::Json, b"  ", None),
            Err(ApiError::MalformedBody(_))
        ));
        // big integers become floats, as in JSON
        let v = parse(InputKind::Yaml, b"a: 36893488147419103232\n", None).unwrap();
        assert!(v["a"].is_f64(), "{v}");
        assert!(
            parse(InputKind::Json, b"{\"a\": 36893488147419103232}", None).unwrap()["a"].is_f64()
        );
        assert!(matches!(
            parse(InputKind::Yaml, b"? [1, 2]\n: x\n", None),
            Err(ApiError::MalformedBody(_))
        ));
        assert_eq!(
            parse(InputKind::Yaml, b"1: x\ntrue: y\n", None).unwrap(),
            serde_json::json!({"1": "x", "true": "y"})
        );
        assert_eq!(
            parse(InputKind::Yaml, b"a: !Tagged 3\n", None).unwrap(),
            serde_json::json!({"a": 3})
        );
        assert_eq!(
            parse(InputKind::Yaml, b"a: &x 1\nb: *x\n", None).unwrap(),
            serde_json::json!({"a": 1, "b": 1})
        );
    }
}
