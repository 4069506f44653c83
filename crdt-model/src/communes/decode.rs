//! Decoding the embedded table (its format is in the parent module's
//! documentation): inflate, then read each column in turn, checking every
//! length and index so that damaged data is an error, never a panic.

use super::*;

/// Why the embedded data could not be decoded.
#[derive(Debug)]
pub(super) struct DecodeError(&'static str);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "corrupted communes table: {}", self.0)
    }
}

/// A cursor over the inflated payload.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(DecodeError("truncated payload"))?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn varint(&mut self) -> Result<u32, DecodeError> {
        let mut value: u32 = 0;
        for shift in (0..35).step_by(7) {
            let byte = self.u8()?;
            let part = u32::from(byte & 0x7F);
            if shift == 28 && part > 0x0F {
                return Err(DecodeError("varint overflows u32"));
            }
            value |= part << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError("varint too long"))
    }

    fn str8(&mut self) -> Result<&'a str, DecodeError> {
        let len = self.u8()? as usize;
        std::str::from_utf8(self.take(len)?).map_err(|_| DecodeError("invalid UTF-8"))
    }

    /// `count` numbers written as three byte planes: high, middle, low.
    fn planes24(&mut self, count: usize) -> Result<Vec<u32>, DecodeError> {
        let bytes = self.take(count.checked_mul(3).ok_or(DecodeError("too many boxes"))?)?;
        let (high, rest) = bytes.split_at(count);
        let (middle, low) = rest.split_at(count);
        Ok((0..count)
            .map(|i| u32::from(high[i]) << 16 | u32::from(middle[i]) << 8 | u32::from(low[i]))
            .collect())
    }
}

/// Units of box coordinates per degree.
const UNITS_PER_DEGREE: f64 = 10_000.0;

/// The origin of a box, from its code in the `bounds origin` column; the
/// outer `None` for an unknown code.
fn bounds_origin(code: u8) -> Option<Option<BoundsOrigin>> {
    Some(match code {
        0 => None,
        1 => Some(BoundsOrigin::Own),
        2 => Some(BoundsOrigin::FormerCommunes),
        3 => Some(BoundsOrigin::ParentCity),
        4 => Some(BoundsOrigin::Department),
        _ => return None,
    })
}

/// Reads the boxes of the rows whose origin is not none, in row order.
fn read_boxes(r: &mut Reader<'_>, count: usize) -> Result<Vec<Bounds>, DecodeError> {
    let undo_zigzag = |z: u32| -> i64 {
        let z = i64::from(z);
        if z & 1 == 0 { z / 2 } else { -(z + 1) / 2 }
    };
    let wests = r.planes24(count)?;
    let souths = r.planes24(count)?;
    let widths = r.planes24(count)?;
    let heights = r.planes24(count)?;
    let (mut west, mut south) = (0i64, 0i64);
    let mut boxes = Vec::with_capacity(count);
    for i in 0..count {
        west += undo_zigzag(wests[i]);
        south += undo_zigzag(souths[i]);
        let east = west + i64::from(widths[i]);
        let north = south + i64::from(heights[i]);
        let degrees = |units: i64| units as f64 / UNITS_PER_DEGREE;
        let bounds = Bounds {
            west: degrees(west),
            south: degrees(south),
            east: degrees(east),
            north: degrees(north),
        };
        let on_earth =
            |lon: f64, lat: f64| (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat);
        if !on_earth(bounds.west, bounds.south) || !on_earth(bounds.east, bounds.north) {
            return Err(DecodeError("box outside ±180°, ±90°"));
        }
        boxes.push(bounds);
    }
    Ok(boxes)
}

/// Byte ranges into the text buffer, turned into `&'static str` once the
/// buffer is leaked.
type Span = (usize, usize);

/// Appends `text` to `buffer` and returns its span.
fn push(buffer: &mut String, text: &str) -> Span {
    let start = buffer.len();
    buffer.push_str(text);
    (start, buffer.len())
}

/// Appends `number` zero-padded to `width` digits; fails if it is wider.
fn push_padded(buffer: &mut String, number: u32, width: usize) -> Result<Span, DecodeError> {
    let start = buffer.len();
    let mut divisor = 10u32
        .checked_pow(width as u32)
        .ok_or(DecodeError("field too wide"))?;
    if number >= divisor {
        return Err(DecodeError("number wider than its field"));
    }
    while divisor > 1 {
        divisor /= 10;
        buffer.push(char::from(b'0' + (number / divisor % 10) as u8));
    }
    Ok((start, buffer.len()))
}

