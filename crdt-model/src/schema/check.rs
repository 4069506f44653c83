//! How each value is checked: text lengths, URLs, codes, coordinates,
//! postal codes, tags and dates.

use super::{
    Field, MAX_RELAY_ADDRESS_BYTES, MAX_RELAY_ADDRESSES, MAX_TAG_CHARS, MAX_URL_BYTES, Shape,
    ValidationError,
};
use crate::ids::EntityId;

/// Whether a character shows nothing by itself: white space, and the
/// default-ignorable code points of Unicode (zero-width spaces and joiners,
/// the soft hyphen, bidirectional marks, variation selectors, tags…).
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// Whether a character overrides, embeds or isolates the direction of the
/// text around it: such a character can make a name read as another (an
/// invoice name that shows reversed), so none is accepted. The marks
/// U+200E and U+200F, which only hint at a direction, are.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Checks what every free text shares: no direction override, and, when
/// it must have a value, something visible in it.
pub fn check_visible(
    field: &'static str,
    text: &str,
    required: bool,
) -> Result<(), ValidationError> {
    if text.chars().any(is_bidi_control) {
        return Err(ValidationError::BidiControl { field });
    }
    if required && text.chars().all(is_invisible) {
        return Err(ValidationError::Empty { field });
    }
    Ok(())
}

pub(super) fn check_text(field: Field, shape: Shape, text: &str) -> Result<(), ValidationError> {
    let name = field.key();
    match shape {
        Shape::Text {
            max_chars,
            required,
        } => {
            check_visible(name, text, required)?;
            check_length(name, text, max_chars)?;
            let multiline = field.allows_line_breaks();
            if text
                .chars()
                .any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\t')))
            {
                return Err(ValidationError::ControlCharacters { field: name });
            }
            Ok(())
        }
        Shape::Url => check_url(text),
        Shape::Date => DateKey::parse(text).map(|_| ()),
        Shape::OneOf(allowed) => {
            if allowed.contains(&text) {
                Ok(())
            } else {
                Err(ValidationError::NotAllowed {
                    field: name,
                    value: text.to_owned(),
                    allowed: allowed.join(", "),
                })
            }
        }
        Shape::EntityRef => {
            text.parse::<EntityId>()
                .map(|_| ())
                .map_err(|error| ValidationError::EntityRef {
                    field: name,
                    reason: error.to_string(),
                })
        }
        Shape::PostalCode => check_postal_code_format(text),
        Shape::Insee => check_insee(text),
        Shape::Country => check_country(text),
        Shape::Addresses => check_relay_addresses(text),
        // A room's parent: an entity, or a postal code's own room.
        Shape::Parent => match text.parse::<EntityId>() {
            Ok(_) => Ok(()),
            Err(error) => check_postal_key(text).map_err(|_| ValidationError::EntityRef {
                field: name,
                reason: format!("{error}, nor a postal code"),
            }),
        },
        Shape::Bool | Shape::Latitude | Shape::Longitude => {
            unreachable!("non-text shapes are checked by Field::check")
        }
    }
}

/// Checks a relay's addresses: at most [`MAX_RELAY_ADDRESSES`] multiaddrs
/// in text form, each starting with `/`, of printable ASCII, at most
/// [`MAX_RELAY_ADDRESS_BYTES`] long, without a `/p2p/` part (the entry's
/// signer is the peer), separated by single spaces. What each part means
/// is the network's to read; an address it cannot use is left aside there.
pub fn check_relay_addresses(text: &str) -> Result<(), ValidationError> {
    let refuse = |reason| ValidationError::RelayAddresses {
        text: text.chars().take(80).collect(),
        reason,
    };
    if text.is_empty() {
        return Ok(());
    }
    let addresses: Vec<&str> = text.split(' ').collect();
    if addresses.len() > MAX_RELAY_ADDRESSES {
        return Err(refuse("an entry lists at most 8 addresses"));
    }
    for address in addresses {
        if address.is_empty() {
            return Err(refuse("addresses are separated by single spaces"));
        }
        if !address.starts_with('/') || !address.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(refuse(
                "an address is a multiaddr such as /ip4/192.0.2.7/tcp/4001",
            ));
        }
        if address.len() > MAX_RELAY_ADDRESS_BYTES {
            return Err(refuse("an address is at most 200 bytes long"));
        }
        if address.split('/').any(|part| part == "p2p") {
            return Err(refuse(
                "an address carries no /p2p/ part: the entry's signer is the peer",
            ));
        }
    }
    Ok(())
}

