-- 0007: refused input within a quota (hub/ingest.c, docs/operations.md "Refused input").
-- Of a refusal over refusals.keep_bytes_per_event only the first bytes are
-- kept, with the size and SHA-256 of the whole so the sender's copy can be
-- recognised; past the day's byte quota a row keeps no bytes at all, only
-- that. Rows kept before 0007 have size and sha256 NULL: their bytes are whole.
ALTER TABLE rejected_event
    ADD COLUMN size      bigint,                          -- bytes refused
    ADD COLUMN sha256    bytea,                           -- of all of them
    ADD COLUMN truncated boolean NOT NULL DEFAULT false;  -- bytes holds only the first

-- Past the day's row quota a refusal is not kept at all, only counted: per
-- UTC day and adapter ('' before HELLO), written by the hub's periodic job.
CREATE TABLE rejected_dropped (
    day      date   NOT NULL,
    adapter  text   NOT NULL,
    dropped  bigint NOT NULL,
    PRIMARY KEY (day, adapter)
);
