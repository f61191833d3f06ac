//! Stripe `Stripe-Signature` verification, following stripe-python's
//! `WebhookSignature.verify_header` step for step (same checks, same order).

use super::normalize_stripe;
use crate::connectors::webhook::{
    Delivery, Verified, VerifiedEvent, VerifyError, WebhookAck, ct_eq, hmac_sha256,
};

/// What Stripe expects back once its event is stored.
const ACK: WebhookAck = WebhookAck {
    body: "{\"received\":true}",
    content_type: "application/json",
};

/// Stripe's SDK default: a signature may be at most this many seconds old.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

/// Verifies `Stripe-Signature` for one endpoint secret. See [`verify_stripe_any`].
pub fn verify_stripe(
    raw_body: &[u8],
    header: Option<&str>,
    secret: &str,
    tolerance_secs: u64,
    now_unix: i64,
) -> Result<(), VerifyError> {
    verify_stripe_any(raw_body, header, &[secret], tolerance_secs, now_unix)
}

/// Verifies `Stripe-Signature: t=<unix>,v1=<hex>[,v1=...]` against several
/// endpoint secrets (rotation: the current and the previous one).
///
/// Rules, as the SDK applies them: the header is split on `,` and each
/// element on its first `=`; the first `t` must be an integer; at least one
/// `v1` is needed and other schemes are ignored; the signature is lowercase
/// hex HMAC-SHA256 keyed with the whole secret (`whsec_` included) over
/// `"<t>.<raw body>"`; any `v1` matching any secret passes; then the request
/// is refused if `t < now - tolerance` (an age equal to the tolerance passes,
/// future timestamps pass, and a tolerance of 0 turns the age check off).
pub fn verify_stripe_any(
    raw_body: &[u8],
    header: Option<&str>,
    secrets: &[&str],
    tolerance_secs: u64,
    now_unix: i64,
) -> Result<(), VerifyError> {
    check_secrets(secrets)?;
    let header = header.ok_or(VerifyError::MissingSignature)?;
    let parsed = parse_header(header)?;
    if parsed.v1.is_empty() {
        return Err(VerifyError::MissingSignature);
    }
    let signed_prefix = format!("{}.", parsed.t);
    let matched = secrets.iter().fold(false, |acc, secret| {
        let expected = hex::encode(hmac_sha256(
            secret.as_bytes(),
            &[signed_prefix.as_bytes(), raw_body],
        ));
        acc | parsed.v1.iter().fold(false, |m, sig| {
            m | ct_eq(expected.as_bytes(), sig.as_bytes())
        })
    });
    if !matched {
        return Err(VerifyError::BadSignature);
    }
    if is_too_old(parsed.t, tolerance_secs, now_unix) {
        return Err(VerifyError::Expired);
    }
    Ok(())
}

/// An empty secret would let anyone forge signatures; refuse it as config.
fn check_secrets(secrets: &[&str]) -> Result<(), VerifyError> {
    if secrets.is_empty() {
        return Err(VerifyError::BadKey(
            "no Stripe webhook secret configured".into(),
        ));
    }
    if secrets.iter().any(|s| s.is_empty()) {
        return Err(VerifyError::BadKey("empty Stripe webhook secret".into()));
    }
    Ok(())
}

struct ParsedHeader<'a> {
    t: i64,
    v1: Vec<&'a str>,
}

fn parse_header(header: &str) -> Result<ParsedHeader<'_>, VerifyError> {
    let mut t = None;
    let mut v1 = Vec::new();
    for element in header.split(',') {
        let Some((key, value)) = element.split_once('=') else {
            continue;
        };
        match key {
            // The SDK uses the first `t`; it parses it with int(), which
            // tolerates surrounding whitespace.
            "t" if t.is_none() => t = Some(value.trim().parse::<i64>().ok()),
            "v1" => v1.push(value),
            _ => {}
        }
    }
    match t {
        Some(Some(t)) => Ok(ParsedHeader { t, v1 }),
        _ => Err(VerifyError::Malformed(
            "Unable to extract timestamp and signatures from header".into(),
        )),
    }
}

fn is_too_old(t: i64, tolerance_secs: u64, now_unix: i64) -> bool {
    // i128 so that huge configured tolerances or timestamps cannot overflow.
    tolerance_secs > 0 && i128::from(t) < i128::from(now_unix) - i128::from(tolerance_secs)
}

/// One delivery is one event, stored as its raw body under the event's id
/// (an unreadable body is refused as malformed, never acknowledged).
pub(super) fn verify_delivery(d: &Delivery<'_>) -> Result<Verified, VerifyError> {
    verify_stripe_any(
        d.body,
        d.header("stripe-signature"),
        d.secrets,
        d.tolerance_s,
        d.now,
    )?;
    let event = normalize_stripe(d.body).map_err(|e| VerifyError::Malformed(e.to_string()))?;
    Ok(Verified {
        events: vec![VerifiedEvent {
            provider_event_id: event.provider_event_id,
            payload: d.body.to_vec(),
        }],
        ack: ACK,
    })
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
