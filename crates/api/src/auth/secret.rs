//! Token secrets: how they look, how they are made, hashed and checked.
//!
//! A token's secret is `sp_<token id>_<random>`: the token id (16 random bytes, hex) is public and
//! finds the stored row by index; the random part (32 bytes = 256 bits from the OS, hex) is the secret
//! proper. Only `SHA-256(salt || secret)` is stored, with a per-token 16-byte random salt. A fast hash
//! is enough here: the secret has 256 bits of entropy, so there is nothing to guess from a stolen hash;
//! the salt keeps equal hashes from ever linking two rows. Comparisons run in constant time
//! ([`subtle`]), so response timing says nothing about how much of a guess was right.
//!
//! The admin token is not stored: the server keeps `SHA-256(admin secret)` in memory and compares
//! against it the same way.

use sha2::{Digest, Sha256};
use stateplane_model::ApiToken;
use subtle::ConstantTimeEq;

/// Every secret stateplane generates starts with this.
pub const PREFIX: &str = "sp_";

/// A freshly generated token secret and what is stored about it.
pub struct NewSecret {
    /// The secret, shown once to whoever created the token.
    pub secret: String,
    pub token_id: String,
    /// Hex.
    pub salt: String,
    /// Hex of `SHA-256(salt || secret)`.
    pub secret_hash: String,
}

/// `n` random bytes from the operating system.
fn random<const N: usize>() -> Result<[u8; N], String> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| format!("the OS random generator failed: {e}"))?;
    Ok(buf)
}

/// A new token secret with its id, salt and hash.
pub fn generate() -> Result<NewSecret, String> {
    let token_id = hex::encode(random::<16>()?);
    let secret = format!("{PREFIX}{token_id}_{}", hex::encode(random::<32>()?));
    let salt = random::<16>()?;
    Ok(NewSecret {
        secret_hash: hex::encode(salted_hash(&salt, &secret)),
        salt: hex::encode(salt),
        token_id,
        secret,
    })
}

/// A new admin secret (`sp_admin_<random>`), for a server started without one.
pub fn generate_admin() -> Result<String, String> {
    Ok(format!("{PREFIX}admin_{}", hex::encode(random::<32>()?)))
}

/// The token id a presented secret carries, if it has the shape of one of ours.
pub fn token_id_of(secret: &str) -> Option<&str> {
    let rest = secret.strip_prefix(PREFIX)?;
    let (id, random) = rest.split_once('_')?;
    let hex_of = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex_of(id, 32) && hex_of(random, 64)).then_some(id)
}

fn salted_hash(salt: &[u8], secret: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(secret.as_bytes());
    h.finalize().into()
}

/// Whether `secret` is the one `stored` was created with (constant time in the hash comparison).
pub fn verify(stored: &ApiToken, secret: &str) -> bool {
    let (Ok(salt), Ok(expected)) = (hex::decode(&stored.salt), hex::decode(&stored.secret_hash))
    else {
        return false;
    };
    salted_hash(&salt, secret).ct_eq(&expected[..]).into()
}

/// `SHA-256(secret)`, what the server keeps of the admin secret.
pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Whether `secret` hashes to `expected` (constant time).
pub fn matches_digest(expected: &[u8; 32], secret: &str) -> bool {
    digest(secret).ct_eq(expected).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(s: &NewSecret) -> ApiToken {
        ApiToken {
            namespace: "default".into(),
            name: "ci".into(),
            role: stateplane_model::Role::Viewer,
            token_id: s.token_id.clone(),
            salt: s.salt.clone(),
            secret_hash: s.secret_hash.clone(),
            created_at: stateplane_model::now(),
        }
    }

    #[test]
    fn generated_secrets_verify_and_carry_their_id() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a.secret, b.secret);
        assert_ne!(a.salt, b.salt);
        assert_eq!(token_id_of(&a.secret), Some(a.token_id.as_str()));
        assert!(verify(&stored(&a), &a.secret));
        assert!(!verify(&stored(&a), &b.secret));
        // one character off, anywhere
        let mut wrong = a.secret.clone().into_bytes();
        let last = wrong.len() - 1;
        wrong[last] = if wrong[last] == b'0' { b'1' } else { b'0' };
        assert!(!verify(&stored(&a), &String::from_utf8(wrong).unwrap()));
        assert!(
            !a.secret_hash.contains(&a.secret[3..]),
            "the hash is not the secret"
        );
    }

    #[test]
    fn only_well_formed_secrets_have_a_token_id() {
        let a = generate().unwrap();
        assert!(token_id_of(&a.secret[..a.secret.len() - 1]).is_none());
        for bad in [
            "",
            "sp_",
            "sp_x_y",
            "Bearer sp_",
            "nope",
            &generate_admin().unwrap(),
        ] {
            assert!(token_id_of(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn admin_digest_matches_only_the_admin_secret() {
        let admin = generate_admin().unwrap();
        let d = digest(&admin);
        assert!(matches_digest(&d, &admin));
        assert!(!matches_digest(&d, &format!("{admin} ")));
        assert!(!matches_digest(&d, ""));
    }
}
