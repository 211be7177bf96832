//! Secret values at rest and at job submission, for the API (which seals what a client sends) and the
//! controller (which resolves `${NAME}` when it submits a job), without either depending on the other.
//!
//! - [`SecretKey`]: the server's 256-bit key, from `STATEPLANE_SECRET_KEY` or a key file (64 hex
//!   digits), or generated. Its `Debug` shows nothing.
//! - [`SecretCipher`]: ChaCha20-Poly1305 with a fresh random 96-bit nonce for every write and
//!   `namespace \0 name` as associated data, so a sealed value opens only under the key, in the
//!   namespace and under the name it was written for (a row copied to another name does not open).
//!   Sealed text is `v1:<nonce hex>:<ciphertext and tag hex>`. A wrong key, or a row altered or moved,
//!   is [`CipherError::CannotOpen`], never garbage: the tag is checked before anything is returned.
//! - [`SecretCipher::check_key`]: the server's key against the store's key check (one known text
//!   sealed by the first key the store saw), at start, so that a server with another key refuses to
//!   start with a message saying so, instead of failing at each job.
//! - [`resolve`]: what the controller calls just before it submits a job.
//!
//! Guarantees: a value is never part of an error message, a `Debug` output or a log line of this
//! crate; only names are.

use std::fmt;
use std::sync::Arc;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use stateplane_store::{Store, StoreError};

pub mod resolve;

pub use resolve::{resolve_job, resolve_with, ResolveError, ResolvedJob};

/// Bytes of a key.
pub const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 12;
/// The version prefix of sealed text.
const FORMAT: &str = "v1";
/// Associated data of the key check (no namespace is called this: namespace names have no spaces).
const CHECK_AAD: &[u8] = b"stateplane secret key check";
const CHECK_TEXT: &str = "stateplane: this database's secret values are sealed with this key";

/// Errors of keys and of sealing and opening.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    /// A key's text is not 64 hex digits.
    #[error(
        "a secret key is 64 hex digits (32 random bytes), e.g. from `openssl rand -hex 32`; {0}"
    )]
    BadKey(String),
    /// The OS random generator failed (a nonce or a key could not be drawn).
    #[error("the OS random generator failed: {0}")]
    Random(String),
    /// The sealed value does not open: the server's key is not the one it was sealed with, or the
    /// stored row was altered or belongs to another name.
    #[error(
        "secret value '{name}' of namespace '{namespace}' cannot be decrypted: the server's secret key is \
         not the one it was sealed with, or the stored row was altered"
    )]
    CannotOpen { namespace: String, name: String },
    /// The stored text is not sealed text of a known format (corruption).
    #[error(
        "secret value '{name}' of namespace '{namespace}' is stored in an unknown form ({why})"
    )]
    Corrupt {
        namespace: String,
        name: String,
        why: &'static str,
    },
}

/// The server's key. Never shown: `Debug` prints `SecretKey(<redacted>)`.
#[derive(Clone)]
pub struct SecretKey([u8; KEY_BYTES]);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl SecretKey {
    /// A new random key.
    pub fn generate() -> Result<Self, CipherError> {
        let mut k = [0u8; KEY_BYTES];
        getrandom::fill(&mut k).map_err(|e| CipherError::Random(e.to_string()))?;
        Ok(Self(k))
    }

    /// A key from its text: 64 hex digits, surrounding white space ignored.
    pub fn from_hex(text: &str) -> Result<Self, CipherError> {
        let text = text.trim();
        if text.len() != 2 * KEY_BYTES {
            return Err(CipherError::BadKey(format!(
                "this one has {} characters",
                text.len()
            )));
        }
        let mut k = [0u8; KEY_BYTES];
        hex::decode_to_slice(text, &mut k).map_err(|_| {
            CipherError::BadKey("this one has characters that are not hex digits".into())
        })?;
        Ok(Self(k))
    }

