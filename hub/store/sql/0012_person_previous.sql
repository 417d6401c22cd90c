-- 0012: a person's previous addresses and other names (docs/master-data.md, "Previous
-- addresses and names"). When a golden person's home address or name is replaced by a newer
-- value, the value it replaced is kept as evidence: a resident who moved is still found by
-- the address a system that has not heard of the move sends. One row per replaced value,
-- written in the transaction of the event that replaced it; the engine keeps the newest few
-- of each kind per record in memory and reads them back at start-up (master_load).
--   kind 'address': value is address.home's text ("lines|TOWN|POSTCODE|UPRN"), family NULL
--   kind 'name':    value is name.given ('' when there was none), family name.family
-- seen_at is when the system that had sent the old value said it (its time), replaced_at
-- the hub's time when the newer value replaced it.
CREATE TABLE golden_person_previous (
    master_id    text    COLLATE "C" NOT NULL,
    kind         text    NOT NULL CHECK (kind IN ('address', 'name')),
    value        text    NOT NULL,
    family       text,
    source       text    NOT NULL,   -- the system that had sent the old value
    seen_at      bigint  NOT NULL,
    replaced_at  bigint  NOT NULL,
    event_id     text    NOT NULL    -- the event that replaced it
);
CREATE INDEX golden_person_previous_record ON golden_person_previous (master_id, replaced_at);
