//! Idempotency keys in SQLite (design §3, reliability B6): the claim is a
//! read-then-write in one IMMEDIATE transaction, so exactly one request per
//! `(merchant, key)` gets [`IdemClaim::Claimed`] and makes the gateway call,
//! across connections and processes.
//!
//! A claim left `in_flight` by a crash stays so until it expires (`ttl_secs`);
//! retries meanwhile get `InFlight`. Settling such claims from their attempts
//! is the reconciler's job, and deleting expired rows the reaper's.

use rusqlite::{Connection, OptionalExtension, params};

use super::exec;

use crate::domain::store::{IdemClaim, IdemKey, StoreError};

/// An [`IdemKey`] that can move onto the blocking pool.
pub(super) struct OwnedKey {
    pub merchant_id: String,
    pub key: String,
    pub fingerprint: String,
    pub ttl_secs: i64,
}

impl From<&IdemKey<'_>> for OwnedKey {
    fn from(k: &IdemKey<'_>) -> Self {
        OwnedKey {
            merchant_id: k.merchant_id.to_owned(),
            key: k.key.to_owned(),
            fingerprint: k.fingerprint.to_owned(),
            ttl_secs: k.ttl_secs,
        }
    }
}

struct Existing {
    fingerprint: String,
    status: String,
    response_status: Option<i64>,
    response_body: Option<Vec<u8>>,
    created_at: i64,
}

pub(super) fn claim(conn: &Connection, k: &OwnedKey, now: i64) -> Result<IdemClaim, StoreError> {
    claim_in(conn, k, now)
}

/// The claim inside the unit of work (an IMMEDIATE transaction) the
/// caller runs.
pub(super) fn claim_in(tx: &Connection, k: &OwnedKey, now: i64) -> Result<IdemClaim, StoreError> {
    let existing = existing(tx, k)?;
    let claim = match existing {
        Some(row) if now.saturating_sub(row.created_at) <= k.ttl_secs => {
            judge(row, &k.fingerprint)?
        }
        // New, or older than the TTL: a pruned key starts a new request.
        _ => {
            exec(
                tx,
                "INSERT OR REPLACE INTO idempotency_keys
                     (merchant_id, key, fingerprint, status, response_status, response_body, created_at)
                 VALUES (?1, ?2, ?3, 'in_flight', NULL, NULL, ?4)",
                params![k.merchant_id, k.key, k.fingerprint, now],
            )?;
            IdemClaim::Claimed
        }
    };
    Ok(claim)
}

fn existing(conn: &Connection, k: &OwnedKey) -> Result<Option<Existing>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT fingerprint, status, response_status, response_body, created_at
         FROM idempotency_keys WHERE merchant_id = ?1 AND key = ?2",
    )?;
    let row = stmt
        .query_row(params![k.merchant_id, k.key], |r| {
            Ok(Existing {
                fingerprint: r.get(0)?,
                status: r.get(1)?,
                response_status: r.get(2)?,
                response_body: r.get(3)?,
                created_at: r.get(4)?,
            })
        })
        .optional()?;
    Ok(row)
}

/// What a live key means for a request with `fingerprint`. The fingerprint
/// is a hash of the request, not a secret, so a plain compare is fine.
fn judge(row: Existing, fingerprint: &str) -> Result<IdemClaim, StoreError> {
    if row.fingerprint != fingerprint {
        return Ok(IdemClaim::Mismatch);
    }
    match (row.status.as_str(), row.response_status) {
        ("in_flight", _) => Ok(IdemClaim::InFlight {
            since: row.created_at,
        }),
        ("done", Some(status)) => {
            let status = u16::try_from(status).map_err(|_| {
                StoreError::Corrupt(format!("idempotency response status {status}"))
            })?;
            Ok(IdemClaim::Replay {
                status,
                body: row.response_body.unwrap_or_default(),
            })
        }
        (other, _) => Err(StoreError::Corrupt(format!(
            "idempotency key in state {other:?} without a response"
        ))),
    }
}

/// Records the response of a claimed key. [`StoreError::NotFound`] means the
/// claim no longer exists (released, or expired and claimed again), so the
/// response was not recorded.
pub(super) fn complete(
    conn: &Connection,
    merchant_id: &str,
    key: &str,
    status: u16,
    body: &[u8],
) -> Result<(), StoreError> {
    let changed = exec(
        conn,
        "UPDATE idempotency_keys
         SET status = 'done', response_status = ?3, response_body = ?4
         WHERE merchant_id = ?1 AND key = ?2 AND status = 'in_flight'",
        params![merchant_id, key, status, body],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Drops an unfinished claim; a finished key is kept so it still replays.
pub(super) fn release(conn: &Connection, merchant_id: &str, key: &str) -> Result<(), StoreError> {
    exec(
        conn,
        "DELETE FROM idempotency_keys
         WHERE merchant_id = ?1 AND key = ?2 AND status = 'in_flight'",
        params![merchant_id, key],
    )?;
    Ok(())
}

/// Compare-and-set on the claim's start time, so only one retaker wins; the
/// new start is always later than `since`, even within the same second.
pub(super) fn retake(
    conn: &Connection,
    merchant_id: &str,
    key: &str,
    since: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let changed = exec(
        conn,
        "UPDATE idempotency_keys SET created_at = MAX(?4, ?3 + 1)
         WHERE merchant_id = ?1 AND key = ?2 AND status = 'in_flight' AND created_at = ?3",
        params![merchant_id, key, since, now],
    )?;
    Ok(changed == 1)
}

/// The claim's answer for a live key, without writing: `Claimed` when the
/// key is free or expired.
pub(super) fn peek(conn: &Connection, k: &OwnedKey, now: i64) -> Result<IdemClaim, StoreError> {
    match existing(conn, k)? {
        Some(row) if now.saturating_sub(row.created_at) <= k.ttl_secs => judge(row, &k.fingerprint),
        _ => Ok(IdemClaim::Claimed),
    }
}
