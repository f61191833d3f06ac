//! The merchant request bodies as sent: one struct per JSON object, typed
//! and strictly read (see `strict`), not yet validated. Secrets are held in
//! [`Sensitive`] from the first byte on.
//!
//! They serialize only for the idempotency fingerprint. Fields are declared
//! in key order and absent ones skipped, so a body serializes to the same
//! canonical JSON its parsed `serde_json::Value` did: key order and
//! whitespace do not count, and keys taken before this change still match.

use std::collections::BTreeMap;

use serde::de::MapAccess;
use serde::{Serialize, Serializer};

use super::strict::{self, Field, Object};
use crate::api::error::ApiError;
use crate::domain::sensitive::Sensitive;

/// `POST /v1/payments` and `POST /v1/routing/explain`.
#[derive(Debug, Default, Serialize)]
pub struct CreateBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<MethodBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk_score: Option<i64>,
}

/// `payment_method`. SEPA's `iban` and `name` may sit here or in `sepa_debit`.
#[derive(Debug, Default, Serialize)]
pub struct MethodBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card: Option<CardBody>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "expose")]
    pub iban: Option<Sensitive>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sepa_debit: Option<SepaBody>,
    /// Apple Pay / Google Pay.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "expose")]
    pub token: Option<Sensitive>,
    /// Gateway id → that gateway's stored token.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "expose_map")]
    pub tokens: Option<BTreeMap<String, Sensitive>>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// `payment_method.card`.
#[derive(Debug, Default, Serialize)]
pub struct CardBody {
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "expose")]
    pub cvc: Option<Sensitive>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp_month: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp_year: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "expose")]
    pub number: Option<Sensitive>,
}

/// `payment_method.sepa_debit`.
#[derive(Debug, Default, Serialize)]
pub struct SepaBody {
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "expose")]
    pub iban: Option<Sensitive>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `customer`.
#[derive(Debug, Default, Serialize)]
pub struct CustomerBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
}

/// `POST /v1/payments/{id}/capture`.
#[derive(Debug, Default, Serialize)]
pub struct CaptureBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
}

/// `POST /v1/payments/{id}/cancel`.
#[derive(Debug, Default, Serialize)]
pub struct CancelBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /v1/payments/{id}/refunds`.
#[derive(Debug, Default, Serialize)]
pub struct RefundBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `parse(bytes)` for each body: the strict read, refusals as API errors.
macro_rules! parse_fn {
    ($($body:ty),*) => {$(
        impl $body {
            /// Reads a request body; see [`super::strict`] for what is refused.
            pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
                Ok(strict::parse::<Self>(body)?)
            }
        }
    )*};
}

parse_fn!(CreateBody, CaptureBody, CancelBody, RefundBody);

impl Object for CreateBody {
    const AT: &'static str = "";
    fn read<'de, A: MapAccess<'de>>(&mut self, f: Field<'_, 'de, A>) -> Result<bool, A::Error> {
        let key = f.key;
        match key {
            "amount" => self.amount = f.amount()?,
            "capture" => self.capture = f.string()?,
            "currency" => self.currency = f.string()?,
            "customer" => self.customer = f.object()?,
            "metadata" => self.metadata = f.strings(String::from, metadata_value)?,
            "payment_method" => self.payment_method = f.object()?,
            "reference" => self.reference = f.string()?,
            "return_url" => self.return_url = f.string()?,
            "risk_score" => self.risk_score = f.int()?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

fn metadata_value(key: &str) -> String {
    format!("metadata `{key}`: values must be strings")
}

fn token_value(gateway: &str) -> String {
    format!("token for `{gateway}` must be a non-empty string")
}

impl Object for MethodBody {
    const AT: &'static str = "payment_method";
    fn read<'de, A: MapAccess<'de>>(&mut self, f: Field<'_, 'de, A>) -> Result<bool, A::Error> {
        let key = f.key;
        match key {
            "card" => self.card = f.object()?,
            "iban" => self.iban = f.secret()?,
            "name" => self.name = f.string()?,
            "sepa_debit" => self.sepa_debit = f.object()?,
            "token" => self.token = f.secret()?,
            "tokens" => self.tokens = f.strings(Sensitive, token_value)?,
            "type" => self.kind = f.string()?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Object for CardBody {
    const AT: &'static str = "payment_method.card";
    fn read<'de, A: MapAccess<'de>>(&mut self, f: Field<'_, 'de, A>) -> Result<bool, A::Error> {
        let key = f.key;
        match key {
            "cvc" => self.cvc = f.secret()?,
            "exp_month" => self.exp_month = f.int()?,
            "exp_year" => self.exp_year = f.int()?,
            "holder_name" => self.holder_name = f.string()?,
            "number" => self.number = f.secret()?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Object for SepaBody {
    const AT: &'static str = "payment_method.sepa_debit";
    fn read<'de, A: MapAccess<'de>>(&mut self, f: Field<'_, 'de, A>) -> Result<bool, A::Error> {
        let key = f.key;
        match key {
            "iban" => self.iban = f.secret()?,
            "name" => self.name = f.string()?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Object for CustomerBody {
    const AT: &'static str = "customer";
    fn read<'de, A: MapAccess<'de>>(&mut self, f: Field<'_, 'de, A>) -> Result<bool, A::Error> {
        let key = f.key;
        match key {
            "country" => self.country = f.string()?,
            "email" => self.email = f.string()?,
            "id" => self.id = f.string()?,
            "ip" => self.ip = f.string()?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Object for CaptureBody {
    const AT: &'static str = "";
    fn read<'de, A: MapAccess<'de>>(&mut self, f: Field<'_, 'de, A>) -> Result<bool, A::Error> {
        let key = f.key;
        match key {
            "amount" => self.amount = f.amount()?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Object for CancelBody {
    const AT: &'static str = "";
    fn read<'de, A: MapAccess<'de>>(&mut self, f: Field<'_, 'de, A>) -> Result<bool, A::Error> {
        let key = f.key;
        match key {
            "reason" => self.reason = f.string()?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl Object for RefundBody {
    const AT: &'static str = "";
    fn read<'de, A: MapAccess<'de>>(&mut self, f: Field<'_, 'de, A>) -> Result<bool, A::Error> {
        let key = f.key;
        match key {
            "amount" => self.amount = f.amount()?,
            "reason" => self.reason = f.string()?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

// The fingerprint must see secrets to tell two cards apart; it is a hash,
// and nothing else serializes these structs.
fn expose<S: Serializer>(v: &Option<Sensitive>, s: S) -> Result<S::Ok, S::Error> {
    v.as_ref().map(Sensitive::expose).serialize(s)
}

fn expose_map<S: Serializer>(
    v: &Option<BTreeMap<String, Sensitive>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let plain = v.as_ref().map(|m| {
        m.iter()
            .map(|(k, t)| (k.as_str(), t.expose()))
            .collect::<BTreeMap<_, _>>()
    });
    plain.serialize(s)
}
