//! Refunds in PostgreSQL: a payment's sub-resource, its merchant copied
//! from the payment so merchant-scoped reads need no join, and attached to
//! payments read by [`super::records`].

use std::collections::HashMap;

use deadpool_postgres::{Client, GenericClient};
use tokio_postgres::Row;

use super::codec::{Param, col, json_opt, opt_json, text_enum};
use super::steps::{NOT_FOUND, Step};
use crate::domain::model::{Payment, Refund, RefundStatus};
use crate::domain::store::StoreError;

const REFUND_COLS: &str = "id, payment_id, status, amount, currency, gateway, \
     provider_reference, reason, failure, created_at, updated_at";

/// One query for the refunds of all `payments`, each list oldest first.
pub(super) async fn attach(
    c: &impl GenericClient,
    payments: &mut [Payment],
) -> Result<(), StoreError> {
    if payments.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = payments.iter().map(|p| p.id.as_str()).collect();
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {REFUND_COLS} FROM refunds WHERE payment_id = ANY($1)
             ORDER BY created_at, seq"
        ))
        .await?;
    let rows = c.query(&stmt, &[&ids]).await?;
    let index: HashMap<String, usize> = payments
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.clone(), i))
        .collect();
    for row in &rows {
        let refund = refund_row(row)?;
        if let Some(&i) = index.get(&refund.payment_id) {
            payments[i].refunds.push(refund);
        }
    }
    Ok(())
}

fn refund_row(r: &Row) -> Result<Refund, StoreError> {
    Ok(Refund {
        id: col(r, 0)?,
        payment_id: col(r, 1)?,
        status: text_enum(r, 2, RefundStatus::parse)?,
        amount: col(r, 3)?,
        currency: col(r, 4)?,
        gateway: col(r, 5)?,
        provider_reference: col(r, 6)?,
        reason: col(r, 7)?,
        failure: json_opt(r, 8)?,
        created_at: col(r, 9)?,
        updated_at: col(r, 10)?,
    })
}

/// The refund's merchant is copied from its payment, so that `get_refund`
/// can scope by merchant without a join; no such payment is `NotFound`.
pub(super) async fn insert_refund(c: &impl GenericClient, r: &Refund) -> Result<(), StoreError> {
    refund_step(r, "")?.execute(c).await?;
    Ok(())
}

/// Inserts a refund, or updates the mutable fields (as [`update_refund`])
/// of the one with its id. No such payment is `NotFound`.
pub(super) fn upsert_refund_step(r: &Refund) -> Result<Step<'_>, StoreError> {
    refund_step(
        r,
        "ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status,
             provider_reference = EXCLUDED.provider_reference,
             failure = EXCLUDED.failure, updated_at = EXCLUDED.updated_at",
    )
}

/// One INSERT for both: `on_conflict` is empty or an `ON CONFLICT` clause.
/// The casts type the parameters, which a SELECT list alone leaves unknown.
fn refund_step<'a>(r: &'a Refund, on_conflict: &str) -> Result<Step<'a>, StoreError> {
    let failure = opt_json(r.failure.as_ref())?;
    let sql = format!(
        "INSERT INTO refunds ({REFUND_COLS}, merchant_id)
             SELECT $1::text, $2::text, $3::text, $4::bigint, $5::text, $6::text, $7::text,
                    $8::text, $9::text, $10::text, $11::text, merchant_id
             FROM payments WHERE id = $2::text
             {on_conflict}"
    );
    Ok(Step::new(sql)
        .or_raise(NOT_FOUND, "no such payment")
        .arg(&r.id)
        .arg(&r.payment_id)
        .arg(r.status.as_str())
        .arg(r.amount)
        .arg(&r.currency)
        .arg(&r.gateway)
        .arg(&r.provider_reference)
        .arg(&r.reason)
        .arg(failure)
        .arg(&r.created_at)
        .arg(&r.updated_at))
}

pub(super) async fn update_refund(c: &Client, r: &Refund) -> Result<(), StoreError> {
    let failure = opt_json(r.failure.as_ref())?;
    let stmt = c
        .prepare_cached(
            "UPDATE refunds SET status = $2, provider_reference = $3, failure = $4, updated_at = $5
             WHERE id = $1",
        )
        .await?;
    let params: [Param<'_>; 5] = [
        &r.id,
        &r.status.as_str(),
        &r.provider_reference,
        &failure,
        &r.updated_at,
    ];
    if c.execute(&stmt, &params).await? == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

async fn one_refund(
    c: &Client,
    where_order: &str,
    args: &[Param<'_>],
) -> Result<Option<Refund>, StoreError> {
    let stmt = c
        .prepare_cached(&format!("SELECT {REFUND_COLS} FROM refunds {where_order}"))
        .await?;
    c.query_opt(&stmt, args)
        .await?
        .as_ref()
        .map(refund_row)
        .transpose()
}

pub(super) async fn get_refund(
    c: &Client,
    merchant_id: &str,
    id: &str,
) -> Result<Option<Refund>, StoreError> {
    one_refund(
        c,
        "WHERE id = $1 AND merchant_id = $2",
        &[&id, &merchant_id],
    )
    .await
}

/// Unscoped: a refund webhook carries no merchant.
pub(super) async fn get_refund_by_id(c: &Client, id: &str) -> Result<Option<Refund>, StoreError> {
    one_refund(c, "WHERE id = $1", &[&id]).await
}

/// As for payments, the newest wins should two rows share a reference.
pub(super) async fn find_refund_by_provider_reference(
    c: &Client,
    gateway: &str,
    provider_reference: &str,
) -> Result<Option<Refund>, StoreError> {
    one_refund(
        c,
        "WHERE gateway = $1 AND provider_reference = $2 ORDER BY created_at DESC, seq DESC LIMIT 1",
        &[&gateway, &provider_reference],
    )
    .await
}
