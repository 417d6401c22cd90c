-- 0007: PLACEHOLDER on branch fix23-c only. Another change of issue 23 adds the
-- real 0007 at the same time; migrations must be numbered without gaps, so this
-- empty file stands in for it until the branches are merged. Drop this file
-- when merging (keep the real 0007).
SELECT 1;
