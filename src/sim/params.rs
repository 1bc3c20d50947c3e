//! Request parameters as the legacy clients send them.
//!
//! `paperspace-node` puts every parameter of a GET in the query string (so
//! everything arrives as a string, `null` as `"null"`) and every parameter of
//! a POST in a JSON body (typed). [`Params`] reads both the same way: a GET's
//! `"true"` is a boolean and `"50"` a number, while a POST body must carry
//! the real JSON type. Unknown keys are ignored (the CLI forwards its argv
//! leftovers), but a known key of the wrong type is refused, naming it.

use serde_json::{Map, Value};

/// Why parameters were refused; every variant is a 400 naming the parameter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    /// Worded like the Node client's own check.
    #[error("Missing required parameter `{0}`")]
    Missing(&'static str),
    /// Worded like the Node client's own check.
    #[error("Parameter `{name}` expected to be a {expected}")]
    WrongType {
        /// The parameter.
        name: &'static str,
        /// `string`, `number`, `boolean`, …
        expected: &'static str,
    },
    #[error("Malformed JSON body: {0}")]
    MalformedBody(String),
    #[error("Invalid parameter `{name}`: {problem}")]
    Invalid {
        /// The parameter.
        name: &'static str,
        /// What is wrong with its value.
        problem: String,
    },
}

/// Where the parameters came from, which decides how types are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// JSON body: types must match.
    Body,
    /// Query string: every value is a string to be parsed.
    Query,
}

/// The parameters of one request.
#[derive(Debug, Clone)]
pub struct Params {
    /// Key to value; a query's values are all strings.
    values: Map<String, Value>,
    /// How to read `values`.
    source: Source,
}

impl Params {
    /// Reads a POST body. An empty body (the Python clients send none for
    /// start/stop/restart) or `null` counts as no parameters.
    pub fn from_body(body: &[u8]) -> Result<Self, ParamError> {
        let values = if body.iter().all(u8::is_ascii_whitespace) {
            Map::new()
        } else {
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(map)) => map,
                Ok(Value::Null) => Map::new(),
                Ok(other) => {
                    return Err(ParamError::MalformedBody(format!(
                        "expected a JSON object, got {}",
                        json_type(&other)
                    )));
                }
                Err(e) => return Err(ParamError::MalformedBody(e.to_string())),
            }
        };
        Ok(Params {
            values,
            source: Source::Body,
        })
    }

    /// Reads a query string; a repeated key keeps its last value.
    pub fn from_query(query: Option<&str>) -> Self {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default();
        let values = pairs
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        Params {
            values,
            source: Source::Query,
        }
    }

    /// Every parameter, for filters.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The value, with JSON `null` treated as absent.
    fn present(&self, name: &str) -> Option<&Value> {
        self.values.get(name).filter(|v| !v.is_null())
    }

    fn wrong(name: &'static str, expected: &'static str) -> ParamError {
        ParamError::WrongType { name, expected }
    }

    pub fn str(&self, name: &'static str) -> Result<Option<&str>, ParamError> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Self::wrong(name, "string")),
        }
    }

    pub fn required_str(&self, name: &'static str) -> Result<&str, ParamError> {
        self.str(name)?.ok_or(ParamError::Missing(name))
    }

    /// `Some(None)` when the key is present as `null` (clears a setting).
    pub fn nullable_str(&self, name: &'static str) -> Result<Option<Option<&str>>, ParamError> {
        match self.values.get(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(s)) if self.source == Source::Query && s == "null" => Ok(Some(None)),
            Some(Value::String(s)) => Ok(Some(Some(s))),
            Some(_) => Err(Self::wrong(name, "string")),
        }
    }

    pub fn bool(&self, name: &'static str) -> Result<Option<bool>, ParamError> {
        match (self.present(name), self.source) {
            (None, _) => Ok(None),
            (Some(Value::Bool(b)), _) => Ok(Some(*b)),
            (Some(Value::String(s)), Source::Query) if s == "true" => Ok(Some(true)),
            (Some(Value::String(s)), Source::Query) if s == "false" => Ok(Some(false)),
            _ => Err(Self::wrong(name, "boolean")),
        }
    }

    pub fn required_bool(&self, name: &'static str) -> Result<bool, ParamError> {
        self.bool(name)?.ok_or(ParamError::Missing(name))
    }

    pub fn number(&self, name: &'static str) -> Result<Option<f64>, ParamError> {
        match (self.present(name), self.source) {
            (None, _) => Ok(None),
            (Some(Value::Number(n)), _) => n.as_f64().map(Some).ok_or(Self::wrong(name, "number")),
            (Some(Value::String(s)), Source::Query) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .map(Some)
                .ok_or(Self::wrong(name, "number")),
            _ => Err(Self::wrong(name, "number")),
        }
    }

    pub fn required_number(&self, name: &'static str) -> Result<f64, ParamError> {
        self.number(name)?.ok_or(ParamError::Missing(name))
    }

    /// `Some(None)` when the key is present as `null`.
    pub fn nullable_number(&self, name: &'static str) -> Result<Option<Option<f64>>, ParamError> {
        match self.values.get(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(s)) if self.source == Source::Query && s == "null" => Ok(Some(None)),
            Some(_) => self.number(name).map(Some),
        }
    }

    /// A count such as `limit` or `skip`: a whole number ≥ 0.
    pub fn count(&self, name: &'static str) -> Result<Option<usize>, ParamError> {
        let bad = || ParamError::Invalid {
            name,
            problem: "must be a whole number ≥ 0".to_string(),
        };
        match self.present(name) {
            None => Ok(None),
            Some(Value::String(s)) => s.trim().parse::<usize>().map(Some).map_err(|_| bad()),
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .map(Some)
                .ok_or_else(bad),
            Some(_) => Err(bad()),
        }
    }
}

/// The JSON type's name, for messages.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON value as the string a query filter compares with (`null` as `"null"`).
pub fn as_filter_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_parse_as_their_types() {
        let p = Params::from_query(Some("size=50&on=true&name=a%20b&n=null&x=yes"));
        assert_eq!(p.number("size").unwrap(), Some(50.0));
        assert_eq!(p.bool("on").unwrap(), Some(true));
        assert_eq!(p.str("name").unwrap(), Some("a b"));
        assert_eq!(p.nullable_str("n").unwrap(), Some(None));
        assert!(p.bool("x").is_err());
        assert_eq!(
            p.required_str("missing"),
            Err(ParamError::Missing("missing"))
        );
    }

    #[test]
    fn body_values_must_have_their_types() {
        let p = Params::from_body(br#"{"size":"50","on":true,"gone":null}"#).unwrap();
        assert_eq!(
            p.number("size").unwrap_err().to_string(),
            "Parameter `size` expected to be a number"
        );
        assert_eq!(p.bool("on").unwrap(), Some(true));
        assert_eq!(p.str("gone").unwrap(), None);
        assert!(Params::from_body(b"").unwrap().iter().next().is_none());
        assert!(matches!(
            Params::from_body(b"{oops"),
            Err(ParamError::MalformedBody(_))
        ));
        assert!(Params::from_body(b"[1]").is_err());
    }
}
