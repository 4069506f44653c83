//! Waiting for what other processes do, never without a bound.

use std::time::{Duration, Instant};

/// How often [`within`] checks its condition again: often enough that a
/// test does not linger, rarely enough that conditions which run a
/// `communecter` command do not take a core of their own.
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// Whether `condition` holds within `limit`, checked every 100 ms.
pub fn within(limit: Duration, condition: impl FnMut() -> bool) -> bool {
    poll(limit, CHECK_EVERY, condition)
}

/// Waits until `condition` holds; panics with `what` if it does not
/// within `limit`.
pub fn eventually(what: &str, limit: Duration, condition: impl FnMut() -> bool) {
    assert!(within(limit, condition), "timed out: {what}");
}

/// Whether `condition` holds within `limit`, checked every `every`.
pub(crate) fn poll(limit: Duration, every: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !condition() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(every);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_condition_that_comes_true_is_seen_soon_after() {
        let start = Instant::now();
        let mut checks = 0;
        assert!(within(Duration::from_secs(10), || {
            checks += 1;
            checks == 3
        }));
        assert_eq!(checks, 3);
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn a_condition_that_never_holds_is_given_up_at_the_limit() {
        let start = Instant::now();
        assert!(!within(Duration::from_millis(300), || false));
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(300), "{waited:?}");
        assert!(waited < Duration::from_secs(2), "{waited:?}");
    }

    #[test]
    #[should_panic(expected = "timed out: the garage")]
    fn eventually_says_what_it_waited_for() {
        eventually("the garage", Duration::from_millis(50), || false);
    }
}
