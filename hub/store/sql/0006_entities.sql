-- 0006: master data for addresses and cases (hub/master/entity.c). Unlike a person,
-- whose golden record is found by matching, an address is its UPRN and a case
-- is the (system, local id) that first sent it, so there is no steward queue
-- and no merge here: each entity has its golden record, one history row per
-- version and its cross-reference, shaped like the person tables (0003,
-- 0004). The engine keeps them in memory and writes them in the transaction
-- of the event that caused them; at start-up it reads them back
-- (entity_load). Decisions go to master_audit with the person engine's, keyed
-- by master id ("A..." addresses, "C..." cases, "P..." persons never clash).
-- Times are UTC microseconds since the epoch; identifiers compare byte by
-- byte (COLLATE "C"), as in 0004; documents written per event are json, not
-- jsonb, for the reason 0004 gives.

-- fields: {"postcode":{"v":"LS1 4AB","s":"crm","n":2,"t":1700000000000000},...}
-- with the meaning of golden_person.fields. The UPRN is the identity, not a
-- field: it never changes, and a second record for it cannot exist.
CREATE TABLE golden_address (
    master_id    text    COLLATE "C" PRIMARY KEY,
    uprn         text    COLLATE "C" NOT NULL UNIQUE,   -- digits, no leading zeros
    version      bigint  NOT NULL CHECK (version > 0),
    fields       json    NOT NULL DEFAULT '{}',
    created_at   bigint  NOT NULL,
    updated_at   bigint  NOT NULL
) WITH (fillfactor = 80);   -- rewritten on every change: room for HOT updates

-- One row per version, as golden_person_history: every field the event
-- changed, {"town":{"o":"LEEDS","n":"LEEDS 6"},...}; "o" only when there was
-- an old value. There is no "s": every value an address or case event sets
-- comes from its sender, the row's source.
CREATE TABLE golden_address_history (
    master_id    text    COLLATE "C" NOT NULL,
    version      bigint  NOT NULL,
    source       text    NOT NULL,
    event_id     text    NOT NULL,
    at           bigint  NOT NULL,
    changes      json    NOT NULL,
    PRIMARY KEY (master_id, version)
);

-- Which golden address each system's local id for an address is. A local id
-- whose UPRN changes (the system re-pointed its record at another property)
-- moves to that property's golden address.
CREATE TABLE address_xref (
    system       text    COLLATE "C" NOT NULL,
    local_id     text    COLLATE "C" NOT NULL,
    master_id    text    COLLATE "C" NOT NULL,
    linked_at    bigint  NOT NULL,
    PRIMARY KEY (system, local_id)
);
-- Looked up by equality only (a record's local ids): see 0005.
CREATE INDEX address_xref_master ON address_xref USING hash (master_id);

-- A case is about one person: person_master_id is the golden person as the
-- case last named it (a merge may since have redirected it; readers follow
-- golden_person.redirect_to). It is also the field "person" in fields, with
-- its owner and history like any other field; the column is for queries
-- ("all cases of this person") without reading json.
CREATE TABLE golden_case (
    master_id        text    COLLATE "C" PRIMARY KEY,
    person_master_id text    COLLATE "C" NOT NULL,
    version          bigint  NOT NULL CHECK (version > 0),
    fields           json    NOT NULL DEFAULT '{}',
    created_at       bigint  NOT NULL,
    updated_at       bigint  NOT NULL
) WITH (fillfactor = 80);
CREATE INDEX golden_case_person ON golden_case USING hash (person_master_id);

CREATE TABLE golden_case_history (
    master_id    text    COLLATE "C" NOT NULL,
    version      bigint  NOT NULL,
    source       text    NOT NULL,
    event_id     text    NOT NULL,
    at           bigint  NOT NULL,
    changes      json    NOT NULL,
    PRIMARY KEY (master_id, version)
);

CREATE TABLE case_xref (
    system       text    COLLATE "C" NOT NULL,
    local_id     text    COLLATE "C" NOT NULL,
    master_id    text    COLLATE "C" NOT NULL,
    linked_at    bigint  NOT NULL,
    PRIMARY KEY (system, local_id)
);
CREATE INDEX case_xref_master ON case_xref USING hash (master_id);
