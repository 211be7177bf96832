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
}
