//! YAML in and out, with limits. Request bodies are untrusted, so they are read under a budget
//! (serde-saphyr's): a few aliases and anchors, shallow nesting, a bounded number of nodes and of events
//! replayed from aliases. A "billion laughs" body or one nested thousands deep is refused with a 400
//! after a bounded amount of work and memory, never expanded. The same reader serves the CLI
//! (`apply -f`), so a file the CLI accepts is one the server accepts.
//!
//! YAML is read into a JSON value (the API's bodies are JSON documents: merged, patched, stored):
//! a mapping key is the text written (`1.10:` is `"1.10"`), integers beyond 64 bits become floats as
//! they do when serde_json reads JSON, a tag (`!Tag value`) is dropped and its value kept, and only
//! `true`/`false` are booleans (YAML 1.2). Given the body's schema ([`from_slice_as`]), a plain scalar
//! keeps its text where the schema says string: clients written for Ververica's API send
//! `flinkVersion: 1.14` and mean the text, not the number 1.14 (nor 1.1 for `1.10`). This is what a
//! typed YAML reader does; bodies are read untyped first (merge patches need the JSON), so each
//! scalar's location is kept while reading and its text taken from the input where wanted.

use std::ops::Range;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::Spanned;

/// At most this many aliases (`*name`) per body: real documents use a handful.
const MAX_ALIASES: usize = 100;
/// At most this many events replayed from aliases in all: what keeps aliases of aliases from expanding.
const MAX_REPLAYED_EVENTS: usize = 10_000;
/// Nesting deeper than this is refused (a deployment is about ten levels deep).
const MAX_DEPTH: usize = 64;
/// At most this many nodes (mappings, sequences, scalars): far more than 1 MiB of real YAML holds.
const MAX_NODES: usize = 200_000;

fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_aliases: MAX_ALIASES,
            max_anchors: MAX_ALIASES,
            max_depth: MAX_DEPTH,
            flow_nesting_limit: MAX_DEPTH,
            max_nodes: MAX_NODES,
            max_events: 4 * MAX_NODES,
            max_documents: 1,
            max_recorded_anchor_events: MAX_REPLAYED_EVENTS,
            max_recorded_anchor_bytes: 1024 * 1024,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: MAX_REPLAYED_EVENTS,
            max_replay_stack_depth: 16,
        },
        // YAML 1.2 booleans only: `yes` and `on` stay text
        strict_booleans: true,
        with_snippet: false,
    }
}

/// Reads one YAML document into a JSON value. The error says what is wrong and where (line and
/// column), for a person.
pub fn from_slice(bytes: &[u8]) -> Result<Value, String> {
    from_slice_as(bytes, None)
}

/// Like [`from_slice`], for a body whose JSON schema is `schema` (an OpenAPI schema within
/// `document`, which resolves its `$ref`s): where the schema says string, a plain scalar that YAML
/// would read as a number or boolean keeps its text (`flinkVersion: 1.14` is `"1.14"`, a tag `1.10`
/// is `"1.10"`), as a typed YAML reader does.
pub fn from_slice_as(bytes: &[u8], schema: Option<(&Value, &Value)>) -> Result<Value, String> {
    // The reader recurses once per level of nesting, a few dozen KiB each in a debug build; the
    // depth limit bounds the levels, and this thread's stack is sized for them, whatever the
    // caller's (a runtime worker's 2 MiB would not do).
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("yaml-reader".into())
            .stack_size(READER_STACK)
            .spawn_scoped(scope, || read(bytes, schema))
            .map_err(|e| format!("cannot start the YAML reader: {e}"))?
            .join()
            .map_err(|_| "the YAML reader failed".to_string())?
    })
}

/// The stack of the thread that reads YAML: room for [`MAX_DEPTH`] levels many times over.
const READER_STACK: usize = 16 * 1024 * 1024;

fn read(bytes: &[u8], schema: Option<(&Value, &Value)>) -> Result<Value, String> {
    let node = serde_saphyr::from_slice_with_options::<Node>(bytes, options()).map_err(|e| {
        let msg = e.to_string();
        match e.location() {
            Some(l) if !msg.contains("line ") && l.line() > 0 => {
                format!("{msg} at line {} column {}", l.line(), l.column())
            }
            _ => msg,
        }
    })?;
    let schema = schema.map(|(schema, document)| Schema {
        document,
        at: schema,
    });
    Ok(node.into_value(bytes, schema))
}

