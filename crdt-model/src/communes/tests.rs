//! The communes table as decoded from the embedded data: look-ups, search,
//! bounds and the position check.

use super::*;

fn insees(communes: &[&Commune]) -> Vec<&'static str> {
    communes.iter().map(|c| c.insee).collect()
}

#[test]
fn saint_denis_de_la_reunion_by_postal_code() {
    let found = table().by_postal_code("97400");
    assert_eq!(insees(found), ["97411"]);
    let c = found[0];
    assert_eq!(c.name, "Saint-Denis");
    assert_eq!(c.department, "974");
    assert_eq!(c.region, "04");
    assert_eq!(c.department_name(), Some("La Réunion"));
    assert_eq!(c.region_name(), Some("La Réunion"));
    assert!(c.population > 100_000);
    assert!(c.postal_codes.contains(&"97400"));
    assert!(!c.is_arrondissement());
}

#[test]
fn paris_and_its_first_arrondissement() {
    let found = table().by_postal_code("75001");
    assert_eq!(insees(found), ["75056", "75101"]);
    assert_eq!(found[0].name, "Paris");
    assert_eq!(found[0].parent, None);
    assert_eq!(found[1].parent, Some("75056"));
    assert!(found[1].is_arrondissement());
    assert_eq!(found[0].department_name(), Some("Paris"));
    assert_eq!(found[0].region_name(), Some("Île-de-France"));
    assert_eq!(found[0].postal_codes.len(), 21);
    assert!(found[0].postal_codes.is_sorted());
}

#[test]
fn marseille_and_lyon_arrondissements_keep_their_commune() {
    let marseille = table().by_postal_code("13001");
    assert_eq!(marseille[0].insee, "13055");
    assert_eq!(marseille[0].name, "Marseille");
    assert!(marseille[1..].iter().all(|c| c.parent == Some("13055")));
    let lyon = table().by_postal_code("69001");
    assert_eq!(lyon[0].insee, "69123");
    assert_eq!(lyon[0].name, "Lyon");
    assert!(lyon[1..].iter().all(|c| c.parent == Some("69123")));
    let arrondissements = table().iter().filter(|c| c.is_arrondissement()).count();
    assert_eq!(arrondissements, 20 + 16 + 9);
}

#[test]
fn noumea_from_new_caledonia() {
    let found = table().by_postal_code("98800");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, "Nouméa");
    assert_eq!(found[0].insee, "98818");
    assert_eq!(found[0].department, "988");
    assert_eq!(found[0].department_name(), Some("Nouvelle-Calédonie"));
}

#[test]
fn corsica_by_insee() {
    let ajaccio = table().by_insee("2A004").expect("Ajaccio");
    assert_eq!(ajaccio.name, "Ajaccio");
    assert_eq!(ajaccio.department, "2A");
    assert_eq!(ajaccio.region, "94");
    assert_eq!(table().by_insee("2a004"), Some(ajaccio));
    assert_eq!(table().by_insee("2B033").map(|c| c.name), Some("Bastia"));
    assert_eq!(table().by_insee("75056").map(|c| c.name), Some("Paris"));
}

#[test]
fn unknown_codes_give_nothing() {
    let t = table();
    for code in [
        "00000",
        "99999",
        "7500",
        "750011",
        "",
        "75 01",
        "abcde",
        "７５００１",
    ] {
        assert!(t.by_postal_code(code).is_empty(), "{code}");
        assert!(!t.is_known_postal_code(code), "{code}");
    }
    assert!(t.by_insee("00000").is_none());
    assert!(t.by_insee("2A").is_none());
    assert!(t.by_insee("").is_none());
    assert!(t.is_known_postal_code("75001"));
}

