-- No query reads attempts by outcome (the reconciler finds work through
-- payments' status), yet with the column indexed no finish of an attempt
-- could be a heap-only (HOT) update: every index was written again.
DROP INDEX IF EXISTS attempts_outcome;
