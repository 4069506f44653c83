//! Checking JSON against an OpenAPI 3.1 document: a value against a
//! schema (the JSON Schema keywords the document uses), an answer against
//! what its route documents for its status, and every example of the
//! document against its own schema. Tests use it to hold the document to
//! what the API really does.

use std::collections::BTreeSet;

use serde_json::Value;

/// An OpenAPI document to check values against.
pub struct Document {
    doc: Value,
}

/// Where a check failed and why.
pub type Failure = String;

impl Document {
    /// The document, as JSON.
    pub fn new(doc: Value) -> Self {
        Self { doc }
    }

    /// The document itself.
    pub fn json(&self) -> &Value {
        &self.doc
    }

    /// Follows a local `$ref` such as `#/components/schemas/Entity`.
    pub fn resolve(&self, reference: &str) -> Result<&Value, Failure> {
        reference
            .strip_prefix('#')
            .and_then(|pointer| self.doc.pointer(pointer))
            .ok_or_else(|| format!("{reference} does not resolve"))
    }

    /// Whether `value` is valid against `schema`; the failure names the
    /// place in `value` (a JSON pointer) and the keyword.
    pub fn check(&self, schema: &Value, value: &Value) -> Result<(), Failure> {
        self.check_at(schema, value, "", 0)
    }

    fn check_at(
        &self,
        schema: &Value,
        value: &Value,
        at: &str,
        depth: usize,
    ) -> Result<(), Failure> {
        if depth > 64 {
            return Err(format!("{at}: schema references nest too deep"));
        }
        let fail = |why: String| Err(format!("{}: {why}", if at.is_empty() { "/" } else { at }));
        let schema = match schema {
            Value::Bool(true) => return Ok(()),
            Value::Bool(false) => return fail("nothing is allowed here".into()),
            Value::Object(schema) => schema,
            other => return fail(format!("{other} is not a schema")),
        };
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            self.check_at(self.resolve(reference)?, value, at, depth + 1)?;
        }
        if let Some(types) = schema.get("type") {
            let types: Vec<&str> = match types {
                Value::String(one) => vec![one.as_str()],
                Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            if !types.iter().any(|name| is_of_type(value, name)) {
                return fail(format!("{value} is not of type {types:?}"));
            }
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            return fail(format!("{value} is not one of {allowed:?}"));
        }
        if let Some(constant) = schema.get("const")
            && constant != value
        {
            return fail(format!("{value} is not {constant}"));
        }
        for (keyword, all) in [("allOf", true), ("anyOf", false)] {
            if let Some(parts) = schema.get(keyword).and_then(Value::as_array) {
                let passed = parts
                    .iter()
                    .filter(|part| self.check_at(part, value, at, depth + 1).is_ok())
                    .count();
                if (all && passed < parts.len()) || (!all && passed == 0) {
                    return fail(format!("{value} does not match {keyword}"));
                }
            }
        }
        if let Some(parts) = schema.get("oneOf").and_then(Value::as_array) {
            let mut reasons = Vec::new();
            let passed = parts
                .iter()
                .filter(|part| match self.check_at(part, value, at, depth + 1) {
                    Ok(()) => true,
                    Err(why) => {
                        reasons.push(why);
                        false
                    }
                })
                .count();
            if passed != 1 {
                return fail(format!(
                    "{value} matches {passed} of the oneOf alternatives, not exactly one \
                     ({reasons:?})"
                ));
            }
        }
        match value {
            Value::String(text) => self.check_string(schema, text).or_else(fail)?,
            Value::Number(number) => {
                let number = number.as_f64().unwrap_or(f64::NAN);
                if let Some(minimum) = schema.get("minimum").and_then(Value::as_f64)
                    && number < minimum
                {
                    return fail(format!("{number} is below {minimum}"));
                }
                if let Some(maximum) = schema.get("maximum").and_then(Value::as_f64)
                    && number > maximum
                {
                    return fail(format!("{number} is above {maximum}"));
                }
            }
            Value::Array(items) => self.check_array(schema, items, at, depth)?,
            Value::Object(members) => {
                if let Some(required) = schema.get("required").and_then(Value::as_array) {
                    for name in required.iter().filter_map(Value::as_str) {
                        if !members.contains_key(name) {
                            return fail(format!("member {name} is missing"));
                        }
                    }
                }
                let properties = schema.get("properties").and_then(Value::as_object);
                for (name, member) in members {
                    let place = format!("{at}/{name}");
                    if let Some(names) = schema.get("propertyNames") {
                        self.check_at(names, &Value::String(name.clone()), &place, depth + 1)?;
                    }
                    match properties.and_then(|properties| properties.get(name)) {
                        Some(property) => self.check_at(property, member, &place, depth + 1)?,
                        None => {
                            if let Some(other) = schema.get("additionalProperties") {
                                self.check_at(other, member, &place, depth + 1)?;
                            }
                        }
                    }
                }
            }
            Value::Bool(_) | Value::Null => {}
        }
        Ok(())
    }

