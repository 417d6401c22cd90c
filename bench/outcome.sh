#!/usr/bin/env bash
# outcome.sh DATA_DIR - the master-data outcome of a run kept with KEEP=1
# (bench/run-matching.sh), in a form that two runs can be diffed by: master ids
# are ULIDs that differ from run to run, so each golden record is named by the
# smallest "system:local_id" linked to it. Prints, sorted:
#   xref   SYSTEM:LOCAL_ID  RECORD  LINK_STATE  HOW  SCORE
#   queue  RECORD_A  RECORD_B  SCORE  STATE
#   golden RECORD  VERSION  STATE  FIELDS (without the times "t", which differ run to run)
# Starts the kept cluster's PostgreSQL (as its owner) on its Unix socket, reads,
# and stops it again.
set -euo pipefail
data=${1:?usage: $0 DATA_DIR (the data directory kept by KEEP=1)}
pgdata=$data/pg/data
run=$data/pg/run
[[ -f $pgdata/PG_VERSION ]] || {
    echo "$0: no cluster in $pgdata" >&2
    exit 1
}
bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
owner=$(stat -c %U "$pgdata")
as_owner() { if [[ $(id -un) == "$owner" ]]; then "$@"; else runuser -u "$owner" -- "$@"; fi; }
as_owner "$bindir/pg_ctl" -D "$pgdata" -w -l "$pgdata/outcome.log" start >/dev/null
trap 'as_owner "$bindir/pg_ctl" -D "$pgdata" -w -m fast stop >/dev/null' EXIT
{ psql -X -q -A -t -F ' ' -h "$run" -U joinery -d joinery -v ON_ERROR_STOP=1 <<'SQL'
CREATE TEMP TABLE name AS
  SELECT master_id, min(system || ':' || local_id COLLATE "C") AS rec FROM xref GROUP BY master_id;
SELECT 'xref', x.system || ':' || x.local_id, coalesce(n.rec, x.master_id), x.link_state, x.how,
       coalesce(round(x.score::numeric, 6)::text, '-')
  FROM xref x LEFT JOIN name n USING (master_id);
SELECT 'queue', least(coalesce(a.rec, q.master_a), coalesce(b.rec, q.master_b)) COLLATE "C",
       greatest(coalesce(a.rec, q.master_a), coalesce(b.rec, q.master_b)) COLLATE "C",
       coalesce(round(q.score::numeric, 6)::text, '-'), q.state
  FROM steward_queue q LEFT JOIN name a ON a.master_id = q.master_a
  LEFT JOIN name b ON b.master_id = q.master_b;
SELECT 'golden', coalesce(n.rec, g.master_id), g.version, g.state, g.fields::text
  FROM golden_person g LEFT JOIN name n USING (master_id);
SQL
} | sed -E 's/,"t":[0-9]+//g' | LC_ALL=C sort
