//! What a node does at the rendezvous points it meets (community relays),
//! pure: when to register its postal keys there again, when to ask for
//! more nodes of a key, and from where in the point's list. The event loop
//! carries the asks out with libp2p's rendezvous client and reports back.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use libp2p::{PeerId, rendezvous::Cookie};

/// Registrations at a rendezvous point live two hours
/// (`rendezvous::DEFAULT_TTL`): a node registers again after one.
pub(super) const REGISTER_AGAIN: Duration = Duration::from_secs(3600);

/// A node still short of peers at the end of a rendezvous point's list
/// asks for the whole list again this much later (meanwhile, only nodes
/// registered since).
pub(super) const LIST_AGAIN: Duration = Duration::from_secs(600);

/// What a node did at one rendezvous point for one postal key.
#[derive(Debug, Default)]
struct AtPoint {
    /// When it last registered there.
    registered: Option<Instant>,
    /// Where its last discovery there ended: the next one lists only the
    /// nodes not listed yet.
    cookie: Option<Cookie>,
    /// When a discovery there last came back empty.
    listed_all: Option<Instant>,
}

/// What to ask a rendezvous point about a postal key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Ask {
    /// Register there (again).
    pub(super) register: bool,
    /// Ask for nodes, from where this cookie says the last answer ended
    /// (none: from the start).
    pub(super) discover: Option<Option<Cookie>>,
}

/// The rendezvous points a node met and what it did at each.
#[derive(Debug, Default)]
pub(super) struct Rendezvous {
    points: HashSet<PeerId>,
    at: HashMap<(PeerId, String), AtPoint>,
}

impl Rendezvous {
    /// `point` runs a rendezvous server; returns whether it is new (then
    /// every followed key is registered there).
    pub(super) fn met(&mut self, point: PeerId) -> bool {
        self.points.insert(point)
    }

    /// `point` is no longer connected: met again, it is registered with
    /// again.
    pub(super) fn gone(&mut self, point: &PeerId) {
        self.points.remove(point);
        self.at.retain(|(at, _), _| at != point);
    }

    /// The rendezvous points connected.
    pub(super) fn points(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.points.iter().copied()
    }

    /// What to ask `point` about `postal_key` at `now`: register when
    /// `fresh` (a new point, a new key, a new address to tell) or when the
    /// registration nears its end; ask for nodes while this node `lacks`
    /// peers there, from where the last answer ended, or from the start
    /// once the whole list was read [`LIST_AGAIN`] ago.
    pub(super) fn ask(
        &mut self,
        point: PeerId,
        postal_key: &str,
        fresh: bool,
        lacks: bool,
        now: Instant,
    ) -> Ask {
        let at = self.at.entry((point, postal_key.to_owned())).or_default();
        let register = fresh
            || at
                .registered
                .is_none_or(|when| now.saturating_duration_since(when) >= REGISTER_AGAIN);
        let discover = lacks.then(|| {
            if at
                .listed_all
                .is_some_and(|when| now.saturating_duration_since(when) >= LIST_AGAIN)
            {
                at.cookie = None;
                at.listed_all = None;
            }
            at.cookie.clone()
        });
        Ask { register, discover }
    }

    /// The registration at `point` under `postal_key` was sent at `now`.
    pub(super) fn registered(&mut self, point: PeerId, postal_key: &str, now: Instant) {
        if let Some(at) = self.at.get_mut(&(point, postal_key.to_owned())) {
            at.registered = Some(now);
        }
    }

    /// `point` answered a discovery of `postal_key` at `now`: the next one
    /// goes on from `cookie`; an answer with no node (`empty`) means the
    /// list was read to its end.
    pub(super) fn listed(
        &mut self,
        point: PeerId,
        postal_key: &str,
        empty: bool,
        cookie: Cookie,
        now: Instant,
    ) {
        if let Some(at) = self.at.get_mut(&(point, postal_key.to_owned())) {
            // Listed to the end: later discoveries bring the nodes
            // registered since, and the whole list again after a while, to
            // meet again nodes lost since.
            if empty {
                at.listed_all.get_or_insert(now);
            }
            at.cookie = Some(cookie);
        }
    }
}

#[cfg(test)]
mod tests {
    use libp2p::rendezvous::Namespace;

    use super::*;

    fn cookie() -> Cookie {
        Cookie::for_namespace(Namespace::from_static("97400"))
    }

    #[test]
    fn registrations_are_renewed_after_an_hour_or_when_fresh() {
        let start = Instant::now();
        let point = PeerId::random();
        let mut rendezvous = Rendezvous::default();
        assert!(rendezvous.met(point));
        assert!(!rendezvous.met(point), "met once");
        assert!(rendezvous.ask(point, "97400", false, false, start).register);
        rendezvous.registered(point, "97400", start);
        let later = start + Duration::from_secs(1800);
        assert!(!rendezvous.ask(point, "97400", false, false, later).register);
        assert!(rendezvous.ask(point, "97400", true, false, later).register);
        let hour = start + REGISTER_AGAIN;
        assert!(rendezvous.ask(point, "97400", false, false, hour).register);
    }

    #[test]
    fn nodes_are_asked_for_only_while_lacking_from_where_the_list_ended() {
        let start = Instant::now();
        let point = PeerId::random();
        let mut rendezvous = Rendezvous::default();
        rendezvous.met(point);
        let ask = rendezvous.ask(point, "97400", false, false, start);
        assert_eq!(ask.discover, None, "not lacking: no discovery");
        let ask = rendezvous.ask(point, "97400", false, true, start);
        assert_eq!(ask.discover, Some(None), "from the start");
        let page = cookie();
        rendezvous.listed(point, "97400", false, page.clone(), start);
        let ask = rendezvous.ask(point, "97400", false, true, start);
        assert_eq!(ask.discover, Some(Some(page)), "from where it ended");
    }

    #[test]
    fn the_whole_list_is_read_again_a_while_after_its_end() {
        let start = Instant::now();
        let point = PeerId::random();
        let mut rendezvous = Rendezvous::default();
        rendezvous.met(point);
        rendezvous.ask(point, "97400", false, true, start);
        let end = cookie();
        rendezvous.listed(point, "97400", true, end.clone(), start);
        let soon = start + Duration::from_secs(60);
        let ask = rendezvous.ask(point, "97400", false, true, soon);
        assert_eq!(ask.discover, Some(Some(end)), "only nodes registered since");
        let later = start + LIST_AGAIN;
        let ask = rendezvous.ask(point, "97400", false, true, later);
        assert_eq!(ask.discover, Some(None), "the whole list again");
    }

    #[test]
    fn a_point_gone_is_forgotten() {
        let start = Instant::now();
        let point = PeerId::random();
        let mut rendezvous = Rendezvous::default();
        rendezvous.met(point);
        rendezvous.ask(point, "97400", false, true, start);
        rendezvous.registered(point, "97400", start);
        rendezvous.gone(&point);
        assert_eq!(rendezvous.points().count(), 0);
        assert!(rendezvous.met(point), "met again");
        assert!(rendezvous.ask(point, "97400", false, false, start).register);
    }
}
