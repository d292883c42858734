//! Helpers shared by the integration tests.

#![allow(dead_code)]

/// A checker for the JSON Schema keywords `docs/budgets.schema.json` and `docs/rules.schema.json`
/// use, except `pattern` and `propertyNames` (no regex engine in this workspace; the parser checks those shapes itself).
pub fn schema_ok(
    schema: &serde_json::Value,
    root: &serde_json::Value,
    v: &serde_json::Value,
) -> bool {
    use serde_json::Value as J;
    let Some(s) = schema.as_object() else {
        return schema.as_bool().unwrap_or(true);
    };
    let sub = |k: &str, x: &J| s.get(k).map(|sc| schema_ok(sc, root, x)).unwrap_or(true);
    if let Some(r) = s.get("$ref").and_then(J::as_str) {
        let name = r.strip_prefix("#/$defs/").expect("local ref");
        if !schema_ok(&root["$defs"][name], root, v) {
            return false;
        }
    }
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            J::String(x) => vec![x.as_str()],
            J::Array(a) => a.iter().filter_map(J::as_str).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "boolean" => v.is_boolean(),
            "number" => v.is_number(),
            "integer" => v.is_i64() || v.is_u64(),
            _ => false,
        });
        if !ok {
            return false;
        }
    }
    if let Some(e) = s.get("enum").and_then(J::as_array) {
        if !e.contains(v) {
            return false;
        }
    }
    if s.get("const").is_some_and(|c| c != v) {
        return false;
    }
    if let Some(n) = v.as_f64() {
        if s.get("minimum").and_then(J::as_f64).is_some_and(|m| n < m)
            || s.get("exclusiveMinimum")
                .and_then(J::as_f64)
                .is_some_and(|m| n <= m)
        {
            return false;
        }
    }
    if let Some(x) = v.as_str() {
        if s.get("minLength")
            .and_then(J::as_u64)
            .is_some_and(|m| (x.chars().count() as u64) < m)
        {
            return false;
        }
    }
    if let Some(a) = v.as_array() {
        if s.get("minItems")
            .and_then(J::as_u64)
            .is_some_and(|m| (a.len() as u64) < m)
        {
            return false;
        }
        if !a.iter().all(|x| sub("items", x)) {
            return false;
        }
    }
    if let Some(o) = v.as_object() {
        if let Some(req) = s.get("required").and_then(J::as_array) {
            if !req.iter().filter_map(J::as_str).all(|k| o.contains_key(k)) {
                return false;
            }
        }
        if s.get("minProperties")
            .and_then(J::as_u64)
            .is_some_and(|m| (o.len() as u64) < m)
        {
            return false;
        }
        let props = s.get("properties").and_then(J::as_object);
        for (k, x) in o {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => {
                    if !schema_ok(ps, root, x) {
                        return false;
                    }
                }
                None => {
                    if !sub("additionalProperties", x) {
                        return false;
                    }
                }
            }
        }
    }
    let all = |k: &str| {
        s.get(k)
            .and_then(J::as_array)
            .map(|a| a.iter().map(|x| schema_ok(x, root, v)).collect::<Vec<_>>())
    };
    if all("allOf").is_some_and(|r| r.contains(&false))
        || all("anyOf").is_some_and(|r| !r.contains(&true))
        || all("oneOf").is_some_and(|r| r.iter().filter(|b| **b).count() != 1)
        || s.get("not").is_some_and(|n| schema_ok(n, root, v))
    {
        return false;
    }
    if let Some(i) = s.get("if") {
        let branch = if schema_ok(i, root, v) {
            "then"
        } else {
            "else"
        };
        if !sub(branch, v) {
            return false;
        }
    }
    true
}