/// Decodes the compressed table (see the module documentation for the format).
///
/// All decoded strings go to one buffer that is leaked, like the rows and the
/// postal-code lists: the table is decoded once per process and kept until
/// its end, and leaking gives `'static` strings without unsafe code.
pub(super) fn decode(compressed: &[u8]) -> Result<Communes, DecodeError> {
    let payload = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(compressed, MAX_INFLATED)
        .map_err(|_| DecodeError("invalid zlib stream"))?;
    let mut r = Reader {
        bytes: &payload,
        pos: 0,
    };
    if r.take(4)? != b"CMNS" {
        return Err(DecodeError("bad magic"));
    }
    if r.u8()? != 2 {
        return Err(DecodeError("unsupported format version"));
    }
    let mut text = String::with_capacity(payload.len());
    let source = push(&mut text, r.str8()?);
    let bounds_source = push(&mut text, r.str8()?);

    let region_count = r.u8()? as usize;
    let mut region_spans = Vec::with_capacity(region_count);
    for _ in 0..region_count {
        let code = push(&mut text, r.str8()?);
        let name = push(&mut text, r.str8()?);
        region_spans.push((code, name));
    }
    let department_count = r.u8()? as usize;
    let mut department_spans = Vec::with_capacity(department_count);
    for _ in 0..department_count {
        let code = push(&mut text, r.str8()?);
        let name = push(&mut text, r.str8()?);
        let region = r.u8()? as usize;
        if region >= region_count {
            return Err(DecodeError("department has an unknown region"));
        }
        department_spans.push((code, name, region));
    }

    let n = r.u32()? as usize;
    if n == 0 || n > 1_000_000 {
        return Err(DecodeError("implausible row count"));
    }
    let departments_of = r.take(n)?;
    if departments_of
        .iter()
        .any(|&d| d as usize >= department_count)
    {
        return Err(DecodeError("row has an unknown department"));
    }

    let mut insee_spans = Vec::with_capacity(n);
    let mut previous: Option<(u8, u32)> = None;
    for &dept in departments_of {
        let delta = r.varint()?;
        let number = match previous {
            Some((d, p)) if d == dept => p
                .checked_add(delta)
                .ok_or(DecodeError("INSEE number overflow"))?,
            _ => delta,
        };
        previous = Some((dept, number));
        let (code_start, code_end) = department_spans[dept as usize].0;
        let width = 5usize
            .checked_sub(code_end - code_start)
            .ok_or(DecodeError("department code longer than 5"))?;
        let start = text.len();
        text.extend_from_within(code_start..code_end);
        push_padded(&mut text, number, width)?;
        insee_spans.push((start, text.len()));
    }

    let names_start = r.pos;
    let mut name_ends = Vec::with_capacity(n);
    let mut newlines = payload[names_start..]
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == b'\n')
        .map(|(i, _)| i);
    for _ in 0..n {
        name_ends.push(newlines.next().ok_or(DecodeError("truncated names"))?);
    }
    let names_len = name_ends.last().map_or(0, |&end| end + 1);
    let names = std::str::from_utf8(r.take(names_len)?)
        .map_err(|_| DecodeError("invalid UTF-8 in names"))?;
    let names_offset = push(&mut text, names).0;
    let mut name_spans = Vec::with_capacity(n);
    let mut name_start = names_offset;
    for end in name_ends {
        let end = names_offset + end;
        if end == name_start {
            return Err(DecodeError("empty name"));
        }
        name_spans.push((name_start, end));
        name_start = end + 1;
    }

    let mut populations = Vec::with_capacity(n);
    for _ in 0..n {
        populations.push(r.varint()?);
    }

    let postal_count = r.u16()? as usize;
    let mut postal_numbers = Vec::with_capacity(postal_count);
    let mut postal_spans = Vec::with_capacity(postal_count);
    let mut code = 0u32;
    for i in 0..postal_count {
        let delta = r.varint()?;
        if i > 0 && delta == 0 {
            return Err(DecodeError("postal codes not strictly ascending"));
        }
        code = code
            .checked_add(delta)
            .ok_or(DecodeError("postal code overflow"))?;
        postal_spans.push(push_padded(&mut text, code, 5)?);
        postal_numbers.push(code);
    }

    let per_row = r.take(n)?;
    let total: usize = per_row.iter().map(|&k| k as usize).sum();
    let mut postal_of_rows = Vec::with_capacity(total);
    let mut previous = 0i64;
    for _ in 0..total {
        let zigzag = i64::from(r.varint()?);
        let index = previous
            + if zigzag & 1 == 0 {
                zigzag / 2
            } else {
                -(zigzag + 1) / 2
            };
        if !(0..postal_count as i64).contains(&index) {
            return Err(DecodeError("postal code index out of range"));
        }
        postal_of_rows.push(index as usize);
        previous = index;
    }

    let mut parents = Vec::with_capacity(n);
    for _ in 0..n {
        let parent = r.varint()? as usize;
        if parent > n {
            return Err(DecodeError("parent row out of range"));
        }
        parents.push(parent.checked_sub(1));
    }
    let origins: Vec<Option<BoundsOrigin>> = r
        .take(n)?
        .iter()
        .map(|&code| bounds_origin(code).ok_or(DecodeError("unknown bounds origin")))
        .collect::<Result<_, _>>()?;
    let boxed = origins.iter().filter(|origin| origin.is_some()).count();
    let mut boxes = read_boxes(&mut r, boxed)?.into_iter();
    if r.take(4)? != b"END1" || r.pos != payload.len() {
        return Err(DecodeError("bad end marker"));
    }
    // Everything is read: fix the strings in place for the process lifetime.
    let text: &'static str = Box::leak(text.into_boxed_str());
    let s = move |(start, end): Span| -> &'static str { &text[start..end] };

    let regions: Vec<Region> = region_spans
        .iter()
        .map(|&(code, name)| Region {
            code: s(code),
            name: s(name),
        })
        .collect();
    let departments: Vec<Department> = department_spans
        .iter()
        .map(|&(code, name, region)| Department {
            code: s(code),
            name: s(name),
            region: regions[region].code,
        })
        .collect();
    if !regions.is_sorted_by(|a, b| a.code < b.code)
        || !departments.is_sorted_by(|a, b| a.code < b.code)
    {
        return Err(DecodeError("regions or departments not sorted by code"));
    }
    let postal_strings: Vec<&'static str> = postal_spans.into_iter().map(s).collect();
    let row_postal: &'static [&'static str] = Box::leak(
        postal_of_rows
            .iter()
            .map(|&i| postal_strings[i])
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );

    let mut communes = Vec::with_capacity(n);
    let mut postal_at = 0;
    for row in 0..n {
        let department = &departments[departments_of[row] as usize];
        let postal_len = per_row[row] as usize;
        let parent = match parents[row] {
            Some(p) if parents[p].is_some() || p == row => {
                return Err(DecodeError("arrondissement of an arrondissement"));
            }
            Some(p) => Some(s(insee_spans[p])),
            None => None,
        };
        communes.push(Commune {
            insee: s(insee_spans[row]),
            name: s(name_spans[row]),
            postal_codes: &row_postal[postal_at..postal_at + postal_len],
            department: department.code,
            region: department.region,
            population: populations[row],
            parent,
            bounds: origins[row].and_then(|_| boxes.next()),
            bounds_origin: origins[row],
        });
        postal_at += postal_len;
    }
    let communes: &'static [Commune] = Box::leak(communes.into_boxed_slice());
    let insee_keys: Vec<u64> = communes
        .iter()
        .map(|c| insee_key(c.insee).ok_or(DecodeError("INSEE code not 5 bytes")))
        .collect::<Result<_, _>>()?;
    if !insee_keys.is_sorted_by(|a, b| a < b) {
        return Err(DecodeError("rows not sorted by INSEE code"));
    }

    // Postal index: a counting sort of (postal code, row) pairs, then each
    // code's rows ordered communes first, by population (largest first), then
    // by INSEE code (row order), all packed into one integer key per row.
    let rank = |row: usize| {
        let c = &communes[row];
        (u64::from(c.is_arrondissement()) << 62) | (u64::from(!c.population) << 30) | row as u64
    };
    let mut postal_starts = vec![0u32; postal_count + 1];
    for &i in &postal_of_rows {
        postal_starts[i + 1] += 1;
    }
    for i in 0..postal_count {
        postal_starts[i + 1] += postal_starts[i];
    }
    let mut fill: Vec<u32> = postal_starts[..postal_count].to_vec();
    let mut ranked = vec![0u64; total];
    let mut postal_at = 0;
    for (row, &count) in per_row.iter().enumerate() {
        let key = rank(row);
        for &i in &postal_of_rows[postal_at..postal_at + count as usize] {
            ranked[fill[i] as usize] = key;
            fill[i] += 1;
        }
        postal_at += count as usize;
    }
    for bucket in postal_starts.windows(2) {
        ranked[bucket[0] as usize..bucket[1] as usize].sort_unstable();
    }
    let postal_entries: Vec<&'static Commune> = ranked
        .into_iter()
        .map(|key| &communes[(key & ((1 << 30) - 1)) as usize])
        .collect();

    Ok(Communes {
        source: s(source),
        bounds_source: s(bounds_source),
        communes,
        insee_keys,
        regions,
        departments,
        postal_numbers,
        postal_strings,
        postal_starts,
        postal_entries,
        search_index: OnceLock::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_padding() {
        let mut r = Reader {
            bytes: &[
                0x00, 0x7F, 0x80, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0xFF, 0xFF, 0xFF, 0xFF, 0x10,
            ],
            pos: 0,
        };
        assert_eq!(r.varint().ok(), Some(0));
        assert_eq!(r.varint().ok(), Some(127));
        assert_eq!(r.varint().ok(), Some(128));
        assert_eq!(r.varint().ok(), Some(u32::MAX));
        assert!(r.varint().is_err());
        let mut s = String::new();
        assert_eq!(push_padded(&mut s, 4, 3).ok(), Some((0, 3)));
        assert_eq!(push_padded(&mut s, 1400, 5).ok(), Some((3, 8)));
        assert_eq!(s, "00401400");
        assert!(push_padded(&mut s, 1000, 3).is_err());
        assert_eq!(parse_postal_code("01400"), Some(1400));
        assert_eq!(parse_postal_code("0140a"), None);
    }
}
