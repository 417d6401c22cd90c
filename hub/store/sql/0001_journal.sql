-- 0001: the durable routing core: journal, subscriptions, dead letters,
-- refused input. Times are UTC microseconds since the epoch (bigint) so the
-- hub's binary COPY writes them without conversion.

CREATE TABLE journal (
    seq          bigint PRIMARY KEY,          -- assigned by the hub, increasing
    -- Byte-wise collation: these are identifiers, and the unique index below
    -- is maintained for every event, so locale-aware comparison is wasted work.
    source       text COLLATE "C" NOT NULL,   -- publishing adapter
    event_id     text COLLATE "C" NOT NULL,   -- publisher's idempotency key
    type         text COLLATE "C" NOT NULL,
    entity_key   text COLLATE "C" NOT NULL,   -- ordering key: master id or source/record id
    received_at  bigint NOT NULL,
    envelope     bytea  NOT NULL              -- serialised joinery.v1.Envelope
);
-- Duplicate publishes are caught in memory first; this is the backstop.
CREATE UNIQUE INDEX journal_source_event ON journal (source, event_id);

CREATE TABLE subscription (
    adapter      text   NOT NULL,
    name         text   NOT NULL,
    patterns     text[] NOT NULL,
    acked_seq    bigint NOT NULL DEFAULT 0,   -- every seq <= this is acknowledged
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (adapter, name)
);

CREATE TABLE dead_letter (
    id           bigserial PRIMARY KEY,
    adapter      text   NOT NULL,
    subscription text   NOT NULL,
    seq          bigint NOT NULL,
    event_id     text   NOT NULL,
    type         text   NOT NULL,
    attempts     integer NOT NULL,
    reason       text   NOT NULL,
    dead_at      bigint NOT NULL,
    replayed_at  bigint,
    envelope     bytea  NOT NULL
);
CREATE INDEX dead_letter_sub ON dead_letter (adapter, subscription, seq);

-- Everything refused at the door, with its bytes, so nothing is lost.
CREATE TABLE rejected_event (
    id           bigserial PRIMARY KEY,
    received_at  bigint NOT NULL,
    adapter      text   NOT NULL,             -- '' when unauthenticated
    event_id     text   NOT NULL DEFAULT '',
    type         text   NOT NULL DEFAULT '',
    reason       text   NOT NULL,
    bytes        bytea  NOT NULL
);
CREATE INDEX rejected_event_time ON rejected_event (received_at);
