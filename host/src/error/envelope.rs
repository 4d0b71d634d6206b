//! What the outermost service ([`crate::router::Front`]) does for errors: gives every request an
//! id (`X-Request-Id`: the client's when it is a plausible one, else a new UUIDv7), and turns any
//! 4xx/5xx that is not already a JSON envelope (unknown route, wrong method, timeout, caught
//! panic) into one, with that id.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use super::{REQUEST_ID_HEADER, bare_error, envelope_response};

/// The request's id: the client's `X-Request-Id` when it is 1–64 letters, digits and dashes,
/// else a new one.
pub fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers
        .get(&REQUEST_ID_HEADER)
        .filter(|v| {
            let v = v.as_bytes();
            !v.is_empty() && v.len() <= 64 && v.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        })
        .cloned()
        .unwrap_or_else(new_request_id)
}

/// The answer with its id, and in the envelope if it is an error without one.
pub fn enveloped(mut res: Response, id: HeaderValue) -> Response {
    let status = res.status();
    let is_json =
        res.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if (status.is_client_error() || status.is_server_error()) && !is_json {
        let (code, message) = bare_error(status);
        let headers = std::mem::take(res.headers_mut());
        res = envelope_response(status, code, message, None, Some(id.to_str().unwrap_or_default()));
        // The fields that described the old body go with it (a compressed one included: the
        // envelope is not).
        let about_body = [header::CONTENT_TYPE, header::CONTENT_LENGTH, header::CONTENT_ENCODING];
        for (name, value) in headers.iter().filter(|(n, _)| !about_body.contains(n)) {
            res.headers_mut().append(name, value.clone());
        }
    }
    res.headers_mut().insert(REQUEST_ID_HEADER, id);
    res
}

/// A UUIDv7 from the thread's RNG: `Uuid::now_v7` would ask the kernel for random bytes (a
/// system call) on every request.
fn new_request_id() -> HeaderValue {
    let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let mut random = [0u8; 10];
    rand::fill(&mut random);
    let uuid = uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid();
    HeaderValue::from_str(uuid.hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer())).expect("a UUID is ASCII")
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse;

    use super::*;

    #[test]
    fn a_compressed_bare_error_becomes_a_plain_envelope() {
        let bare = (
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            [(header::CONTENT_ENCODING, "gzip"), (header::VARY, "accept-encoding")],
            "not json, and not gzip either",
        )
            .into_response();
        let res = enveloped(bare, HeaderValue::from_static("req-1"));
        assert_eq!(res.status(), axum::http::StatusCode::PAYLOAD_TOO_LARGE);
        assert!(res.headers().get(header::CONTENT_ENCODING).is_none(), "the envelope is not gzip");
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(res.headers()[header::VARY], "accept-encoding");
        assert_eq!(res.headers()[REQUEST_ID_HEADER], "req-1");
    }
}
