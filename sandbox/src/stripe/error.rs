//! Stripe's error object (`{"error":{type, code, decline_code, message,
//! param, ...}}`) and the HTTP status each kind travels with.

use http::StatusCode;
use serde_json::{Map, Value, json};

use super::super::pipeline::Executed;
use super::super::wire::SimReply;

/// One Stripe error, boxed so `Result<_, StripeError>` stays small.
#[derive(Debug, Clone)]
pub(crate) struct StripeError(Box<ErrorFields>);

/// The error's fields; `extra` carries `payment_intent`, `charge`, ... objects.
#[derive(Debug, Clone)]
pub(crate) struct ErrorFields {
    pub status: StatusCode,
    pub kind: &'static str,
    pub code: Option<&'static str>,
    pub decline_code: Option<&'static str>,
    pub message: String,
    pub param: Option<String>,
    pub extra: Map<String, Value>,
}

impl std::ops::Deref for StripeError {
    type Target = ErrorFields;
    fn deref(&self) -> &ErrorFields {
        &self.0
    }
}

impl std::ops::DerefMut for StripeError {
    fn deref_mut(&mut self) -> &mut ErrorFields {
        &mut self.0
    }
}

impl StripeError {
    pub fn invalid(message: impl Into<String>) -> StripeError {
        StripeError(Box::new(ErrorFields {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code: None,
            decline_code: None,
            message: message.into(),
            param: None,
            extra: Map::new(),
        }))
    }

    pub fn missing(param: &str) -> StripeError {
        StripeError::invalid(format!("Missing required param: {param}."))
            .code("parameter_missing")
            .param(param)
    }

    pub fn invalid_integer(param: &str, raw: &str) -> StripeError {
        StripeError::invalid(format!("Invalid integer: {raw}"))
            .code("parameter_invalid_integer")
            .param(param)
    }

    pub fn no_such(object: &str, id: &str, param: &str) -> StripeError {
        let mut e = StripeError::invalid(format!("No such {object}: '{id}'"))
            .code("resource_missing")
            .param(param);
        e.status = StatusCode::NOT_FOUND;
        e
    }

    pub fn unexpected_state(message: impl Into<String>) -> StripeError {
        StripeError::invalid(message).code("payment_intent_unexpected_state")
    }

    pub fn card(code: &'static str, decline_code: &'static str, message: &str) -> StripeError {
        StripeError(Box::new(ErrorFields {
            status: StatusCode::PAYMENT_REQUIRED,
            kind: "card_error",
            code: Some(code),
            decline_code: Some(decline_code),
            message: message.to_string(),
            param: None,
            extra: Map::new(),
        }))
    }

    pub fn api_error(status: StatusCode, message: &str) -> StripeError {
        let mut e = StripeError::invalid(message);
        e.status = status;
        e.kind = "api_error";
        e
    }

    pub fn code(mut self, code: &'static str) -> StripeError {
        self.code = Some(code);
        self
    }

    pub fn param(mut self, param: &str) -> StripeError {
        self.param = Some(param.to_string());
        self
    }

    pub fn with(mut self, field: &str, value: Value) -> StripeError {
        self.extra.insert(field.to_string(), value);
        self
    }

    /// The inner error object (also used as `last_payment_error`).
    pub fn body(&self) -> Value {
        let mut error = Map::new();
        error.insert("type".into(), json!(self.kind));
        error.insert("message".into(), json!(self.message));
        if let Some(code) = self.code {
            error.insert("code".into(), json!(code));
            error.insert(
                "doc_url".into(),
                json!(format!(
                    "https://stripe.com/docs/error-codes/{}",
                    code.replace('_', "-")
                )),
            );
        }
        if let Some(decline) = self.decline_code {
            error.insert("decline_code".into(), json!(decline));
        }
        if let Some(param) = &self.param {
            error.insert("param".into(), json!(param));
        }
        error.extend(self.extra.clone());
        Value::Object(error)
    }

    pub fn reply(&self) -> SimReply {
        SimReply::json(self.status, &json!({"error": self.body()}))
    }
}

/// Stripe keeps every executed result except parameter validation failures.
pub(crate) fn executed(result: Result<Value, StripeError>) -> Executed {
    match result {
        Ok(body) => Executed {
            reply: SimReply::json(StatusCode::OK, &body),
            storable: true,
        },
        Err(e) => Executed {
            storable: !matches!(e.status, StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND),
            reply: e.reply(),
        },
    }
}
