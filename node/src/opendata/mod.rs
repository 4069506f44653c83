//! Open data in and out: the directory exported as the project's JSON,
//! schema.org JSON-LD, GeoJSON and CSV under an open licence, and files of
//! those formats (and Communecter's public API JSON) imported as new
//! signed entities.

pub mod export;
pub mod import;

use serde::Serialize;

/// The open licence an export is published under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Licence {
    /// Etalab's Licence Ouverte / Open Licence 2.0 (French public data).
    #[default]
    #[serde(rename = "etalab-2.0")]
    Etalab2,
    /// Open Data Commons' Open Database License 1.0 (share-alike).
    #[serde(rename = "odbl-1.0")]
    Odbl1,
}

impl Licence {
    /// Every licence.
    pub const ALL: [Licence; 2] = [Licence::Etalab2, Licence::Odbl1];

    /// Its short identifier (`etalab-2.0`, `odbl-1.0`).
    pub const fn id(self) -> &'static str {
        match self {
            Licence::Etalab2 => "etalab-2.0",
            Licence::Odbl1 => "odbl-1.0",
        }
    }

    /// Its full name.
    pub const fn name(self) -> &'static str {
        match self {
            Licence::Etalab2 => "Licence Ouverte / Open Licence 2.0",
            Licence::Odbl1 => "Open Database License (ODbL) 1.0",
        }
    }

    /// Where its text is published.
    pub const fn url(self) -> &'static str {
        match self {
            Licence::Etalab2 => "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
            Licence::Odbl1 => "https://opendatacommons.org/licenses/odbl/1-0/",
        }
    }
}

impl std::str::FromStr for Licence {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wanted = text.trim().to_ascii_lowercase();
        Licence::ALL
            .into_iter()
            .find(|licence| {
                licence.id() == wanted || licence.id().split('-').next() == Some(wanted.as_str())
            })
            .ok_or_else(|| {
                format!("unknown licence {text:?}: use etalab-2.0 (Licence Ouverte) or odbl-1.0")
            })
    }
}

/// Who to credit when reusing the data.
pub const ATTRIBUTION: &str = "The citizens of Communecter (communecter contributors)";

/// Milliseconds since the epoch as an ISO 8601 UTC timestamp
/// (`2026-11-25T16:24:45Z`). Times are authors' clocks, which may be
/// anything: those beyond the years −9999 to 9999 are written as the
/// nearest end of that range.
pub fn iso8601(ms: i64) -> String {
    let (first, last) = (
        time::PrimitiveDateTime::MIN.assume_utc().unix_timestamp(),
        time::PrimitiveDateTime::MAX.assume_utc().unix_timestamp(),
    );
    let seconds = ms.div_euclid(1000).clamp(first, last);
    let at = time::OffsetDateTime::from_unix_timestamp(seconds)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_as_iso_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_764_000_000_000), "2025-11-24T16:00:00Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(-1000), "1969-12-31T23:59:59Z");
        assert_eq!(iso8601(i64::MAX), "9999-12-31T23:59:59Z");
        assert_eq!(iso8601(i64::MIN), "-9999-01-01T00:00:00Z");
    }

    #[test]
    fn licences_are_named_by_their_identifier() {
        assert_eq!("odbl".parse::<Licence>(), Ok(Licence::Odbl1));
        assert_eq!("ODbL-1.0".parse::<Licence>(), Ok(Licence::Odbl1));
        assert_eq!("etalab-2.0".parse::<Licence>(), Ok(Licence::Etalab2));
        assert!("cc-by-nc".parse::<Licence>().is_err());
    }
}
