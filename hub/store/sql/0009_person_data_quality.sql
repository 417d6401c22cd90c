-- 0009: data-quality findings (docs/master-data.md "Fields the hub could not take").
-- A Person with a field the hub cannot take (a birth date that is no date, a
-- postcode that cannot exist, an NHS number whose check digit fails) is kept
-- and matched on the rest; the field is dropped, and each dropped field is one
-- row here, written in the transaction that journals the event. The sender is
-- told too (person.data_quality, and the CONFIRM's reason).
CREATE TABLE person_data_quality (
    event_id   text    NOT NULL,   -- the event that carried the field
    system     text    NOT NULL,   -- its sender
    local_id   text    NOT NULL,   -- the sender's id for the person
    master_id  text    NOT NULL,   -- the golden record the rest went to
    field      text    NOT NULL,   -- field path, e.g. birth_date
    value      text    NOT NULL,   -- the value sent, at most its first 64 bytes
    reason     text    NOT NULL,
    found_at   bigint  NOT NULL    -- hub time, microseconds since the epoch
);
CREATE INDEX person_data_quality_record ON person_data_quality (system, local_id);
CREATE INDEX person_data_quality_found ON person_data_quality (found_at);
