//! Tags: an ordered map of key to scalar value, serialized as one JSON object.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::text::Text;

/// A tag value: FOCUS allows scalars only; a tag that has no value is boolean `true`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TagValue {
    /// A string value, never altered from the source.
    Str(Text),
    /// A valueless tag (`true`) or a boolean tag.
    Bool(bool),
    /// A numeric tag value as the source wrote it.
    Number(serde_json::Number),
}

impl TagValue {
    /// The value as text (`true` for valueless tags).
    pub fn to_text(&self) -> Text {
        match self {
            TagValue::Str(s) => s.clone(),
            TagValue::Bool(true) => Text::new_static("true"),
            TagValue::Bool(false) => Text::new_static("false"),
            TagValue::Number(n) => Text::from(n.to_string()),
        }
    }
}

/// Tags in the order the source gave them; keys are unique (a later duplicate replaces the value
/// but keeps the first position).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Tags(pub IndexMap<Text, TagValue>);

impl Tags {
    /// No tags.
    pub fn new() -> Self {
        Tags(IndexMap::new())
    }

    /// True when there are no tags.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sets a string tag.
    pub fn insert(&mut self, key: &str, value: &str) {
        self.0
            .insert(Text::from(key), TagValue::Str(Text::from(value)));
    }

    /// Sets a tag from a possibly empty source value: empty means valueless, which FOCUS writes as `true`.
    pub fn insert_or_true(&mut self, key: &str, value: &str) {
        if value.is_empty() {
            self.0.insert(Text::from(key), TagValue::Bool(true));
        } else {
            self.insert(key, value);
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&TagValue> {
        self.0.get(key)
    }

    /// Serializes as a JSON object string, the FOCUS Key-Value Format.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "{}".to_string())
    }

    /// Parses a JSON object whose values are scalars. Nested values are kept as their JSON text
    /// (FOCUS allows scalars only), `null` becomes `true` (valueless).
    pub fn from_json_object(obj: &serde_json::Map<String, serde_json::Value>) -> Self {
        let mut t = Tags::new();
        for (k, v) in obj {
            let val = match v {
                serde_json::Value::String(s) => TagValue::Str(Text::from(s.as_str())),
                serde_json::Value::Bool(b) => TagValue::Bool(*b),
                serde_json::Value::Number(n) => TagValue::Number(n.clone()),
                serde_json::Value::Null => TagValue::Bool(true),
                other => TagValue::Str(Text::from(other.to_string())),
            };
            t.0.insert(Text::from(k.as_str()), val);
        }
        t
    }
}
