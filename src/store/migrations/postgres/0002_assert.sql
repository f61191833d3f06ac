-- payroute PostgreSQL schema, version 2: an assertion for units of work.
-- A unit is sent as BEGIN, its statements and COMMIT in one pipeline, so
-- no row count can be checked between a statement and the COMMIT behind it.
-- A statement that must change a row (a payment that must exist, a key that
-- must be claimed) ends in `SELECT payroute_assert(count(*) > 0, ...)`: the
-- error aborts the transaction, and the queued COMMIT rolls it back.
--
-- `code` is a payroute SQLSTATE (class PR) the store maps to its own error.
-- VOLATILE (the default, said here on purpose) keeps the planner from
-- evaluating a call with constant arguments ahead of the statement.
CREATE FUNCTION payroute_assert(holds boolean, code text, message text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    IF holds IS NOT TRUE THEN
        RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message;
    END IF;
    RETURN true;
END
$$;
