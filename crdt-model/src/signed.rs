//! The signed envelope every Automerge change travels in.
//!
//! Byte encoding, version 1 (all integers little-endian; docs/PROTOCOL.md):
//!
//! ```text
//! offset  size  field
//! 0       4     magic "CMSC"
//! 4       1     version = 1
//! 5       16    document (entity) id
//! 21      1     L = length of the postal key, 1..=16
//! 22      L     postal key, ASCII [A-Z0-9 -] ("97400", "BE-1000")
//! 22+L    4     N = length of the change, 1..=MAX_CHANGE_BYTES
//! 26+L    N     one Automerge change chunk
//! 26+L+N  32    author ed25519 public key
//! 58+L+N  64    ed25519 signature
//! ```
//!
//! The signature covers `"communecter/signed-change/v1\0"` followed by bytes
//! 4 to 58+L+N (everything but the magic and the signature). Decoding is
//! strict: wrong magic, unknown version, lengths out of bounds, trailing
//! bytes, a postal key with other characters or an invalid key are refused
//! before any signature is checked.

use automerge::Change;
use ed25519_dalek::{Signature, Signer, SigningKey};

use crate::bounds;
use crate::ids::{AuthorKey, EntityId};

/// First bytes of every envelope.
pub const MAGIC: &[u8; 4] = b"CMSC";
/// The only envelope version this crate writes and reads.
pub const VERSION: u8 = 1;
/// Domain-separation tag signed before the envelope fields.
pub const SIGNATURE_DOMAIN: &[u8] = b"communecter/signed-change/v1\0";
/// Largest Automerge change an envelope carries. Larger edits (long
/// descriptions are capped well below) are refused at the edge.
pub const MAX_CHANGE_BYTES: usize = 256 * 1024;
/// Longest postal key.
pub const MAX_POSTAL_KEY_BYTES: usize = 16;
/// Size of an envelope without its postal key and change.
const FIXED_BYTES: usize = 4 + 1 + 16 + 1 + 4 + 32 + 64;
/// Largest envelope.
pub const MAX_ENVELOPE_BYTES: usize = FIXED_BYTES + MAX_POSTAL_KEY_BYTES + MAX_CHANGE_BYTES;

/// Why an envelope was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Fewer bytes than the fields announce.
    #[error("the envelope is truncated")]
    Truncated,
    /// More bytes than allowed.
    #[error("the envelope is {0} bytes; the limit is {MAX_ENVELOPE_BYTES}")]
    TooLarge(usize),
    /// Not an envelope.
    #[error("the envelope does not start with the magic bytes")]
    BadMagic,
    /// A version this node does not know.
    #[error("envelope version {0} is not supported (this node reads version {VERSION})")]
    UnsupportedVersion(u8),
    /// Bad postal key length or characters.
    #[error("the envelope's postal key is malformed")]
    BadPostalKey,
    /// Bad change length.
    #[error("the envelope's change is {0} bytes; it must be 1 to {MAX_CHANGE_BYTES}")]
    BadChangeLength(usize),
    /// Bytes after the signature.
    #[error("the envelope has {0} bytes after its signature")]
    TrailingBytes(usize),
    /// The author is not a valid ed25519 public key.
    #[error("the envelope's author is not a valid public key")]
    BadAuthor,
    /// The signature does not verify.
    #[error("the envelope's signature does not verify")]
    BadSignature,
    /// The change bytes are not an Automerge change.
    #[error("the envelope does not hold a valid Automerge change: {0}")]
    BadChange(String),
}

/// A change in its signed envelope, decoded but not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedChange {
    /// The document the change belongs to.
    pub doc_id: EntityId,
    /// The postal key (gossip topic) it is published under.
    pub postal_key: String,
    /// The raw Automerge change.
    pub change: Vec<u8>,
    /// Who signed it.
    pub author: AuthorKey,
    /// The ed25519 signature.
    pub signature: [u8; 64],
}

/// A change whose signature verified and whose bytes parsed.
#[derive(Debug, Clone)]
pub struct VerifiedChange {
    /// The envelope it came in.
    pub envelope: SignedChange,
    /// The parsed change.
    pub change: Change,
}

fn check_postal_key(key: &[u8]) -> Result<(), EnvelopeError> {
    let ok = (1..=MAX_POSTAL_KEY_BYTES).contains(&key.len())
        && key
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b' ' || *b == b'-');
    if ok {
        Ok(())
    } else {
        Err(EnvelopeError::BadPostalKey)
    }
}

