//! Password hashing (argon2id) and opaque tokens (only their SHA-256 is stored).

use crate::error::{Error, Result};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

/// Shortest password accepted when one is set.
pub const MIN_PASSWORD_LEN: usize = 8;

/// An argon2id PHC string with the crate's default parameters (19 MiB, 2 passes): about 20 ms
/// per hash on this project's machines. CPU-bound: in the server, run it through
/// `AppState::password_work`.
pub fn hash_password(password: &str) -> Result<String> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(Error::Invalid(format!(
            "a password needs at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Password(e.to_string()))
}

/// Whether `password` matches `phc`. A malformed hash never matches.
pub fn verify_password(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash of a random password, verified against when the account does not exist, so that an
/// unknown email costs the same time as a wrong password.
pub fn dummy_hash() -> String {
    hash_password(&random_hex(16)).expect("a 32-character password is long enough")
}

/// The two kinds of bearer token. The prefix says which table to look in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// From `POST /auth/login`: expires.
    Session,
    /// From `POST /devices`: bound to a user and a device, lives until revoked.
    Device,
}

impl TokenKind {
    fn prefix(self) -> &'static str {
        match self {
            TokenKind::Session => "lms_",
            TokenKind::Device => "lmd_",
        }
    }

    /// The kind a presented token claims to be.
    pub fn of(token: &str) -> Option<TokenKind> {
        [TokenKind::Session, TokenKind::Device]
            .into_iter()
            .find(|k| token.starts_with(k.prefix()))
    }
}

/// A new random token (256 bits) and the hash to store.
pub fn new_token(kind: TokenKind) -> (String, String) {
    let token = format!("{}{}", kind.prefix(), random_hex(32));
    let hash = hash_token(&token);
    (token, hash)
}

/// Lower-case hex SHA-256 of a token: what the database keeps.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_the_right_password() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "wrong horse"));
        assert!(!verify_password("not a hash", "correct horse"));
        assert!(hash_password("short").is_err());
    }

    #[test]
    fn tokens_are_random_and_say_their_kind() {
        let (a, ha) = new_token(TokenKind::Session);
        let (b, _) = new_token(TokenKind::Device);
        assert_ne!(a, b);
        assert_eq!(TokenKind::of(&a), Some(TokenKind::Session));
        assert_eq!(TokenKind::of(&b), Some(TokenKind::Device));
        assert_eq!(TokenKind::of("Bearer x"), None);
        assert_eq!(hash_token(&a), ha);
        assert_eq!(ha.len(), 64);
    }
}
