//! Identifiers: entity ids, author keys and Automerge actors.
//!
//! An [`EntityId`] is 128 bits printed as 26 lowercase base32 characters
//! (RFC 4648 alphabet, no padding). It is derived from its creator's key and
//! a random nonce (see [`EntityId::derive`]), so it looks random to everyone
//! but only its creator can write the first change of that document.
//!
//! An [`AuthorKey`] is an ed25519 public key, printed as 64 lowercase hex
//! digits; that printed form is also the key under which the author writes
//! its own slots in a document (`links/<key>`, `recommends/<key>`…).
//!
//! An [`Actor`] is an author key plus a 4-byte device suffix: the Automerge
//! actor id of every change that author makes from that device.

use std::fmt;
use std::str::FromStr;

use data_encoding::{Encoding, Specification};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha512};

/// Domain-separation tag hashed before the creator key and nonce of an id.
const ENTITY_ID_DOMAIN: &[u8] = b"communecter/entity-id/v1\0";

/// Domain-separation tag hashed before the author key of a person's nonce.
const PERSON_NONCE_DOMAIN: &[u8] = b"communecter/person-nonce/v1\0";

/// Number of characters of a printed [`EntityId`].
pub const ENTITY_ID_LEN: usize = 26;

/// Why a printed identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The text does not have the required number of characters.
    #[error("an entity id has {expected} characters, this one has {found}")]
    EntityIdLength {
        /// Characters required.
        expected: usize,
        /// Characters given.
        found: usize,
    },
    /// The text is not lowercase base32 or has non-zero trailing bits.
    #[error("an entity id uses only the letters a-z and the digits 2-7 (got {0:?})")]
    EntityIdAlphabet(String),
    /// The text is not 64 lowercase hex digits.
    #[error("an author key is 64 lowercase hexadecimal digits (got {0:?})")]
    AuthorKeyFormat(String),
    /// The bytes are not a valid ed25519 public key.
    #[error("{0} is not a valid ed25519 public key")]
    AuthorKeyInvalid(String),
    /// The actor id is not a 32-byte key followed by a 4-byte device suffix.
    #[error("an actor id is 36 bytes (author key and device), this one has {0}")]
    ActorLength(usize),
}

fn base32() -> &'static Encoding {
    static ENCODING: std::sync::OnceLock<Encoding> = std::sync::OnceLock::new();
    ENCODING.get_or_init(|| {
        let mut spec = Specification::new();
        spec.symbols.push_str("abcdefghijklmnopqrstuvwxyz234567");
        spec.check_trailing_bits = true;
        spec.encoding()
            .expect("the base32 specification is a constant and valid")
    })
}

/// The id of an entity, and of the Automerge document that holds it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntityId([u8; 16]);

impl EntityId {
    /// The id of the entity whose genesis is signed by `creator` with `nonce`.
    ///
    /// `id = SHA-512("communecter/entity-id/v1\0" ‖ creator key ‖ nonce)[..16]`.
    /// Binding the id to its creator means nobody else can write a first
    /// change for it (see [`crate::authz`]).
    pub fn derive(creator: &AuthorKey, nonce: &[u8; 16]) -> Self {
        let mut hasher = Sha512::new();
        hasher.update(ENTITY_ID_DOMAIN);
        hasher.update(creator.as_bytes());
        hasher.update(nonce);
        let digest = hasher.finalize();
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        Self(id)
    }

