//! The sync schedule, pure: which pulling sessions run, one per postal key
//! at a time so that a node coming back does not fetch the same changes
//! from every peer it meets, which wait their turn, and which are too
//! recent to run again. The event loop asks it and launches the sessions
//! it allows.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use libp2p::PeerId;

/// A peer is not synced with again for a postal key sooner than this,
/// unless asked.
pub(super) const SYNC_COOLDOWN: Duration = Duration::from_secs(2);

/// What the schedule says of a session asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decision {
    /// Launch it now: it counts as running.
    Start,
    /// Another session pulls the postal key: it waits its turn.
    Queued,
    /// It runs, waits already, or ended too recently.
    No,
}

/// The sessions of a node; see the module doc.
#[derive(Debug, Default)]
pub(super) struct Schedule {
    /// Sessions running, by peer and postal key.
    running: HashSet<(PeerId, String)>,
    /// Peers waiting for their postal key's running session to end.
    queued: HashMap<String, VecDeque<PeerId>>,
    /// When each (peer, postal key) session last ended, for the cooldown:
    /// only those that ended less than [`SYNC_COOLDOWN`] ago are kept.
    ended: HashMap<(PeerId, String), Instant>,
}

impl Schedule {
    /// Whether a session pulls `postal_key` now.
    fn pulling(&self, postal_key: &str) -> bool {
        self.running.iter().any(|(_, key)| key == postal_key)
    }

    /// Asks for a session with `peer` on `postal_key` at `now`: refused
    /// while one runs or waits for that pair, or (unless `forced`) one
    /// ended less than [`SYNC_COOLDOWN`] ago; queued while another peer's
    /// session pulls the key.
    pub(super) fn want(
        &mut self,
        peer: PeerId,
        postal_key: &str,
        forced: bool,
        now: Instant,
    ) -> Decision {
        let pair = (peer, postal_key.to_owned());
        if self.running.contains(&pair) {
            return Decision::No;
        }
        let recent = self
            .ended
            .get(&pair)
            .is_some_and(|at| now.saturating_duration_since(*at) < SYNC_COOLDOWN);
        if !forced && recent {
            return Decision::No;
        }
        if self.pulling(postal_key) {
            let queue = self.queued.entry(pair.1).or_default();
            if queue.contains(&peer) {
                return Decision::No;
            }
            queue.push_back(peer);
            return Decision::Queued;
        }
        self.running.insert(pair);
        Decision::Start
    }

    /// The session with `peer` on `postal_key` ended at `now`; returns the
    /// next waiting peer still `connected` to launch on that key (it then
    /// counts as running).
    pub(super) fn ended(
        &mut self,
        peer: PeerId,
        postal_key: &str,
        now: Instant,
        connected: impl Fn(&PeerId) -> bool,
    ) -> Option<PeerId> {
        let pair = (peer, postal_key.to_owned());
        self.running.remove(&pair);
        // What ended before the cooldown no longer matters: the map holds
        // the last few seconds, not every peer ever met.
        self.ended
            .retain(|_, at| now.saturating_duration_since(*at) < SYNC_COOLDOWN);
        self.ended.insert(pair, now);
        if self.pulling(postal_key) {
            return None;
        }
        let mut next = None;
        if let Some(queue) = self.queued.get_mut(postal_key) {
            while let Some(waiting) = queue.pop_front() {
                if connected(&waiting) {
                    next = Some(waiting);
                    break;
                }
            }
            if queue.is_empty() {
                self.queued.remove(postal_key);
            }
        }
        if let Some(waiting) = next {
            self.running.insert((waiting, postal_key.to_owned()));
        }
        next
    }

    /// `peer` is no longer connected: its running sessions no longer hold
    /// their postal keys.
    pub(super) fn peer_gone(&mut self, peer: &PeerId) {
        self.running.retain(|(running, _)| running != peer);
    }

    /// Peers with a session running or waiting: the peer set keeps them.
    pub(super) fn busy(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.running
            .iter()
            .map(|(peer, _)| *peer)
            .chain(self.queued.values().flatten().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_session_per_postal_key_the_others_wait_their_turn() {
        let now = Instant::now();
        let mut schedule = Schedule::default();
        let (a, b, c) = (PeerId::random(), PeerId::random(), PeerId::random());
        assert_eq!(schedule.want(a, "97400", false, now), Decision::Start);
        assert_eq!(schedule.want(b, "97400", false, now), Decision::Queued);
        assert_eq!(schedule.want(c, "97400", false, now), Decision::Queued);
        assert_eq!(
            schedule.want(b, "97400", false, now),
            Decision::No,
            "queued once"
        );
        // Another postal key runs beside it.
        assert_eq!(schedule.want(b, "97410", false, now), Decision::Start);
        let busy: HashSet<PeerId> = schedule.busy().collect();
        assert_eq!(busy, [a, b, c].into());
        // In order of arrival, skipping peers gone meanwhile.
        let connected = |peer: &PeerId| *peer != b;
        assert_eq!(schedule.ended(a, "97400", now, connected), Some(c));
        assert_eq!(schedule.ended(c, "97400", now, connected), None);
        assert_eq!(schedule.want(a, "97400", true, now), Decision::Start);
    }

    #[test]
    fn a_pair_just_synced_waits_out_the_cooldown_unless_forced() {
        let now = Instant::now();
        let mut schedule = Schedule::default();
        let peer = PeerId::random();
        assert_eq!(schedule.want(peer, "97400", false, now), Decision::Start);
        assert_eq!(
            schedule.want(peer, "97400", true, now),
            Decision::No,
            "running"
        );
        schedule.ended(peer, "97400", now, |_| true);
        let soon = now + Duration::from_secs(1);
        assert_eq!(schedule.want(peer, "97400", false, soon), Decision::No);
        let later = now + SYNC_COOLDOWN;
        assert_eq!(schedule.want(peer, "97400", false, later), Decision::Start);
        schedule.ended(peer, "97400", later, |_| true);
        assert_eq!(schedule.want(peer, "97400", true, later), Decision::Start);
    }

    #[test]
    fn sessions_are_forgotten_once_their_cooldown_is_over() {
        let start = Instant::now();
        let mut schedule = Schedule::default();
        for second in 0..100 {
            let now = start + Duration::from_secs(second);
            let peer = PeerId::random();
            assert_eq!(schedule.want(peer, "97400", false, now), Decision::Start);
            schedule.ended(peer, "97400", now, |_| true);
        }
        // A session a second: those of the last two seconds remain.
        assert_eq!(schedule.ended.len(), 2);
    }

    #[test]
    fn a_peer_gone_frees_its_postal_keys() {
        let now = Instant::now();
        let mut schedule = Schedule::default();
        let (a, b) = (PeerId::random(), PeerId::random());
        assert_eq!(schedule.want(a, "97400", false, now), Decision::Start);
        schedule.peer_gone(&a);
        assert_eq!(schedule.want(b, "97400", false, now), Decision::Start);
    }
}