    /// The key's text (what [`SecretKey::from_hex`] reads), for writing a generated key to its file.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// Seals and opens secret values with the server's key. Cheap to clone.
#[derive(Clone)]
pub struct SecretCipher {
    aead: Arc<ChaCha20Poly1305>,
}

impl fmt::Debug for SecretCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretCipher(<key redacted>)")
    }
}

fn aad(namespace: &str, name: &str) -> Vec<u8> {
    let mut a = Vec::with_capacity(namespace.len() + name.len() + 1);
    a.extend_from_slice(namespace.as_bytes());
    a.push(0);
    a.extend_from_slice(name.as_bytes());
    a
}

impl SecretCipher {
    pub fn new(key: &SecretKey) -> Self {
        Self {
            aead: Arc::new(ChaCha20Poly1305::new(Key::from_slice(&key.0))),
        }
    }

    fn seal_bytes(&self, aad: &[u8], plain: &[u8]) -> Result<String, CipherError> {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(|e| CipherError::Random(e.to_string()))?;
        let sealed = self
            .aead
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad })
            // only fails for messages beyond 256 GiB
            .map_err(|_| CipherError::Random("the value is too large to seal".into()))?;
        Ok(format!(
            "{FORMAT}:{}:{}",
            hex::encode(nonce),
            hex::encode(sealed)
        ))
    }

    /// `None` when `sealed` does not open under this key and `aad`; `Err` when it is not sealed text.
    fn open_bytes(&self, aad: &[u8], sealed: &str) -> Result<Option<Vec<u8>>, &'static str> {
        let mut parts = sealed.split(':');
        let (Some(FORMAT), Some(nonce), Some(body), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("not v1 sealed text");
        };
        let nonce = hex::decode(nonce).map_err(|_| "a nonce that is not hex")?;
        if nonce.len() != NONCE_BYTES {
            return Err("a nonce of the wrong length");
        }
        let body = hex::decode(body).map_err(|_| "a body that is not hex")?;
        Ok(self
            .aead
            .decrypt(Nonce::from_slice(&nonce), Payload { msg: &body, aad })
            .ok())
    }

    /// `value` sealed for the secret `name` of `namespace` (a fresh nonce every time).
    pub fn seal(&self, namespace: &str, name: &str, value: &str) -> Result<String, CipherError> {
        self.seal_bytes(&aad(namespace, name), value.as_bytes())
    }

    /// The value sealed by [`SecretCipher::seal`] for the secret `name` of `namespace`.
    pub fn open(&self, namespace: &str, name: &str, sealed: &str) -> Result<String, CipherError> {
        let corrupt = |why| CipherError::Corrupt {
            namespace: namespace.to_string(),
            name: name.to_string(),
            why,
        };
        let plain = self
            .open_bytes(&aad(namespace, name), sealed)
            .map_err(corrupt)?
            .ok_or_else(|| CipherError::CannotOpen {
                namespace: namespace.to_string(),
                name: name.to_string(),
            })?;
        String::from_utf8(plain).map_err(|_| corrupt("a value that is not UTF-8"))
    }

    /// Checks this key against `store`'s key check, writing the check first if the store has none
    /// (the first server to start on a store decides its key). Call at start, before serving.
    pub async fn check_key(&self, store: &dyn Store) -> Result<(), KeyCheckError> {
        let candidate = self.seal_bytes(CHECK_AAD, CHECK_TEXT.as_bytes())?;
        let stored = store.secret_key_check(&candidate).await?;
        match self.open_bytes(CHECK_AAD, &stored) {
            Ok(Some(text)) if text == CHECK_TEXT.as_bytes() => Ok(()),
            Ok(_) => Err(KeyCheckError::WrongKey),
            Err(why) => Err(KeyCheckError::Corrupt(why)),
        }
    }
}

