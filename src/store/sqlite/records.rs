//! Payments and refunds in SQLite: the SQL and the row mapping. A payment's
//! route (with its attempt views), risk, method and failure are JSON columns
//! written as the caller gives them; refunds live in their own table and are
//! attached on read. Reads without a merchant serve the webhook pipeline,
//! which learns the merchant from the record it finds.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::codec::{capture_str, json, json_opt, opt_json, parse_capture, text_enum, to_json};
use super::exec;
use crate::domain::model::{Payment, PaymentStatus, Refund, RefundStatus};
use crate::domain::store::StoreError;

const PAYMENT_COLS: &str = "id, merchant_id, status, amount, amount_captured, amount_refunded, \
     currency, reference, capture_mode, method, gateway, provider_reference, route, risk, \
     failure, next_action, customer, metadata, created_at, updated_at, idempotency_key";

const REFUND_COLS: &str = "id, payment_id, status, amount, currency, gateway, \
     provider_reference, reason, failure, created_at, updated_at";

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

pub(super) fn insert_payment(conn: &Connection, p: &Payment) -> Result<(), StoreError> {
    let j = PaymentJson::encode(p)?;
    exec(
        conn,
        &format!(
            "INSERT INTO payments ({PAYMENT_COLS}) VALUES \
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)"
        ),
        params![
            p.id,
            p.merchant_id,
            p.status.as_str(),
            p.amount,
            p.amount_captured,
            p.amount_refunded,
            p.currency,
            p.reference,
            capture_str(p.capture),
            j.method,
            p.gateway,
            p.provider_reference,
            j.route,
            j.risk,
            j.failure,
            j.next_action,
            j.customer,
            j.metadata,
            p.created_at,
            p.updated_at,
            p.idempotency_key,
        ],
    )?;
    Ok(())
}

/// Overwrites everything but the identity and the request's fixed facts
/// (amount, currency, reference, capture mode, method, created_at).
pub(super) fn update_payment(conn: &Connection, p: &Payment) -> Result<(), StoreError> {
    let j = PaymentJson::encode(p)?;
    let changed = exec(
        conn,
        "UPDATE payments SET status = ?3, amount_captured = ?4, amount_refunded = ?5,
             gateway = ?6, provider_reference = ?7, route = ?8, risk = ?9, failure = ?10,
             next_action = ?11, customer = ?12, metadata = ?13, updated_at = ?14
         WHERE id = ?1 AND merchant_id = ?2",
        params![
            p.id,
            p.merchant_id,
            p.status.as_str(),
            p.amount_captured,
            p.amount_refunded,
            p.gateway,
            p.provider_reference,
            j.route,
            j.risk,
            j.failure,
            j.next_action,
            j.customer,
            j.metadata,
            p.updated_at,
        ],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

fn payment_row(r: &Row<'_>) -> rusqlite::Result<Payment> {
    Ok(Payment {
        id: r.get(0)?,
        merchant_id: r.get(1)?,
        status: text_enum(r, 2, PaymentStatus::parse)?,
        amount: r.get(3)?,
        amount_captured: r.get(4)?,
        amount_refunded: r.get(5)?,
        currency: r.get(6)?,
        reference: r.get(7)?,
        capture: text_enum(r, 8, parse_capture)?,
        method: json(r, 9)?,
        gateway: r.get(10)?,
        provider_reference: r.get(11)?,
        route: json(r, 12)?,
        risk: json(r, 13)?,
        failure: json_opt(r, 14)?,
        next_action: json_opt(r, 15)?,
        customer: json_opt(r, 16)?,
        metadata: json(r, 17)?,
        refunds: Vec::new(),
        created_at: r.get(18)?,
        updated_at: r.get(19)?,
        idempotency_key: r.get(20)?,
    })
}

/// Runs a payment query and attaches refunds, all in one read transaction so
/// that a payment's amounts and its refunds come from the same snapshot.
fn query_payments(
    conn: &Connection,
    where_order: &str,
    args: &[&str],
) -> Result<Vec<Payment>, StoreError> {
    // A reader opens its own read transaction for one snapshot; on the
    // writer (`:memory:`) the unit's transaction already is one.
    let tx = if conn.is_autocommit() {
        Some(conn.unchecked_transaction()?)
    } else {
        None
    };
    let mut payments = {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {PAYMENT_COLS} FROM payments {where_order}"
        ))?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), payment_row)?;
        rows.collect::<rusqlite::Result<Vec<_>>>()?
    };
    for p in &mut payments {
        p.refunds = refunds_of(conn, &p.id)?;
    }
    if let Some(tx) = tx {
        tx.commit()?;
    }
    Ok(payments)
}

pub(super) fn get_payment(
    conn: &Connection,
    merchant_id: &str,
    id: &str,
) -> Result<Option<Payment>, StoreError> {
    let found = query_payments(
        conn,
        "WHERE id = ?1 AND merchant_id = ?2",
        &[id, merchant_id],
    )?;
    Ok(found.into_iter().next())
}

/// Unscoped: webhooks learn the merchant from the payment itself.
pub(super) fn get_payment_by_id(
    conn: &Connection,
    id: &str,
) -> Result<Option<Payment>, StoreError> {
    let found = query_payments(conn, "WHERE id = ?1", &[id])?;
    Ok(found.into_iter().next())
}

pub(super) fn find_by_reference(
    conn: &Connection,
    merchant_id: &str,
    reference: &str,
) -> Result<Vec<Payment>, StoreError> {
    query_payments(
        conn,
        "WHERE merchant_id = ?1 AND reference = ?2 ORDER BY created_at DESC, rowid DESC",
        &[merchant_id, reference],
    )
}