    /// The nonce of an author's person entity: fixed by the author key, so
    /// that its id ([`EntityId::person_of`]) is too.
    ///
    /// `nonce = SHA-512("communecter/person-nonce/v1\0" ‖ author key)[..16]`.
    pub fn person_nonce(author: &AuthorKey) -> [u8; 16] {
        let mut hasher = Sha512::new();
        hasher.update(PERSON_NONCE_DOMAIN);
        hasher.update(author.as_bytes());
        let digest = hasher.finalize();
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&digest[..16]);
        nonce
    }

    /// The id of `author`'s person entity (their public profile): derived
    /// from the author key alone, so that anyone reading a link, a
    /// recommendation or a vote in `author`'s slot finds who wrote it, and
    /// nobody can point a slot at another citizen's profile. Authorization
    /// refuses a person whose id is not this one.
    pub fn person_of(author: &AuthorKey) -> Self {
        Self::derive(author, &Self::person_nonce(author))
    }

    /// The id made of these 16 bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The 16 bytes of the id.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&base32().encode(&self.0))
    }
}

impl fmt::Debug for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntityId({self})")
    }
}

impl FromStr for EntityId {
    type Err = IdError;

    /// Strict: exactly 26 lowercase base32 characters with zero trailing bits,
    /// so every id has exactly one printed form.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.len() != ENTITY_ID_LEN {
            return Err(IdError::EntityIdLength {
                expected: ENTITY_ID_LEN,
                found: text.chars().count(),
            });
        }
        let bytes = base32()
            .decode(text.as_bytes())
            .map_err(|_| IdError::EntityIdAlphabet(text.to_owned()))?;
        let id: [u8; 16] = bytes
            .try_into()
            .map_err(|_| IdError::EntityIdAlphabet(text.to_owned()))?;
        Ok(Self(id))
    }
}

impl Serialize for EntityId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EntityId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An author's ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AuthorKey([u8; 32]);

impl AuthorKey {
    /// The key made of these bytes, if they are a valid ed25519 point.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, IdError> {
        ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map_err(|_| IdError::AuthorKeyInvalid(hex(&bytes)))?;
        Ok(Self(bytes))
    }

    /// The 32 bytes of the key.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key as an ed25519-dalek verifying key.
    pub fn verifying_key(&self) -> Result<ed25519_dalek::VerifyingKey, IdError> {
        ed25519_dalek::VerifyingKey::from_bytes(&self.0)
            .map_err(|_| IdError::AuthorKeyInvalid(hex(&self.0)))
    }

    /// The public key of a signing key.
    pub fn of(signing_key: &ed25519_dalek::SigningKey) -> Self {
        Self(signing_key.verifying_key().to_bytes())
    }
}

impl fmt::Display for AuthorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl fmt::Debug for AuthorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthorKey({})", &hex(&self.0)[..12])
    }
}

impl FromStr for AuthorKey {
    type Err = IdError;

    /// Strict about the form (64 lowercase hex digits) but not about the
    /// curve point: keys are parsed from document paths many times per read,
    /// and decompressing the point each time would dominate. A key that is
    /// not a valid point can never sign, so it can never write anything;
    /// signature checks validate the point ([`AuthorKey::verifying_key`]).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse_hex::<32>(text)
            .map(Self)
            .ok_or_else(|| IdError::AuthorKeyFormat(text.into()))
    }
}

impl Serialize for AuthorKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AuthorKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One author writing from one device: the Automerge actor of its changes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Actor {
    /// Whose key signs the changes.
    pub author: AuthorKey,
    /// Distinguishes the author's devices: two live documents must never
    /// share an actor, so each device of a person picks its own suffix.
    pub device: u32,
}

impl Actor {
    /// Length in bytes of an actor id: key then big-endian device suffix.
    pub const LEN: usize = 36;

    /// The Automerge actor id: author key ‖ device (4 bytes, big-endian).
    pub fn actor_id(&self) -> automerge::ActorId {
        let mut bytes = [0u8; Self::LEN];
        bytes[..32].copy_from_slice(self.author.as_bytes());
        bytes[32..].copy_from_slice(&self.device.to_be_bytes());
        automerge::ActorId::from(&bytes[..])
    }

