//! Errors on the wire: Key Vault's `{"error":{"code","message","innererror"}}` with the
//! status each core error maps to. Bad input never becomes a 500.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::Error;

/// An error answered to an HTTP client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    inner: Option<&'static str>,
    message: String,
}

impl ApiError {
    /// A `400 BadParameter` naming what is wrong.
    pub fn bad_parameter(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadParameter", message)
    }

    /// Any status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            inner: None,
            message: message.into(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The Key Vault error code.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let wire = e.wire();
        if wire.status >= 500 {
            tracing::error!(error = %e, "internal error");
        }
        Self {
            status: StatusCode::from_u16(wire.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: wire.code,
            inner: wire.inner,
            message: e.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(inner) = self.inner {
            error["innererror"] = json!({ "code": inner });
        }
        let mut resp = (self.status, axum::Json(json!({ "error": error }))).into_response();
        resp.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        resp
    }
}

/// Parses a JSON body, naming the offending field in the error.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_parameter(
            "the request body is empty; a JSON object is required",
        ));
    }
    // Strict syntax first: UTF-8 throughout, nothing after the value, bounded nesting, and
    // an object at the top (serde would otherwise read a JSON array as a struct, field by
    // position, so `[]` would be an empty update). Then the typed pass, which names the
    // field at fault and refuses duplicate members.
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_parameter(strip_location(&format!(
            "the request body is not valid JSON: {e}"
        )))
    })?;
    let given = match value {
        serde_json::Value::Object(_) => None,
        serde_json::Value::Array(_) => Some("an array"),
        serde_json::Value::String(_) => Some("a string"),
        serde_json::Value::Number(_) => Some("a number"),
        serde_json::Value::Bool(_) => Some("a boolean"),
        serde_json::Value::Null => Some("null"),
    };
    if let Some(given) = given {
        return Err(ApiError::bad_parameter(format!(
            "invalid request body: a JSON object is required, not {given}"
        )));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let what = if inner.is_syntax() || inner.is_eof() {
            "the request body is not valid JSON".to_string()
        } else if path == "." {
            format!("invalid request body: {inner}")
        } else {
            format!("invalid value for field '{path}': {inner}")
        };
        ApiError::bad_parameter(strip_location(&what))
    })
}

/// serde_json appends " at line L column C"; that is noise for a one-line body.
fn strip_location(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}