    fn check_string(
        &self,
        schema: &serde_json::Map<String, Value>,
        text: &str,
    ) -> Result<(), Failure> {
        let chars = text.chars().count() as u64;
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && chars < min
        {
            return Err(format!("{text:?} is shorter than {min}"));
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && chars > max
        {
            return Err(format!("{text:?} is longer than {max}"));
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
            let regex = regex::Regex::new(pattern)
                .map_err(|error| format!("pattern {pattern}: {error}"))?;
            if !regex.is_match(text) {
                return Err(format!("{text:?} does not match {pattern}"));
            }
        }
        Ok(())
    }

    fn check_array(
        &self,
        schema: &serde_json::Map<String, Value>,
        items: &[Value],
        at: &str,
        depth: usize,
    ) -> Result<(), Failure> {
        let count = items.len() as u64;
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
            && count < min
        {
            return Err(format!("{at}: {count} items, fewer than {min}"));
        }
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
            && count > max
        {
            return Err(format!("{at}: {count} items, more than {max}"));
        }
        if schema.get("uniqueItems") == Some(&Value::Bool(true)) {
            let distinct: BTreeSet<String> = items.iter().map(Value::to_string).collect();
            if distinct.len() != items.len() {
                return Err(format!("{at}: items repeat"));
            }
        }
        let prefix = schema
            .get("prefixItems")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        for (index, item) in items.iter().enumerate() {
            let place = format!("{at}/{index}");
            match prefix.get(index) {
                Some(part) => self.check_at(part, item, &place, depth + 1)?,
                None => {
                    if let Some(rest) = schema.get("items") {
                        self.check_at(rest, item, &place, depth + 1)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The operation of `method` (lowercase) whose path template matches
    /// `path` (its query string ignored), with the template.
    pub fn operation(&self, method: &str, path: &str) -> Option<(&str, &Value)> {
        let path = path.split('?').next().unwrap_or(path);
        let wanted: Vec<&str> = path.split('/').collect();
        let paths = self.doc["paths"].as_object()?;
        // A template without parameters wins over one with: the
        // document's own path before `/api/{anything}`.
        let mut found = None;
        for (template, item) in paths {
            let parts: Vec<&str> = template.split('/').collect();
            let matches = parts.len() == wanted.len()
                && parts
                    .iter()
                    .zip(&wanted)
                    .all(|(part, segment)| part.starts_with('{') || part == segment);
            if matches && let Some(operation) = item.get(method) {
                let exact = !template.contains('{');
                if exact {
                    return Some((template.as_str(), operation));
                }
                found.get_or_insert((template.as_str(), operation));
            }
        }
        found
    }

    /// Checks an answer of the API: its status is documented for the
    /// route, and a JSON body is valid against the schema documented for
    /// that status. `Ok(false)` when no documented route matches (the
    /// answer is then not the document's business).
    pub fn check_answer(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: &Value,
    ) -> Result<bool, Failure> {
        let Some((template, operation)) = self.operation(method, path) else {
            return Ok(false);
        };
        let name = format!("{} {template}", method.to_uppercase());
        let response = operation["responses"]
            .get(status.to_string())
            .ok_or_else(|| {
                format!("{name} answered {status}, which it does not document: {body}")
            })?;
        let response = match response.get("$ref").and_then(Value::as_str) {
            Some(reference) => self.resolve(reference)?,
            None => response,
        };
        if let Some(schema) = response.pointer("/content/application~1json/schema") {
            self.check(schema, body)
                .map_err(|why| format!("{name} answered {status} with {body}: {why}"))?;
        }
        Ok(true)
    }

    /// Every example in the document checked against the schema it
    /// illustrates: schemas' `examples`, media types' `example` and
    /// `examples`, parameters' `example`. Returns how many were checked,
    /// or every failure.
    pub fn check_examples(&self) -> Result<usize, Vec<Failure>> {
        let mut checked = 0;
        let mut failures = Vec::new();
        let mut check = |place: &str, schema: &Value, example: &Value| {
            checked += 1;
            if let Err(why) = self.check(schema, example) {
                failures.push(format!("{place}: example {example}: {why}"));
            }
        };
        let mut stack = vec![(String::new(), &self.doc)];
        while let Some((place, value)) = stack.pop() {
            match value {
                Value::Object(map) => {
                    let schema = map.get("schema");
                    if let Some(examples) = map.get("examples").and_then(Value::as_array) {
                        // A schema's own examples.
                        for example in examples {
                            check(&place, value, example);
                        }
                    }
                    if let Some(schema) = schema {
                        if let Some(example) = map.get("example") {
                            check(&place, schema, example);
                        }
                        if let Some(named) = map.get("examples").and_then(Value::as_object) {
                            for (name, example) in named {
                                // A `$ref` that does not resolve is for the check of
                                // references to find.
                                let example = match example.get("$ref").and_then(Value::as_str) {
                                    Some(reference) => {
                                        self.resolve(reference).unwrap_or(&Value::Null)
                                    }
                                    None => example,
                                };
                                if let Some(example) = example.get("value") {
                                    check(&format!("{place}/examples/{name}"), schema, example);
                                }
                            }
                        }
                    }
                    for (key, item) in map {
                        // The values of `examples` are data, not schemas.
                        if key != "examples" && key != "example" {
                            stack.push((format!("{place}/{key}"), item));
                        }
                    }
                }
                Value::Array(items) => {
                    for (index, item) in items.iter().enumerate() {
                        stack.push((format!("{place}/{index}"), item));
                    }
                }
                _ => {}
            }
        }
        if failures.is_empty() {
            Ok(checked)
        } else {
            Err(failures)
        }
    }
}

fn is_of_type(value: &Value, name: &str) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "number" => value.is_number(),
        "integer" => value.as_f64().is_some_and(|number| number.fract() == 0.0),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn document() -> Document {
        Document::new(json!({
            "paths": {
                "/api/things/{id}": {"get": {"responses": {
                    "200": {"content": {"application/json": {"schema":
                        {"$ref": "#/components/schemas/Thing"}}}}
                }}}
            },
            "components": {"schemas": {"Thing": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "maxLength": 3, "pattern": "^[a-z]+$"},
                    "size": {"type": ["integer", "null"], "minimum": 0},
                    "pair": {"type": "array", "prefixItems": [{"type": "string"},
                        {"type": "boolean"}], "items": false},
                    "either": {"oneOf": [{"type": "string"}, {"enum": [1, 2]}]}
                },
                "additionalProperties": false,
                "examples": [{"name": "abc"}]
            }}}
        }))
    }

    #[test]
    fn valid_values_pass_and_each_keyword_can_fail() {
        let doc = document();
        let thing = json!({"$ref": "#/components/schemas/Thing"});
        let good = json!({"name": "ab", "size": null, "pair": ["a", true], "either": 2});
        assert_eq!(doc.check(&thing, &good), Ok(()));
        for bad in [
            json!({}),
            json!({"name": "abcd"}),
            json!({"name": "AB"}),
            json!({"name": "ab", "size": -1}),
            json!({"name": "ab", "size": 1.5}),
            json!({"name": "ab", "pair": ["a", true, 3]}),
            json!({"name": "ab", "pair": ["a", "b"]}),
            json!({"name": "ab", "either": 3}),
            json!({"name": "ab", "other": 1}),
            json!([]),
        ] {
            assert!(doc.check(&thing, &bad).is_err(), "{bad} passed");
        }
    }

    #[test]
    fn answers_are_checked_against_their_route_and_status() {
        let doc = document();
        assert_eq!(
            doc.check_answer("get", "/api/things/7?x=1", 200, &json!({"name": "ab"})),
            Ok(true)
        );
        assert!(
            doc.check_answer("get", "/api/things/7", 200, &json!({"name": 1}))
                .is_err()
        );
        assert!(
            doc.check_answer("get", "/api/things/7", 404, &json!({}))
                .is_err()
        );
        assert_eq!(
            doc.check_answer("get", "/api/other", 200, &json!(1)),
            Ok(false)
        );
        assert_eq!(doc.check_examples(), Ok(1));
    }
}
