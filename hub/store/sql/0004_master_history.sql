-- 0004: the golden record's history as one row per version, not one per
-- field. A new resident changes a dozen fields at once; a row per field made
-- history most of the rows (and of the index entries) an event cost the
-- database. Each row now carries all the changes one event made to one
-- record, as a JSON object keyed by field path:
--   {"birth_date": {"o": "1984-03-07", "n": "1984-07-03", "s": "socialcare"}, ...}
-- o = old value (null when the field was empty), n = new value (null when it
-- was removed), s = the system that supplied the new value (a merge takes
-- values from both records). golden_person_field_history stays as a view
-- with the same columns as before, for people and tools that read it.
CREATE TABLE golden_person_history (
    master_id    text    COLLATE "C" NOT NULL,
    version      bigint  NOT NULL,
    source       text    NOT NULL,   -- system whose event made the change
    event_id     text    NOT NULL,
    at           bigint  NOT NULL,
    changes      json    NOT NULL,
    PRIMARY KEY (master_id, version)
);

INSERT INTO golden_person_history (master_id, version, source, event_id, at, changes)
SELECT master_id, version, min(source), min(event_id), min(at),
       json_object_agg(field, json_build_object('o', old_value, 'n', new_value, 's', source))
FROM golden_person_field_history
GROUP BY master_id, version;

DROP TABLE golden_person_field_history;

CREATE VIEW golden_person_field_history AS
SELECT h.master_id, h.version, f.key AS field, f.value->>'o' AS old_value,
       f.value->>'n' AS new_value, coalesce(f.value->>'s', h.source) AS source,
       h.event_id, h.at
FROM golden_person_history h, json_each(h.changes) AS f;

-- The documents the engine writes with every event are json, not jsonb:
-- PostgreSQL stores json as the text it was given, after checking it, where
-- jsonb parses it into a tree, sorts its keys and converts its numbers. That
-- took about a quarter of the database's time per event, for documents that
-- are written far more often than they are queried; ->, ->> and json_each
-- read them the same.
ALTER TABLE golden_person ALTER COLUMN fields DROP DEFAULT;
ALTER TABLE golden_person ALTER COLUMN fields TYPE json USING fields::json;
ALTER TABLE golden_person ALTER COLUMN fields SET DEFAULT '{}';
ALTER TABLE master_audit ALTER COLUMN detail DROP DEFAULT;
ALTER TABLE master_audit ALTER COLUMN detail TYPE json USING detail::json;
ALTER TABLE master_audit ALTER COLUMN detail SET DEFAULT '{}';
ALTER TABLE steward_queue ALTER COLUMN evidence TYPE json USING evidence::json;

-- Identifiers compare byte by byte, as in the journal (0001): their indexes
-- take several random inserts per event, and nothing about an id calls for
-- a language's collation rules.
ALTER TABLE golden_person ALTER COLUMN master_id TYPE text COLLATE "C";
ALTER TABLE xref ALTER COLUMN system TYPE text COLLATE "C",
                 ALTER COLUMN local_id TYPE text COLLATE "C",
                 ALTER COLUMN master_id TYPE text COLLATE "C";
ALTER TABLE master_audit ALTER COLUMN master_id TYPE text COLLATE "C";

-- The audit trail is read by record (master_audit_master) and written once
-- per decision; a serial key nobody looks rows up by cost every decision a
-- sequence step and one more index entry.
ALTER TABLE master_audit DROP COLUMN id;

-- A golden record is rewritten whenever one of its fields changes. With room
-- left on each page the new version can stay on the same page (a HOT update)
-- and the primary key needs no new entry.
ALTER TABLE golden_person SET (fillfactor = 80);