/// Writes a JSON value as YAML.
pub fn to_string(v: &Value) -> Result<String, String> {
    serde_saphyr::to_string(v).map_err(|e| e.to_string())
}

/// A YAML node as read: scalars resolved as JSON values, with the byte range of their text when
/// they are plain scalars that resolved to a number or boolean.
enum Node {
    Scalar(Value, Option<Range<usize>>),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The text of a plain scalar: not an alias, anchor, tag or quoted text.
    fn text(range: &Option<Range<usize>>, bytes: &[u8]) -> Option<String> {
        let t = bytes.get(range.clone()?)?;
        let plain = !t.is_empty()
            && !matches!(t[0], b'&' | b'*' | b'!' | b'"' | b'\'')
            && !t.iter().any(|b| b.is_ascii_whitespace());
        plain
            .then(|| std::str::from_utf8(t).ok().map(str::to_string))
            .flatten()
    }

    fn into_value(self, bytes: &[u8], schema: Option<Schema<'_>>) -> Value {
        match self {
            Node::Scalar(v, range) => match Node::text(&range, bytes) {
                Some(text) if schema.is_some_and(|s| s.wants_string()) => Value::String(text),
                _ => v,
            },
            Node::Seq(items) => {
                let item = schema.and_then(|s| s.items());
                Value::Array(
                    items
                        .into_iter()
                        .map(|n| n.into_value(bytes, item))
                        .collect(),
                )
            }
            Node::Map(entries) => {
                let mut out = serde_json::Map::new();
                for (k, v) in entries {
                    // a key is text: keep what was written (`1.10:` is "1.10")
                    let key = match k {
                        Node::Scalar(Value::String(s), _) => s,
                        Node::Scalar(v, range) => {
                            Node::text(&range, bytes).unwrap_or_else(|| match v {
                                Value::Number(n) => n.to_string(),
                                Value::Bool(b) => b.to_string(),
                                _ => "null".to_string(),
                            })
                        }
                        // refused while reading
                        Node::Seq(_) | Node::Map(_) => continue,
                    };
                    let member = schema.and_then(|s| s.member(&key));
                    out.insert(key, v.into_value(bytes, member));
                }
                Value::Object(out)
            }
        }
    }
}

/// A position in a JSON schema of the OpenAPI document.
#[derive(Clone, Copy)]
struct Schema<'a> {
    document: &'a Value,
    at: &'a Value,
}

impl<'a> Schema<'a> {
    /// Follows `$ref`s (and `x-partial-of`, a merge patch of a schema: see [`crate::bodies`]).
    fn resolved(self) -> Option<Schema<'a>> {
        let mut at = self.at;
        for _ in 0..8 {
            let name = match at.get("$ref").or_else(|| at.get(PARTIAL_OF)) {
                Some(r) => r.as_str()?,
                None => return Some(Schema { at, ..self }),
            };
            let name = name.strip_prefix("#/components/schemas/").unwrap_or(name);
            at = self.document.pointer("/components/schemas")?.get(name)?;
        }
        None
    }

    /// The schemas this one is made of (`oneOf`, `anyOf`, `allOf`: an `Option` of a reference is
    /// `oneOf [null, $ref]`), itself included.
    fn parts(self) -> Vec<Schema<'a>> {
        let Some(s) = self.resolved() else {
            return Vec::new();
        };
        let mut out = vec![s];
        for key in ["oneOf", "anyOf", "allOf"] {
            for part in
                s.at.get(key)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
            {
                if let Some(p) = (Schema { at: part, ..s }).resolved() {
                    out.push(p);
                }
            }
        }
        out
    }

    fn wants_string(self) -> bool {
        self.parts().iter().any(|s| match s.at.get("type") {
            Some(Value::String(t)) => t == "string",
            Some(Value::Array(ts)) => ts.iter().any(|t| t == "string"),
            _ => false,
        })
    }

    fn member(self, key: &str) -> Option<Schema<'a>> {
        self.parts().into_iter().find_map(|s| {
            let at =
                s.at.get("properties")
                    .and_then(|p| p.get(key))
                    .or_else(|| s.at.get("additionalProperties").filter(|a| a.is_object()))?;
            Some(Schema { at, ..s })
        })
    }

    fn items(self) -> Option<Schema<'a>> {
        self.parts().into_iter().find_map(|s| {
            let at = s.at.get("items").filter(|i| i.is_object())?;
            Some(Schema { at, ..s })
        })
    }
}

