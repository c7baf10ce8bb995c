//! The GWS response envelope: `{"statusCode": 0}` on success,
//! `{"statusCode": N, "statusMessage": "..."}` otherwise.

use serde::{Deserialize, Serialize};

/// GWS status codes (Genesys Web Services "Return values").
///
/// Only the codes screenrec emits are named; others deserialise through
/// [`StatusCode::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusCode {
    /// 0: success.
    Ok,
    /// 1: a required parameter is missing (or an operation is unknown).
    MissingParameter,
    /// 2: the parameter is not valid in the current state.
    InvalidForState,
    /// 3: forbidden (e.g. missing or invalid CSRF token).
    Forbidden,
    /// 4: internal error (including an unreachable RWS).
    InternalError,
    /// 6: not found.
    NotFound,
    /// 10: validation error (bad place, DN, body shape...).
    ValidationError,
    /// 20: user not authenticated.
    NotAuthenticated,
    /// Any other code received from a peer.
    Other(u32),
}

impl StatusCode {
    /// The numeric code on the wire.
    pub fn code(self) -> u32 {
        match self {
            StatusCode::Ok => 0,
            StatusCode::MissingParameter => 1,
            StatusCode::InvalidForState => 2,
            StatusCode::Forbidden => 3,
            StatusCode::InternalError => 4,
            StatusCode::NotFound => 6,
            StatusCode::ValidationError => 10,
            StatusCode::NotAuthenticated => 20,
            StatusCode::Other(n) => n,
        }
    }

    /// The code for a number read off the wire.
    pub fn from_code(n: u32) -> Self {
        match n {
            0 => StatusCode::Ok,
            1 => StatusCode::MissingParameter,
            2 => StatusCode::InvalidForState,
            3 => StatusCode::Forbidden,
            4 => StatusCode::InternalError,
            6 => StatusCode::NotFound,
            10 => StatusCode::ValidationError,
            20 => StatusCode::NotAuthenticated,
            n => StatusCode::Other(n),
        }
    }
}

impl Serialize for StatusCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.code())
    }
}

impl<'de> Deserialize<'de> for StatusCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        u32::deserialize(d).map(StatusCode::from_code)
    }
}

/// The body of every SRS loopback response, and of RWS error responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// 0 on success.
    pub status_code: StatusCode,
    /// Present when `status_code` is not 0: what went wrong, for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
}

impl Envelope {
    /// `{"statusCode": 0}`.
    pub fn ok() -> Self {
        Envelope {
            status_code: StatusCode::Ok,
            status_message: None,
        }
    }

    /// An error envelope with a message.
    pub fn error(code: StatusCode, message: impl Into<String>) -> Self {
        Envelope {
            status_code: code,
            status_message: Some(message.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_shapes() {
        assert_eq!(
            serde_json::to_string(&Envelope::ok()).unwrap_or_default(),
            r#"{"statusCode":0}"#
        );
        assert_eq!(
            serde_json::to_string(&Envelope::error(
                StatusCode::Forbidden,
                "Missing or invalid Csrf token"
            ))
            .unwrap_or_default(),
            r#"{"statusCode":3,"statusMessage":"Missing or invalid Csrf token"}"#
        );
        let back: Envelope =
            serde_json::from_str(r#"{"statusCode":18,"statusMessage":"x"}"#).expect("parses");
        assert_eq!(back.status_code, StatusCode::Other(18));
    }
}