#[test]
fn plausible_sizes() {
    let t = table();
    let communes = t.iter().filter(|c| !c.is_arrondissement()).count();
    assert!((34_900..=35_100).contains(&communes), "{communes} communes");
    assert_eq!(t.len(), communes + 45);
    assert!(!t.is_empty());
    let postal = t.postal_code_count();
    assert!((6_000..=6_400).contains(&postal), "{postal} postal codes");
    assert_eq!(t.postal_codes().len(), postal);
    assert!(
        t.postal_codes()
            .all(|code| !t.by_postal_code(code).is_empty())
    );
    assert!((100..=120).contains(&t.departments().len()));
    assert!((18..=30).contains(&t.regions().len()));
    assert!(t.source().starts_with("@etalab/decoupage-administratif@"));
}

#[test]
fn table_is_consistent() {
    let t = table();
    assert!(t.as_slice().is_sorted_by(|a, b| a.insee < b.insee));
    for c in t {
        assert_eq!(c.insee.len(), 5);
        assert!(c.insee.starts_with(c.department));
        assert!(!c.name.is_empty());
        assert!(
            t.department(c.department)
                .is_some_and(|d| d.region == c.region)
        );
        assert_eq!(t.by_insee(c.insee), Some(c));
        for code in c.postal_codes {
            assert!(t.by_postal_code(code).contains(&c), "{} {}", c.insee, code);
        }
        if let Some(parent) = c.parent {
            let parent = t.by_insee(parent).expect("parent commune");
            assert!(!parent.is_arrondissement());
            assert_eq!(parent.department, c.department);
        }
    }
    let with_codes = t.iter().filter(|c| !c.postal_codes.is_empty()).count();
    assert!(t.len() - with_codes <= 10, "communes without postal code");
}

#[test]
fn search_saint_denis_finds_both() {
    let found = insees(&table().search("saint denis", 20));
    assert!(found.contains(&"93066"), "{found:?}");
    assert!(found.contains(&"97411"), "{found:?}");
    // Exact matches come first, both of them.
    let mut first_two = found[..2].to_vec();
    first_two.sort();
    assert_eq!(first_two, ["93066", "97411"]);
    let others = table().search("Saint-Denis", 200);
    assert!(others.len() > 10);
    assert!(others.iter().all(|c| fold(c.name).contains("saint denis")));
}

#[test]
fn search_ignores_case_accents_and_hyphens() {
    let t = table();
    assert_eq!(t.search("SAINT-ÉTIENNE", 5)[0].insee, "42218");
    assert_eq!(t.search("saint etienne", 1)[0].insee, "42218");
    assert_eq!(t.search("l'hay les roses", 1)[0].insee, "94038");
    assert_eq!(t.search("NOUMEA", 1)[0].insee, "98818");
    assert_eq!(t.search("paris", 1)[0].insee, "75056");
}

#[test]
fn search_ranks_exact_then_prefix_then_inside() {
    let t = table();
    let found = t.search("lyon", 50);
    assert_eq!(found[0].insee, "69123");
    let tiers: Vec<u8> = found
        .iter()
        .map(|c| {
            let name = fold(c.name);
            if name == "lyon" {
                0
            } else if name.starts_with("lyon") {
                1
            } else {
                2
            }
        })
        .collect();
    assert!(tiers.is_sorted(), "{tiers:?}");
    for pair in found.windows(2) {
        let same_tier = fold(pair[0].name).starts_with("lyon")
            == fold(pair[1].name).starts_with("lyon")
            && (fold(pair[0].name) == "lyon") == (fold(pair[1].name) == "lyon");
        if same_tier {
            assert!(pair[0].population >= pair[1].population);
        }
    }
    // A word inside the name also matches.
    assert!(t.search("denis", 500).iter().any(|c| c.insee == "93066"));
}

#[test]
fn search_limits_and_empty_queries() {
    let t = table();
    assert_eq!(t.search("saint", 7).len(), 7);
    assert!(t.search("saint", 0).is_empty());
    assert!(t.search("", 10).is_empty());
    assert!(t.search(" - ' ", 10).is_empty());
    assert!(t.search("zzzzzzzz", 10).is_empty());
    let big = t.search("saint", 100);
    assert!(big.iter().all(|c| fold(c.name).starts_with("saint")));
    assert!(big.windows(2).all(|w| w[0].population >= w[1].population));
}