/// The schema extension naming the component a merge-patch member is a partial of.
pub const PARTIAL_OF: &str = "x-partial-of";

impl<'de> serde::Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

/// A node read with its location: a number or boolean keeps the byte range of its text.
fn unspanned(s: Spanned<Node>) -> Node {
    match s.value {
        Node::Scalar(v @ (Value::Number(_) | Value::Bool(_)), _) => {
            let span = s.defined.span();
            let range = span.byte_offset().zip(span.byte_len()).and_then(|(o, l)| {
                let start = usize::try_from(o).ok()?;
                Some(start..start.checked_add(usize::try_from(l).ok()?)?)
            });
            Node::Scalar(v, range)
        }
        other => other,
    }
}

struct NodeVisitor;

fn scalar<E>(v: Value) -> Result<Node, E> {
    Ok(Node::Scalar(v, None))
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a YAML value with string keys")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        scalar(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        scalar(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        scalar(v.into())
    }
    fn visit_i128<E>(self, v: i128) -> Result<Node, E> {
        scalar(
            i64::try_from(v)
                .map(Value::from)
                .unwrap_or_else(|_| (v as f64).into()),
        )
    }
    fn visit_u128<E>(self, v: u128) -> Result<Node, E> {
        scalar(
            u64::try_from(v)
                .map(Value::from)
                .unwrap_or_else(|_| (v as f64).into()),
        )
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        // NaN and infinities have no JSON form
        scalar(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        scalar(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        scalar(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        scalar(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        scalar(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            out.push(item);
        }
        Ok(Node::Seq(out.into_iter().map(unspanned).collect()))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut out = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Node>>()? {
            if matches!(key.value, Node::Seq(_) | Node::Map(_)) {
                return Err(de::Error::custom(
                    "a mapping key must be a string, not a list or mapping",
                ));
            }
            let value = map.next_value::<Spanned<Node>>()?;
            out.push((key, value));
        }
        Ok(Node::Map(
            out.into_iter()
                .map(|(k, v)| (unspanned(k), unspanned(v)))
                .collect(),
        ))
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Node, A::Error> {
        // a YAML tag (`!Tag value`): keep the value, drop the tag
        use serde::de::VariantAccess;
        let (_tag, variant): (de::IgnoredAny, _) = data.variant()?;
        variant.newtype_variant::<Node>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_say_where() {
        let e = from_slice(b"a: 1\n b: 2\n").unwrap_err();
        assert!(e.contains("line"), "{e}");
    }

    #[test]
    fn output_reads_back() {
        let v = json!({"a": "1.0", "b": 1.5, "c": [true, null], "d": {"e": "yes"}});
        let text = to_string(&v).unwrap();
        assert_eq!(from_slice(text.as_bytes()).unwrap(), v, "{text}");
    }

    /// Ten levels of nine aliases each: a billion `lol`s if expanded.
    fn billion_laughs() -> String {
        let mut y = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..10 {
            let p = i - 1;
            y.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        y
    }

    #[test]
    fn aliases_and_depth_are_bounded() {
        let started = std::time::Instant::now();
        let e = from_slice(billion_laughs().as_bytes()).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{e}");
        let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(from_slice(deep.as_bytes()).is_err());
        let mut block = String::new();
        for i in 0..200 {
            block.push_str(&" ".repeat(i));
            block.push_str("k:\n");
        }
        assert!(from_slice(block.as_bytes()).is_err());
        // the limits leave room for real documents
        let nested = format!("{}1{}", "[".repeat(30), "]".repeat(30));
        assert!(from_slice(nested.as_bytes()).is_ok());
        let few = "base: &b {x: 1}\none: *b\ntwo: *b\n";
        assert_eq!(from_slice(few.as_bytes()).unwrap()["two"]["x"], 1);
    }
}
