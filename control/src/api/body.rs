//! Request bodies: JSON parsed with the path of the offending field in every error, so that a
//! client learns `rtpParameters.codecs[0].clockRate: invalid type` rather than "bad request".

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON body. An empty body reads as `{}` (for endpoints whose fields are all optional).
pub struct Body<T>(pub T);

/// Largest accepted body (capabilities of a browser are a few KiB).
const MAX_BODY: usize = 256 * 1024;

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?;
        if bytes.len() > MAX_BODY {
            return Err(ApiError::bad_request(
                "body_too_large",
                format!("body exceeds {MAX_BODY} bytes"),
            ));
        }
        parse(&bytes).map(Body)
    }
}

/// Parses a body, naming the field at fault.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    // Syntax first: a truncated document such as `[1,2` must read as malformed JSON, not as a
    // type error at the first element that does not fit the schema.
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(text) {
        return Err(ApiError::bad_request(
            "invalid_json",
            format!("malformed JSON: {e}"),
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request("invalid_json", format!("malformed JSON: {inner}"))
        } else if path == "." {
            ApiError::bad_request("invalid_field", inner.to_string())
        } else {
            ApiError::bad_request("invalid_field", format!("{path}: {inner}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(rename_all = "camelCase")]
    struct Inner {
        clock_rate: u32,
    }

    #[derive(serde::Deserialize, Debug)]
    struct Outer {
        codecs: Vec<Inner>,
    }

    #[test]
    fn parses_valid_and_empty_bodies() {
        let o = parse::<Outer>(br#"{"codecs":[{"clockRate":48000}]}"#).unwrap();
        assert_eq!(o.codecs[0].clock_rate, 48000);
        let e = parse::<Outer>(b"").unwrap_err();
        assert!(
            e.message.contains("codecs"),
            "an empty body reads as {{}}: {}",
            e.message
        );
    }

    #[test]
    fn names_the_field() {
        let e = parse::<Outer>(br#"{"codecs":[{"clockRate":"x"}]}"#).unwrap_err();
        assert_eq!(e.code, "invalid_field");
        assert!(
            e.message.starts_with("codecs[0].clockRate"),
            "{}",
            e.message
        );
        let e = parse::<Outer>(br#"{"codecs":[{}]}"#).unwrap_err();
        assert!(e.message.contains("clockRate"), "{}", e.message);
    }

    #[test]
    fn malformed_json_is_400() {
        let e = parse::<Outer>(b"{\"codecs\":").unwrap_err();
        assert_eq!(e.code, "invalid_json");
        // Truncated after a value of the wrong type: still malformed, not a type error.
        let e = parse::<Outer>(b"[1,2").unwrap_err();
        assert_eq!(e.code, "invalid_json", "{}", e.message);
        let e = parse::<Outer>(br#"{"codecs":[{"clockRate":"x"}]"#).unwrap_err();
        assert_eq!(e.code, "invalid_json", "{}", e.message);
        assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
    }
}
