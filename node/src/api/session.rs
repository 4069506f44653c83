//! How a browser earns the right to write without the page carrying a
//! secret: pairing. The citizen's own command line (which can read the
//! owner-only `api.token`) asks the node for a pairing link; opening it
//! consumes its one-time code and sets a session cookie (HttpOnly, so no
//! script reads it; SameSite=Strict, so no other site's page sends it).
//! Another user of the same computer reaches the same page and reads the
//! same open data, but has no link, no cookie and no token, so cannot
//! write; a web page elsewhere cannot make the browser send the cookie.
//!
//! Pure bookkeeping: codes and sessions are kept as SHA-256 digests, so a
//! lookup does not compare secrets byte by byte, and in bounded numbers.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// The cookie that carries a paired browser's session.
pub const COOKIE: &str = "communecter_session";

/// How long a pairing link can be used.
pub const PAIRING_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// Most pairing links waiting to be used; the oldest go first.
const MAX_CODES: usize = 16;

/// Most paired browsers; the oldest session ends first.
const MAX_SESSIONS: usize = 64;

type Digest32 = [u8; 32];

fn digest(secret: &str) -> Digest32 {
    Sha256::digest(secret.as_bytes()).into()
}

/// The pairing links and sessions of a running node (none survive it).
#[derive(Debug, Default)]
pub struct Sessions {
    /// Codes not used yet, with when they stop working.
    codes: HashMap<Digest32, Instant>,
    /// Sessions, oldest first.
    sessions: VecDeque<Digest32>,
}

impl Sessions {
    /// Files `code` (a fresh random secret) as a pairing code made at
    /// `now`.
    pub fn add_code(&mut self, code: &str, now: Instant) {
        self.codes.retain(|_, until| *until > now);
        while self.codes.len() >= MAX_CODES {
            let oldest = self
                .codes
                .iter()
                .min_by_key(|(_, until)| **until)
                .map(|(code, _)| *code);
            match oldest {
                Some(oldest) => self.codes.remove(&oldest),
                None => break,
            };
        }
        self.codes.insert(digest(code), now + PAIRING_LIFETIME);
    }

    /// Uses `code` at `now`: when it is a code not used yet and not
    /// expired, it is gone and `session` (a fresh random secret) becomes a
    /// session; false otherwise.
    pub fn pair(&mut self, code: &str, session: &str, now: Instant) -> bool {
        match self.codes.remove(&digest(code)) {
            Some(until) if until > now => {
                if self.sessions.len() >= MAX_SESSIONS {
                    self.sessions.pop_front();
                }
                self.sessions.push_back(digest(session));
                true
            }
            _ => false,
        }
    }

    /// Whether `session` is one this node handed out.
    pub fn is_session(&self, session: &str) -> bool {
        let wanted = digest(session);
        self.sessions.iter().any(|known| *known == wanted)
    }
}

/// The value of the session cookie in a `Cookie` header, if any.
pub fn cookie_value(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_pairs_once_and_not_after_it_expired() {
        let now = Instant::now();
        let mut sessions = Sessions::default();
        sessions.add_code("code-1", now);
        assert!(!sessions.is_session("s1"));
        assert!(sessions.pair("code-1", "s1", now));
        assert!(sessions.is_session("s1"));
        assert!(!sessions.pair("code-1", "s2", now), "used once only");
        assert!(!sessions.is_session("s2"));
        assert!(!sessions.pair("never-given", "s3", now));

        sessions.add_code("code-2", now);
        let late = now + PAIRING_LIFETIME + Duration::from_secs(1);
        assert!(!sessions.pair("code-2", "s4", late), "expired");
        assert!(!sessions.is_session("s4"));
    }

    #[test]
    fn codes_and_sessions_are_bounded() {
        let now = Instant::now();
        let mut sessions = Sessions::default();
        for n in 0..(MAX_CODES + 5) {
            sessions.add_code(&format!("code-{n}"), now + Duration::from_millis(n as u64));
        }
        assert_eq!(sessions.codes.len(), MAX_CODES);
        assert!(!sessions.pair("code-0", "s", now), "the oldest went first");
        for n in 0..(MAX_SESSIONS + 1) {
            let code = format!("again-{n}");
            sessions.add_code(&code, now);
            assert!(sessions.pair(&code, &format!("session-{n}"), now));
        }
        assert_eq!(sessions.sessions.len(), MAX_SESSIONS);
        assert!(!sessions.is_session("session-0"));
        assert!(sessions.is_session(&format!("session-{MAX_SESSIONS}")));
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        assert_eq!(
            cookie_value("a=1; communecter_session=abc; b=2"),
            Some("abc")
        );
        assert_eq!(cookie_value("communecter_sessionx=abc"), None);
        assert_eq!(cookie_value(""), None);
    }
}
