//! The schema: fields, values and their checks.

use super::*;

fn text(value: &str) -> ScalarValue {
    ScalarValue::Str(value.into())
}

/// A name must show something, and no text may turn its own direction
/// around (a name that reads as another).
#[test]
fn invisible_names_and_direction_overrides_are_refused() {
    for name in [
        "\u{200B}",
        "\u{200B}\u{200C}\u{FEFF}",
        " \u{00AD} ",
        "\u{2060}\u{180E}",
    ] {
        assert!(
            matches!(
                Field::Name.check(&text(name)),
                Err(ValidationError::Empty { .. })
            ),
            "{name:?}"
        );
    }
    for field in [Field::Name, Field::ShortDescription, Field::Description] {
        for spoof in ["Garage \u{202E}tenaP", "\u{2067}Payet", "a\u{202A}b"] {
            assert!(
                matches!(
                    field.check(&text(spoof)),
                    Err(ValidationError::BidiControl { .. })
                ),
                "{field:?} {spoof:?}"
            );
        }
    }
    // Right-to-left text, with or without a direction mark, is fine.
    for name in ["مخبز الحي", "Boulangerie \u{200F}مخبز", "שוק"] {
        assert_eq!(Field::Name.check(&text(name)), Ok(()), "{name:?}");
    }
    for tag in ["\u{200B}", "a\u{202E}b"] {
        assert!(check_tag(tag).is_err(), "{tag:?}");
    }
    assert_eq!(check_tag("vélo"), Ok(()));
}

