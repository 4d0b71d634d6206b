//! Body and query extractors whose rejections are [`ApiError`]s naming the field at fault.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Largest accepted request body (1 MiB); larger bodies get 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON body (in) or JSON response (out).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime.eq_ignore_ascii_case("application/json")
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(MAX_BODY_BYTES)
            } else {
                ApiError::MalformedJson(rejection.body_text())
            }
        })?;
        parse_json(&bytes).map(Json)
    }
}

/// Parses a JSON body: syntax errors are 400, shape errors 422 with the field path.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Syntax first, so a truncated or trailing-garbage body is reported as such rather than as
    // whichever field the shape check happened to miss.
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
        .map_err(|e| ApiError::MalformedJson(strip_position(&e.to_string())))?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let message = strip_position(&inner.to_string());
                ApiError::invalid(field_name(&path, &message), message)
            }
            _ => ApiError::MalformedJson(strip_position(&inner.to_string())),
        }
    })?;
    de.end().map_err(|e| ApiError::MalformedJson(strip_position(&e.to_string())))?;
    Ok(value)
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A query string.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map(Query).map_err(|err| {
            let path = err.path().to_string();
            let message = err.into_inner().to_string();
            ApiError::invalid(field_name(&path, &message), message)
        })
    }
}

/// The field a serde error is about: its path, or for a missing field the name serde quotes.
fn field_name(path: &str, message: &str) -> String {
    if path != "." && !path.is_empty() {
        let missing = message.strip_prefix("missing field `").and_then(|m| m.split('`').next());
        return match missing {
            Some(name) => format!("{path}.{name}"),
            None => path.to_owned(),
        };
    }
    message
        .strip_prefix("missing field `")
        .or_else(|| message.strip_prefix("unknown field `"))
        .and_then(|m| m.split('`').next())
        .unwrap_or("body")
        .to_owned()
}

/// serde_json appends " at line 1 column 7": true but noise for an API client.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        email: String,
        count: u32,
    }

    fn field_of(json: &str) -> (String, String) {
        match parse_json::<Body>(json.as_bytes()).unwrap_err() {
            ApiError::InvalidField { field, message } => (field, message),
            other => panic!("expected InvalidField, got {other:?}"),
        }
    }

    #[test]
    fn names_missing_and_mistyped_fields() {
        assert_eq!(field_of(r#"{"count": 1}"#).0, "email");
        let (field, message) = field_of(r#"{"email": 5, "count": 1}"#);
        assert_eq!(field, "email");
        assert!(message.starts_with("invalid type: integer `5`, expected a string"), "{message}");
        assert_eq!(field_of(r#"{"email": "a@b", "count": -1}"#).0, "count");
    }

    #[test]
    fn syntax_errors_are_malformed() {
        for bad in ["{", "not json", r#"{"email": "a"} trailing"#, ""] {
            assert!(matches!(parse_json::<Body>(bad.as_bytes()), Err(ApiError::MalformedJson(_))), "{bad}");
        }
    }
}

/// The `{id}` path segment as a UUID. Anything that is not a UUID cannot name a resource, so it
/// is a 404 like any other unknown id.
#[derive(Debug, Clone, Copy)]
pub struct PathId(pub uuid::Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state).await.map_err(|_| ApiError::NotFound)?;
        uuid::Uuid::try_parse(&raw).map(PathId).map_err(|_| ApiError::NotFound)
    }
}

/// Two id segments (`/{id}/…/{other_id}`), each a UUID; anything else is a 404.
#[derive(Debug, Clone, Copy)]
pub struct PathIds(pub uuid::Uuid, pub uuid::Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path((a, b)) = axum::extract::Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound)?;
        let parse = |raw: &str| uuid::Uuid::try_parse(raw).map_err(|_| ApiError::NotFound);
        Ok(PathIds(parse(&a)?, parse(&b)?))
    }
}

/// For a field that may be absent (leave it), `null` (clear it) or a value: with
/// `#[serde(default, deserialize_with = "nullable")]` on an `Option<Option<T>>`.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}
