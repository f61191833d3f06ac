//! Idempotency keys in PostgreSQL (design §3, reliability B6). The claim is
//! one `INSERT … ON CONFLICT DO UPDATE … WHERE expired`: the unique key
//! makes concurrent claimers on any connection or replica queue behind the
//! first, exactly one of them inserts (or replaces an expired row), and
//! the others find the row locked for them to judge in the same
//! transaction. Claimed with the first unit of an operation, the same
//! statement raises instead when it claimed nothing, so that unit, sent in
//! one round trip, writes nothing; the key is then judged as above. Retake
//! is a compare-and-set `UPDATE`, so one caller wins.

use deadpool_postgres::{Client, GenericClient};

use super::codec::col;
use super::steps::{Step, TAKEN};
use crate::domain::store::{IdemClaim, IdemKey, StoreError};

/// The live row a claim ran into.
struct Existing {
    fingerprint: String,
    status: String,
    response_status: Option<i32>,
    response_body: Option<Vec<u8>>,
    created_at: i64,
}

/// The claim: a new key, or one older than the TTL (a pruned key starts a
/// new request), written with status `$6` and response `$7`, `$8`: in
/// flight with none, or (a unit that also answers) done with its answer.
/// When the WHERE is false the conflicting row is still locked by this
/// statement, so a read after it in the same transaction sees the row as
/// it stays until commit.
const UPSERT: &str = "INSERT INTO idempotency_keys
         (merchant_id, key, fingerprint, status, response_status, response_body, created_at)
     VALUES ($1, $2, $3, $6, $7, $8, $4)
     ON CONFLICT (merchant_id, key) DO UPDATE SET
         fingerprint = EXCLUDED.fingerprint, status = EXCLUDED.status,
         response_status = EXCLUDED.response_status, response_body = EXCLUDED.response_body,
         created_at = EXCLUDED.created_at
     WHERE EXCLUDED.created_at - idempotency_keys.created_at > $5::bigint";

/// The status and response [`UPSERT`] writes: in flight, or done with
/// `answer`.
fn claimed_as(answer: Option<(u16, &[u8])>) -> (&'static str, Option<i32>, Option<&[u8]>) {
    match answer {
        None => ("in_flight", None, None),
        Some((status, body)) => ("done", Some(i32::from(status)), Some(body)),
    }
}

pub(super) async fn claim(
    c: &mut Client,
    k: &IdemKey<'_>,
    now: i64,
) -> Result<IdemClaim, StoreError> {
    let tx = c.transaction().await?;
    let claim = claim_in(&tx, k, now).await?;
    tx.commit().await?;
    Ok(claim)
}

