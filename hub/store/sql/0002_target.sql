-- 0002: events addressed to one adapter (a correction goes only to the system
-- whose write was refused; a change is sent to each system in its own ids).
-- '' means every subscriber whose patterns match.
ALTER TABLE journal ADD COLUMN target text NOT NULL DEFAULT '';
