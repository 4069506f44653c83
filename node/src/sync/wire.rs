//! The sync messages and their encoding (postcard); the byte layouts are
//! in docs/PROTOCOL.md.

use serde::{Deserialize, Serialize};

use super::{Item, MAX_MESSAGE_BYTES, SyncError};

/// A fingerprint of a set of items: the wrapping sum of their item hashes,
/// and their number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Sum of the first 16 bytes of SHA-256(id ‖ heads hash), little-endian.
    pub sum: [u8; 16],
    /// Number of items.
    pub count: u64,
}

/// A range of ids, from `lower` (included) to `upper` (excluded; `None` is
/// the end of the id space), and what is said of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    /// First id of the range.
    pub lower: [u8; 16],
    /// First id after the range.
    pub upper: Option<[u8; 16]>,
    /// The fingerprint or the items of the sender in that range.
    pub body: Body,
}

/// A range on the wire: `lower` is left out (`None`) when it equals the
/// previous range's `upper`, as it does between the sub-ranges of a split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireRange {
    /// First id of the range, unless it follows the previous range.
    pub lower: Option<[u8; 16]>,
    /// First id after the range; `None` is the end of the id space.
    pub upper: Option<[u8; 16]>,
    /// The fingerprint or the items of the sender in that range.
    pub body: Body,
}

/// Ranges as sent.
pub fn pack(ranges: &[Range]) -> Vec<WireRange> {
    let mut previous_upper = None;
    ranges
        .iter()
        .map(|range| {
            let lower = match previous_upper {
                Some(upper) if upper == range.lower => None,
                _ => Some(range.lower),
            };
            previous_upper = range.upper;
            WireRange {
                lower,
                upper: range.upper,
                body: range.body.clone(),
            }
        })
        .collect()
}

/// Ranges as received; a left-out lower bound must follow a bounded range,
/// and every range must be non-empty.
pub fn unpack(ranges: Vec<WireRange>) -> Result<Vec<Range>, SyncError> {
    let mut previous_upper: Option<[u8; 16]> = None;
    let mut out = Vec::with_capacity(ranges.len());
    for range in ranges {
        let lower = match range.lower {
            Some(lower) => lower,
            None => previous_upper
                .ok_or_else(|| SyncError::Protocol("a range follows nothing".into()))?,
        };
        if range.upper.is_some_and(|upper| upper <= lower) {
            return Err(SyncError::Protocol("an empty or inverted range".into()));
        }
        previous_upper = range.upper;
        out.push(Range {
            lower,
            upper: range.upper,
            body: range.body,
        });
    }
    Ok(out)
}

/// What a range message carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// The sender's fingerprint of the range.
    Fingerprint(Fingerprint),
    /// The sender's items in the range: all of them, or, in an answer to
    /// items, those the asker does not have.
    Items(Vec<Item>),
}

/// A sync request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// One round of reconciliation for a postal key.
    Reconcile {
        /// The postal key (`97400`, `BE-1000`).
        postal_key: String,
        /// The asker's ranges.
        ranges: Vec<WireRange>,
    },
    /// The envelopes the asker lacks of these documents.
    Pull {
        /// Per document, what the asker has of it.
        docs: Vec<([u8; 16], Have)>,
    },
}

/// What the asker of a pull has of a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Have {
    /// Its heads. If the answerer knows them all, it sends the changes that
    /// are not their ancestors; if not, the asker holds changes the
    /// answerer lacks, and the answerer sends its own heads instead
    /// (`unresolved`).
    Heads(Vec<[u8; 32]>),
    /// The hash of every change it has; the answerer sends the others.
    Changes(Vec<[u8; 32]>),
}

/// A sync answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The answerer's ranges for one round; an empty list ends it.
    Reconcile {
        /// Ranges that still differ, with the answerer's body.
        ranges: Vec<WireRange>,
    },
    /// Envelopes the asker lacks.
    Changes {
        /// Signed envelopes.
        envelopes: Vec<Vec<u8>>,
        /// Documents all of whose missing envelopes are included.
        served: Vec<[u8; 16]>,
        /// Documents asked for by heads some of which the answerer does
        /// not know, with the answerer's heads: the asker needs nothing of
        /// them if it has these, and asks again by change hashes if not.
        /// Documents neither served nor unresolved are to be asked for
        /// again.
        unresolved: Vec<([u8; 16], Vec<[u8; 32]>)>,
    },
    /// The request was not acceptable.
    Refused {
        /// Why.
        reason: String,
    },
}

/// Encodes a sync message.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    postcard::to_allocvec(message).expect("sync messages serialize")
}

/// Decodes a sync message, refusing oversized ones.
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, SyncError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(SyncError::Protocol(format!(
            "a message of {} bytes; the limit is {MAX_MESSAGE_BYTES}",
            bytes.len()
        )));
    }
    postcard::from_bytes(bytes).map_err(|error| SyncError::Protocol(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    mod round_trip {
        use proptest::prelude::*;

        use super::super::*;

        fn hashes() -> impl Strategy<Value = Vec<[u8; 32]>> {
            prop::collection::vec(any::<[u8; 32]>(), 0..4)
        }

        fn have() -> impl Strategy<Value = Have> {
            prop_oneof![
                hashes().prop_map(Have::Heads),
                hashes().prop_map(Have::Changes)
            ]
        }

        fn range() -> impl Strategy<Value = WireRange> {
            let body = prop_oneof![
                (any::<[u8; 16]>(), any::<u64>())
                    .prop_map(|(sum, count)| Body::Fingerprint(Fingerprint { sum, count })),
                prop::collection::vec(any::<([u8; 16], [u8; 32])>(), 0..4).prop_map(Body::Items),
            ];
            (
                prop::option::of(any::<[u8; 16]>()),
                prop::option::of(any::<[u8; 16]>()),
                body,
            )
                .prop_map(|(lower, upper, body)| WireRange { lower, upper, body })
        }

        fn request() -> impl Strategy<Value = Request> {
            prop_oneof![
                (".{0,12}", prop::collection::vec(range(), 0..4))
                    .prop_map(|(postal_key, ranges)| Request::Reconcile { postal_key, ranges }),
                prop::collection::vec((any::<[u8; 16]>(), have()), 0..4)
                    .prop_map(|docs| Request::Pull { docs }),
            ]
        }

        fn response() -> impl Strategy<Value = Response> {
            prop_oneof![
                prop::collection::vec(range(), 0..4)
                    .prop_map(|ranges| Response::Reconcile { ranges }),
                (
                    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..4),
                    prop::collection::vec(any::<[u8; 16]>(), 0..4),
                    prop::collection::vec((any::<[u8; 16]>(), hashes()), 0..4),
                )
                    .prop_map(|(envelopes, served, unresolved)| {
                        Response::Changes {
                            envelopes,
                            served,
                            unresolved,
                        }
                    }),
                ".{0,40}".prop_map(|reason| Response::Refused { reason }),
            ]
        }

        proptest! {
            #[test]
            fn every_request_round_trips(request in request()) {
                prop_assert_eq!(decode::<Request>(&encode(&request)).unwrap(), request);
            }

            #[test]
            fn every_response_round_trips(response in response()) {
                prop_assert_eq!(decode::<Response>(&encode(&response)).unwrap(), response);
            }
        }
    }

    #[test]
    fn oversized_and_garbled_messages_are_refused() {
        assert!(decode::<Request>(&[0xff; 10]).is_err());
        assert!(decode::<Request>(&vec![0; MAX_MESSAGE_BYTES + 1]).is_err());
    }
}
