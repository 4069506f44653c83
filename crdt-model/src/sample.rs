//! Synthetic directories for benchmarks, simulations and tests: signed
//! organization documents of one author, the same for the same inputs.

use automerge::Automerge;
use ed25519_dalek::SigningKey;

use crate::document::{self, Edit, Genesis};
use crate::ids::{Actor, AuthorKey, EntityId};
use crate::schema::Kind;
use crate::signed::SignedChange;

/// The time every sample change carries (milliseconds since the epoch).
pub const SAMPLE_TIME: i64 = 1_764_000_000_000;

/// The author of a sample directory: its signing key and device 1.
pub fn author(seed: u8) -> (SigningKey, Actor) {
    let key = SigningKey::from_bytes(&[seed; 32]);
    let actor = Actor {
        author: AuthorKey::of(&key),
        device: 1,
    };
    (key, actor)
}

/// One sample entity: its id, its document and its signed genesis change.
pub struct Sample {
    /// The entity id.
    pub id: EntityId,
    /// Its document, holding the genesis change.
    pub doc: Automerge,
    /// The signed envelope of the genesis change.
    pub envelope: Vec<u8>,
}

/// Association number `n` of `postal_code` (French), created by `key`,
/// with one of 40 tags.
pub fn organization(key: &SigningKey, postal_code: &str, n: usize) -> Sample {
    let actor = Actor {
        author: AuthorKey::of(key),
        device: 1,
    };
    let genesis = Genesis {
        kind: Kind::Organization,
        name: format!("Association {n}"),
        postal_code: postal_code.into(),
        country: "FR".into(),
        open_edition: None,
    };
    let mut nonce = [0u8; 16];
    nonce[..8].copy_from_slice(&(n as u64).to_le_bytes());
    let created = document::create(
        &genesis,
        &actor,
        SAMPLE_TIME,
        nonce,
        &[Edit::AddTag(format!("tag{}", n % 40))],
    )
    .expect("a sample genesis is valid");
    let envelope = SignedChange::sign(key, created.id, postal_code, created.change.raw_bytes())
        .expect("a sample change is small enough to sign")
        .encode();
    Sample {
        id: created.id,
        doc: created.doc,
        envelope,
    }
}

/// The signed envelopes of associations `0..count` of `postal_code`.
pub fn directory(key: &SigningKey, postal_code: &str, count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|n| organization(key, postal_code, n).envelope)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_reproducible_and_distinct() {
        let (key, _) = author(3);
        let first = directory(&key, "97400", 3);
        assert_eq!(first, directory(&key, "97400", 3));
        assert_ne!(first[0], first[1]);
        let sample = organization(&key, "97400", 1);
        assert_eq!(sample.envelope, first[1]);
        let decoded = SignedChange::decode(&sample.envelope).unwrap();
        assert_eq!(decoded.doc_id, sample.id);
    }
}
