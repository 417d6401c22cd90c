-- 0009: reserved for another branch's migration (the admin API's is 0010).
-- On a branch that has no 0009 of its own this keeps the numbering without a
-- gap (migrate.c refuses gaps); drop this file when the real 0009 is merged.
SELECT 1;
