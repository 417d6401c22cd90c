-- 0010: the admin API's dead-letter operations (hub/admin/, docs/operations.md
-- "Admin API"). A replay moves the dead_letter row here in the same commit
-- that makes the hub deliver the event again; the row stays, as the audit of
-- who replayed what, and settled_at says when the subscriber settled it
-- (NULL: still to be delivered, read back at start-up).
CREATE TABLE dead_letter_replay (
    id           bigint PRIMARY KEY,          -- the dead_letter id it had
    adapter      text   COLLATE "C" NOT NULL,
    subscription text   COLLATE "C" NOT NULL,
    seq          bigint NOT NULL,
    event_id     text   NOT NULL,
    type         text   NOT NULL,
    reason       text   NOT NULL,             -- why it had been dead-lettered
    dead_at      bigint NOT NULL,
    replayed_by  text   NOT NULL,             -- the admin token's name
    replayed_at  bigint NOT NULL,             -- microseconds since the epoch
    settled_at   bigint
);
CREATE INDEX dead_letter_replay_waiting ON dead_letter_replay (adapter, subscription, seq)
    WHERE settled_at IS NULL;

-- A discarded dead letter: the whole row, with who discarded it and why.
CREATE TABLE dead_letter_discarded (
    id             bigint PRIMARY KEY,
    adapter        text   NOT NULL,
    subscription   text   NOT NULL,
    seq            bigint NOT NULL,
    event_id       text   NOT NULL,
    type           text   NOT NULL,
    attempts       integer NOT NULL,
    reason         text   NOT NULL,
    dead_at        bigint NOT NULL,
    envelope       bytea  NOT NULL,
    discarded_by   text   NOT NULL,
    discarded_at   bigint NOT NULL,
    discard_reason text   NOT NULL
);
