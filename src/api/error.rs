//! The merchant API's error shape: `{"error": {"type", "code", "message",
//! "param"?}}` with a fitting status. Every handler failure ends here.

use std::fmt;

use bytes::Bytes;
use http::StatusCode;
use serde_json::json;

use crate::payments::EngineError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    /// `invalid_request_error`, `authentication_error`, `idempotency_error`,
    /// `payment_error`, `gateway_error`, `api_error`.
    pub kind: &'static str,
    pub code: &'static str,
    pub message: String,
    pub param: Option<String>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            kind,
            code,
            message: message.into(),
            param: None,
        }
    }

    /// 400 for a bad field, naming it.
    pub fn invalid(code: &'static str, param: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            param: Some(param.to_string()),
            ..ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                code,
                message,
            )
        }
    }

    pub fn missing(param: &str) -> ApiError {
        ApiError::invalid("parameter_missing", param, format!("`{param}` is required"))
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "resource_missing",
            format!("no such {what}"),
        )
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid_api_key",
            "missing or unknown API key: send `Authorization: Bearer <key>`",
        )
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            "internal_error",
            message,
        )
    }

    pub fn store_unavailable() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "api_error",
            "store_unavailable",
            "payroute's store is unavailable; retry with the same Idempotency-Key",
        )
    }

    pub fn to_json(&self) -> serde_json::Value {
        let mut e = json!({"type": self.kind, "code": self.code, "message": self.message});
        if let Some(p) = &self.param {
            e["param"] = json!(p);
        }
        json!({ "error": e })
    }

    pub fn body(&self) -> Bytes {
        Bytes::from(self.to_json().to_string())
    }
}

/// `code (`param`): message`, for the CLI and logs.
impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.param {
            Some(p) => write!(f, "{} (`{p}`): {}", self.code, self.message),
            None => write!(f, "{}: {}", self.code, self.message),
        }
    }
}

impl std::error::Error for ApiError {}

/// The API's answer to an engine error.
impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> ApiError {
        match e {
            EngineError::NoRoute { decision } => {
                let reasons: Vec<String> = decision
                    .skipped
                    .iter()
                    .map(|s| format!("{}: {}", s.gateway, s.reason))
                    .collect();
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_request_error",
                    "no_route",
                    match &decision.rule {
                        None => "no routing rule matches this payment".to_string(),
                        Some(r) => format!(
                            "rule `{r}` matched but no gateway can take this payment ({})",
                            reasons.join("; ")
                        ),
                    },
                )
            }
            EngineError::NotFound => ApiError::not_found("payment"),
            EngineError::InvalidState(m) => ApiError::new(
                StatusCode::CONFLICT,
                "invalid_request_error",
                "payment_invalid_state",
                m,
            ),
            EngineError::AmountTooLarge(m) => ApiError::invalid("amount_too_large", "amount", m),
            EngineError::Busy => ApiError::new(
                StatusCode::CONFLICT,
                "invalid_request_error",
                "operation_in_progress",
                "another operation on this payment is in progress; retry shortly",
            ),
            EngineError::Store(e) if e.is_not_found() => ApiError::not_found("resource"),
            EngineError::Store(e) => {
                tracing::error!(error = %e, "store error");
                ApiError::store_unavailable()
            }
            // Answered from the claim by the idempotency layer; this body is
            // never sent.
            EngineError::Claim(_) => ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_error",
                "idempotency_key_in_use",
                "this Idempotency-Key is already used",
            ),
            EngineError::Unrecorded(e) => {
                tracing::error!(error = %e, "store failed after a gateway call");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "api_error",
                    "outcome_not_recorded",
                    "the gateway was called but payroute could not record the outcome; \
                 retry with the same Idempotency-Key to get it once it is settled",
                )
            }
        }
    }
}