    /// Splits an Automerge actor id into author and device (the key's form
    /// only; see [`AuthorKey`]'s `FromStr`).
    pub fn from_actor_id(actor: &automerge::ActorId) -> Result<Self, IdError> {
        let bytes = actor.to_bytes();
        if bytes.len() != Self::LEN {
            return Err(IdError::ActorLength(bytes.len()));
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes[..32]);
        let mut device = [0u8; 4];
        device.copy_from_slice(&bytes[32..]);
        Ok(Self {
            // The point is checked when a signature is verified, not here.
            author: AuthorKey(key),
            device: u32::from_be_bytes(device),
        })
    }
}

/// Lowercase hex of some bytes (keys, nonces, the node's secrets).
pub fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

/// The `N` bytes written as `2 × N` lowercase hex digits, if `text` is
/// exactly that.
pub fn parse_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    data_encoding::HEXLOWER
        .decode_mut(digits, &mut out)
        .ok()
        .map(|_| out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(seed: u8) -> AuthorKey {
        AuthorKey::of(&ed25519_dalek::SigningKey::from_bytes(&[seed; 32]))
    }

    #[test]
    fn entity_id_prints_26_base32_characters() {
        let id = EntityId::derive(&key(1), &[7; 16]);
        let text = id.to_string();
        assert_eq!(text.len(), ENTITY_ID_LEN);
        assert!(
            text.bytes()
                .all(|c| c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c))
        );
        assert_eq!(text.parse::<EntityId>(), Ok(id));
    }

    #[test]
    fn entity_id_parsing_is_strict() {
        let text = EntityId::from_bytes([0xab; 16]).to_string();
        assert!(matches!(
            text[..25].parse::<EntityId>(),
            Err(IdError::EntityIdLength { found: 25, .. })
        ));
        assert!(matches!(
            text.to_uppercase().parse::<EntityId>(),
            Err(IdError::EntityIdAlphabet(_))
        ));
        let mut with_one = text.clone();
        with_one.replace_range(3..4, "1");
        assert!(with_one.parse::<EntityId>().is_err());
        // The last character carries 3 bits and 2 padding bits that must be zero.
        let mut trailing = text.clone();
        trailing.replace_range(25..26, "b");
        assert!(trailing.parse::<EntityId>().is_err());
    }

    #[test]
    fn derived_ids_depend_on_creator_and_nonce() {
        let a = EntityId::derive(&key(1), &[0; 16]);
        assert_ne!(a, EntityId::derive(&key(2), &[0; 16]));
        assert_ne!(a, EntityId::derive(&key(1), &[1; 16]));
        assert_eq!(a, EntityId::derive(&key(1), &[0; 16]));
    }

    #[test]
    fn author_key_round_trips_and_rejects_bad_text() {
        let k = key(3);
        assert_eq!(k.to_string().parse::<AuthorKey>(), Ok(k));
        assert!(k.to_string().to_uppercase().parse::<AuthorKey>().is_err());
        assert!("abcd".parse::<AuthorKey>().is_err());
    }

    #[test]
    fn actor_id_is_key_then_device() {
        let actor = Actor {
            author: key(4),
            device: 0x0102_0304,
        };
        let id = actor.actor_id();
        assert_eq!(&id.to_bytes()[..32], key(4).as_bytes());
        assert_eq!(&id.to_bytes()[32..], &[1, 2, 3, 4]);
        assert_eq!(Actor::from_actor_id(&id), Ok(actor));
        let short = automerge::ActorId::from(&[1u8; 16][..]);
        assert_eq!(Actor::from_actor_id(&short), Err(IdError::ActorLength(16)));
    }

    proptest! {
        #[test]
        fn any_entity_id_round_trips(bytes in any::<[u8; 16]>()) {
            let id = EntityId::from_bytes(bytes);
            prop_assert_eq!(id.to_string().parse::<EntityId>(), Ok(id));
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(text in ".{0,40}") {
            let _ = text.parse::<EntityId>();
            let _ = text.parse::<AuthorKey>();
        }
    }
}
