//! Sensitive Flink configuration values never leave the API: every answer built by
//! [`crate::format::Reply`] passes through [`mask_answer`], which replaces the value of every
//! sensitive key (Flink's own rule, [`stateplane_model::sensitive`]) in every `flinkConfiguration`
//! and `userFlinkConfiguration` object anywhere in the answer (deployments, jobs, deployment defaults,
//! lists of them) with `******`, whoever asks. Doing it here, on the answer, rather than in each
//! handler means a new endpoint that returns a spec cannot forget it.

use serde_json::Value;
use stateplane_model::sensitive::{is_masked, MASK};

/// The members whose objects are Flink configurations.
const CONFIG_MEMBERS: [&str; 2] = ["flinkConfiguration", "userFlinkConfiguration"];

/// How deep an answer is walked (answers are built by the server, far shallower than this).
const MAX_DEPTH: usize = 64;

/// Masks the sensitive values of every Flink configuration in `v`.
pub fn mask_answer(v: &mut Value) {
    walk(v, 0);
}

fn walk(v: &mut Value, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match v {
        Value::Object(o) => {
            for (k, member) in o.iter_mut() {
                if CONFIG_MEMBERS.contains(&k.as_str()) {
                    if let Value::Object(config) = member {
                        for (key, value) in config.iter_mut() {
                            if value.as_str().is_some_and(|s| is_masked(key, s)) {
                                *value = Value::String(MASK.into());
                            }
                        }
                    }
                } else {
                    walk(member, depth + 1);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| walk(i, depth + 1)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sensitive_values_are_masked_wherever_a_configuration_appears() {
        let mut v = json!({"items": [{"spec": {"template": {"spec": {"flinkConfiguration": {
            "s3.secret-key": "abc", "s3.access-key": "AKIA", "my.password": "${PW}", "parallelism.default": "2"
        }}}}}, {"spec": {"flinkConfiguration": {"security.ssl.token": "t"}, "userFlinkConfiguration": {"x.password": "p"}}}]});
        mask_answer(&mut v);
        let c = &v["items"][0]["spec"]["template"]["spec"]["flinkConfiguration"];
        assert_eq!(c["s3.secret-key"], MASK);
        assert_eq!(c["s3.access-key"], "AKIA", "not sensitive by Flink's rule");
        assert_eq!(
            c["my.password"], "${PW}",
            "a reference names a secret, it is not one"
        );
        assert_eq!(c["parallelism.default"], "2");
        assert_eq!(
            v["items"][1]["spec"]["flinkConfiguration"]["security.ssl.token"],
            MASK
        );
        assert_eq!(
            v["items"][1]["spec"]["userFlinkConfiguration"]["x.password"],
            MASK
        );
    }
}
