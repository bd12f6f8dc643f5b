//! Errors on the wire: Key Vault's `{"error":{"code","message","innererror"}}` with the
//! status each core error maps to, and the reading of request bodies.
//!
//! Layer: faces (server). May import the core's `error` and `api` (the route table and the
//! table of calls localhsm does not implement). Invariants: bad input never becomes a 500;
//! a body is read into its wire type in one parse when it is well formed, and only a
//! malformed one is read again, to name what is wrong; an oversized body is answered 413
//! in a way the client can read (see [`read_body`]).

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use serde_json::json;
use zeroize::{Zeroize, Zeroizing};

use crate::api::unimplemented::Missing;
use crate::api::Lookup;
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

    /// The answer to a request the route table has no row for: 405 when a row's path fits
    /// with another method, else 404.
    pub fn unrouted(miss: &Lookup<'_>, method: &Method, path: &str) -> Self {
        match miss {
            Lookup::MethodNotAllowed => Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                format!("method {method} is not allowed on this resource"),
            ),
            _ => Self::new(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("no such resource: {path}"),
            ),
        }
    }

    /// A call of Key Vault's specifications that localhsm does not implement: 501
    /// `NotImplemented` naming it (never a 404 an SDK would read as "not found").
    pub fn not_implemented(missing: &Missing) -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            missing.message(),
        )
    }

    /// A body over `limit` bytes: 413 `RequestTooLarge`. Its response closes the
    /// connection, whose body may not have been read to the end.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLarge",
            format!("the request body exceeds {limit} bytes"),
        )
    }

    /// A row handed to a handler that does not serve it: a defect of the server, not of
    /// the request.
    pub(crate) fn misrouted(op: crate::api::Op) -> Self {
        tracing::error!(?op, "no handler serves this route");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            format!("{} has no handler", op.route().log_name),
        )
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
        if let Error::DiskFull { .. } = e {
            tracing::warn!(error = %e, "a write was refused");
        } else if wire.status >= 500 {
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
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // The clients' retry policies honour it; a database restart takes seconds.
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body may still be on its way: the connection cannot carry
            // another request. (hyper drops this header from HTTP/2 responses.)
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }
}

/// How many bytes past the limit of [`read_body`] an oversized body is read and discarded
/// for, so the client can finish sending and read the 413.
pub const DRAIN_BYTES: u64 = 8 << 20;
/// How long an oversized body is read and discarded for, at most.
pub const DRAIN_TIME: Duration = Duration::from_secs(10);

/// Reads a request body of at most `limit` bytes; a larger one is a 413 the client can
/// read. A server that answers while the client is still sending, and then closes the
/// connection, makes the client's TCP stack see a reset, not the answer. So:
/// - a declared `Content-Length` over the limit with `Expect: 100-continue` is answered at
///   once, without a byte of the body read (hyper sends `100 Continue` only when the body
///   is first read, so the client never sends it);
/// - otherwise the body is read and discarded, up to [`DRAIN_BYTES`] past the limit and
///   for [`DRAIN_TIME`], before the 413 goes out (a body declared larger than that is
///   answered at once: waiting for it would not help);
/// - a chunked body is read until it passes the limit, then drained the same way.
///
/// A body may carry private key members or secret values, so it is read into memory that
/// is wiped when dropped: the buffer grows by copying into a larger wiped buffer (never by
/// a reallocation that would free an unwiped copy), and each chunk the connection handed
/// over is wiped once copied, when this request holds it alone.
pub async fn read_body(
    headers: &HeaderMap,
    mut body: Body,
    limit: usize,
) -> Result<Zeroizing<Vec<u8>>, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let limit64 = limit as u64;
    if let Some(n) = declared.filter(|n| *n > limit64) {
        let expects_continue = headers
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        if !expects_continue && n <= limit64 + DRAIN_BYTES {
            drain(body, n).await;
        }
        return Err(ApiError::too_large(limit));
    }
    let mut buf = Zeroizing::new(Vec::with_capacity(declared.map_or(0, |n| n as usize)));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| {
            ApiError::bad_parameter("the request body could not be read to its end")
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if buf.len() + data.len() > limit {
            let read = (buf.len() + data.len()) as u64;
            drain(body, (limit64 + DRAIN_BYTES).saturating_sub(read)).await;
            return Err(ApiError::too_large(limit));
        }
        append_wiped(&mut buf, data);
    }
    Ok(buf)
}