/// The claim inside a transaction the caller owns.
pub(super) async fn claim_in(
    tx: &impl GenericClient,
    k: &IdemKey<'_>,
    now: i64,
) -> Result<IdemClaim, StoreError> {
    let upsert = tx.prepare_cached(UPSERT).await?;
    let (status, response_status, response_body) = claimed_as(None);
    let written = tx
        .execute(
            &upsert,
            &[
                &k.merchant_id,
                &k.key,
                &k.fingerprint,
                &now,
                &k.ttl_secs,
                &status,
                &response_status,
                &response_body,
            ],
        )
        .await?;
    let claim = if written == 1 {
        IdemClaim::Claimed
    } else {
        let select = tx
            .prepare_cached(
                "SELECT fingerprint, status, response_status, response_body, created_at
                 FROM idempotency_keys WHERE merchant_id = $1 AND key = $2",
            )
            .await?;
        let row = tx.query_one(&select, &[&k.merchant_id, &k.key]).await?;
        judge(
            Existing {
                fingerprint: col(&row, 0)?,
                status: col(&row, 1)?,
                response_status: col(&row, 2)?,
                response_body: col(&row, 3)?,
                created_at: col(&row, 4)?,
            },
            k.fingerprint,
        )?
    };
    Ok(claim)
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

/// Records the response of a claimed key; `NotFound` means the claim no
/// longer exists (released, or expired and claimed again).
pub(super) async fn complete(
    c: &Client,
    merchant_id: &str,
    key: &str,
    status: u16,
    body: &[u8],
) -> Result<(), StoreError> {
    if complete_step(merchant_id, key, status, body)
        .execute(c)
        .await?
        == 0
    {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// [`complete`] as a step of a unit: it changes no row (and raises
/// nothing) when the claim no longer exists.
pub(super) fn complete_step<'a>(
    merchant_id: &'a str,
    key: &'a str,
    status: u16,
    body: &'a [u8],
) -> Step<'a> {
    Step::new(
        "UPDATE idempotency_keys
         SET status = 'done', response_status = $3, response_body = $4
         WHERE merchant_id = $1 AND key = $2 AND status = 'in_flight'",
    )
    .arg(merchant_id)
    .arg(key)
    .arg(i32::from(status))
    .arg(body)
}

/// The claim as the first step of a unit: it raises [`TAKEN`] unless it
/// claimed the key, so the unit writes nothing for a live key, and the
/// caller judges the key in a transaction of its own. Claimers of one key
/// queue on its unique index exactly as with [`claim_in`]. With `answer`
/// (the unit also answers the request, as when no gateway is called) the
/// key is written already finished with that response: the unit's steps
/// cannot see each other's rows, so a later step could not finish it.
pub(super) fn claim_step<'a>(
    k: &IdemKey<'a>,
    now: i64,
    answer: Option<(u16, &'a [u8])>,
) -> Step<'a> {
    let (status, response_status, response_body) = claimed_as(answer);
    Step::new(UPSERT)
        .or_raise(TAKEN, "idempotency key is live")
        .arg(k.merchant_id)
        .arg(k.key)
        .arg(k.fingerprint)
        .arg(now)
        .arg(k.ttl_secs)
        .arg(status)
        .arg(response_status)
        .arg(response_body)
}

/// Drops an unfinished claim; a finished key is kept so it still replays.
pub(super) async fn release(c: &Client, merchant_id: &str, key: &str) -> Result<(), StoreError> {
    let stmt = c
        .prepare_cached(
            "DELETE FROM idempotency_keys
             WHERE merchant_id = $1 AND key = $2 AND status = 'in_flight'",
        )
        .await?;
    c.execute(&stmt, &[&merchant_id, &key]).await?;
    Ok(())
}

/// Compare-and-set on the claim's start time: a second retaker waits for
/// the first's row lock, then re-reads the row and no longer matches. The
/// new start is always later than `since`, even within the same second.
pub(super) async fn retake(
    c: &Client,
    merchant_id: &str,
    key: &str,
    since: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let stmt = c
        .prepare_cached(
            "UPDATE idempotency_keys SET created_at = GREATEST($4::bigint, $3::bigint + 1)
             WHERE merchant_id = $1 AND key = $2 AND status = 'in_flight'
               AND created_at = $3::bigint",
        )
        .await?;
    let changed = c
        .execute(&stmt, &[&merchant_id, &key, &since, &now])
        .await?;
    Ok(changed == 1)
}

/// The claim's answer for a live key, without writing: `Claimed` when the
/// key is free or expired.
pub(super) async fn peek(c: &Client, k: &IdemKey<'_>, now: i64) -> Result<IdemClaim, StoreError> {
    let select = c
        .prepare_cached(
            "SELECT fingerprint, status, response_status, response_body, created_at
             FROM idempotency_keys WHERE merchant_id = $1 AND key = $2",
        )
        .await?;
    let Some(row) = c.query_opt(&select, &[&k.merchant_id, &k.key]).await? else {
        return Ok(IdemClaim::Claimed);
    };
    let existing = Existing {
        fingerprint: col(&row, 0)?,
        status: col(&row, 1)?,
        response_status: col(&row, 2)?,
        response_body: col(&row, 3)?,
        created_at: col(&row, 4)?,
    };
    if now.saturating_sub(existing.created_at) > k.ttl_secs {
        return Ok(IdemClaim::Claimed);
    }
    judge(existing, k.fingerprint)
}
