//! What a change may cost to read, checked before Automerge reads it.
//!
//! Automerge's binary format compresses runs: a column can say "this value,
//! 2⁴⁰ times" in a few bytes. Automerge 0.12 then iterates (or collects)
//! every value, so a change of a few hundred bytes, validly signed by any
//! key, could make a node spend hours or gigabytes; and two of its chunk
//! kinds expand on reading (a compressed change is inflated whole, a
//! bundle's delta columns collected: 2 GB from a 263-byte input, found by
//! the ingest fuzz target). This module walks a change's bytes without
//! expanding anything: the chunk must be a plain change, its header and
//! columns must be well-formed and fill it exactly, and no column may hold
//! more than [`MAX_COLUMN_VALUES`] values. Within those bounds, what
//! Automerge does with the change is proportional to its size.
//!
//! The format (Automerge's binary format, "change chunk"): magic bytes,
//! checksum (4), chunk type (1: change), length (uLEB128), then the
//! dependencies (count, hashes of 32 bytes), the actor (length, bytes),
//! sequence number, first operation counter, time (sLEB128), message
//! (length, bytes), the other actors (count, then length and bytes each),
//! the columns (count, then a specification and a length each), the
//! columns' bytes in order, and extra bytes to the end.

/// The most values a column of one change may hold (the operations of a
/// change, their predecessors, the characters of a text…). Communecter's
/// changes hold a few dozen operations; a genesis with every field, tag
/// and link a few hundred.
pub const MAX_COLUMN_VALUES: u64 = 10_000;

/// The first bytes of every Automerge chunk.
const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// The chunk type of a plain (uncompressed) change.
const CHANGE_CHUNK: u8 = 1;

/// Why a change is refused before Automerge reads it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoundsError {
    /// Not an Automerge chunk.
    #[error("not an Automerge change (wrong magic bytes)")]
    NotAChunk,
    /// A chunk of another type: a document, a compressed change, a bundle.
    #[error("an Automerge chunk of type {0}: only plain changes (type 1) are accepted")]
    ChunkType(u8),
    /// The bytes end before what they announce.
    #[error("the change is cut short ({0})")]
    Truncated(&'static str),
    /// The chunk's length is not its bytes' length.
    #[error("the change's length says {said} bytes, it has {has}")]
    Length {
        /// The length the header gives.
        said: u64,
        /// The bytes after the header.
        has: usize,
    },
    /// A compressed column (Automerge refuses them in changes too).
    #[error("column {0:#x} is compressed")]
    CompressedColumn(u32),
    /// Columns whose lengths do not add up to the bytes there are.
    #[error("the columns claim more bytes than the change has")]
    ColumnLengths,
    /// A column holding more values than any change needs.
    #[error("column {spec:#x} holds more than {MAX_COLUMN_VALUES} values")]
    TooManyValues {
        /// The column's specification.
        spec: u32,
    },
    /// A column whose encoding is malformed.
    #[error("column {spec:#x} is malformed ({why})")]
    Malformed {
        /// The column's specification.
        spec: u32,
        /// What is wrong.
        why: &'static str,
    },
}

/// Checks that reading `change` costs Automerge no more than its size says.
pub fn check(change: &[u8]) -> Result<(), BoundsError> {
    let mut reader = Reader(change);
    if reader.take(4, "magic bytes")? != MAGIC {
        return Err(BoundsError::NotAChunk);
    }
    reader.take(4, "checksum")?;
    let chunk_type = reader.take(1, "chunk type")?[0];
    if chunk_type != CHANGE_CHUNK {
        return Err(BoundsError::ChunkType(chunk_type));
    }
    let length = reader.uleb("chunk length")?;
    if length != reader.0.len() as u64 {
        return Err(BoundsError::Length {
            said: length,
            has: reader.0.len(),
        });
    }
    let dependencies = reader.uleb("dependencies")?;
    for _ in 0..dependencies {
        reader.take(32, "dependency hash")?;
    }
    reader.bytes("actor")?;
    reader.uleb("sequence number")?;
    reader.uleb("first operation")?;
    reader.sleb("time")?;
    reader.bytes("message")?;
    let others = reader.uleb("other actors")?;
    for _ in 0..others {
        reader.bytes("other actor")?;
    }
    let columns = reader.uleb("column count")?;
    let mut specs = Vec::new();
    let mut total: u64 = 0;
    for _ in 0..columns {
        let spec = u32::try_from(reader.uleb("column specification")?)
            .map_err(|_| BoundsError::Truncated("column specification"))?;
        let length = reader.uleb("column length")?;
        total = total
            .checked_add(length)
            .filter(|total| *total <= reader.0.len() as u64)
            .ok_or(BoundsError::ColumnLengths)?;
        specs.push((spec, length as usize));
    }
    for (spec, length) in specs {
        let data = reader.take(length, "column")?;
        check_column(spec, data)?;
    }
    // What is left is the change's extra bytes, which Automerge keeps as is.
    Ok(())
}

