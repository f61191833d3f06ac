-- The merchant's Idempotency-Key of the create request, so that a retry
-- after a crash finds the payment its first try made.
ALTER TABLE payments ADD COLUMN idempotency_key TEXT;
CREATE INDEX payments_idempotency_key ON payments (merchant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