/// Checks the length of a text in characters.
pub fn check_length(field: &'static str, text: &str, max: usize) -> Result<(), ValidationError> {
    // Bytes bound characters from above: skip counting for short texts.
    if text.len() > max {
        let found = text.chars().count();
        if found > max {
            return Err(ValidationError::TooLong { field, max, found });
        }
    }
    Ok(())
}

pub(super) fn check_coordinate(field: Field, degrees: f64) -> Result<(), ValidationError> {
    let (limit, range) = match field {
        Field::Lat => (90.0, "-90 to 90"),
        _ => (180.0, "-180 to 180"),
    };
    if degrees.is_finite() && (-limit..=limit).contains(&degrees) {
        Ok(())
    } else {
        Err(ValidationError::Coordinate {
            field: field.key(),
            value: degrees,
            range,
        })
    }
}

fn check_url(text: &str) -> Result<(), ValidationError> {
    let bad = || ValidationError::Url(text.to_owned());
    if text.len() > MAX_URL_BYTES {
        return Err(ValidationError::TooLong {
            field: "url",
            max: MAX_URL_BYTES,
            found: text.len(),
        });
    }
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .ok_or_else(bad)?;
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => (host, Some(port)),
        _ => (host_port, None),
    };
    if let Some(port) = port
        && (port.is_empty() || port.parse::<u16>().is_err())
    {
        return Err(bad());
    }
    let host_ok = if let Some(ipv6) = host.strip_prefix('[') {
        ipv6.strip_suffix(']')
            .is_some_and(|inner| inner.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            })
    };
    if host_ok { Ok(()) } else { Err(bad()) }
}

/// Checks a country code: two uppercase ASCII letters.
pub fn check_country(text: &str) -> Result<(), ValidationError> {
    if text.len() == 2 && text.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(ValidationError::Country(text.to_owned()))
    }
}

fn check_insee(text: &str) -> Result<(), ValidationError> {
    let bytes = text.as_bytes();
    let corsica = bytes.len() == 5
        && bytes[0] == b'2'
        && matches!(bytes[1], b'A' | b'B')
        && bytes[2..].iter().all(u8::is_ascii_digit);
    if corsica || (bytes.len() == 5 && bytes.iter().all(u8::is_ascii_digit)) {
        Ok(())
    } else {
        Err(ValidationError::Insee(text.to_owned()))
    }
}

/// Longest postal code of any country, in bytes.
pub const MAX_POSTAL_CODE_BYTES: usize = 10;

fn check_postal_code_format(code: &str) -> Result<(), ValidationError> {
    let ok = !code.is_empty()
        && code.len() <= MAX_POSTAL_CODE_BYTES
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ' || b == b'-')
        && !code.starts_with([' ', '-'])
        && !code.ends_with([' ', '-']);
    if ok {
        Ok(())
    } else {
        Err(ValidationError::PostalCode {
            code: code.to_owned(),
            country: "any country".to_owned(),
            hint: ": use digits, capital letters, spaces or hyphens (at most 10)",
        })
    }
}

/// Checks a postal code against its country: 5 digits in France (including
/// overseas), digits, capital letters, spaces and hyphens elsewhere.
pub fn check_postal_code(code: &str, country: &str) -> Result<(), ValidationError> {
    check_country(country)?;
    if country == "FR" {
        if code.len() == 5 && code.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(());
        }
        return Err(ValidationError::PostalCode {
            code: code.to_owned(),
            country: country.to_owned(),
            hint: ": French postal codes are 5 digits, like 97400",
        });
    }
    check_postal_code_format(code).map_err(|_| ValidationError::PostalCode {
        code: code.to_owned(),
        country: country.to_owned(),
        hint: ": use digits, capital letters, spaces or hyphens (at most 10)",
    })
}

