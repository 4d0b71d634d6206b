//! What the outermost service ([`crate::router::Front`]) does for errors: gives every request an
//! id (`X-Request-Id`: the client's when it is a plausible one, else a new UUIDv7), and turns any
//! 4xx/5xx that is not already a JSON envelope (unknown route, wrong method, timeout, caught
//! panic) into one, with that id.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use super::{REQUEST_ID_HEADER, bare_error, envelope_response};

/// The request's id: the client's `X-Request-Id` when it is 1–64 letters, digits and dashes,
/// else a new one, made at `now_ms` (epoch milliseconds).
pub fn request_id(headers: &HeaderMap, now_ms: u64) -> HeaderValue {
    headers
        .get(&REQUEST_ID_HEADER)
        .filter(|v| {
            let v = v.as_bytes();
            !v.is_empty() && v.len() <= 64 && v.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        })
        .cloned()
        .unwrap_or_else(|| new_request_id(now_ms))
}

/// The answer with its id, and in the envelope if it is an error without one.
pub fn enveloped(mut res: Response, id: HeaderValue) -> Response {
    let status = res.status();
    let is_json =
        || res.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    // The status first: most answers are not errors, and a header lookup costs a hash.
    if (status.is_client_error() || status.is_server_error()) && !is_json() {
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

/// A UUIDv7 whose random bits come from `fastrand`'s thread-local generator (seeded per thread
/// from the process's random hash keys): an id has to be unique, not unguessable, and this costs
/// about 20 instructions where the thread's CSPRNG took about 300 (`Uuid::now_v7` would even
/// ask the kernel for random bytes, a system call, on every request).
fn new_request_id(millis: u64) -> HeaderValue {
    let mut random = [0u8; 10];
    fastrand::fill(&mut random);
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

    #[test]
    fn new_ids_are_distinct_uuid_v7_on_every_thread() {
        let now = || crate::ratelimit::epoch_millis(std::time::SystemTime::now());
        let ids =
            |n| (0..n).map(|_| request_id(&HeaderMap::new(), now()).to_str().unwrap().to_owned()).collect::<Vec<_>>();
        let mut all: Vec<String> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..4).map(|_| s.spawn(|| ids(10_000))).collect();
            threads.into_iter().flat_map(|t| t.join().unwrap()).collect()
        });
        for id in &all {
            let uuid = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(uuid.get_version_num(), 7, "{id}");
        }
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 40_000, "no id repeats, within or across threads");
        // A new id carries the time it was made at (the request's arrival, read once by the front).
        let made = uuid::Uuid::parse_str(request_id(&HeaderMap::new(), 1_700_000_000_123).to_str().unwrap()).unwrap();
        let (secs, nanos) = made.get_timestamp().unwrap().to_unix();
        assert_eq!((secs, nanos / 1_000_000), (1_700_000_000, 123));
        // A client's own id is kept; one that is not 1–64 letters, digits and dashes is replaced.
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_ID_HEADER, HeaderValue::from_static("trace-42"));
        assert_eq!(request_id(&headers, now()), "trace-42");
        headers.insert(REQUEST_ID_HEADER, HeaderValue::from_static("bad id"));
        assert_ne!(request_id(&headers, now()), "bad id");
    }
}
