-- 0003: master data. One golden record per person, the cross-reference of
-- every system's local id, the steward queue and the audit trail. The hub's
-- master-data engine (hub/master/master*.c) keeps all of this in memory and writes
-- it here in the transaction of the event that caused it; at start-up it
-- reads it back (master_load). Times are UTC microseconds since the epoch, as
-- in 0001. See docs/master-data.md.

-- Field values live in one jsonb object per record:
--   {"birth_date": {"v": "1984-03-07", "s": "socialcare", "n": 3, "t": 1700000000000000}, ...}
-- v = value (canonical text), s = system that supplied it, n = record version
-- at which it last changed (optimistic concurrency), t = when it happened in
-- that system (survivorship by recency). One row per record keeps an update
-- to a single statement.
CREATE TABLE golden_person (
    master_id    text    PRIMARY KEY,
    version      bigint  NOT NULL CHECK (version > 0),
    state        text    NOT NULL CHECK (state IN ('ACTIVE', 'REDIRECTED')),
    redirect_to  text,
    fields       jsonb   NOT NULL DEFAULT '{}',
    created_at   bigint  NOT NULL,
    updated_at   bigint  NOT NULL,
    CHECK ((state = 'REDIRECTED') = (redirect_to IS NOT NULL))
);

-- Every change of every field: what it was, what it became, who said so.
CREATE TABLE golden_person_field_history (
    master_id    text    NOT NULL,
    version      bigint  NOT NULL,
    field        text    NOT NULL,
    old_value    text,
    new_value    text,
    source       text    NOT NULL,   -- system that supplied new_value
    event_id     text    NOT NULL,   -- event that caused the change
    at           bigint  NOT NULL,
    PRIMARY KEY (master_id, version, field)
);

-- The cross-reference: which golden record each system's local id is.
--   MATCH           linked to an existing record (by rule, score or steward)
--   POSSIBLE_MATCH  given its own record, with a steward_queue item open
--   NO_MATCH        no existing match: its own new record
--   REDIRECTED      its record was merged into another; it follows the merge
CREATE TABLE xref (
    system       text    NOT NULL,
    local_id     text    NOT NULL,
    master_id    text    NOT NULL,
    link_state   text    NOT NULL
                 CHECK (link_state IN ('MATCH', 'POSSIBLE_MATCH', 'NO_MATCH', 'REDIRECTED')),
    how          text    NOT NULL CHECK (how IN ('rule', 'score', 'steward')),
    score        double precision,
    linked_at    bigint  NOT NULL,
    PRIMARY KEY (system, local_id)
);
CREATE INDEX xref_master ON xref (master_id);

-- Pairs of records that may be one person, for a data steward to decide.
-- master_a is the record that existed first, master_b the newcomer.
CREATE TABLE steward_queue (
    id           bigint  PRIMARY KEY,   -- assigned by the engine
    master_a     text    NOT NULL,
    master_b     text    NOT NULL,
    score        double precision,
    evidence     jsonb   NOT NULL,      -- per-field comparison levels and weights
    state        text    NOT NULL DEFAULT 'OPEN'
                 CHECK (state IN ('OPEN', 'LINKED', 'KEPT_APART', 'MERGED')),
    created_at   bigint  NOT NULL,
    decided_at   bigint,
    decided_by   text,
    reason       text
);
CREATE INDEX steward_queue_open ON steward_queue (created_at) WHERE state = 'OPEN';

-- Pairs a steward has decided are different people: never queued again.
CREATE TABLE keep_apart (
    master_a     text    NOT NULL,
    master_b     text    NOT NULL,
    decided_at   bigint  NOT NULL,
    decided_by   text,
    reason       text,
    PRIMARY KEY (master_a, master_b),
    CHECK (master_a < master_b COLLATE "C")   -- byte order, as the engine sorts
);

-- Each merge, with what is needed to undo it: the survivor's fields before
-- the merge (same shape as golden_person.fields) and the cross-reference rows
-- that moved, with their link state before:
--   moved = [{"system": "crm", "local_id": "C1", "state": "MATCH", "how": "rule", "score": 40.1}]
CREATE TABLE golden_merge (
    id               bigint  PRIMARY KEY,   -- assigned by the engine
    survivor         text    NOT NULL,
    retired          text    NOT NULL,
    survivor_version bigint  NOT NULL,      -- the survivor's version the merge made
    survivor_before  jsonb   NOT NULL,
    moved            jsonb   NOT NULL,
    state            text    NOT NULL CHECK (state IN ('MERGED', 'UNMERGED')),
    event_id         text    NOT NULL,
    source           text    NOT NULL,
    merged_at        bigint  NOT NULL,
    unmerged_at      bigint
);
CREATE UNIQUE INDEX golden_merge_active ON golden_merge (retired) WHERE state = 'MERGED';

-- What the engine decided and why. Details name fields and systems, not
-- values: the values are in the history, under its access rules.
CREATE TABLE master_audit (
    id           bigserial PRIMARY KEY,
    at           bigint  NOT NULL,
    event_id     text    NOT NULL,
    source       text    NOT NULL,
    master_id    text    NOT NULL,
    action       text    NOT NULL,
    detail       jsonb   NOT NULL DEFAULT '{}'
);
CREATE INDEX master_audit_master ON master_audit (master_id, at);
