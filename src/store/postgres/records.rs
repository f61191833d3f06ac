//! Payments in PostgreSQL: the SQL and the row mapping, as in the SQLite
//! store. A payment is read together with its refunds in one read-only
//! REPEATABLE READ transaction, so a payment's amounts and its refunds come
//! from the same snapshot.

use deadpool_postgres::{Client, GenericClient};
use tokio_postgres::IsolationLevel;
use tokio_postgres::Row;

use super::codec::{
    Param, big, capture_str, col, json, json_opt, opt_json, parse_capture, text_enum, to_json,
};
use super::refunds;
use super::steps::{NOT_FOUND, Step};
use crate::domain::model::{Payment, PaymentStatus};
use crate::domain::store::StoreError;

const PAYMENT_COLS: &str = "id, merchant_id, status, amount, amount_captured, amount_refunded, \
     currency, reference, capture_mode, method, gateway, provider_reference, route, risk, \
     failure, next_action, customer, metadata, created_at, updated_at, idempotency_key";

/// The JSON columns of a payment, encoded once for insert and update.
struct PaymentJson {
    method: String,
    route: String,
    risk: String,
    failure: Option<String>,
    next_action: Option<String>,
    customer: Option<String>,
    metadata: String,
}

impl PaymentJson {
    fn encode(p: &Payment) -> Result<Self, StoreError> {
        Ok(PaymentJson {
            method: to_json(&p.method)?,
            route: to_json(&p.route)?,
            risk: to_json(&p.risk)?,
            failure: opt_json(p.failure.as_ref())?,
            next_action: opt_json(p.next_action.as_ref())?,
            customer: opt_json(p.customer.as_ref())?,
            metadata: to_json(&p.metadata)?,
        })
    }
}

pub(super) async fn insert_payment(c: &impl GenericClient, p: &Payment) -> Result<(), StoreError> {
    insert_payment_step(p)?.execute(c).await?;
    Ok(())
}

pub(super) fn insert_payment_step(p: &Payment) -> Result<Step<'_>, StoreError> {
    let j = PaymentJson::encode(p)?;
    let sql = format!(
        "INSERT INTO payments ({PAYMENT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
         $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"
    );
    Ok(Step::new(sql)
        .arg(&p.id)
        .arg(&p.merchant_id)
        .arg(p.status.as_str())
        .arg(p.amount)
        .arg(p.amount_captured)
        .arg(p.amount_refunded)
        .arg(&p.currency)
        .arg(&p.reference)
        .arg(capture_str(p.capture))
        .arg(j.method)
        .arg(&p.gateway)
        .arg(&p.provider_reference)
        .arg(j.route)
        .arg(j.risk)
        .arg(j.failure)
        .arg(j.next_action)
        .arg(j.customer)
        .arg(j.metadata)
        .arg(&p.created_at)
        .arg(&p.updated_at)
        .arg(&p.idempotency_key))
}

/// No such payment is `NotFound`.
pub(super) async fn update_payment(c: &impl GenericClient, p: &Payment) -> Result<(), StoreError> {
    update_payment_step(p)?.execute(c).await?;
    Ok(())
}

/// The outcome's update of a payment, by id and merchant (see
/// [`update_payment_step`]).
pub(super) const UPDATE_PAYMENT: &str =
    "UPDATE payments SET status = $3, amount_captured = $4, amount_refunded = $5,
         gateway = $6, provider_reference = $7, route = $8, risk = $9, failure = $10,
         next_action = $11, customer = $12, metadata = $13, updated_at = $14
     WHERE id = $1 AND merchant_id = $2";

/// How [`get_payment`] names a payment.
pub(super) const BY_ID_AND_MERCHANT: &str = "WHERE id = $1 AND merchant_id = $2";

/// Overwrites everything but the identity and the request's fixed facts
/// (amount, currency, reference, capture mode, method, created_at); raises
/// `NotFound` in the statement, so a unit with it writes nothing.
pub(super) fn update_payment_step(p: &Payment) -> Result<Step<'_>, StoreError> {
    let j = PaymentJson::encode(p)?;
    let sql = UPDATE_PAYMENT;
    Ok(Step::new(sql)
        .or_raise(NOT_FOUND, "no such payment")
        .arg(&p.id)
        .arg(&p.merchant_id)
        .arg(p.status.as_str())
        .arg(p.amount_captured)
        .arg(p.amount_refunded)
        .arg(&p.gateway)
        .arg(&p.provider_reference)
        .arg(j.route)
        .arg(j.risk)
        .arg(j.failure)
        .arg(j.next_action)
        .arg(j.customer)
        .arg(j.metadata)
        .arg(&p.updated_at))
}