/// The gossip key of a postal code: the code itself in France, `CC-code`
/// elsewhere, so `1000` in Belgium and in Switzerland are different topics.
pub fn postal_key(code: &str, country: &str) -> String {
    if country == "FR" {
        code.to_owned()
    } else {
        format!("{country}-{code}")
    }
}

/// Checks a key [`postal_key`] writes: a French postal code, or
/// `CC-code` for another country.
pub fn check_postal_key(key: &str) -> Result<(), ValidationError> {
    match key.split_once('-') {
        Some((country, code)) if country.len() == 2 => check_postal_code(code, country),
        _ => check_postal_code(key, "FR"),
    }
}

/// Checks a tag: trimmed, 1 to [`MAX_TAG_CHARS`] characters, no control
/// characters, no `/` (tags appear in URLs).
pub fn check_tag(tag: &str) -> Result<(), ValidationError> {
    let reason = if tag.chars().all(is_invisible) {
        Some("it is empty or shows nothing")
    } else if tag.trim() != tag {
        Some("it starts or ends with a space")
    } else if tag.chars().count() > MAX_TAG_CHARS {
        Some("it is longer than 40 characters")
    } else if tag.chars().any(|c| c.is_control() || c == '/') {
        Some("it contains a control character or '/'")
    } else if tag.chars().any(is_bidi_control) {
        Some("it contains a character that overrides the text's direction")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ValidationError::Tag {
            tag: tag.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// An ISO 8601 date or date-time reduced to a comparable number of seconds.
///
/// Accepted: `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM`, `YYYY-MM-DDTHH:MM:SS`, the
/// time forms optionally followed by `Z` or `±HH:MM`. A date or time without
/// an offset is taken as UTC for comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateKey(i64);

impl DateKey {
    /// Parses a date, strictly.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        parse_date(text.as_bytes()).ok_or_else(|| ValidationError::Date(text.to_owned()))
    }

    /// Seconds since 1970-01-01 UTC (a date alone is its midnight, UTC).
    pub fn unix_seconds(self) -> i64 {
        self.0
    }
}

fn digits(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        bytes
            .iter()
            .fold(0i64, |acc, digit| acc * 10 + i64::from(digit - b'0')),
    )
}

fn parse_date(text: &[u8]) -> Option<DateKey> {
    if text.len() < 10 || text[4] != b'-' || text[7] != b'-' {
        return None;
    }
    let (year, month, day) = (
        digits(&text[..4])?,
        digits(&text[5..7])?,
        digits(&text[8..10])?,
    );
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month) || day < 1 || day > month_days[(month - 1) as usize] {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let rest = &text[10..];
    if rest.is_empty() {
        return Some(DateKey(days * 86_400));
    }
    if rest[0] != b'T' || rest.len() < 6 || rest[3] != b':' {
        return None;
    }
    let (hour, minute) = (digits(&rest[1..3])?, digits(&rest[4..6])?);
    let mut rest = &rest[6..];
    let mut second = 0;
    if rest.first() == Some(&b':') {
        second = digits(rest.get(1..3)?)?;
        rest = &rest[3..];
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let offset = match rest {
        [] | [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (oh, om) = (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?);
            if oh > 23 || om > 59 {
                return None;
            }
            let minutes = oh * 60 + om;
            if *sign == b'+' { minutes } else { -minutes }
        }
        _ => return None,
    };
    Some(DateKey(
        days * 86_400 + hour * 3_600 + minute * 60 + second - offset * 60,
    ))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Checks that `end` is not before `start`.
pub fn check_dates(start: &str, end: &str) -> Result<(), ValidationError> {
    if DateKey::parse(end)? < DateKey::parse(start)? {
        return Err(ValidationError::EndBeforeStart {
            start: start.to_owned(),
            end: end.to_owned(),
        });
    }
    Ok(())
}