#[test]
fn corrupted_data_is_an_error() {
    assert!(decode(&DATA[..DATA.len() / 2]).is_err());
    assert!(decode(b"not zlib").is_err());
    let payload = miniz_oxide::inflate::decompress_to_vec_zlib(DATA).expect("embedded data");
    let mut truncated = payload.clone();
    truncated.truncate(payload.len() - 1);
    let recompressed = miniz_oxide::deflate::compress_to_vec_zlib(&truncated, 1);
    assert!(decode(&recompressed).is_err());
    // The last row's bounds origin, just before the boxes' 12 bytes each.
    let boxed = table().iter().filter(|c| c.bounds.is_some()).count();
    let mut bad_origin = payload.clone();
    bad_origin[payload.len() - 4 - 12 * boxed - 1] = 9;
    let recompressed = miniz_oxide::deflate::compress_to_vec_zlib(&bad_origin, 1);
    assert!(decode(&recompressed).is_err());
    let mut bad_magic = payload;
    bad_magic[0] = b'X';
    let recompressed = miniz_oxide::deflate::compress_to_vec_zlib(&bad_magic, 1);
    assert!(decode(&recompressed).is_err());
}

#[test]
fn paris_11e_holds_the_place_de_la_bastille_area() {
    let t = table();
    let paris_11 = t.by_insee("75111").expect("Paris 11e");
    let bounds = paris_11.bounds.expect("bounds");
    assert!(bounds.contains(48.859, 2.38));
    // The arrondissement has no box of its own: it has Paris's.
    assert_eq!(paris_11.bounds_origin, Some(BoundsOrigin::ParentCity));
    assert!(BoundsOrigin::ParentCity.is_approximate());
    assert_eq!(Some(bounds), t.by_insee("75056").and_then(|c| c.bounds));
    assert!(
        t.check_position(Some("75111"), "75011", 48.859, 2.38)
            .is_ok()
    );
    let center = bounds.center();
    assert!(
        t.check_position(None, "75011", center.lat, center.lon)
            .is_ok()
    );
}

#[test]
fn marseille_is_far_from_paris_11e() {
    let t = table();
    let outside = t
        .check_position(Some("75111"), "75011", 43.296, 5.37)
        .expect_err("Marseille is not in Paris");
    assert!((640.0..680.0).contains(&outside.distance_km), "{outside:?}");
    assert_eq!(outside.commune, Some("Paris 11e Arrondissement"));
    assert!(
        outside
            .to_string()
            .contains("km from Paris 11e Arrondissement (75011); check latitude"),
        "{outside}"
    );
    // By the postal code alone: its communes (Paris and its 11e) together.
    let outside = t
        .check_position(None, "75011", 43.296, 5.37)
        .expect_err("still not in Paris");
    assert_eq!(outside.commune, None);
    // An unknown INSEE code falls back to the postal code.
    assert!(
        t.check_position(Some("00000"), "75011", 43.296, 5.37)
            .is_err()
    );
    assert!(t.check_position(None, "13001", 43.296, 5.37).is_ok());
}

#[test]
fn a_position_a_little_outside_is_accepted() {
    let t = table();
    let commune = t.by_insee("42218").expect("Saint-Étienne");
    assert_eq!(commune.bounds_origin, Some(BoundsOrigin::Own));
    let bounds = commune.bounds.expect("bounds");
    let lat = (bounds.south + bounds.north) / 2.0;
    // 5 km east of the box, then 15 km.
    let degrees_per_km = 1.0 / (111.195 * lat.to_radians().cos());
    let near = bounds.east + 5.0 * degrees_per_km;
    let far = bounds.east + 15.0 * degrees_per_km;
    assert!(!bounds.contains(lat, near));
    assert!((bounds.distance_km(lat, near) - 5.0).abs() < 0.01);
    assert!(t.check_position(Some("42218"), "42000", lat, near).is_ok());
    let outside = t
        .check_position(Some("42218"), "42000", lat, far)
        .expect_err("15 km out");
    assert!((outside.distance_km - 15.0).abs() < 0.01, "{outside:?}");
}