fn payment_row(r: &Row) -> Result<Payment, StoreError> {
    Ok(Payment {
        id: col(r, 0)?,
        merchant_id: col(r, 1)?,
        status: text_enum(r, 2, PaymentStatus::parse)?,
        amount: col(r, 3)?,
        amount_captured: col(r, 4)?,
        amount_refunded: col(r, 5)?,
        currency: col(r, 6)?,
        reference: col(r, 7)?,
        capture: text_enum(r, 8, parse_capture)?,
        method: json(r, 9)?,
        gateway: col(r, 10)?,
        provider_reference: col(r, 11)?,
        route: json(r, 12)?,
        risk: json(r, 13)?,
        failure: json_opt(r, 14)?,
        next_action: json_opt(r, 15)?,
        customer: json_opt(r, 16)?,
        metadata: json(r, 17)?,
        refunds: Vec::new(),
        created_at: col(r, 18)?,
        updated_at: col(r, 19)?,
        idempotency_key: col(r, 20)?,
    })
}

/// Runs a payment query and attaches refunds, in one snapshot.
async fn query_payments(
    c: &mut Client,
    where_order: &str,
    args: &[Param<'_>],
) -> Result<Vec<Payment>, StoreError> {
    let tx = c
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let stmt = tx
        .prepare_cached(&format!(
            "SELECT {PAYMENT_COLS} FROM payments {where_order}"
        ))
        .await?;
    let rows = tx.query(&stmt, args).await?;
    let mut payments = rows
        .iter()
        .map(payment_row)
        .collect::<Result<Vec<_>, _>>()?;
    refunds::attach(&tx, &mut payments).await?;
    tx.commit().await?;
    Ok(payments)
}

pub(super) async fn get_payment(
    c: &mut Client,
    merchant_id: &str,
    id: &str,
) -> Result<Option<Payment>, StoreError> {
    let found = query_payments(c, BY_ID_AND_MERCHANT, &[&id, &merchant_id]).await?;
    Ok(found.into_iter().next())
}

/// Unscoped: webhooks learn the merchant from the payment itself.
pub(super) async fn get_payment_by_id(
    c: &mut Client,
    id: &str,
) -> Result<Option<Payment>, StoreError> {
    let found = query_payments(c, "WHERE id = $1", &[&id]).await?;
    Ok(found.into_iter().next())
}

pub(super) async fn find_by_reference(
    c: &mut Client,
    merchant_id: &str,
    reference: &str,
) -> Result<Vec<Payment>, StoreError> {
    query_payments(
        c,
        "WHERE merchant_id = $1 AND reference = $2 ORDER BY created_at DESC, seq DESC",
        &[&merchant_id, &reference],
    )
    .await
}

pub(super) async fn find_by_idempotency_key(
    c: &mut Client,
    merchant_id: &str,
    key: &str,
) -> Result<Option<Payment>, StoreError> {
    let found = query_payments(
        c,
        "WHERE merchant_id = $1 AND idempotency_key = $2 \
         ORDER BY created_at DESC, seq DESC LIMIT 1",
        &[&merchant_id, &key],
    )
    .await?;
    Ok(found.into_iter().next())
}

/// Payments in `status` last changed before `updated_before` (RFC 3339),
/// oldest first: the reconciler's work list.
pub(super) async fn stale_by_status(
    c: &mut Client,
    status: &str,
    updated_before: &str,
    limit: usize,
) -> Result<Vec<Payment>, StoreError> {
    query_payments(
        c,
        "WHERE status = $1 AND updated_at < $2 ORDER BY updated_at, seq LIMIT $3",
        &[&status, &updated_before, &big(limit)],
    )
    .await
}

/// Provider references are unique per gateway in practice; should two rows
/// ever share one, the newest wins.
pub(super) async fn find_by_provider_reference(
    c: &mut Client,
    gateway: &str,
    provider_reference: &str,
) -> Result<Option<Payment>, StoreError> {
    let found = query_payments(
        c,
        "WHERE gateway = $1 AND provider_reference = $2 \
         ORDER BY created_at DESC, seq DESC LIMIT 1",
        &[&gateway, &provider_reference],
    )
    .await?;
    Ok(found.into_iter().next())
}
