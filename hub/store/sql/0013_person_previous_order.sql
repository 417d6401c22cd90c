-- 0013: the order in which previous values were kept. One event may keep several (an address it
-- replaced, and addresses marked "old" or other names it sent), all with the same replaced_at;
-- master_load reads them back in the order they were written, so that the bound drops the same
-- ones after a restart as before it (docs/master-data.md, "Previous addresses and names").
ALTER TABLE golden_person_previous ADD COLUMN seq bigserial;
