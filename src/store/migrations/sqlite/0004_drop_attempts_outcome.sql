-- No query reads attempts by outcome (the reconciler finds work through
-- payments' status), yet every attempt's insert and finish moved an entry
-- of this index: two index pages written per payment for nothing.
DROP INDEX IF EXISTS attempts_outcome;
