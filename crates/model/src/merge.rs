//! JSON merge patch (RFC 7396), used for PATCH bodies and for merging namespace deployment defaults
//! into new deployments (explicit fields win).

use serde_json::Value;

/// Applies `patch` to `target` as an RFC 7396 merge patch: objects merge recursively, `null` removes a
/// key, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Returns `defaults` with `explicit` merged over it: every field the caller set wins, the rest comes
/// from the defaults. A `null` in `explicit` is treated as "not set".
pub fn with_defaults(defaults: &Value, explicit: &Value) -> Value {
    let mut out = defaults.clone();
    merge_patch(&mut out, explicit);
    out
}

/// The merge patch that turns `from` into `to`: `merge_patch(&mut from.clone(), &diff(from, to))`
/// gives `to`, where a `null` member of `to` counts as absent. Members `to` leaves out become `null`
/// (removed); objects are compared member by member; anything else that differs is replaced whole.
/// This is what a replace (PUT) of a document is, written as a PATCH.
pub fn diff(from: &Value, to: &Value) -> Value {
    match (from, to) {
        (Value::Object(f), Value::Object(t)) => {
            let mut patch = serde_json::Map::new();
            for k in f.keys() {
                if t.get(k).is_none_or(Value::is_null) {
                    patch.insert(k.clone(), Value::Null);
                }
            }
            for (k, v) in t {
                if v.is_null() {
                    continue;
                }
                match f.get(k) {
                    Some(old) if old == v => {}
                    Some(old @ Value::Object(_)) if v.is_object() => {
                        let d = diff(old, v);
                        if d.as_object().is_some_and(|o| !o.is_empty()) {
                            patch.insert(k.clone(), d);
                        }
                    }
                    _ => {
                        patch.insert(k.clone(), v.clone());
                    }
                }
            }
            Value::Object(patch)
        }
        _ => to.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc7396() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut t, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}}));

        let mut t = json!({"a": [1, 2]});
        merge_patch(&mut t, &json!({"a": [3]}));
        assert_eq!(t, json!({"a": [3]}));

        let mut t = json!("scalar");
        merge_patch(&mut t, &json!({"x": 1}));
        assert_eq!(t, json!({"x": 1}));
    }

    #[test]
    fn explicit_fields_win_over_defaults() {
        let d = json!({"upgradeStrategy": {"kind": "STATEFUL"}, "template": {"spec": {"parallelism": 2, "flinkConfiguration": {"a": "1"}}}});
        let e = json!({"template": {"spec": {"parallelism": 4, "flinkConfiguration": {"b": "2"}}}});
        let m = with_defaults(&d, &e);
        assert_eq!(m["upgradeStrategy"]["kind"], "STATEFUL");
        assert_eq!(m["template"]["spec"]["parallelism"], 4);
        assert_eq!(
            m["template"]["spec"]["flinkConfiguration"],
            json!({"a": "1", "b": "2"})
        );
    }

    #[test]
    fn diff_is_the_patch_from_one_document_to_another() {
        let cases = [
            (json!({}), json!({})),
            (json!({"a": 1}), json!({"a": 1})),
            (json!({"a": 1, "b": 2}), json!({"a": 1})),
            (json!({"a": 1}), json!({"a": 2, "c": [1]})),
            (
                json!({"a": {"b": 1, "c": 2}}),
                json!({"a": {"b": 1, "d": 3}}),
            ),
            (json!({"a": {"b": 1}}), json!({"a": 5})),
            (json!({"a": 5}), json!({"a": {"b": 1}})),
            (json!({"a": [1, 2]}), json!({"a": [2]})),
            (json!({"a": {"b": {"c": 1}}}), json!({"a": {}})),
            (json!({"a": 1}), json!({"a": null, "b": null})),
            (json!("x"), json!({"a": 1})),
        ];
        for (from, to) in cases {
            let patch = diff(&from, &to);
            let mut got = from.clone();
            merge_patch(&mut got, &patch);
            let mut want = to.clone();
            // a null member of `to` means absent
            if let Value::Object(o) = &mut want {
                o.retain(|_, v| !v.is_null());
            }
            assert_eq!(got, want, "{from} -> {to} via {patch}");
        }
        assert_eq!(
            diff(&json!({"a": {"b": 1}}), &json!({"a": {"b": 1}})),
            json!({})
        );
        assert_eq!(
            diff(&json!({"a": {"b": 1, "c": 2}}), &json!({"a": {"b": 1}})),
            json!({"a": {"c": null}}),
            "only what changed"
        );
    }
}