pub(super) fn find_by_idempotency_key(
    conn: &Connection,
    merchant_id: &str,
    key: &str,
) -> Result<Option<Payment>, StoreError> {
    let found = query_payments(
        conn,
        "WHERE merchant_id = ?1 AND idempotency_key = ?2 ORDER BY created_at DESC, rowid DESC LIMIT 1",
        &[merchant_id, key],
    )?;
    Ok(found.into_iter().next())
}

/// Payments in `status` last changed before `updated_before` (RFC 3339),
/// oldest first: the reconciler's work list.
pub(super) fn stale_by_status(
    conn: &Connection,
    status: &str,
    updated_before: &str,
    limit: usize,
) -> Result<Vec<Payment>, StoreError> {
    query_payments(
        conn,
        &format!("WHERE status = ?1 AND updated_at < ?2 ORDER BY updated_at, rowid LIMIT {limit}"),
        &[status, updated_before],
    )
}

/// Provider references are unique per gateway in practice; should two rows
/// ever share one, the newest wins.
pub(super) fn find_by_provider_reference(
    conn: &Connection,
    gateway: &str,
    provider_reference: &str,
) -> Result<Option<Payment>, StoreError> {
    let found = query_payments(
        conn,
        "WHERE gateway = ?1 AND provider_reference = ?2 \
         ORDER BY created_at DESC, rowid DESC LIMIT 1",
        &[gateway, provider_reference],
    )?;
    Ok(found.into_iter().next())
}

fn refund_row(r: &Row<'_>) -> rusqlite::Result<Refund> {
    Ok(Refund {
        id: r.get(0)?,
        payment_id: r.get(1)?,
        status: text_enum(r, 2, RefundStatus::parse)?,
        amount: r.get(3)?,
        currency: r.get(4)?,
        gateway: r.get(5)?,
        provider_reference: r.get(6)?,
        reason: r.get(7)?,
        failure: json_opt(r, 8)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
    })
}

fn refunds_of(conn: &Connection, payment_id: &str) -> Result<Vec<Refund>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {REFUND_COLS} FROM refunds WHERE payment_id = ?1 ORDER BY created_at, rowid"
    ))?;
    let rows = stmt.query_map([payment_id], refund_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// The refund's merchant is copied from its payment, so that `get_refund`
/// can scope by merchant without a join; no such payment is `NotFound`.
pub(super) fn insert_refund(conn: &Connection, r: &Refund) -> Result<(), StoreError> {
    write_refund(conn, r, "")
}

/// Inserts a refund, or updates the mutable fields (as [`update_refund`])
/// of the one with its id. No such payment is `NotFound`.
pub(super) fn upsert_refund(conn: &Connection, r: &Refund) -> Result<(), StoreError> {
    write_refund(
        conn,
        r,
        "ON CONFLICT (id) DO UPDATE SET status = excluded.status,
             provider_reference = excluded.provider_reference,
             failure = excluded.failure, updated_at = excluded.updated_at",
    )
}

/// One INSERT for both: `on_conflict` is empty or an `ON CONFLICT` clause.
/// (The WHERE keeps SQLite from reading `ON CONFLICT` as a join constraint.)
fn write_refund(conn: &Connection, r: &Refund, on_conflict: &str) -> Result<(), StoreError> {
    let written = exec(
        conn,
        &format!(
            "INSERT INTO refunds ({REFUND_COLS}, merchant_id)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, merchant_id
             FROM payments WHERE id = ?2
             {on_conflict}"
        ),
        params![
            r.id,
            r.payment_id,
            r.status.as_str(),
            r.amount,
            r.currency,
            r.gateway,
            r.provider_reference,
            r.reason,
            opt_json(r.failure.as_ref())?,
            r.created_at,
            r.updated_at,
        ],
    )?;
    if written == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(super) fn update_refund(conn: &Connection, r: &Refund) -> Result<(), StoreError> {
    let changed = exec(
        conn,
        "UPDATE refunds SET status = ?2, provider_reference = ?3, failure = ?4, updated_at = ?5
         WHERE id = ?1",
        params![
            r.id,
            r.status.as_str(),
            r.provider_reference,
            opt_json(r.failure.as_ref())?,
            r.updated_at,
        ],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(super) fn get_refund(
    conn: &Connection,
    merchant_id: &str,
    id: &str,
) -> Result<Option<Refund>, StoreError> {
    let refund = conn
        .query_row(
            &format!("SELECT {REFUND_COLS} FROM refunds WHERE id = ?1 AND merchant_id = ?2"),
            [id, merchant_id],
            refund_row,
        )
        .optional()?;
    Ok(refund)
}

/// Unscoped: a refund webhook carries no merchant.
pub(super) fn get_refund_by_id(conn: &Connection, id: &str) -> Result<Option<Refund>, StoreError> {
    let refund = conn
        .query_row(
            &format!("SELECT {REFUND_COLS} FROM refunds WHERE id = ?1"),
            [id],
            refund_row,
        )
        .optional()?;
    Ok(refund)
}

/// As for payments, the newest wins should two rows share a reference.
pub(super) fn find_refund_by_provider_reference(
    conn: &Connection,
    gateway: &str,
    provider_reference: &str,
) -> Result<Option<Refund>, StoreError> {
    let refund = conn
        .query_row(
            &format!(
                "SELECT {REFUND_COLS} FROM refunds WHERE gateway = ?1 AND provider_reference = ?2
                 ORDER BY created_at DESC, rowid DESC LIMIT 1"
            ),
            [gateway, provider_reference],
            refund_row,
        )
        .optional()?;
    Ok(refund)
}
