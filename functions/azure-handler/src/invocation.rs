//! The custom-handler protocol: the invocation request the Functions host POSTs to
//! `/{function name}` (`Data`: trigger and input bindings, `Metadata`: trigger metadata and `sys`)
//! and the response it reads back (`Outputs`, `Logs`, `ReturnValue`).

use chrono::{DateTime, Utc};
use costkit_core::flow::FlowError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What the host sends.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct InvocationRequest {
    /// Trigger and input binding values by binding name.
    #[serde(rename = "Data", default)]
    pub data: Map<String, Value>,
    /// Trigger metadata (`DequeueCount`, `Id`... for queues) and `sys` (`MethodName`, `UtcNow`).
    #[serde(rename = "Metadata", default)]
    pub metadata: Map<String, Value>,
}

/// What the handler answers.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct InvocationResponse {
    /// Output binding values by binding name (`res` for an HTTP response).
    #[serde(rename = "Outputs")]
    pub outputs: Map<String, Value>,
    /// Lines the host writes to the function's invocation log.
    #[serde(rename = "Logs")]
    pub logs: Vec<String>,
    /// The `$return` binding's value.
    #[serde(rename = "ReturnValue")]
    pub return_value: Value,
}

/// An HTTP trigger's request as the host passes it when it does not forward the request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET`, `POST`...
    pub method: String,
    /// The full URL the client called.
    pub url: String,
    /// Headers (a name may repeat).
    pub headers: Vec<(String, String)>,
    /// The body text.
    pub body: String,
}

fn invalid(msg: String) -> FlowError {
    FlowError::Invalid(msg)
}

impl InvocationRequest {
    /// The queue message of binding `name` as text. The host passes the decoded message as a
    /// JSON string; a message that is itself JSON may come as an object, which is re-serialized.
    pub fn queue_item(&self, name: &str) -> Result<String, FlowError> {
        match self.data.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v @ Value::Object(_)) => Ok(v.to_string()),
            Some(other) => Err(invalid(format!(
                "binding `{name}`: expected the queue message text, got {other}"
            ))),
            None => Err(invalid(format!(
                "the invocation has no `Data.{name}` (check the binding name in function.json)"
            ))),
        }
    }

    /// `Metadata.sys.UtcNow`: the host's clock at the invocation.
    pub fn utc_now(&self) -> Option<DateTime<Utc>> {
        self.metadata
            .get("sys")
            .and_then(|s| s.get("UtcNow"))
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    }

    /// A metadata field as text (numbers and quoted strings alike: the host has sent both).
    pub fn meta(&self, name: &str) -> Option<String> {
        match self.metadata.get(name)? {
            Value::String(s) => Some(s.trim_matches('"').to_string()),
            Value::Null => None,
            v => Some(v.to_string()),
        }
    }

    /// The HTTP request of binding `name`.
    pub fn http(&self, name: &str) -> Result<HttpRequest, FlowError> {
        let req = self.data.get(name).ok_or_else(|| {
            invalid(format!(
                "the invocation has no `Data.{name}` (HTTP request)"
            ))
        })?;
        let text = |k: &str| req.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let mut headers = Vec::new();
        if let Some(Value::Object(h)) = req.get("Headers") {
            for (k, v) in h {
                match v {
                    Value::Array(vs) => headers.extend(
                        vs.iter()
                            .filter_map(Value::as_str)
                            .map(|x| (k.clone(), x.to_string())),
                    ),
                    Value::String(s) => headers.push((k.clone(), s.clone())),
                    _ => {}
                }
            }
        }
        let body = match req.get("Body") {
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) => String::new(),
            Some(v) => v.to_string(),
        };
        Ok(HttpRequest {
            method: text("Method"),
            url: text("Url"),
            headers,
            body,
        })
    }
}

impl InvocationResponse {
    /// A response with these log lines and return value.
    pub fn new(logs: Vec<String>, return_value: Value) -> Self {
        InvocationResponse {
            outputs: Map::new(),
            logs,
            return_value,
        }
    }

    /// An HTTP response on output binding `name`.
    pub fn http(name: &str, status: u16, headers: Map<String, Value>, body: String) -> Self {
        let mut outputs = Map::new();
        outputs.insert(
            name.to_string(),
            serde_json::json!({"statusCode": status, "headers": headers, "body": body}),
        );
        InvocationResponse {
            outputs,
            logs: Vec::new(),
            return_value: Value::Null,
        }
    }
}
