-- The merchant-scoped lookups of payments lead with the column that picks
-- the row (the reference, the Idempotency-Key), not with the merchant.
--
-- Led by merchant_id, these indexes offered themselves to every statement
-- that names a payment by id and merchant ("WHERE id = $1 AND merchant_id =
-- $2": the outcome's UPDATE, get_payment). On a table without statistics
-- (a new schema, until autovacuum's first ANALYZE, a minute or more) the
-- planner costed them the same as the primary key and took the merchant
-- index, then filtered every payment of the merchant to find one row; a
-- connection kept that plan until the next ANALYZE. Under load this
-- doubled PostgreSQL's CPU per payment and halved payroute's throughput.
-- With the merchant second, only the primary key can serve a lookup by id.
--
-- SQLite keeps its indexes: its planner always prefers a unique key's
-- equality.
DROP INDEX IF EXISTS payments_merchant_reference;
CREATE INDEX payments_reference ON payments (reference, merchant_id);
DROP INDEX IF EXISTS payments_idempotency_key;
CREATE INDEX payments_idempotency_key ON payments (idempotency_key, merchant_id)
    WHERE idempotency_key IS NOT NULL;