/// Why [`SecretCipher::check_key`] refused the key.
#[derive(Debug, thiserror::Error)]
pub enum KeyCheckError {
    /// The store's secret values were sealed with another key.
    #[error(
        "this secret key is not the one the store's secret values were sealed with (the store keeps a \
         check sealed by the first key it saw); start with that key. Without it the secret values \
         cannot be read: delete and create them again under a new key"
    )]
    WrongKey,
    /// The stored check is not sealed text (corruption).
    #[error("the store's secret key check is corrupt ({0})")]
    Corrupt(&'static str),
    #[error(transparent)]
    Cipher(#[from] CipherError),
    #[error("reading the store's secret key check: {0}")]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> SecretCipher {
        SecretCipher::new(&SecretKey::generate().unwrap())
    }

    #[test]
    fn a_sealed_value_opens_under_its_key_namespace_and_name_only() {
        let c = cipher();
        let sealed = c.seal("team-a", "DB_PW", "hunter2").unwrap();
        assert!(sealed.starts_with("v1:"), "{sealed}");
        assert!(!sealed.contains("hunter2"));
        assert_eq!(c.open("team-a", "DB_PW", &sealed).unwrap(), "hunter2");
        assert_ne!(
            c.seal("team-a", "DB_PW", "hunter2").unwrap(),
            sealed,
            "a fresh nonce every time"
        );
        for (ns, name) in [
            ("team-b", "DB_PW"),
            ("team-a", "OTHER"),
            ("team-aDB", "_PW"),
        ] {
            assert!(
                matches!(
                    c.open(ns, name, &sealed),
                    Err(CipherError::CannotOpen { .. })
                ),
                "{ns}/{name}"
            );
        }
        let other = cipher();
        let e = other.open("team-a", "DB_PW", &sealed).unwrap_err();
        assert!(matches!(e, CipherError::CannotOpen { .. }));
        assert!(e.to_string().contains("'DB_PW'"), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn altered_or_foreign_text_is_an_error_never_garbage() {
        let c = cipher();
        let sealed = c.seal("ns", "n", "value").unwrap();
        // flip one hex digit of the ciphertext
        let mut bytes = sealed.clone().into_bytes();
        let last = bytes.len() - 1;
        bytes[last] = if bytes[last] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(bytes).unwrap();
        assert!(matches!(
            c.open("ns", "n", &flipped),
            Err(CipherError::CannotOpen { .. })
        ));
        for bad in ["", "value", "v2:00:00", "v1:zz:00", "v1:00:00", "v1:a:b:c"] {
            assert!(
                matches!(c.open("ns", "n", bad), Err(CipherError::Corrupt { .. })),
                "{bad}"
            );
        }
        let empty = c.seal("ns", "n", "").unwrap();
        assert_eq!(c.open("ns", "n", &empty).unwrap(), "");
    }

    #[test]
    fn keys_are_64_hex_digits_and_never_shown() {
        let k = SecretKey::generate().unwrap();
        let text = k.to_hex();
        assert_eq!(text.len(), 64);
        let again = SecretKey::from_hex(&format!(" {text}\n")).unwrap();
        let sealed = SecretCipher::new(&k).seal("a", "b", "c").unwrap();
        assert_eq!(
            SecretCipher::new(&again).open("a", "b", &sealed).unwrap(),
            "c"
        );
        for bad in ["", "abc", &"g".repeat(64), &"a".repeat(63), &"a".repeat(65)] {
            let e = SecretKey::from_hex(bad).unwrap_err();
            assert!(e.to_string().contains("64 hex digits"), "{e}");
        }
        assert_eq!(format!("{k:?}"), "SecretKey(<redacted>)");
        assert!(!format!("{:?}", SecretCipher::new(&k)).contains(&text));
    }

    #[tokio::test]
    async fn the_first_key_a_store_sees_is_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = stateplane_store::SqliteStore::open(dir.path())
            .await
            .unwrap();
        let first = cipher();
        first.check_key(&store).await.unwrap();
        first.check_key(&store).await.unwrap();
        let e = cipher().check_key(&store).await.unwrap_err();
        assert!(matches!(e, KeyCheckError::WrongKey), "{e}");
        assert!(e.to_string().contains("not the one"), "{e}");
    }
}