/// The column types of Automerge's format (the low 3 bits of a column's
/// specification).
mod column {
    pub(super) const GROUP: u32 = 0;
    pub(super) const ACTOR: u32 = 1;
    pub(super) const INTEGER: u32 = 2;
    pub(super) const DELTA: u32 = 3;
    pub(super) const BOOLEAN: u32 = 4;
    pub(super) const STRING: u32 = 5;
    pub(super) const VALUE_METADATA: u32 = 6;
    /// The bit marking a compressed column.
    pub(super) const DEFLATE: u32 = 0b1000;
}

/// Counts a column's values without expanding its runs.
fn check_column(spec: u32, data: &[u8]) -> Result<(), BoundsError> {
    if spec & column::DEFLATE != 0 {
        return Err(BoundsError::CompressedColumn(spec));
    }
    let malformed = |why| BoundsError::Malformed { spec, why };
    let mut reader = Reader(data);
    let mut values: u64 = 0;
    let mut count = |more: u64| {
        values = values
            .checked_add(more)
            .filter(|values| *values <= MAX_COLUMN_VALUES)
            .ok_or(BoundsError::TooManyValues { spec })?;
        Ok(())
    };
    match spec & 0b111 {
        // Alternating runs of false and true.
        column::BOOLEAN => {
            while !reader.0.is_empty() {
                count(
                    reader
                        .uleb("boolean run")
                        .map_err(|_| malformed("a run length"))?,
                )?;
            }
        }
        kind @ (column::GROUP
        | column::ACTOR
        | column::INTEGER
        | column::DELTA
        | column::STRING
        | column::VALUE_METADATA) => {
            // Run-length encoded: a positive count and the value repeated,
            // a negative count and that many values, or zero and a count
            // of nulls.
            let value = |reader: &mut Reader<'_>| match kind {
                column::DELTA => reader.sleb("value").map(drop),
                column::STRING => reader.bytes("string").map(drop),
                _ => reader.uleb("value").map(drop),
            };
            while !reader.0.is_empty() {
                let run = reader.sleb("run").map_err(|_| malformed("a run"))?;
                if run > 0 {
                    count(run.unsigned_abs())?;
                    value(&mut reader).map_err(|_| malformed("a repeated value"))?;
                } else if run < 0 {
                    let literals = run.unsigned_abs();
                    count(literals)?;
                    for _ in 0..literals {
                        value(&mut reader).map_err(|_| malformed("a value"))?;
                    }
                } else {
                    count(reader.uleb("nulls").map_err(|_| malformed("a null run"))?)?;
                }
            }
        }
        // `VALUE`: raw bytes, which the value metadata column delimits.
        _ => {}
    }
    Ok(())
}

/// The bytes not read yet.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize, what: &'static str) -> Result<&'a [u8], BoundsError> {
        if self.0.len() < count {
            return Err(BoundsError::Truncated(what));
        }
        let (head, tail) = self.0.split_at(count);
        self.0 = tail;
        Ok(head)
    }

    /// Length-prefixed bytes.
    fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], BoundsError> {
        let length = self.uleb(what)?;
        let length = usize::try_from(length).map_err(|_| BoundsError::Truncated(what))?;
        self.take(length, what)
    }

    /// An unsigned LEB128 number of at most 64 bits.
    fn uleb(&mut self, what: &'static str) -> Result<u64, BoundsError> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1, what)?[0];
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(BoundsError::Truncated(what));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(BoundsError::Truncated(what))
    }

    /// A signed LEB128 number of at most 64 bits.
    fn sleb(&mut self, what: &'static str) -> Result<i64, BoundsError> {
        let mut value: i64 = 0;
        let mut shift = 0;
        loop {
            let byte = self.take(1, what)?[0];
            if shift == 63 && byte != 0x00 && byte != 0x7f {
                return Err(BoundsError::Truncated(what));
            }
            value |= i64::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                if shift < 64 && byte & 0x40 != 0 {
                    value |= -1 << shift;
                }
                return Ok(value);
            }
            if shift > 63 {
                return Err(BoundsError::Truncated(what));
            }
        }
    }
}
