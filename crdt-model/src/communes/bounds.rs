//! Where a commune lies: its bounding box, where the box comes from, and
//! the loose check that a position is near it.

use std::fmt;

use serde::Serialize;

use crate::document::Geo;

/// How far outside its commune's box a position may be and still be
/// accepted, in kilometres: the boxes date from 2017 and some are a
/// larger area's, and a pin dropped by hand misses by a few streets.
pub const POSITION_MARGIN_KM: f64 = 10.0;

/// Kilometres per degree of latitude (and of longitude at the equator):
/// the mean Earth radius, 6,371.0088 km, times π/180.
const KM_PER_DEGREE: f64 = 111.195;

/// A rectangle of longitudes and latitudes in degrees (WGS 84), west ≤
/// east and south ≤ north. The boxes of the communes table never cross the
/// 180th meridian, and distances are not measured across it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(examples(json!({"west": 55.3758, "south": -21.0151, "east": 55.5131, "north": -20.8717})))]
pub struct Bounds {
    /// Westmost longitude.
    #[schema(minimum = -180, maximum = 180)]
    pub west: f64,
    /// Southmost latitude.
    #[schema(minimum = -90, maximum = 90)]
    pub south: f64,
    /// Eastmost longitude.
    #[schema(minimum = -180, maximum = 180)]
    pub east: f64,
    /// Northmost latitude.
    #[schema(minimum = -90, maximum = 90)]
    pub north: f64,
}

impl Bounds {
    /// Whether the position is inside the box (edges included).
    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        (self.south..=self.north).contains(&lat) && (self.west..=self.east).contains(&lon)
    }

    /// The middle of the box.
    pub fn center(&self) -> Geo {
        Geo {
            lat: (self.south + self.north) / 2.0,
            lon: (self.west + self.east) / 2.0,
        }
    }

    /// How far the position is from the box, in kilometres: 0 inside, else
    /// the distance to the box's nearest point, in the equirectangular
    /// approximation (a degree of latitude is 111.195 km, a degree
    /// of longitude that times the cosine of the mean latitude of the two
    /// points), within a few percent of the great-circle distance over the
    /// hundreds of kilometres that matter here.
    pub fn distance_km(&self, lat: f64, lon: f64) -> f64 {
        let nearest_lat = lat.clamp(self.south, self.north);
        let nearest_lon = lon.clamp(self.west, self.east);
        let north_km = (lat - nearest_lat) * KM_PER_DEGREE;
        let east_km =
            (lon - nearest_lon) * KM_PER_DEGREE * ((lat + nearest_lat) / 2.0).to_radians().cos();
        north_km.hypot(east_km)
    }

    /// The smallest box holding both.
    pub fn union(self, other: Bounds) -> Bounds {
        Bounds {
            west: self.west.min(other.west),
            south: self.south.min(other.south),
            east: self.east.max(other.east),
            north: self.north.max(other.north),
        }
    }
}

/// Where a commune's [`Bounds`] come from. The source's boxes date from
/// 2017: a commune changed since has none of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BoundsOrigin {
    /// Its own outline's box.
    Own,
    /// The union of the boxes of the communes it was made of (merged or
    /// renumbered since 2017): its own outline's box too.
    FormerCommunes,
    /// A municipal arrondissement's city's box: larger than the
    /// arrondissement.
    ParentCity,
    /// Its department's box, for a commune re-created since 2017: much
    /// larger than the commune.
    Department,
}

impl BoundsOrigin {
    /// Whether the box is a larger area's, holding the commune.
    pub fn is_approximate(self) -> bool {
        matches!(self, BoundsOrigin::ParentCity | BoundsOrigin::Department)
    }
}

/// A position farther than [`POSITION_MARGIN_KM`] from its commune
/// (see [`super::Communes::check_position`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PositionOutside {
    /// Distance from the commune's box, in kilometres.
    pub distance_km: f64,
    /// The commune's name; none when the position was checked against all
    /// the communes of the postal code.
    pub commune: Option<&'static str>,
    /// The postal code given with the position.
    pub postal_code: String,
}

impl fmt::Display for PositionOutside {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the position is {:.0} km from ", self.distance_km)?;
        match self.commune {
            Some(name) => write!(f, "{name} ({})", self.postal_code)?,
            None => write!(f, "the communes of postal code {}", self.postal_code)?,
        }
        f.write_str("; check latitude and longitude, or the postal code")
    }
}

impl std::error::Error for PositionOutside {}

#[cfg(test)]
mod tests {
    use super::*;

    const BOX: Bounds = Bounds {
        west: 2.0,
        south: 48.0,
        east: 3.0,
        north: 49.0,
    };

    #[test]
    fn inside_edges_and_center() {
        assert!(BOX.contains(48.5, 2.5));
        assert!(BOX.contains(48.0, 3.0));
        assert!(!BOX.contains(47.99, 2.5));
        assert!(!BOX.contains(48.5, 3.01));
        assert_eq!(
            BOX.center(),
            Geo {
                lat: 48.5,
                lon: 2.5
            }
        );
        assert_eq!(BOX.distance_km(48.5, 2.5), 0.0);
        assert_eq!(BOX.distance_km(49.0, 2.0), 0.0);
    }

    #[test]
    fn distances_outside() {
        // A degree of latitude north: 111 km, whatever the longitude.
        assert!((BOX.distance_km(50.0, 2.5) - KM_PER_DEGREE).abs() < 1e-9);
        // A degree of longitude east at 48.5° N: 111 km × cos 48.5°.
        let east = BOX.distance_km(48.5, 4.0);
        assert!((east - KM_PER_DEGREE * 48.5f64.to_radians().cos()).abs() < 1e-9);
        // Diagonally: both together.
        let corner = BOX.distance_km(47.0, 1.0);
        assert!((120.0..140.0).contains(&corner), "{corner}");
    }

    #[test]
    fn union_holds_both() {
        let other = Bounds {
            west: 1.0,
            south: 48.5,
            east: 2.5,
            north: 50.0,
        };
        let both = BOX.union(other);
        assert_eq!(
            both,
            Bounds {
                west: 1.0,
                south: 48.0,
                east: 3.0,
                north: 50.0
            }
        );
    }

    #[test]
    fn message_names_the_commune_or_the_postal_code() {
        let outside = PositionOutside {
            distance_km: 659.6,
            commune: Some("Paris 11e Arrondissement"),
            postal_code: "75011".into(),
        };
        assert_eq!(
            outside.to_string(),
            "the position is 660 km from Paris 11e Arrondissement (75011); check latitude and longitude, or the postal code"
        );
        let outside = PositionOutside {
            commune: None,
            postal_code: "01400".into(),
            ..outside
        };
        assert!(
            outside
                .to_string()
                .contains("660 km from the communes of postal code 01400;")
        );
    }
}