/// Appends `data` to `buf` without leaving an unwiped copy behind: a full `buf` moves into
/// a larger one and the old is wiped; `data` is wiped after the copy when nothing else
/// shares it.
fn append_wiped(buf: &mut Zeroizing<Vec<u8>>, data: Bytes) {
    let needed = buf.len() + data.len();
    if needed > buf.capacity() {
        let mut grown = Zeroizing::new(Vec::with_capacity(needed.max(buf.capacity() * 2)));
        grown.extend_from_slice(buf);
        *buf = grown;
    }
    buf.extend_from_slice(&data);
    if let Ok(mut own) = data.try_into_mut() {
        own.as_mut().zeroize();
    }
}

/// Reads and discards up to `bytes` more of `body` (or until it ends, fails, or
/// [`DRAIN_TIME`] passes).
async fn drain(mut body: Body, bytes: u64) {
    let discard = async {
        let mut left = bytes;
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data() {
                left = left.saturating_sub(data.len() as u64);
                if left == 0 {
                    break;
                }
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, discard).await;
}

/// Reads a JSON body into `T`. A well-formed body (UTF-8 throughout, an object at the
/// top, nesting within bounds, no duplicate members, nothing after the value) is parsed
/// once, straight into `T`; anything else is read again, strictly (`parse_strictly`),
/// for a message that names what is wrong.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let fast = std::str::from_utf8(body).ok().filter(|text| {
        text.trim_start().starts_with('{') && nesting_within(text.as_bytes(), MAX_NESTING)
    });
    // `from_str`, not `from_slice`: members `T` ignores are skipped without decoding, and
    // only a `str` guarantees their UTF-8.
    match fast.map(serde_json::from_str::<T>) {
        Some(Ok(value)) => Ok(value),
        _ => parse_strictly(body),
    }
}

/// Drops a parsed JSON value, wiping every string in it (member names too) first.
pub(crate) fn wipe_json(mut value: serde_json::Value) {
    wipe_strings(&mut value);
}

