//! Client authentication, Nacos-compatible and off by default: with `--auth-users-file`, a
//! client logs in (`POST /nacos/v1/auth/login` or `/nacos/v1/auth/users/login` with
//! `username` and `password`) and sends the `accessToken` it got with every naming request
//! (v1: a parameter or header; gRPC: a `Metadata` header). Anything else answers 403.
//!
//! Passwords are checked against the users file's bcrypt hashes (`user:$2y$...` lines as
//! `htpasswd -nbB` writes them). A token is `user.expiry.hmac`: HMAC-SHA256 over the user and
//! the expiry (wall-clock milliseconds) under a key derived from the users file and the
//! cluster secret, so every member holding the same files checks a token another issued.
//! Health, readiness and `/metrics` stay open (probes and scrapers carry no token).

use crate::auth::Secrets;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;

/// How long a token is valid, in seconds (Nacos's default `tokenTtl`).
pub const TOKEN_TTL_S: u64 = 18_000;

/// The users and the token key. Never printed.
#[derive(Clone, Default)]
pub struct Users {
    hashes: HashMap<String, String>,
    key: [u8; 32],
}

impl fmt::Debug for Users {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Users({} users, key redacted)", self.hashes.len())
    }
}

impl PartialEq for Users {
    fn eq(&self, other: &Users) -> bool {
        self.key == other.key
    }
}

impl Users {
    /// Users from an htpasswd file's text; the token key binds the file and the secrets.
    pub fn parse(text: &str, secrets: &Secrets) -> Result<Users, String> {
        let mut hashes = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((user, hash)) = line.split_once(':') else {
                return Err(format!("line {}: expected user:bcrypt-hash", n + 1));
            };
            if !hash.starts_with("$2") {
                return Err(format!(
                    "line {}: {user}'s password is not a bcrypt hash",
                    n + 1
                ));
            }
            hashes.insert(user.to_string(), hash.to_string());
        }
        if hashes.is_empty() {
            return Err("no users".into());
        }
        let mut d = Sha256::new();
        d.update(b"distro-token-key");
        d.update(text.as_bytes());
        for s in &secrets.0 {
            d.update(s);
        }
        Ok(Users {
            hashes,
            key: d.finalize().into(),
        })
    }

    /// Whether client authentication is on.
    pub fn enabled(&self) -> bool {
        !self.hashes.is_empty()
    }

    /// A token for `user` if `password` is theirs.
    pub fn login(&self, user: &str, password: &str, now_ms: u64) -> Option<String> {
        let hash = self.hashes.get(user)?;
        if !bcrypt::verify(password, hash).unwrap_or(false) {
            return None;
        }
        let expiry = now_ms.saturating_add(TOKEN_TTL_S * 1000);
        Some(format!("{user}.{expiry}.{}", hex(&self.mac(user, expiry))))
    }

    /// Whether `token` is one of ours, for a user that exists, and not expired.
    pub fn check(&self, token: &str, now_ms: u64) -> bool {
        let mut parts = token.rsplitn(3, '.');
        let (Some(mac), Some(expiry), Some(user)) = (parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let Ok(expiry) = expiry.parse::<u64>() else {
            return false;
        };
        let Some(mac) = unhex(mac) else { return false };
        if expiry < now_ms || !self.hashes.contains_key(user) {
            return false;
        }
        let mut m = <Hmac<Sha256>>::new_from_slice(&self.key).expect("any key length");
        m.update(user.as_bytes());
        m.update(b".");
        m.update(expiry.to_string().as_bytes());
        m.verify_slice(&mac).is_ok()
    }

    fn mac(&self, user: &str, expiry: u64) -> [u8; 32] {
        let mut m = <Hmac<Sha256>>::new_from_slice(&self.key).expect("any key length");
        m.update(user.as_bytes());
        m.update(b".");
        m.update(expiry.to_string().as_bytes());
        m.finalize().into_bytes().into()
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Whether a v1 path needs a token when authentication is on.
pub fn needs_token(path: &str) -> bool {
    let open = [
        "/nacos/v1/auth/login",
        "/nacos/v1/auth/users/login",
        "/nacos/v1/console/health/liveness",
        "/nacos/v1/console/health/readiness",
        "/metrics",
    ];
    path.starts_with("/nacos/") && !open.contains(&path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> Users {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        Users::parse(&format!("# users\nnacos:{hash}\n"), &Secrets::default()).unwrap()
    }

    #[test]
    fn a_login_gives_a_token_any_member_with_the_same_files_accepts() {
        let u = users();
        assert!(u.login("nacos", "wrong", 0).is_none());
        assert!(u.login("nobody", "s3cret", 0).is_none());
        let t = u.login("nacos", "s3cret", 1_000).unwrap();
        assert!(u.check(&t, 2_000));
        assert!(!u.check(&t, 1_000 + TOKEN_TTL_S * 1000 + 1), "expired");
        let forged = t.replace("nacos.", "admin.");
        assert!(!u.check(&forged, 2_000));
        let mut flipped = t.clone();
        let last = flipped.pop().unwrap();
        flipped.push(if last == '0' { '1' } else { '0' });
        assert!(!u.check(&flipped, 2_000));
        assert!(!u.check("garbage", 2_000) && !u.check("a.b.c", 2_000));
        // another member's files differ: its key differs
        let other =
            Users::parse("nacos:$2y$04$abcdefghijklmnopqrstuu", &Secrets::default()).unwrap();
        assert!(!other.check(&t, 2_000));
        assert_eq!(format!("{u:?}"), "Users(1 users, key redacted)");
    }

    #[test]
    fn a_users_file_must_hold_bcrypt_hashes() {
        assert!(Users::parse("nacos:plain", &Secrets::default()).is_err());
        assert!(Users::parse("", &Secrets::default()).is_err());
        assert!(needs_token("/nacos/v1/ns/instance") && !needs_token("/nacos/v1/auth/login"));
        assert!(!needs_token("/metrics"));
    }
}