#[test]
fn values_read_and_write_as_plain_json() {
    for (json, value) in [
        (r#""Garage""#, Value::Text("Garage".into())),
        ("true", Value::Bool(true)),
        ("-21.5", Value::Number(-21.5)),
        ("55", Value::Number(55.0)),
        ("-3", Value::Number(-3.0)),
        (r#""caf\u00e9""#, Value::Text("café".into())),
    ] {
        let read: Value = serde_json::from_str(json).unwrap();
        assert_eq!(read, value, "{json}");
        let again: Value = serde_json::from_str(&serde_json::to_string(&value).unwrap()).unwrap();
        assert_eq!(again, value);
    }
    for bad in ["null", "[1]", r#"{"a":1}"#] {
        assert!(serde_json::from_str::<Value>(bad).is_err(), "{bad}");
    }
}

#[test]
fn names_are_required_and_bounded() {
    assert!(Field::Name.check(&text("Garage du Centre")).is_ok());
    assert_eq!(
        Field::Name.check(&text("  ")),
        Err(ValidationError::Empty { field: "name" })
    );
    let long = "é".repeat(MAX_NAME_CHARS + 1);
    assert_eq!(
        Field::Name.check(&text(&long)),
        Err(ValidationError::TooLong {
            field: "name",
            max: MAX_NAME_CHARS,
            found: MAX_NAME_CHARS + 1
        })
    );
    // Characters, not bytes: 120 accented letters fit.
    assert!(
        Field::Name
            .check(&text(&"é".repeat(MAX_NAME_CHARS)))
            .is_ok()
    );
    assert!(Field::Name.check(&text("a\u{7}b")).is_err());
    assert!(Field::Name.check(&ScalarValue::Int(3)).is_err());
}

#[test]
fn descriptions_are_bounded_and_may_have_newlines() {
    assert!(
        Field::Description
            .check(&text("Line one\nline two"))
            .is_ok()
    );
    assert!(Field::ShortDescription.check(&text("one\ntwo")).is_err());
    let long = "a".repeat(MAX_DESCRIPTION_CHARS + 1);
    assert!(matches!(
        Field::Description.check(&text(&long)),
        Err(ValidationError::TooLong { .. })
    ));
}

#[test]
fn postal_codes_follow_their_country() {
    assert!(check_postal_code("97400", "FR").is_ok());
    assert!(check_postal_code("75001", "FR").is_ok());
    assert!(check_postal_code("7500", "FR").is_err());
    assert!(check_postal_code("75A01", "FR").is_err());
    assert!(check_postal_code("1000", "BE").is_ok());
    assert!(check_postal_code("SW1A 1AA", "GB").is_ok());
    assert!(check_postal_code("sw1a", "GB").is_err());
    assert!(check_postal_code("1000", "be").is_err());
    assert_eq!(postal_key("97400", "FR"), "97400");
    assert_eq!(postal_key("1000", "BE"), "BE-1000");
}

#[test]
fn coordinates_are_in_range() {
    assert!(Field::Lat.check(&ScalarValue::F64(-20.88)).is_ok());
    assert!(Field::Lat.check(&ScalarValue::F64(90.5)).is_err());
    assert!(Field::Lon.check(&ScalarValue::F64(180.0)).is_ok());
    assert!(Field::Lon.check(&ScalarValue::F64(-180.1)).is_err());
    assert!(Field::Lon.check(&ScalarValue::F64(f64::NAN)).is_err());
    assert!(Field::Lat.check(&text("12")).is_err());
}

#[test]
fn urls_need_a_scheme_and_a_host() {
    for good in [
        "https://example.org",
        "http://garage-du-centre.re/horaires?x=1#top",
        "https://[::1]:8080/",
        "https://mairie.saint-denis.re:443/a b"
            .replace(' ', "%20")
            .as_str(),
    ] {
        assert!(Field::Url.check(&text(good)).is_ok(), "{good}");
    }
    for bad in [
        "example.org",
        "ftp://example.org",
        "https://",
        "https://exa mple.org",
        "javascript:alert(1)",
        "https://-bad.org",
        "https://a..b",
        "https://host:99999/",
    ] {
        assert!(Field::Url.check(&text(bad)).is_err(), "{bad}");
    }
}

#[test]
fn dates_are_strict_and_ordered() {
    for good in [
        "2026-11-25",
        "2024-02-29",
        "2026-11-25T18:30",
        "2026-11-25T18:30:15Z",
        "2026-11-25T18:30+04:00",
    ] {
        assert!(DateKey::parse(good).is_ok(), "{good}");
    }
    for bad in [
        "2026-13-01",
        "2025-02-29",
        "2026-11-25 18:30",
        "25/11/2026",
        "2026-11-25T24:00",
        "2026-11-25T18:30+4",
        "2026-1-1",
    ] {
        assert!(DateKey::parse(bad).is_err(), "{bad}");
    }
    assert!(check_dates("2026-11-25", "2026-11-26").is_ok());
    assert!(check_dates("2026-11-25T10:00", "2026-11-25T10:00").is_ok());
    assert!(matches!(
        check_dates("2026-11-25T10:00+04:00", "2026-11-25T05:59Z"),
        Err(ValidationError::EndBeforeStart { .. })
    ));
    assert!(check_dates("2026-11-25T10:00+04:00", "2026-11-25T06:00Z").is_ok());
}

#[test]
fn tags_and_codes() {
    assert!(check_tag("jardin partagé").is_ok());
    assert!(check_tag("").is_err());
    assert!(check_tag(" bio").is_err());
    assert!(check_tag("a/b").is_err());
    assert!(check_tag(&"x".repeat(41)).is_err());
    assert!(Field::InseeCode.check(&text("2A004")).is_ok());
    assert!(Field::InseeCode.check(&text("97411")).is_ok());
    assert!(Field::InseeCode.check(&text("2C004")).is_err());
    assert!(Field::Country.check(&text("FR")).is_ok());
    assert!(Field::Country.check(&text("FRA")).is_err());
    assert!(Field::OrganizationType.check(&text("ngo")).is_ok());
    assert!(Field::OrganizationType.check(&text("company")).is_err());
}

#[test]
fn organization_types_are_read_by_their_schema_org_names_in_any_case() {
    for (typed, stored) in [
        ("ngo", "ngo"),
        ("NGO", "ngo"),
        ("Association", "ngo"),
        ("LocalBusiness", "local_business"),
        ("local business", "local_business"),
        ("Local-Business", "local_business"),
        ("GovernmentOrganization", "government"),
        ("Organization", "group"),
        (" group ", "group"),
    ] {
        assert_eq!(organization_type(typed), Some(stored), "{typed}");
        assert_eq!(
            Field::OrganizationType.parse_value(typed),
            Ok(Value::Text(stored.into())),
            "{typed}"
        );
    }
    assert_eq!(organization_type("company"), None);
    assert!(Field::OrganizationType.parse_value("company").is_err());
    // What peers send is checked as stored: no name but the canonical.
    assert!(Field::OrganizationType.check(&text("NGO")).is_err());
}

#[test]
fn fields_parse_by_key_or_dotted_name() {
    assert_eq!("street".parse::<Field>(), Ok(Field::Street));
    assert_eq!("address.street".parse::<Field>(), Ok(Field::Street));
    assert_eq!(
        "short-description".parse::<Field>(),
        Ok(Field::ShortDescription)
    );
    assert!(matches!(
        "colour".parse::<Field>(),
        Err(ValidationError::UnknownField { .. })
    ));
    assert_eq!(Field::Lat.parse_value("-20.9"), Ok(Value::Number(-20.9)));
    assert!(Field::Lat.parse_value("north").is_err());
    assert_eq!(Field::AllDay.parse_value("oui"), Ok(Value::Bool(true)));
    assert!(!Field::Category.applies_to(Kind::Event));
    assert!(Field::Category.applies_to(Kind::Organization));
}