impl SignedChange {
    /// Signs the bytes of a change (`Change::raw_bytes`) of document
    /// `doc_id`, published under `postal_key`. The bytes are not parsed
    /// here: [`SignedChange::verify`] does that on the receiving side.
    pub fn sign(
        signing_key: &SigningKey,
        doc_id: EntityId,
        postal_key: &str,
        change: &[u8],
    ) -> Result<Self, EnvelopeError> {
        check_postal_key(postal_key.as_bytes())?;
        let bytes = change.to_vec();
        if bytes.is_empty() || bytes.len() > MAX_CHANGE_BYTES {
            return Err(EnvelopeError::BadChangeLength(bytes.len()));
        }
        let mut envelope = Self {
            doc_id,
            postal_key: postal_key.to_owned(),
            change: bytes,
            author: AuthorKey::of(signing_key),
            signature: [0; 64],
        };
        envelope.signature = signing_key.sign(&envelope.signed_message()).to_bytes();
        Ok(envelope)
    }

    /// The fields the signature covers, after the domain tag.
    fn write_signed_fields(&self, out: &mut Vec<u8>) {
        out.push(VERSION);
        out.extend_from_slice(self.doc_id.as_bytes());
        out.push(self.postal_key.len() as u8);
        out.extend_from_slice(self.postal_key.as_bytes());
        out.extend_from_slice(&(self.change.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.change);
        out.extend_from_slice(self.author.as_bytes());
    }

    fn signed_message(&self) -> Vec<u8> {
        let mut message = Vec::with_capacity(SIGNATURE_DOMAIN.len() + self.encoded_len());
        message.extend_from_slice(SIGNATURE_DOMAIN);
        self.write_signed_fields(&mut message);
        message
    }

    /// Length of [`SignedChange::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        FIXED_BYTES + self.postal_key.len() + self.change.len()
    }

    /// The byte encoding described in the module documentation.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(MAGIC);
        self.write_signed_fields(&mut out);
        out.extend_from_slice(&self.signature);
        out
    }

    /// Decodes an envelope strictly, without checking the signature.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(EnvelopeError::TooLarge(bytes.len()));
        }
        let mut reader = Reader(bytes);
        if reader.take(4)? != MAGIC {
            return Err(EnvelopeError::BadMagic);
        }
        let version = reader.take(1)?[0];
        if version != VERSION {
            return Err(EnvelopeError::UnsupportedVersion(version));
        }
        let doc_id = EntityId::from_bytes(reader.array()?);
        let key_len = usize::from(reader.take(1)?[0]);
        let postal_key = reader.take(key_len)?;
        check_postal_key(postal_key)?;
        let change_len = u32::from_le_bytes(reader.array()?) as usize;
        if change_len == 0 || change_len > MAX_CHANGE_BYTES {
            return Err(EnvelopeError::BadChangeLength(change_len));
        }
        let change = reader.take(change_len)?.to_vec();
        let author =
            AuthorKey::from_bytes(reader.array()?).map_err(|_| EnvelopeError::BadAuthor)?;
        let signature = reader.array()?;
        if !reader.0.is_empty() {
            return Err(EnvelopeError::TrailingBytes(reader.0.len()));
        }
        Ok(Self {
            doc_id,
            postal_key: String::from_utf8(postal_key.to_vec())
                .map_err(|_| EnvelopeError::BadPostalKey)?,
            change,
            author,
            signature,
        })
    }

    /// Checks the signature (strict ed25519: no malleable or small-order
    /// forms) and parses the change.
    pub fn verify(self) -> Result<VerifiedChange, EnvelopeError> {
        let key = self
            .author
            .verifying_key()
            .map_err(|_| EnvelopeError::BadAuthor)?;
        let signature = Signature::from_bytes(&self.signature);
        key.verify_strict(&self.signed_message(), &signature)
            .map_err(|_| EnvelopeError::BadSignature)?;
        let change = parse_change(self.change.clone())?;
        Ok(VerifiedChange {
            envelope: self,
            change,
        })
    }
}

/// Parses a change's bytes, once [`bounds::check`] found that reading them
/// costs no more than their size says (Automerge would expand compressed
/// runs and chunks whatever their size). Automerge 0.12 also panics on
/// some changes (an actor index wider than 32 bits in the operation
/// columns, found by the ingest fuzz target) instead of answering an error;
/// a peer can sign such bytes with its own key, so the panic is contained
/// here and the change refused like any other that does not parse.
fn parse_change(bytes: Vec<u8>) -> Result<Change, EnvelopeError> {
    bounds::check(&bytes).map_err(|error| EnvelopeError::BadChange(error.to_string()))?;
    match std::panic::catch_unwind(|| Change::from_bytes(bytes)) {
        Ok(Ok(change)) => Ok(change),
        Ok(Err(error)) => Err(EnvelopeError::BadChange(error.to_string())),
        Err(_) => Err(EnvelopeError::BadChange(
            "Automerge cannot parse the change's operations".into(),
        )),
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], EnvelopeError> {
        if self.0.len() < count {
            return Err(EnvelopeError::Truncated);
        }
        let (head, tail) = self.0.split_at(count);
        self.0 = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], EnvelopeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
}