/// Wipes every string of `value` in place: string values end empty, objects end without
/// members (their names wiped).
fn wipe_strings(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe_strings),
        Value::Object(members) => {
            for (mut name, mut v) in std::mem::take(members) {
                name.zeroize();
                wipe_strings(&mut v);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// How deep arrays and objects may nest: serde_json's own limit for the values it builds.
/// Members a type ignores are skipped without that limit, so it is checked beforehand.
const MAX_NESTING: usize = 127;

/// Whether the arrays and objects of a JSON text nest at most `max` deep (strings, and
/// brackets inside them, are skipped; malformed text is left to the parser).
fn nesting_within(json: &[u8], max: usize) -> bool {
    // No deeper than there are opening brackets. The count settles almost every body
    // without a walk byte by byte: `[` and `{` differ only in bit 0x20, and a byte-wide
    // count over chunks of at most 255 bytes cannot overflow, which lets it vectorize.
    let opening: usize = json
        .chunks(255)
        .map(|c| usize::from(c.iter().fold(0u8, |n, &b| n + u8::from(b | 0x20 == b'{'))))
        .sum();
    if opening <= max {
        return true;
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

/// Reads a body [`parse_json`] could not read at once: a syntax check of the whole text,
/// then the typed pass, which names the field at fault.
fn parse_strictly<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
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
    let given = match &value {
        serde_json::Value::Object(_) => None,
        serde_json::Value::Array(_) => Some("an array"),
        serde_json::Value::String(_) => Some("a string"),
        serde_json::Value::Number(_) => Some("a number"),
        serde_json::Value::Bool(_) => Some("a boolean"),
        serde_json::Value::Null => Some("null"),
    };
    // The syntax pass's copy of the body holds whatever the body held (private JWK
    // members, a secret's value): wiped, not just freed.
    wipe_json(value);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::KeyUpdateParameters;

    fn outcome(r: Result<KeyUpdateParameters, ApiError>) -> String {
        match r {
            Ok(p) => format!("ok {:?}", p.tags),
            Err(e) => e.message,
        }
    }

    #[test]
    fn one_parse_reads_what_the_strict_reading_reads() {
        let nested = |n: usize| format!(r#"{{"x":{}1{}}}"#, "[".repeat(n), "]".repeat(n));
        let bodies: Vec<Vec<u8>> = [
            r#"{"tags":{"a":"b"}}"#.to_string(),
            " \n{}".to_string(),
            r#"{"tags":{"a":"b"},"tags":{}}"#.to_string(),
            r#"{"tags":{"a":1}}"#.to_string(),
            format!(r#"{{"x":"{}","tags":{{"k":"v"}}}}"#, "[{".repeat(200)),
            r#"{"x":"\"[[","tags":null}"#.to_string(),
            nested(126),
            nested(127),
            nested(200),
            "[]".to_string(),
            "{} {}".to_string(),
            "{".to_string(),
            String::new(),
        ]
        .into_iter()
        .map(String::into_bytes)
        .chain([b"{\"x\":\"\xff\"}".to_vec()])
        .collect();
        for body in &bodies {
            assert_eq!(
                outcome(parse_json(body)),
                outcome(parse_strictly(body)),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        // Deep nesting is refused even in a member the type ignores.
        assert!(parse_json::<KeyUpdateParameters>(nested(200).as_bytes()).is_err());
        assert!(parse_json::<KeyUpdateParameters>(nested(100).as_bytes()).is_ok());
        assert!(nesting_within(
            format!("[\"{}\"]", "[".repeat(300)).as_bytes(),
            5
        ));
        assert!(!nesting_within("[".repeat(300).as_bytes(), 127));
    }

    #[test]
    fn a_parsed_body_is_wiped_to_its_last_string() {
        let mut v: serde_json::Value = serde_json::from_str(
            r#"{"key": {"kty": "RSA", "d": "c2VjcmV0LWQ", "p": "cA", "oth": [{"r": "cjE"}]},
                "value": "hush-hush", "tags": {"hush-name": "x"}, "n": 1, "ok": true}"#,
        )
        .unwrap();
        wipe_strings(&mut v);
        let left = v.to_string();
        for secret in ["c2VjcmV0LWQ", "cA", "cjE", "hush", "RSA"] {
            assert!(!left.contains(secret), "{secret} survives in {left}");
        }
        assert_eq!(left, "{}");
        let mut list = serde_json::json!(["a-secret", ["nested-secret"], 5]);
        wipe_strings(&mut list);
        assert_eq!(list, serde_json::json!(["", [""], 5]));
    }

    #[test]
    fn bodies_and_the_wire_types_that_carry_secrets_are_zeroizing() {
        // A body read in several chunks arrives whole, in memory wiped on drop.
        struct Chunks(std::collections::VecDeque<Bytes>);
        impl hyper::body::Body for Chunks {
            type Data = Bytes;
            type Error = std::convert::Infallible;
            fn poll_frame(
                mut self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>>
            {
                std::task::Poll::Ready(self.0.pop_front().map(|b| Ok(hyper::body::Frame::data(b))))
            }
        }
        let chunks = (0..40).map(|i| Bytes::from(vec![b'a' + (i % 26) as u8; 1000]));
        let body = Body::new(Chunks(chunks.collect()));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let read: Zeroizing<Vec<u8>> = rt
            .block_on(read_body(&HeaderMap::new(), body, 1 << 20))
            .unwrap();
        assert_eq!(read.len(), 40_000);
        assert!(read[..1000].iter().all(|&b| b == b'a'));
        assert!(read[39_000..].iter().all(|&b| b == b'a' + 13));

        // The members that hold private key parts and secret values are types that wipe
        // themselves on drop; a change to a plain type fails to compile here.
        use crate::crypto::{SecretBase64Url, SecretString};
        fn wiped_jwk_member(_: &Option<SecretBase64Url>) {}
        fn wiped_text(_: &SecretString) {}
        let jwk = crate::crypto::Jwk::default();
        for member in [&jwk.d, &jwk.p, &jwk.q, &jwk.dp, &jwk.dq, &jwk.qi, &jwk.k] {
            wiped_jwk_member(member);
        }
        let secret: crate::api::SecretSetParameters =
            serde_json::from_str(r#"{"value": "v"}"#).unwrap();
        wiped_text(&secret.value);
        let cert: crate::api::CertificateImportParameters =
            serde_json::from_str(r#"{"value": "v", "pwd": "p"}"#).unwrap();
        wiped_text(&cert.value);
        wiped_text(cert.pwd.as_ref().unwrap());
    }
}