#[test]
fn noumea_has_no_bounds_and_any_position_is_accepted() {
    let t = table();
    let noumea = t.by_insee("98818").expect("Nouméa");
    assert_eq!((noumea.bounds, noumea.bounds_origin), (None, None));
    assert_eq!(t.postal_code_bounds("98800"), None);
    assert!(
        t.check_position(Some("98818"), "98800", 48.859, 2.38)
            .is_ok()
    );
    assert!(t.check_position(None, "98800", 48.859, 2.38).is_ok());
    assert!(t.check_position(None, "00000", 48.859, 2.38).is_ok());
}

#[test]
fn every_commune_of_metropolitan_france_and_the_overseas_departments_has_bounds() {
    let t = table();
    assert!(t.bounds_source().starts_with("@etalab/fr-bounding-boxes@"));
    let overseas_collectivities = ["975", "977", "978", "984", "986", "987", "988", "989"];
    let mut counts = std::collections::HashMap::new();
    for c in t {
        assert_eq!(c.bounds.is_some(), c.bounds_origin.is_some(), "{}", c.insee);
        *counts.entry(c.bounds_origin).or_insert(0) += 1;
        if overseas_collectivities.contains(&c.department) {
            continue;
        }
        let bounds = c
            .bounds
            .unwrap_or_else(|| panic!("{} has no bounds", c.insee));
        assert!(bounds.west <= bounds.east && bounds.south <= bounds.north);
        // Metropolitan France, the Antilles, Guyane, La Réunion, Mayotte.
        assert!(
            (-62.0..56.0).contains(&bounds.west),
            "{} {bounds:?}",
            c.insee
        );
        assert!(
            (-22.0..52.0).contains(&bounds.south),
            "{} {bounds:?}",
            c.insee
        );
    }
    assert!(counts[&Some(BoundsOrigin::Own)] > 34_000, "{counts:?}");
    assert_eq!(counts[&Some(BoundsOrigin::ParentCity)], 45, "{counts:?}");
    assert!(counts[&None] <= 100, "{counts:?}");
    // A commune renumbered since 2017 has its former communes' box.
    let conques = t.by_insee("12218").expect("Conques-en-Rouergue");
    assert_eq!(conques.bounds_origin, Some(BoundsOrigin::FormerCommunes));
    // One re-created since, its department's.
    let sannerville = t.by_insee("14666").expect("Sannerville");
    assert_eq!(sannerville.bounds_origin, Some(BoundsOrigin::Department));
}

#[test]
fn postal_code_bounds_hold_each_commune() {
    let t = table();
    for code in ["01400", "75001", "97400", "13001"] {
        let bounds = t.postal_code_bounds(code).expect(code);
        for commune in t.by_postal_code(code) {
            let own = commune.bounds.expect("bounds");
            assert_eq!(bounds.union(own), bounds, "{code} {}", commune.insee);
        }
    }
    assert_eq!(t.postal_code_bounds("99999"), None);
}

#[test]
fn serializes_to_json() {
    let paris_1 = table().by_insee("75101").expect("Paris 1er");
    let json = serde_json::to_value(paris_1).expect("serializable");
    assert_eq!(json["insee"], "75101");
    assert_eq!(json["parent"], "75056");
    assert_eq!(json["postal_codes"][0], "75001");
    assert_eq!(json["bounds"]["west"], 2.2242);
    assert_eq!(json["bounds"]["north"], 48.902);
    assert_eq!(json["bounds_origin"], "parent_city");
    let noumea = serde_json::to_value(table().by_insee("98818")).expect("serializable");
    assert!(noumea["bounds"].is_null());
    assert!(noumea["bounds_origin"].is_null());
}
