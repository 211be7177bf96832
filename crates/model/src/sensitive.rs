//! Which Flink configuration values are secret, and how they are hidden: Flink's own rule, so that
//! stateplane hides exactly what Flink's web UI and REST API hide.
//!
//! A key is sensitive when, lower-cased, it *contains* one of [`SENSITIVE_KEYS`] (Flink 2.3's
//! `GlobalConfiguration.SENSITIVE_KEYS`; Flink 1.20 has the same list without `api-key`). Its value is
//! shown as [`MASK`] (Flink's `HIDDEN_CONTENT`) in every answer of the API, whoever asks. A value that
//! is nothing but a reference to a secret value (`${NAME}`) is shown as it is: it names a secret,
//! it is not one, and showing it tells the reader which secret is used.
//!
//! A client that reads a deployment and sends it back (a PATCH or PUT of what it read) sends the mask
//! back; [`restore_masked`] then keeps the stored value, so a read-modify-write never overwrites a
//! password with `******`.

use crate::secret_value::is_only_reference;
use crate::{StringMap, ValidationError};

/// What a hidden value is shown as (Flink's `GlobalConfiguration.HIDDEN_CONTENT`).
pub const MASK: &str = "******";

/// Substrings of lower-cased keys whose values are hidden: Flink 2.3's
/// `GlobalConfiguration.SENSITIVE_KEYS`.
pub const SENSITIVE_KEYS: [&str; 11] = [
    "password",
    "secret",
    "fs.azure.account.key",
    "apikey",
    "api-key",
    "auth-params",
    "service-key",
    "token",
    "basic-auth",
    "jaas.config",
    "http-headers",
];

/// Whether Flink treats `key`'s value as sensitive.
pub fn is_sensitive(key: &str) -> bool {
    let key = key.to_lowercase();
    SENSITIVE_KEYS.iter().any(|s| key.contains(s))
}

/// Whether the API hides this entry's value: a sensitive key whose value is not only a reference.
pub fn is_masked(key: &str, value: &str) -> bool {
    is_sensitive(key) && !is_only_reference(value)
}

/// `config` as the API shows it: sensitive values replaced by [`MASK`].
pub fn mask(config: &mut StringMap) {
    for (k, v) in config.iter_mut() {
        if is_masked(k, v) {
            *v = MASK.to_string();
        }
    }
}

/// Puts the stored value back wherever `next` (a configuration a client sent) has [`MASK`] under a
/// sensitive key: the client sent back what it read. A mask where nothing is stored to keep is
/// refused (it would store `******` as a password), naming `field_prefix.key`.
pub fn restore_masked(
    next: &mut StringMap,
    stored: &StringMap,
    field_prefix: &str,
) -> Result<(), ValidationError> {
    for (k, v) in next.iter_mut() {
        if v != MASK || !is_sensitive(k) {
            continue;
        }
        match stored.get(k) {
            Some(old) => v.clone_from(old),
            None => {
                return Err(ValidationError::invalid(
                    format!("{field_prefix}.{k}"),
                    format!(
                        "is '{MASK}', the mask the API shows instead of a sensitive value, and no value \
                         is stored to keep: send the real value, or a ${{NAME}} reference to a secret value"
                    ),
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> StringMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn flinks_rule_is_a_case_insensitive_substring_match() {
        for key in [
            "password",
            "s3.secret-key",
            "fs.s3a.secret.key",
            "ssl.keystore.PASSWORD",
            "fs.azure.account.key.myaccount.dfs.core.windows.net",
            "metrics.reporter.dghttp.apikey",
            "metrics.reporter.x.api-key",
            "pulsar.client.auth-params",
            "gs.service-key",
            "security.delegation.token.provider.x.enabled",
            "kafka.sasl.basic-auth.user",
            "properties.sasl.jaas.config",
            "metrics.reporter.otel.exporter.http-headers",
            "MyToken",
        ] {
            assert!(is_sensitive(key), "{key}");
        }
        for key in [
            "parallelism.default",
            "s3.access-key",
            "state.savepoints.dir",
            "pass",
            "api.key",
            "jaas",
        ] {
            assert!(!is_sensitive(key), "{key}");
        }
    }

    #[test]
    fn masking_hides_values_but_not_lone_references() {
        let mut c = map(&[
            ("s3.secret-key", "hunter2"),
            ("db.password", "${DB_PW}"),
            ("jdbc.password", "pre-${DB_PW}"),
            ("s3.access-key", "AKIA"),
        ]);
        mask(&mut c);
        assert_eq!(
            c,
            map(&[
                ("s3.secret-key", MASK),
                ("db.password", "${DB_PW}"),
                ("jdbc.password", MASK),
                ("s3.access-key", "AKIA"),
            ])
        );
    }

    #[test]
    fn a_mask_sent_back_keeps_the_stored_value() {
        let stored = map(&[("s3.secret-key", "hunter2"), ("plain", "x")]);
        let mut next = map(&[("s3.secret-key", MASK), ("plain", MASK), ("other", "y")]);
        restore_masked(&mut next, &stored, "spec.f").unwrap();
        assert_eq!(
            next,
            map(&[
                ("s3.secret-key", "hunter2"),
                ("plain", MASK),
                ("other", "y")
            ]),
            "only sensitive keys are masked, so only they are restored"
        );
        let mut new_key = map(&[("new.password", MASK)]);
        let e = restore_masked(&mut new_key, &stored, "spec.f").unwrap_err();
        assert_eq!(e.field(), "spec.f.new.password");
        let mut changed = map(&[("s3.secret-key", "new-one")]);
        restore_masked(&mut changed, &stored, "spec.f").unwrap();
        assert_eq!(changed["s3.secret-key"], "new-one");
    }
}
