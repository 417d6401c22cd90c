-- 0011: partners over Kafka (hub/partner/, docs/operations.md "Partners (Kafka)").
--
-- partner_disclosure: one row per event a partner's agreement covered,
-- written in the group commit that settles the delivery (so no later than the
-- cursor it lets move): what was shared about whom, with whom, under which
-- agreement and purpose, and when; or why it was withheld (fields NULL).
-- Read by `joinery disclosures --person MASTER_ID` for subject access requests.
CREATE TABLE partner_disclosure (
    id          bigserial PRIMARY KEY,
    at          bigint NOT NULL,              -- microseconds since the epoch, UTC
    partner     text COLLATE "C" NOT NULL,
    agreement   text NOT NULL,
    purpose     text NOT NULL,
    master_id   text COLLATE "C" NOT NULL,    -- '' when the event had none
    event_id    text NOT NULL,
    event_type  text NOT NULL,
    seq         bigint NOT NULL,              -- the journal's seq of the event
    fields      text,                         -- agreed fields sent, comma-separated; NULL: withheld
    withheld    text                          -- why not sent (no consent, ...); NULL: sent
);
CREATE INDEX partner_disclosure_person ON partner_disclosure (master_id, at);

-- partner_refused: inbound records that were not envelopes, with where they
-- were in Kafka; their bytes are in rejected_event (adapter 'partner:NAME').
CREATE TABLE partner_refused (
    id              bigserial PRIMARY KEY,
    at              bigint NOT NULL,
    partner         text NOT NULL,
    topic           text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset    bigint NOT NULL,
    reason          text NOT NULL
);
