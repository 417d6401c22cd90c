/* master.c - the master-data engine's decisions (contract in master.h): which
 * golden record an event is about, which of its fields the sender may change,
 * who must be told, and merge, unmerge and the stewards' other decisions.
 *
 * Every event is handled in three steps. Plan: work out everything from the
 * current state without touching it, allocating what the new state needs.
 * Write: hand the SQL and the derived events to the sink. Commit: only when
 * the sink took all of it, swap the planned state in; this step cannot fail
 * except by running out of memory in a hash table, which marks the engine
 * broken until master_load. So a sink failure leaves the engine exactly as it
 * was, as the hub's RETRY needs. */
#include "master/master_int.h"

#include <joinery/v1/master.pb-c.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_POSSIBLE 3 /* steward items opened for one event */
#define WHY_MATCH 128
#define NUM_LEN 32
#define MAX_XREF_VIEW 256 /* local ids considered when choosing one to address */

static const char *const PERSON_TYPE = "joinery.v1.Person";
static const char *const MERGED_TYPE = "joinery.v1.PersonMerged";
static const char *const DECISION_TYPE = "joinery.v1.StewardDecision";

/* SQL ----------------------------------------------------------------------- */

static const char SQL_GOLDEN[] =
    "INSERT INTO golden_person (master_id, version, state, redirect_to, fields, created_at, "
    "updated_at) VALUES ($1, $2::bigint, $3, $4, $5::json, $6::bigint, $7::bigint) "
    "ON CONFLICT (master_id) DO UPDATE SET version = EXCLUDED.version, state = EXCLUDED.state, "
    "redirect_to = EXCLUDED.redirect_to, fields = EXCLUDED.fields, "
    "updated_at = EXCLUDED.updated_at";
static const char SQL_HISTORY[] =
    "INSERT INTO golden_person_history (master_id, version, source, event_id, at, changes) "
    "VALUES ($1, $2::bigint, $3, $4, $5::bigint, $6::json)";
static const char SQL_XREF[] =
    "INSERT INTO xref (system, local_id, master_id, link_state, how, score, linked_at) "
    "VALUES ($1, $2, $3, $4, $5, $6::double precision, $7::bigint) "
    "ON CONFLICT (system, local_id) DO UPDATE SET master_id = EXCLUDED.master_id, "
    "link_state = EXCLUDED.link_state, how = EXCLUDED.how, score = EXCLUDED.score, "
    "linked_at = EXCLUDED.linked_at";
/* The same two upserts, gathered per batch (see master_upsert_t). */
static const master_upsert_t UPSERT_GOLDEN = {
    "CREATE TEMP TABLE IF NOT EXISTS stage_golden_person (LIKE golden_person) "
    "ON COMMIT DELETE ROWS",
    "COPY stage_golden_person (master_id, version, state, redirect_to, fields, created_at, "
    "updated_at) FROM STDIN",
    "INSERT INTO golden_person (master_id, version, state, redirect_to, fields, created_at, "
    "updated_at) SELECT master_id, version, state, redirect_to, fields, created_at, updated_at "
    "FROM stage_golden_person ON CONFLICT (master_id) DO UPDATE SET version = EXCLUDED.version, "
    "state = EXCLUDED.state, redirect_to = EXCLUDED.redirect_to, fields = EXCLUDED.fields, "
    "updated_at = EXCLUDED.updated_at",
    1};
static const master_upsert_t UPSERT_XREF = {
    "CREATE TEMP TABLE IF NOT EXISTS stage_xref (LIKE xref) ON COMMIT DELETE ROWS",
    "COPY stage_xref (system, local_id, master_id, link_state, how, score, linked_at) FROM STDIN",
    "INSERT INTO xref (system, local_id, master_id, link_state, how, score, linked_at) "
    "SELECT system, local_id, master_id, link_state, how, score, linked_at FROM stage_xref "
    "ON CONFLICT (system, local_id) DO UPDATE SET master_id = EXCLUDED.master_id, "
    "link_state = EXCLUDED.link_state, how = EXCLUDED.how, score = EXCLUDED.score, "
    "linked_at = EXCLUDED.linked_at",
    2};

static const char COPY_GOLDEN[] = "COPY golden_person (master_id, version, state, redirect_to, "
                                  "fields, created_at, updated_at) FROM STDIN";
static const char COPY_XREF[] =
    "COPY xref (system, local_id, master_id, link_state, how, score, linked_at) FROM STDIN";
static const char COPY_HISTORY[] =
    "COPY golden_person_history (master_id, version, source, event_id, at, changes) FROM STDIN";
/* state takes the table's default, OPEN, as in SQL_QUEUE. */
static const char COPY_QUEUE[] =
    "COPY steward_queue (id, master_a, master_b, score, evidence, created_at) FROM STDIN";
static const char SQL_QUEUE[] =
    "INSERT INTO steward_queue (id, master_a, master_b, score, evidence, state, created_at) "
    "VALUES ($1::bigint, $2, $3, $4::double precision, $5::json, 'OPEN', $6::bigint)";
static const char SQL_QUEUE_DECIDE[] =
    "UPDATE steward_queue SET state = $2, decided_at = $3::bigint, decided_by = $4, reason = $5 "
    "WHERE id = $1::bigint";
static const char SQL_KEEP[] =
    "INSERT INTO keep_apart (master_a, master_b, decided_at, decided_by, reason) "
    "VALUES ($1, $2, $3::bigint, $4, $5) ON CONFLICT DO NOTHING";
static const char SQL_KEEP_DEL[] = "DELETE FROM keep_apart WHERE master_a = $1 AND master_b = $2";
static const char SQL_MERGE[] =
    "INSERT INTO golden_merge (id, survivor, retired, survivor_version, survivor_before, moved, "
    "state, event_id, source, merged_at) VALUES ($1::bigint, $2, $3, $4::bigint, $5::jsonb, "
    "$6::jsonb, 'MERGED', $7, $8, $9::bigint)";
static const char SQL_UNMERGE[] =
    "UPDATE golden_merge SET state = 'UNMERGED', unmerged_at = $2::bigint WHERE id = $1::bigint";

/* One event being handled. */
typedef struct {
    master_t *m;
    const master_event_t *ev;
    master_sink_t *sink;
    master_result_t *res;
    char *why;
    size_t why_len;
    int src;          /* system id of the sender */
    int64_t now;      /* hub time: received_at */
    int64_t occurred; /* source time, for survivorship by recency */
    bool exclude_src; /* the sender already holds the result */
} ectx_t;

static int say(ectx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int say(ectx_t *c, const char *fmt, ...)
{
    if (c->why != NULL && c->why_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        (void)vsnprintf(c->why, c->why_len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* The whole event is refused: the sender must fix it. */
static int refused(ectx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refused(ectx_t *c, const char *fmt, ...)
{
    if (c->why != NULL && c->why_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        (void)vsnprintf(c->why, c->why_len, fmt, ap);
        va_end(ap);
    }
    c->res->outcome = MASTER_REFUSED;
    return 0;
}

/* NULL (SQL NULL, JSON null) for "no score". Seventeen digits, so a score
 * read back by master_load is the score that was written. */
static const char *num_d(char *buf, double v)
{
    _Static_assert(NUM_LEN >= MATCH_G17_LEN, "a score's text fits");
    return match_g17(v, buf);
}

/* num_d, remembering the last value: the same score is written twice per event. */
static const char *num_d_again(master_t *m, char *buf, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    if (m->num_text[0] != '\0' && bits == m->num_bits) {
        memcpy(buf, m->num_text, sizeof m->num_text);
        return buf;
    }
    if (num_d(buf, v) == NULL)
        return NULL;
    _Static_assert(sizeof m->num_text >= NUM_LEN, "num_text holds a score");
    memcpy(m->num_text, buf, NUM_LEN);
    m->num_bits = bits;
    return buf;
}

static int run(ectx_t *c, const char *stmt, int n, const char *const *params)
{
    if (c->sink->sql(c->sink->ctx, stmt, n, params) != 0)
        return say(c, "the store refused a master-data statement");
    return 0;
}

/* An upsert: gathered per batch when the sink can, else one statement. */
static int run_upsert(ectx_t *c, const master_upsert_t *u, const char *stmt, int n,
                      const char *const *params)
{
    if (!c->sink->upsert)
        return run(c, stmt, n, params);
    if (c->sink->upsert(c->sink->ctx, u, stmt, n, params) != 0)
        return say(c, "the store refused a master-data row");
    return 0;
}

/* An append-only row: copied in bulk when the sink can, else one INSERT. */
static int run_append(ectx_t *c, const char *copy_stmt, const char *stmt, int n,
                      const char *const *params)
{
    if (!c->sink->append)
        return run(c, stmt, n, params);
    if (c->sink->append(c->sink->ctx, copy_stmt, n, params) != 0)
        return say(c, "the store refused a master-data row");
    return 0;
}

/* FRESH: the record is new, so its row is appended (COPY) rather than
 * upserted. The store writes appends before upserts, so a later change to
 * it in the same batch still lands on top. */
static int sql_golden(ectx_t *c, const golden_t *g, uint64_t version, int state,
                      const golden_t *redirect, const mvals_t *vals, bool fresh)
{
    char v[NUM_LEN], created[NUM_LEN], now[NUM_LEN];
    master_num_u(v, version);
    master_num_i(created, g->created_us ? g->created_us : c->now);
    master_num_i(now, c->now);
    c->m->json.len = 0;
    if (master_vals_json(c->m, vals, &c->m->json) != 0)
        return say(c, "out of memory");
    const char *p[] = {g->id,
                       v,
                       state == MS_ACTIVE ? "ACTIVE" : "REDIRECTED",
                       redirect ? redirect->id : NULL,
                       c->m->json.p,
                       created,
                       now};
    if (fresh)
        return run_append(c, COPY_GOLDEN, SQL_GOLDEN, 7, p);
    return run_upsert(c, &UPSERT_GOLDEN, SQL_GOLDEN, 7, p);
}

/* One history row for all of one version's changes (0004_master_history.sql).
 * CH[i].source is the system each new value came from; OLD[i] the value it
 * replaced, NULL if none. */
static int sql_history(ectx_t *c, const golden_t *g, uint64_t version, const mchange_t *ch,
                       const char *const *old, size_t n)
{
    if (n == 0)
        return 0;
    master_t *m = c->m;
    char v[NUM_LEN], at[NUM_LEN];
    master_num_u(v, version);
    master_num_i(at, c->now);
    m->hist.len = 0;
    int rc = master_buf_str(&m->hist, "{");
    for (size_t i = 0; i < n; i++) {
        /* Compact, and without what the row already says: "o" only when there
         * was an old value, "s" only when the value came from another system
         * than the row's source (a merge). A new resident's history row was
         * half of it "o": null and its own source, ten times over; readers
         * take a missing "o" as none and a missing "s" as the row's source
         * (the golden_person_field_history view does). */
        rc |= master_buf_str(&m->hist, i ? "," : "");
        rc |= master_buf_json_str(&m->hist, master_field_name(m, ch[i].field));
        rc |= master_buf_str(&m->hist, ":{");
        if (old[i]) {
            rc |= master_buf_str(&m->hist, "\"o\":");
            rc |= master_buf_json_str(&m->hist, old[i]);
            rc |= master_buf_str(&m->hist, ",");
        }
        rc |= master_buf_str(&m->hist, "\"n\":");
        rc |= ch[i].value ? master_buf_json_str(&m->hist, ch[i].value)
                          : master_buf_str(&m->hist, "null");
        const char *from = m->systems[ch[i].source];
        if (c->ev->source == NULL || strcmp(from, c->ev->source) != 0) {
            rc |= master_buf_str(&m->hist, ",\"s\":");
            rc |= master_buf_json_str(&m->hist, from);
        }
        rc |= master_buf_str(&m->hist, "}");
    }
    if ((rc | master_buf_str(&m->hist, "}")) != 0)
        return say(c, "out of memory");
    const char *p[] = {g->id, v,        c->ev->source, c->ev->event_id ? c->ev->event_id : "",
                       at,    m->hist.p};
    return run_append(c, COPY_HISTORY, SQL_HISTORY, 6, p);
}

/* FRESH: a local id seen for the first time (see sql_golden). */
static int sql_xref(ectx_t *c, int system, const char *local_id, const golden_t *g, int state,
                    int how, double score, int64_t linked_us, bool fresh)
{
    char s[NUM_LEN], at[NUM_LEN];
    master_num_i(at, linked_us);
    const char *p[] = {c->m->systems[system],
                       local_id,
                       g->id,
                       master_link_state_name(state),
                       master_how_name(how),
                       num_d_again(c->m, s, score),
                       at};
    if (fresh)
        return run_append(c, COPY_XREF, SQL_XREF, 7, p);
    return run_upsert(c, &UPSERT_XREF, SQL_XREF, 7, p);
}

/* DETAIL is a JSON object built in c->m->json. */
static int sql_audit(ectx_t *c, const golden_t *g, const char *action)
{
    char at[NUM_LEN];
    master_num_i(at, c->now);
    const char *p[] = {at,     c->ev->event_id ? c->ev->event_id : "", c->ev->source, g->id,
                       action, c->m->json.len ? c->m->json.p : "{}"};
    return run_append(c, MASTER_COPY_AUDIT, MASTER_SQL_AUDIT, 6, p);
}

static int sql_queue_decide(ectx_t *c, uint64_t id, int state, const char *by, const char *reason)
{
    char qid[NUM_LEN], at[NUM_LEN];
    master_num_u(qid, id);
    master_num_i(at, c->now);
    const char *p[] = {qid, master_queue_state_name(state), at, by && *by ? by : NULL,
                       reason && *reason ? reason : NULL};
    return run(c, SQL_QUEUE_DECIDE, 5, p);
}

static void ordered(const golden_t **a, const golden_t **b)
{
    if (strcmp((*a)->id, (*b)->id) > 0) {
        const golden_t *t = *a;
        *a = *b;
        *b = t;
    }
}

/* Emitting ---------------------------------------------------------------------- */

static int emit(ectx_t *c, const char *type, const char *target, const golden_t *g,
                const char *local_id, const ProtobufCMessage *msg)
{
    master_t *m = c->m;
    size_t len = protobuf_c_message_get_packed_size(msg);
    m->out.len = 0;
    if (master_buf_reserve(&m->out, len + 1) != 0)
        return say(c, "out of memory");
    (void)protobuf_c_message_pack(msg, (uint8_t *)m->out.p);
    if (c->sink->emit(c->sink->ctx, type, target, g->id, local_id ? local_id : "",
                      msg->descriptor->name, (const uint8_t *)m->out.p, len) != 0)
        return say(c, "the journal refused a derived %s event", type);
    return 0;
}

/* A local id as a system will know it, after some links move: the record's
 * own links (minus those in OUT) and those in IN with the state they will
 * have. Same preference as master_primary_xref. */
typedef struct {
    const xref_t *x;
    uint8_t state;
} xview_t;

static int better(const xview_t *a, const xview_t *b)
{
    int ar = a->state == XL_REDIRECTED, br = b->state == XL_REDIRECTED;
    if (ar != br)
        return !ar;
    if (a->x->linked_us != b->x->linked_us)
        return a->x->linked_us < b->x->linked_us;
    return strcmp(a->x->local_id, b->x->local_id) < 0;
}

static const char *local_id_in(const xview_t *v, size_t n, int system)
{
    const xview_t *best = NULL;
    for (size_t i = 0; i < n; i++)
        if (v[i].x->system == system && (best == NULL || better(&v[i], best)))
            best = &v[i];
    return best ? best->x->local_id : "";
}

static size_t view_add(xview_t *v, size_t n, const golden_t *g, int state_override,
                       const golden_t *skip_from)
{
    for (const xref_t *x = g->xrefs; x && n < MAX_XREF_VIEW; x = x->mnext) {
        if (skip_from != NULL && x->master == skip_from)
            continue;
        v[n].x = x;
        v[n].state = (uint8_t)(state_override >= 0 ? state_override : x->state);
        n++;
    }
    return n;
}

static const char *primary_local(const golden_t *g, int system)
{
    const xref_t *x = master_primary_xref(g, (uint16_t)system);
    return x ? x->local_id : "";
}

/* PersonChanged with FIELDS of VALS to every subscriber of person.changed. */
static int emit_changed(ectx_t *c, const golden_t *g, uint64_t version, const mvals_t *vals,
                        const uint16_t *fields, size_t n, const xview_t *view, size_t nview)
{
    master_t *m = c->m;
    if (n == 0 || m->nsub_changed == 0)
        return 0;
    const char *values[MASTER_MAX_FIELDS];
    char *names[MASTER_MAX_FIELDS];
    for (size_t i = 0; i < n; i++) {
        const mval_t *v = master_val(vals, fields[i]);
        values[i] = v ? master_val_text(vals, v) : "";
        names[i] = (char *)master_field_name(m, fields[i]);
    }
    mperson_t pb;
    if (master_person_build(m, fields, values, n, &pb) != 0)
        return say(c, "out of memory");
    Joinery__V1__PersonChanged msg = JOINERY__V1__PERSON_CHANGED__INIT;
    msg.master_id = (char *)g->id;
    msg.version = version;
    msg.n_changed_fields = n;
    msg.changed_fields = names;
    msg.person = &pb.person;
    for (size_t i = 0; i < m->nsub_changed; i++) {
        int s = m->sub_changed[i];
        if (c->exclude_src && s == c->src)
            continue;
        msg.local_id = (char *)(view ? local_id_in(view, nview, s) : primary_local(g, s));
        if (emit(c, "person.changed", m->systems[s], g, msg.local_id,
                 (const ProtobufCMessage *)&msg) != 0)
            return -1;
    }
    return 0;
}

/* Ranking ------------------------------------------------------------------------ */

static const mrule_t *rule_of(const master_t *m, int field)
{
    int r = m->field_rule[field];
    return r >= 0 ? &m->rules[r] : NULL;
}

/* Lower wins: the owner, then the rule's fallback list, then survivorship. */
static uint32_t rank_of(const master_t *m, const mrule_t *r, int system)
{
    if (r != NULL) {
        if (r->owner == system)
            return 0;
        for (size_t i = 0; i < r->nfallback; i++)
            if (r->fallback[i] == system)
                return 1 + (uint32_t)i;
    }
    return 1000u + m->sys_rank[system];
}

/* Does value A (from the survivor) stand against B? The owner's value,
 * then rank, then the more recent. When the owner gave both, the survivor's
 * stands: whoever merged chose that record as the right one. */
static bool first_wins(const master_t *m, int field, const mval_t *a, const mval_t *b)
{
    const mrule_t *r = rule_of(m, field);
    if (r != NULL && r->owner >= 0) {
        bool ao = a->source == r->owner, bo = b->source == r->owner;
        if (ao || bo)
            return ao;
    }
    uint32_t ra = rank_of(m, r, a->source), rb = rank_of(m, r, b->source);
    if (ra != rb)
        return ra < rb;
    return a->at_us >= b->at_us;
}

/* Ids ------------------------------------------------------------------------------ */

/* ULID with a monotonic random part (master_util.h). */
static int ulid_next(master_t *m, int64_t now_us, char *out, size_t len)
{
    if (len < MASTER_ULID_LEN)
        return -1;
    master_ulid_next(&m->ulid, 'P', now_us, out);
    return 0;
}

static int new_id(ectx_t *c, char out[MASTER_ID_MAX])
{
    master_t *m = c->m;
    for (int attempt = 0; attempt < 4; attempt++) {
        int rc = m->id_fn ? m->id_fn(m->id_ctx, c->now, out, MASTER_ID_MAX)
                          : ulid_next(m, c->now, out, MASTER_ID_MAX);
        if (rc != 0 || out[0] == '\0' || memchr(out, '\0', MASTER_ID_MAX) == NULL)
            return say(c, "the master id generator failed");
        if (master_golden(m, out) == NULL)
            return 0;
    }
    return say(c, "the master id generator repeats ids");
}

void master_set_id_generator(master_t *m, master_id_fn fn, void *ctx)
{
    if (m == NULL)
        return;
    m->id_fn = fn;
    m->id_ctx = ctx;
}

/* Matching --------------------------------------------------------------------------- */

typedef struct {
    golden_t *g;
    double score;
    int decision;
    uint8_t how;
    match_evidence_t ev;
    char why[WHY_MATCH];
} cand_t;

typedef struct {
    master_t *m;
    match_prep_t p;        /* the record being matched, prepared once for all candidates */
    match_bounder_t bound; /* and what bounds its candidates' scores */
    const golden_t *self;  /* skip (re-matching a record against the others) */
    int src;               /* sender; -1 to skip the same-system guard */
    cand_t link;           /* best LINK; link.g NULL if none */
    cand_t link2;          /* the next best LINK, another record; g NULL if none */
    cand_t poss[MAX_POSSIBLE];
    size_t nposs;
    double best; /* best score seen, NAN if no candidate */
} search_t;

static int cand_before(const cand_t *a, const cand_t *b)
{
    if (a->score != b->score)
        return a->score > b->score;
    return strcmp(a->g->id, b->g->id) < 0;
}

static bool has_system(const golden_t *g, int system)
{
    for (const xref_t *x = g->xrefs; x; x = x->mnext)
        if (x->system == system)
            return true;
    return false;
}

static void add_possible(search_t *s, const cand_t *c);

/* Below the lower threshold and the best score so far, a candidate changes nothing. The best
 * score only rises during a search, so a sketch dismissed once stays dismissed. */
static bool dismissed(search_t *s, const match_sketch_t *sk)
{
    const match_params_t *mp = &s->m->params;
    if (isnan(s->best) || !(match_bound(&s->bound, mp, sk) < fmin(mp->lower, s->best)))
        return false;
    s->m->nbounded++;
    return true;
}

static bool dismiss_sketch(void *ctx, const match_sketch_t *sk)
{
    return dismissed(ctx, sk);
}

static void on_candidate(void *ctx, golden_t *g)
{
    search_t *s = ctx;
    if (g == s->self || g->state != MS_ACTIVE)
        return;
    const match_params_t *mp = &s->m->params;
    if (dismissed(s, &g->sketch))
        return;
    cand_t c = {.g = g};
    c.decision = (int)match_decide_prep(mp, &s->p, &g->prep, master_tf, s->m, &c.ev, NULL, 0);
    c.score = c.ev.total;
    if (isnan(s->best) || c.score > s->best)
        s->best = c.score;
    if (c.decision == MATCH_DECISION_NONE)
        return;
    /* Most candidates are dismissed; the reason is written only for the few
     * kept. Deterministic rules (same NHS number, same NI number and birth
     * date) say so in it; everything else came from the score. */
    (void)match_decide_prep(mp, &s->p, &g->prep, master_tf, s->m, &c.ev, c.why, sizeof c.why);
    c.how = strncmp(c.why, "same N", 6) == 0 ? XH_RULE : XH_SCORE;
    /* A system that keeps two records for what looks like one person may
     * know something we do not (twins, a parent and child): ask a steward. */
    if (c.decision == MATCH_DECISION_LINK && s->src >= 0 && has_system(g, s->src)) {
        c.decision = MATCH_DECISION_POSSIBLE;
        (void)snprintf(c.why, sizeof c.why,
                       "would link, but the record already has a local id "
                       "from the same system: steward review");
    }
    if (c.decision == MATCH_DECISION_LINK) {
        if (s->link.g == NULL || cand_before(&c, &s->link)) {
            if (s->link.g != NULL)
                s->link2 = s->link;
            s->link = c;
        } else if (s->link2.g == NULL || cand_before(&c, &s->link2)) {
            s->link2 = c;
        }
        return;
    }
    if (c.decision != MATCH_DECISION_POSSIBLE)
        return;
    add_possible(s, &c);
}

/* Keep the best few, best first. */
static void add_possible(search_t *s, const cand_t *c)
{
    size_t i;
    if (s->nposs < MAX_POSSIBLE)
        i = s->nposs++;
    else if (cand_before(c, &s->poss[MAX_POSSIBLE - 1]))
        i = MAX_POSSIBLE - 1;
    else
        return;
    s->poss[i] = *c;
    for (; i > 0 && cand_before(&s->poss[i], &s->poss[i - 1]); i--) {
        cand_t t = s->poss[i];
        s->poss[i] = s->poss[i - 1];
        s->poss[i - 1] = t;
    }
}

/* A link by NHS or NI number found among the records holding that number
 * settles the search: the records that only look alike could do no better
 * than a rule, and a person's event should not pay for scoring them. */
static bool settled(void *ctx, const char *key)
{
    const search_t *s = ctx;
    bool identifier = strncmp(key, "nhs:", 4) == 0 || strncmp(key, "ni:", 3) == 0;
    return identifier && s->link.g != NULL && s->link.how == XH_RULE;
}

static void search(master_t *m, const match_person_t *p, const golden_t *self, int src, search_t *s)
{
    memset(s, 0, sizeof *s);
    s->m = m;
    match_prepare(p, &s->p);
    match_prepare_tf(&s->p, master_tf, m); /* the frequencies stand still during a search */
    match_bounder_init(&s->bound, &m->params, &s->p, master_tf, m);
    s->self = self;
    s->src = src;
    s->best = NAN;
    master_candidates(m, p, on_candidate, dismiss_sketch, settled, s);
    /* Two different records both good enough to link by score: the person may be either (a
     * father and son sharing a name and a home, namesakes), so neither is linked and a steward
     * sees both. A link by NHS or NI number stands, and beats a look-alike that scores higher. */
    if (s->link2.g != NULL && s->link.how == XH_SCORE && s->link2.how == XH_RULE) {
        s->link = s->link2;
    } else if (s->link2.g != NULL && s->link.how == XH_SCORE) {
        cand_t both[2] = {s->link, s->link2};
        for (int i = 0; i < 2; i++) {
            both[i].decision = MATCH_DECISION_POSSIBLE;
            (void)snprintf(both[i].why, sizeof both[i].why,
                           "would link, but another record qualifies as well: steward review");
            add_possible(s, &both[i]);
        }
        s->link.g = NULL;
    }
}

static int evidence_json(master_t *m, const cand_t *c, mbuf_t *out)
{
    int rc = master_buf_str(out, "{\"decision\": ");
    rc |= master_buf_json_str(out, c->decision == MATCH_DECISION_LINK ? "link" : "possible");
    rc |= master_buf_str(out, ", \"reason\": ");
    rc |= master_buf_json_str(out, c->why);
    char num[NUM_LEN];
    rc |= master_buf_printf(out, ", \"total\": %s, \"fields\": {",
                            num_d(num, c->ev.total) ? num : "null");
    for (int f = 0; f < MATCH_FIELD_COUNT; f++) {
        rc |= master_buf_printf(out, "%s\"%s\": {\"level\": ", f ? ", " : "",
                                match_field_name((match_field_t)f));
        rc |= master_buf_json_str(out, match_level_name((match_field_t)f, c->ev.level[f]));
        rc |=
            master_buf_printf(out, ", \"weight\": %s}", num_d(num, c->ev.weight[f]) ? num : "null");
    }
    (void)m;
    return rc | master_buf_str(out, "}}");
}

/* Steward items --------------------------------------------------------------------- */

static int sql_queue_open(ectx_t *c, uint64_t id, const golden_t *a, const golden_t *b,
                          const cand_t *cand)
{
    master_t *m = c->m;
    char qid[NUM_LEN], score[NUM_LEN], at[NUM_LEN];
    master_num_u(qid, id);
    master_num_i(at, c->now);
    m->json.len = 0;
    if (evidence_json(m, cand, &m->json) != 0)
        return say(c, "out of memory");
    const char *p[] = {qid, a->id, b->id, num_d(score, cand->score), m->json.p, at};
    if (run_append(c, COPY_QUEUE, SQL_QUEUE, 6, p) != 0)
        return -1;
    m->json.len = 0;
    if (master_buf_printf(&m->json, "{\"queue_id\": %llu, \"with\": ", (unsigned long long)id) ||
        master_buf_json_str(&m->json, a->id) ||
        master_buf_printf(&m->json, ", \"score\": %s}", num_d(score, cand->score) ? score : "null"))
        return say(c, "out of memory");
    return sql_audit(c, b, "queue");
}

/* Person events ------------------------------------------------------------------------ */

enum { REF_OWNER, REF_STALE };

typedef struct {
    uint16_t field;
    uint8_t kind;
    bool propose, quiet; /* quiet: its parent field's refusal already says it */
    const char *refused;
    const char *current;
    uint64_t current_version;
} refusal_t;

typedef struct {
    golden_t *g;    /* record the event applies to (NULL until a new one is made) */
    golden_t *newg; /* a new record, owned here until commit */
    xref_t *newx;   /* the sender's new link, owned here until commit */
    cand_t queue[MAX_POSSIBLE];
    qitem_t *q[MAX_POSSIBLE]; /* owned until commit */
    size_t nq;
    mchange_t ch[MASTER_MAX_INCOMING];
    const char *old[MASTER_MAX_INCOMING];
    size_t nch;
    refusal_t ref[MASTER_MAX_INCOMING];
    size_t nref;
    mvals_t *vals; /* the record's next block, owned until commit */
    uint64_t version;
    bool reindex; /* a blocking key may have changed */
    bool rematch; /* identity changed: look for a duplicate again */
} pplan_t;

static void pplan_free(pplan_t *p)
{
    if (p->newx != NULL)
        free(p->newx->local_id);
    free(p->newx);
    free(p->newg);
    for (size_t i = 0; i < p->nq; i++)
        free(p->q[i]);
    free(p->vals);
}

static void today_of(master_t *m, int64_t now_us, char out[32])
{
    /* The same day for a day's events: formatted once. */
    int64_t day = now_us > 0 ? now_us / 86400000000LL : -1;
    if (day >= 0 && day == m->today_day) {
        memcpy(out, m->today, sizeof m->today);
        return;
    }
    time_t t = (time_t)(now_us / 1000000);
    struct tm tm;
    if (now_us <= 0 || gmtime_r(&t, &tm) == NULL) {
        t = time(NULL);
        (void)gmtime_r(&t, &tm);
    }
    (void)snprintf(out, 32, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    if (day >= 0) {
        m->today_day = day;
        memcpy(m->today, out, sizeof m->today);
    }
}

/* Resolution for a local id seen for the first time. */
static int plan_resolve(ectx_t *c, const incoming_t *in, size_t n, pplan_t *p)
{
    master_t *m = c->m;
    match_person_t mp;
    char given[MATCH_JW_MAX_LEN];
    master_match_view_incoming(in, n, &mp, given, sizeof given);
    search_t s;
    search(m, &mp, NULL, c->src, &s);
    p->newx = calloc(1, sizeof *p->newx);
    if (p->newx == NULL || (p->newx->local_id = strdup(c->ev->local_id)) == NULL)
        return say(c, "out of memory");
    p->newx->system = (uint16_t)c->src;
    p->newx->linked_us = c->now;
    if (s.link.g != NULL) {
        p->g = s.link.g;
        p->newx->state = XL_MATCH;
        p->newx->how = s.link.how;
        p->newx->score = s.link.score;
        return 0;
    }
    p->newg = calloc(1, sizeof *p->newg);
    if (p->newg == NULL)
        return say(c, "out of memory");
    if (new_id(c, p->newg->id) != 0)
        return -1;
    p->newg->created_us = p->newg->updated_us = c->now;
    p->newg->state = MS_ACTIVE;
    p->g = p->newg;
    p->newx->state = s.nposs ? XL_POSSIBLE : XL_NO_MATCH;
    p->newx->how = s.nposs ? s.poss[0].how : XH_SCORE;
    p->newx->score = s.nposs ? s.poss[0].score : s.best;
    for (size_t i = 0; i < s.nposs; i++) {
        if ((p->q[p->nq] = calloc(1, sizeof *p->q[0])) == NULL)
            return say(c, "out of memory");
        *p->q[p->nq] = (qitem_t){.id = m->next_queue_id + p->nq,
                                 .a = s.poss[i].g,
                                 .b = p->newg,
                                 .score = s.poss[i].score,
                                 .created_us = c->now};
        p->queue[p->nq++] = s.poss[i];
    }
    return 0;
}

static void refuse_field(pplan_t *p, const incoming_t *in, const mval_t *cur, const mvals_t *vals,
                         int kind, bool propose)
{
    refusal_t *r = &p->ref[p->nref++];
    *r = (refusal_t){.field = in->field,
                     .kind = (uint8_t)kind,
                     .propose = propose,
                     .refused = in->value,
                     .current = master_val_text(vals, cur),
                     .current_version = cur->version};
    int parent = master_parent_field(in->field);
    for (size_t i = 0; parent >= 0 && i + 1 < p->nref; i++)
        if (p->ref[i].field == parent)
            r->quiet = true;
}

/* Which of the sender's values the record takes. */
static void plan_fields(ectx_t *c, const incoming_t *in, size_t n, pplan_t *p)
{
    master_t *m = c->m;
    const mvals_t *vals = p->g == p->newg ? NULL : p->g->vals;
    uint64_t version = (p->g == p->newg ? 0 : p->g->version) + 1;
    /* A base_version names a version of the record the sender had; a sender
     * linked just now has seen none of it. */
    bool check_base = c->ev->base_version != 0 && p->newx == NULL;
    for (size_t i = 0; i < n; i++) {
        const mval_t *cur = master_val(vals, in[i].field);
        if (cur != NULL && strcmp(master_val_text(vals, cur), in[i].value) == 0)
            continue;
        const mrule_t *r = rule_of(m, in[i].field);
        int owner = r ? r->owner : -1;
        if (owner >= 0 && c->src != owner && cur != NULL && cur->source == owner) {
            refuse_field(p, &in[i], cur, vals, REF_OWNER, r->propose);
            continue;
        }
        if (check_base && cur != NULL && cur->version > c->ev->base_version) {
            refuse_field(p, &in[i], cur, vals, REF_STALE, false);
            continue;
        }
        if (cur != NULL && c->src != owner) {
            uint32_t rs = rank_of(m, r, c->src), rc = rank_of(m, r, cur->source);
            if (rs > rc || (rs == rc && c->occurred < cur->at_us))
                continue; /* a better or newer source stands */
        }
        p->old[p->nch] = cur ? master_val_text(vals, cur) : NULL;
        p->ch[p->nch++] =
            (mchange_t){in[i].field, (uint16_t)c->src, in[i].value, version, c->occurred};
        if (master_match_field(in[i].field))
            p->reindex = true;
        if (master_identity_field(in[i].field))
            p->rematch = true;
    }
    p->version = p->nch || p->newg ? version : p->g->version;
}

/* A change to what the matcher compares may reveal that this record and
 * another are one person: such pairs go to a steward, never merged here. */
static int plan_rematch(ectx_t *c, pplan_t *p)
{
    master_t *m = c->m;
    if (p->newg != NULL || !p->rematch)
        return 0;
    match_person_t mp;
    char given[MATCH_JW_MAX_LEN];
    master_match_view(p->vals, &mp, given, sizeof given);
    search_t s;
    search(m, &mp, p->g, -1, &s);
    cand_t all[MAX_POSSIBLE + 1];
    size_t n = 0;
    if (s.link.g != NULL)
        all[n++] = s.link;
    for (size_t i = 0; i < s.nposs && n < MAX_POSSIBLE; i++)
        all[n++] = s.poss[i];
    for (size_t i = 0; i < n; i++) {
        if (master_kept_apart(m, all[i].g, p->g) || master_queue_pair(m, all[i].g, p->g))
            continue;
        if ((p->q[p->nq] = calloc(1, sizeof *p->q[0])) == NULL)
            return say(c, "out of memory");
        *p->q[p->nq] = (qitem_t){.id = m->next_queue_id + p->nq,
                                 .a = all[i].g,
                                 .b = p->g,
                                 .score = all[i].score,
                                 .created_us = c->now};
        p->queue[p->nq++] = all[i];
    }
    return 0;
}

/* A refused field: with AUDIT its audit row, else its message. */
static int write_refusal(ectx_t *c, const pplan_t *p, const refusal_t *r, bool audit)
{
    master_t *m = c->m;
    const mrule_t *rule = rule_of(m, r->field);
    const char *field = master_field_name(m, r->field);
    const char *owner = rule && rule->owner >= 0 ? m->systems[rule->owner] : "";
    /* An owner that does not listen for proposals cannot act on one; the
     * sender is corrected instead, so the difference does not go unnoticed. */
    bool propose = r->propose && master_subscribes(m->sub_proposed, m->nsub_proposed, rule->owner);
    if (audit) {
        m->json.len = 0;
        if (master_buf_str(&m->json, "{\"field\": ") || master_buf_json_str(&m->json, field) ||
            master_buf_str(&m->json, ", \"owner\": ") || master_buf_json_str(&m->json, owner) ||
            master_buf_printf(&m->json, ", \"reason\": \"%s\", \"field_version\": %llu}",
                              r->kind == REF_OWNER ? "owner" : "stale",
                              (unsigned long long)r->current_version))
            return say(c, "out of memory");
        return sql_audit(c, p->g, propose ? "propose" : "refuse");
    }
    if (r->quiet)
        return 0;
    char reason[256];
    if (r->kind == REF_OWNER)
        (void)snprintf(reason, sizeof reason,
                       "%s is owned by %s, whose value stands; put this value right in your "
                       "record, or ask %s to change it",
                       field, owner, owner);
    else
        (void)snprintf(reason, sizeof reason,
                       "%s changed at version %llu, after your base_version %llu; this is the "
                       "current value",
                       field, (unsigned long long)r->current_version,
                       (unsigned long long)c->ev->base_version);
    if (propose) {
        uint16_t f = r->field;
        mperson_t pb;
        if (master_person_build(m, &f, &r->refused, 1, &pb) != 0)
            return say(c, "out of memory");
        Joinery__V1__PersonProposal msg = JOINERY__V1__PERSON_PROPOSAL__INIT;
        msg.master_id = p->g->id;
        msg.version = p->version;
        msg.local_id = (char *)primary_local(p->g, rule->owner);
        msg.field = (char *)field;
        msg.proposed_value = (char *)r->refused;
        msg.current_value = (char *)r->current;
        msg.proposed_by = (char *)c->ev->source;
        msg.proposer_local_id = (char *)c->ev->local_id;
        msg.event_id = (char *)(c->ev->event_id ? c->ev->event_id : "");
        msg.person = &pb.person;
        return emit(c, "person.proposed", owner, p->g, msg.local_id,
                    (const ProtobufCMessage *)&msg);
    }
    Joinery__V1__PersonCorrection msg = JOINERY__V1__PERSON_CORRECTION__INIT;
    msg.master_id = p->g->id;
    msg.version = p->version;
    msg.local_id = (char *)c->ev->local_id;
    msg.field = (char *)field;
    msg.owner = (char *)owner;
    msg.refused_value = (char *)r->refused;
    msg.current_value = (char *)r->current;
    msg.reason = reason;
    msg.refused_event_id = (char *)(c->ev->event_id ? c->ev->event_id : "");
    return emit(c, "person.correction", c->ev->source, p->g, c->ev->local_id,
                (const ProtobufCMessage *)&msg);
}

/* One audit row for what a person event did: "create" (a new record, with
 * the sender's link), "link" (a new local id joined an existing record, with
 * the fields it changed) or "update". */
static int audit_person(ectx_t *c, const pplan_t *p)
{
    master_t *m = c->m;
    const xref_t *x = p->newx;
    char v[NUM_LEN];
    master_num_u(v, p->version);
    m->json.len = 0;
    int rc = master_buf_str(&m->json, "{\"version\": ");
    rc |= master_buf_str(&m->json, v);
    rc |= master_buf_str(&m->json, ", \"fields\": [");
    for (size_t i = 0; i < p->nch; i++) {
        rc |= master_buf_str(&m->json, i ? ", " : "");
        rc |= master_buf_json_str(&m->json, master_field_name(m, p->ch[i].field));
    }
    rc |= master_buf_str(&m->json, "]");
    if (x != NULL) {
        char score[NUM_LEN];
        rc |= master_buf_str(&m->json, ", \"link\": {\"system\": ");
        rc |= master_buf_json_str(&m->json, m->systems[x->system]);
        rc |= master_buf_str(&m->json, ", \"local_id\": ");
        rc |= master_buf_json_str(&m->json, x->local_id);
        rc |= master_buf_str(&m->json, ", \"link_state\": \"");
        rc |= master_buf_str(&m->json, master_link_state_name(x->state));
        rc |= master_buf_str(&m->json, "\", \"how\": \"");
        rc |= master_buf_str(&m->json, master_how_name(x->how));
        rc |= master_buf_str(&m->json, "\", \"score\": ");
        rc |= master_buf_str(&m->json, num_d_again(m, score, x->score) ? score : "null");
        rc |= master_buf_str(&m->json, "}");
    }
    if ((rc | master_buf_str(&m->json, "}")) != 0)
        return say(c, "out of memory");
    return sql_audit(c, p->g, p->newg ? "create" : x ? "link" : "update");
}

/* Messages go to the sink before statements: a sink that refuses a message
 * then leaves no statement of this event behind it. */
static int write_person(ectx_t *c, pplan_t *p)
{
    golden_t *g = p->g;
    for (size_t i = 0; i < p->nref; i++)
        if (write_refusal(c, p, &p->ref[i], false) != 0)
            return -1;
    uint16_t fields[MASTER_MAX_INCOMING];
    for (size_t i = 0; i < p->nch; i++)
        fields[i] = p->ch[i].field;
    if (emit_changed(c, g, p->version, p->vals, fields, p->nch, NULL, 0) != 0)
        return -1;
    bool changed = p->nch > 0 || p->newg != NULL;
    if (changed && (sql_golden(c, g, p->version, MS_ACTIVE, NULL, p->vals, p->newg != NULL) != 0 ||
                    sql_history(c, g, p->version, p->ch, p->old, p->nch) != 0))
        return -1;
    const xref_t *x = p->newx;
    if (x != NULL &&
        sql_xref(c, x->system, x->local_id, g, x->state, x->how, x->score, x->linked_us, true))
        return -1;
    if ((changed || x != NULL) && audit_person(c, p) != 0)
        return -1;
    for (size_t i = 0; i < p->nq; i++)
        if (sql_queue_open(c, p->q[i]->id, p->q[i]->a, p->q[i]->b, &p->queue[i]) != 0)
            return -1;
    for (size_t i = 0; i < p->nref; i++)
        if (write_refusal(c, p, &p->ref[i], true) != 0)
            return -1;
    return 0;
}

static int broken(ectx_t *c)
{
    c->m->broken = true;
    return say(c, "out of memory while updating the master-data indexes; the engine must be "
                  "reloaded (master_load) before it takes more events");
}

static int commit_person(ectx_t *c, pplan_t *p)
{
    master_t *m = c->m;
    golden_t *g = p->g;
    bool fresh = p->newg != NULL;
    if (fresh) {
        if (master_golden_add(m, p->newg) != 0)
            return broken(c);
        p->newg = NULL;
    } else if (p->reindex) {
        master_index_remove(m, g);
    }
    if (p->nch > 0 || fresh) {
        free(g->vals);
        g->vals = p->vals;
        p->vals = NULL;
        g->version = p->version;
        g->updated_us = c->now;
    }
    if ((p->reindex || fresh) && master_index_add(m, g) != 0)
        return broken(c);
    if (p->newx != NULL) {
        master_xref_attach(g, p->newx);
        xref_t *x = p->newx;
        p->newx = NULL;
        if (master_xref_add(m, x) != 0)
            return broken(c);
    }
    for (size_t i = 0; i < p->nq; i++) {
        qitem_t *q = p->q[i];
        p->q[i] = NULL;
        if (master_queue_add(m, q) != 0) {
            free(q);
            return broken(c);
        }
    }
    m->next_queue_id += p->nq;
    p->nq = 0;
    return 0;
}

static int apply_person(ectx_t *c)
{
    master_t *m = c->m;
    const master_event_t *ev = c->ev;
    if (ev->local_id == NULL || ev->local_id[0] == '\0')
        return refused(c,
                       "%s needs source_record_id: the person's id in %s, so the hub can link "
                       "it to the golden record",
                       ev->type, ev->source);
    if (ev->payload_type == NULL || strcmp(ev->payload_type, PERSON_TYPE) != 0)
        return refused(c, "%s must carry a %s payload, not %s", ev->type, PERSON_TYPE,
                       ev->payload_type ? ev->payload_type : "none");
    Joinery__V1__Person *person =
        joinery__v1__person__unpack(pbarena_allocator(m->arena), ev->payload_len, ev->payload);
    if (person == NULL) {
        pbarena_reset(m->arena);
        return refused(c, "the payload does not decode as %s", PERSON_TYPE);
    }
    char today[32];
    today_of(m, c->now, today);
    incoming_t in[MASTER_MAX_INCOMING];
    size_t n = 0;
    int rc = master_flatten(m, person, today, in, &n, c->why, c->why_len);
    pbarena_reset(m->arena); /* master_flatten copied what it keeps */
    if (rc != 0) {
        c->res->outcome = MASTER_REFUSED;
        return 0;
    }

    pplan_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        return say(c, "out of memory");
    const xref_t *x = master_xref(m, (uint16_t)c->src, ev->local_id);
    rc = 0;
    if (x != NULL)
        p->g = master_final(x->master);
    else
        rc = plan_resolve(c, in, n, p);
    if (rc == 0) {
        plan_fields(c, in, n, p);
        if (p->nch > 0 || p->newg != NULL) {
            p->vals = master_vals_build(p->newg ? NULL : p->g->vals, p->ch, p->nch);
            if (p->vals == NULL && p->nch > 0)
                rc = say(c, "out of memory");
        }
    }
    if (rc == 0)
        rc = plan_rematch(c, p);
    if (rc == 0)
        rc = write_person(c, p);
    if (rc == 0)
        rc = commit_person(c, p);
    if (rc == 0) {
        (void)snprintf(c->res->master_id, sizeof c->res->master_id, "%s", p->g->id);
        c->res->version = p->g->version;
        c->res->changed = (unsigned)p->nch;
        c->res->refused = (unsigned)p->nref;
    }
    pplan_free(p);
    free(p);
    return rc;
}

/* Merge --------------------------------------------------------------------------------- */

enum { MK_STEWARD_MERGE, MK_STEWARD_LINK, MK_SOURCE };

typedef struct {
    golden_t *s, *r;
    int kind;
    qitem_t *decided; /* the queue item a link decides, if any */
    const char *by, *reason;
    mchange_t ch[MASTER_MAX_FIELDS];
    const char *old[MASTER_MAX_FIELDS];
    uint16_t changed[MASTER_MAX_FIELDS]; /* fields whose value changed */
    size_t nch, nchanged;
    mvals_t *vals; /* survivor's next block, owned until commit */
    merge_t *mg;   /* owned until commit */
    uint8_t moved_state;
    xview_t view[MAX_XREF_VIEW]; /* survivor's links after the merge */
    size_t nview;
} mplan_t;

static void mplan_free(mplan_t *p)
{
    free(p->vals);
    master_merge_free(p->mg);
}

/* The survivor's fields from both records' values, by the same rules as
 * any update: an owner's value first, then rank, then the more recent. */
static void plan_merge_fields(const master_t *m, mplan_t *p, uint64_t version)
{
    const mvals_t *sv = p->s->vals, *rv = p->r->vals;
    for (uint32_t j = 0; rv != NULL && j < rv->n; j++) {
        const mval_t *b = &rv->v[j];
        const mval_t *a = master_val(sv, b->field);
        if (a != NULL && first_wins(m, b->field, a, b))
            continue;
        const char *bt = master_val_text(rv, b);
        const char *at = a ? master_val_text(sv, a) : NULL;
        if (a != NULL && a->source == b->source && a->at_us == b->at_us && strcmp(at, bt) == 0)
            continue;
        p->old[p->nch] = at;
        p->ch[p->nch++] = (mchange_t){b->field, b->source, bt, version, b->at_us};
        if (at == NULL || strcmp(at, bt) != 0)
            p->changed[p->nchanged++] = b->field;
    }
}

static int moved_json(const master_t *m, const merge_t *mg, mbuf_t *out)
{
    int rc = master_buf_str(out, "[");
    for (size_t i = 0; i < mg->nmoved; i++) {
        const moved_t *mv = &mg->moved[i];
        char score[NUM_LEN];
        rc |= master_buf_str(out, i ? ", {\"system\": " : "{\"system\": ");
        rc |= master_buf_json_str(out, m->systems[mv->system]);
        rc |= master_buf_str(out, ", \"local_id\": ");
        rc |= master_buf_json_str(out, mv->local_id);
        rc |= master_buf_printf(out, ", \"state\": \"%s\", \"how\": \"%s\", \"score\": %s}",
                                master_link_state_name(mv->state), master_how_name(mv->how),
                                num_d(score, mv->score) ? score : "null");
    }
    return rc | master_buf_str(out, "]");
}

static int plan_merge(ectx_t *c, mplan_t *p)
{
    master_t *m = c->m;
    uint64_t version = p->s->version + 1;
    plan_merge_fields(m, p, version);
    p->vals = master_vals_build(p->s->vals, p->ch, p->nch);
    p->mg = calloc(1, sizeof *p->mg);
    if (p->vals == NULL || p->mg == NULL)
        return say(c, "out of memory");
    size_t nx = 0;
    for (const xref_t *x = p->r->xrefs; x; x = x->mnext)
        nx++;
    p->mg->moved = calloc(nx ? nx : 1, sizeof *p->mg->moved);
    if (p->mg->moved == NULL)
        return say(c, "out of memory");
    for (const xref_t *x = p->r->xrefs; x; x = x->mnext) {
        moved_t *mv = &p->mg->moved[p->mg->nmoved];
        *mv = (moved_t){x->system, strdup(x->local_id), x->state, x->how, x->score};
        if (mv->local_id == NULL)
            return say(c, "out of memory");
        p->mg->nmoved++;
    }
    p->mg->id = m->next_merge_id;
    p->mg->survivor = p->s;
    p->mg->retired = p->r;
    p->mg->survivor_version = version;
    p->moved_state = p->kind == MK_STEWARD_LINK ? XL_MATCH : XL_REDIRECTED;
    p->nview = view_add(p->view, 0, p->s, -1, NULL);
    p->nview = view_add(p->view, p->nview, p->r, p->moved_state, NULL);
    return 0;
}

static int write_merge(ectx_t *c, mplan_t *p)
{
    master_t *m = c->m;
    golden_t *s = p->s, *r = p->r;
    uint64_t vs = s->version + 1, vr = r->version + 1;
    static const char *const kinds[] = {"steward.merge", "steward.link", "person.merged"};
    Joinery__V1__PersonMerged msg = JOINERY__V1__PERSON_MERGED__INIT;
    msg.survivor_master_id = s->id;
    msg.retired_master_id = r->id;
    msg.reason = (char *)(p->reason && *p->reason ? p->reason : kinds[p->kind]);
    for (size_t i = 0; i < m->nsub_merged; i++) {
        int sys = m->sub_merged[i];
        if (c->exclude_src && sys == c->src)
            continue;
        msg.survivor_local_id = (char *)primary_local(s, sys);
        msg.retired_local_id = (char *)primary_local(r, sys);
        if (emit(c, "person.merged", m->systems[sys], s, msg.survivor_local_id,
                 (const ProtobufCMessage *)&msg) != 0)
            return -1;
    }
    if (emit_changed(c, s, vs, p->vals, p->changed, p->nchanged, p->view, p->nview) != 0)
        return -1;
    if (sql_golden(c, s, vs, MS_ACTIVE, NULL, p->vals, false) != 0 ||
        sql_golden(c, r, vr, MS_REDIRECTED, s, r->vals, false) != 0)
        return -1;
    if (sql_history(c, s, vs, p->ch, p->old, p->nch) != 0)
        return -1;
    for (const xref_t *x = r->xrefs; x; x = x->mnext)
        if (sql_xref(c, x->system, x->local_id, s, p->moved_state,
                     p->kind == MK_STEWARD_LINK ? XH_STEWARD : x->how, x->score, x->linked_us,
                     false))
            return -1;
    char id[NUM_LEN], ver[NUM_LEN], at[NUM_LEN];
    master_num_u(id, p->mg->id);
    master_num_u(ver, vs);
    master_num_i(at, c->now);
    mbuf_t before = {0};
    m->json.len = 0;
    if (master_vals_json(m, s->vals, &before) != 0 || moved_json(m, p->mg, &m->json) != 0) {
        master_buf_free(&before);
        return say(c, "out of memory");
    }
    const char *mp[] = {id,
                        s->id,
                        r->id,
                        ver,
                        before.p,
                        m->json.p,
                        c->ev->event_id ? c->ev->event_id : "",
                        c->ev->source,
                        at};
    int rc = run(c, SQL_MERGE, 9, mp);
    master_buf_free(&before);
    if (rc != 0)
        return -1;
    /* Open items between the two are settled by the merge. */
    const golden_t *qa = s, *qb = r;
    ordered(&qa, &qb);
    for (qitem_t *q = hmap_get(m->queue_by_pair, master_pair_hash(s, r)); q; q = q->pnext)
        if ((q->a == s && q->b == r) || (q->a == r && q->b == s))
            if (sql_queue_decide(c, q->id, q == p->decided ? QS_LINKED : QS_MERGED, p->by,
                                 p->reason) != 0)
                return -1;
    if (master_kept_apart(m, s, r) != NULL) {
        const char *kp[] = {qa->id, qb->id};
        if (run(c, SQL_KEEP_DEL, 2, kp) != 0)
            return -1;
    }
    m->json.len = 0;
    if (master_buf_str(&m->json, "{\"retired\": ") || master_buf_json_str(&m->json, r->id) ||
        master_buf_printf(&m->json, ", \"by\": \"%s\", \"version\": %llu, \"moved\": %zu",
                          kinds[p->kind], (unsigned long long)vs, p->mg->nmoved) ||
        master_buf_str(&m->json, ", \"decided_by\": ") ||
        master_buf_json_str(&m->json, p->by ? p->by : "") || master_buf_str(&m->json, "}"))
        return say(c, "out of memory");
    if (sql_audit(c, s, "merge") != 0)
        return -1;
    m->json.len = 0;
    if (master_buf_str(&m->json, "{\"survivor\": ") || master_buf_json_str(&m->json, s->id) ||
        master_buf_str(&m->json, "}"))
        return say(c, "out of memory");
    if (sql_audit(c, r, "merged_into") != 0)
        return -1;

    return 0;
}

static int commit_merge(ectx_t *c, mplan_t *p)
{
    master_t *m = c->m;
    golden_t *s = p->s, *r = p->r;
    master_index_remove(m, s);
    master_index_remove(m, r);
    p->mg->before = s->vals;
    s->vals = p->vals;
    p->vals = NULL;
    s->version++;
    s->updated_us = c->now;
    r->state = MS_REDIRECTED;
    r->redirect = s;
    r->version++;
    r->updated_us = c->now;
    m->nactive--;
    while (r->xrefs != NULL) {
        xref_t *x = r->xrefs;
        master_xref_detach(x);
        x->state = p->moved_state;
        if (p->kind == MK_STEWARD_LINK)
            x->how = XH_STEWARD;
        master_xref_attach(s, x);
    }
    for (;;) {
        qitem_t *q = master_queue_pair(m, s, r);
        if (q == NULL)
            break;
        master_queue_remove(m, q);
    }
    master_keep_apart_remove(m, s, r);
    merge_t *mg = p->mg;
    p->mg = NULL;
    m->next_merge_id++;
    if (master_merge_add(m, mg) != 0) {
        master_merge_free(mg);
        return broken(c);
    }
    if (master_index_add(m, s) != 0)
        return broken(c);
    return 0;
}

static int do_merge(ectx_t *c, golden_t *s, golden_t *r, int kind, qitem_t *decided, const char *by,
                    const char *reason)
{
    mplan_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        return say(c, "out of memory");
    *p = (mplan_t){.s = s, .r = r, .kind = kind, .decided = decided, .by = by, .reason = reason};
    int rc = plan_merge(c, p);
    if (rc == 0)
        rc = write_merge(c, p);
    if (rc == 0)
        rc = commit_merge(c, p);
    if (rc == 0) {
        (void)snprintf(c->res->master_id, sizeof c->res->master_id, "%s", s->id);
        c->res->version = s->version;
        c->res->changed = (unsigned)p->nchanged;
    }
    mplan_free(p);
    free(p);
    return rc;
}

/* Unmerge ---------------------------------------------------------------------------------- */

typedef struct {
    golden_t *s, *r;
    merge_t *mg;
    mchange_t ch[MASTER_MAX_FIELDS];
    const char *old[MASTER_MAX_FIELDS];
    size_t nch;
    mvals_t *vals; /* survivor's next block */
    xref_t *back[MAX_XREF_VIEW];
    const moved_t *how_back[MAX_XREF_VIEW];
    size_t nback;
    xview_t sview[MAX_XREF_VIEW], rview[MAX_XREF_VIEW];
    size_t nsview, nrview;
} uplan_t;

/* Fields the merge set and nothing has changed since go back to what the
 * survivor had; later changes stand. */
static int plan_unmerge(ectx_t *c, uplan_t *p)
{
    master_t *m = c->m;
    const mvals_t *sv = p->s->vals, *before = p->mg->before;
    uint64_t version = p->s->version + 1;
    for (uint32_t i = 0; sv != NULL && i < sv->n; i++) {
        const mval_t *v = &sv->v[i];
        if (v->version != p->mg->survivor_version)
            continue;
        const mval_t *b = master_val(before, v->field);
        p->old[p->nch] = master_val_text(sv, v);
        p->ch[p->nch++] =
            b ? (mchange_t){v->field, b->source, master_val_text(before, b), version, b->at_us}
              : (mchange_t){v->field, v->source, NULL, version, 0};
    }
    p->vals = master_vals_build(sv, p->ch, p->nch);
    if (p->vals == NULL)
        return say(c, "out of memory");
    for (size_t i = 0; i < p->mg->nmoved && p->nback < MAX_XREF_VIEW; i++) {
        const moved_t *mv = &p->mg->moved[i];
        xref_t *x = master_xref(m, mv->system, mv->local_id);
        if (x == NULL || x->master != p->s)
            continue;
        p->back[p->nback] = x;
        p->how_back[p->nback++] = mv;
    }
    for (const xref_t *x = p->s->xrefs; x && p->nsview < MAX_XREF_VIEW; x = x->mnext) {
        bool leaving = false;
        for (size_t i = 0; i < p->nback && !leaving; i++)
            leaving = p->back[i] == x;
        if (!leaving)
            p->sview[p->nsview++] = (xview_t){x, x->state};
    }
    for (size_t i = 0; i < p->nback; i++)
        p->rview[p->nrview++] = (xview_t){p->back[i], p->how_back[i]->state};
    return 0;
}

static int emit_whole(ectx_t *c, const golden_t *g, uint64_t version, const mvals_t *vals,
                      const xview_t *view, size_t nview)
{
    uint16_t fields[MASTER_MAX_FIELDS];
    size_t n = 0;
    for (uint32_t i = 0; vals != NULL && i < vals->n; i++)
        fields[n++] = vals->v[i].field;
    return emit_changed(c, g, version, vals, fields, n, view, nview);
}

static int write_unmerge(ectx_t *c, uplan_t *p)
{
    master_t *m = c->m;
    golden_t *s = p->s, *r = p->r;
    uint64_t vs = s->version + 1, vr = r->version + 1;
    /* Every system hears about both records whole: its ids may have moved
     * from one to the other. */
    if (emit_whole(c, s, vs, p->vals, p->sview, p->nsview) != 0 ||
        emit_whole(c, r, vr, r->vals, p->rview, p->nrview) != 0)
        return -1;
    if (sql_golden(c, s, vs, MS_ACTIVE, NULL, p->vals, false) != 0 ||
        sql_golden(c, r, vr, MS_ACTIVE, NULL, r->vals, false) != 0)
        return -1;
    if (sql_history(c, s, vs, p->ch, p->old, p->nch) != 0)
        return -1;
    for (size_t i = 0; i < p->nback; i++) {
        const moved_t *mv = p->how_back[i];
        if (sql_xref(c, mv->system, mv->local_id, r, mv->state, mv->how, mv->score,
                     p->back[i]->linked_us, false) != 0)
            return -1;
    }
    char id[NUM_LEN], at[NUM_LEN];
    master_num_u(id, p->mg->id);
    master_num_i(at, c->now);
    const char *up[] = {id, at};
    if (run(c, SQL_UNMERGE, 2, up) != 0)
        return -1;
    const golden_t *qa = s, *qb = r;
    ordered(&qa, &qb);
    const char *kp[] = {qa->id, qb->id, at, NULL, "unmerged"};
    if (run(c, SQL_KEEP, 5, kp) != 0)
        return -1;
    m->json.len = 0;
    if (master_buf_str(&m->json, "{\"retired\": ") || master_buf_json_str(&m->json, r->id) ||
        master_buf_printf(&m->json, ", \"restored_fields\": %zu, \"moved_back\": %zu}", p->nch,
                          p->nback))
        return say(c, "out of memory");
    return sql_audit(c, s, "unmerge");
}

static int commit_unmerge(ectx_t *c, uplan_t *p)
{
    master_t *m = c->m;
    golden_t *s = p->s, *r = p->r;
    master_index_remove(m, s);
    free(s->vals);
    s->vals = p->vals;
    p->vals = NULL;
    s->version++;
    s->updated_us = c->now;
    r->state = MS_ACTIVE;
    r->redirect = NULL;
    r->version++;
    r->updated_us = c->now;
    m->nactive++;
    for (size_t i = 0; i < p->nback; i++) {
        xref_t *x = p->back[i];
        master_xref_detach(x);
        x->state = p->how_back[i]->state;
        x->how = p->how_back[i]->how;
        x->score = p->how_back[i]->score;
        master_xref_attach(r, x);
    }
    master_merge_remove(m, p->mg);
    if (master_keep_apart_add(m, s, r) != 0 || master_index_add(m, s) != 0 ||
        master_index_add(m, r) != 0)
        return broken(c);
    return 0;
}

static int do_unmerge(ectx_t *c, golden_t *s, golden_t *r)
{
    merge_t *mg = master_merge_of(c->m, r);
    if (mg == NULL || mg->survivor != s || r->state != MS_REDIRECTED || r->redirect != s)
        return refused(c, "%s was not merged into %s, or that merge was already undone", r->id,
                       s->id);
    if (s->state != MS_ACTIVE)
        return refused(c, "%s has since been merged into another record; undo that merge first",
                       s->id);
    uplan_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        return say(c, "out of memory");
    p->s = s;
    p->r = r;
    p->mg = mg;
    int rc = plan_unmerge(c, p);
    if (rc == 0)
        rc = write_unmerge(c, p);
    if (rc == 0)
        rc = commit_unmerge(c, p);
    if (rc == 0) {
        (void)snprintf(c->res->master_id, sizeof c->res->master_id, "%s", r->id);
        c->res->version = r->version;
        c->res->changed = (unsigned)p->nch;
    }
    free(p->vals);
    free(p);
    return rc;
}

/* Keep apart ---------------------------------------------------------------------------- */

/* Does G have an open item other than with OTHER? */
static bool open_elsewhere(const master_t *m, const golden_t *g, const golden_t *other)
{
    size_t pos = 0;
    uint64_t key;
    void *value;
    while (hmap_next(m->queue_by_id, &pos, &key, &value)) {
        const qitem_t *q = value;
        if ((q->a == g && q->b != other) || (q->b == g && q->a != other))
            return true;
    }
    return false;
}

static int do_keep_apart(ectx_t *c, golden_t *a, golden_t *b, const char *by, const char *reason)
{
    master_t *m = c->m;
    const golden_t *qa = a, *qb = b;
    ordered(&qa, &qb);
    char at[NUM_LEN];
    master_num_i(at, c->now);
    const char *kp[] = {qa->id, qb->id, at, by && *by ? by : NULL,
                        reason && *reason ? reason : NULL};
    if (run(c, SQL_KEEP, 5, kp) != 0)
        return -1;
    for (qitem_t *q = hmap_get(m->queue_by_pair, master_pair_hash(a, b)); q; q = q->pnext)
        if ((q->a == a && q->b == b) || (q->a == b && q->b == a))
            if (sql_queue_decide(c, q->id, QS_KEPT_APART, by, reason) != 0)
                return -1;
    /* A local id waiting on this pair now simply has its own record. */
    xref_t *settle[MAX_XREF_VIEW];
    size_t nsettle = 0;
    golden_t *both[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        if (open_elsewhere(m, both[i], both[1 - i]))
            continue;
        for (xref_t *x = both[i]->xrefs; x && nsettle < MAX_XREF_VIEW; x = x->mnext) {
            if (x->state != XL_POSSIBLE)
                continue;
            if (sql_xref(c, x->system, x->local_id, both[i], XL_NO_MATCH, x->how, x->score,
                         x->linked_us, false) != 0)
                return -1;
            settle[nsettle++] = x;
        }
    }
    m->json.len = 0;
    if (master_buf_str(&m->json, "{\"with\": ") || master_buf_json_str(&m->json, b->id) ||
        master_buf_str(&m->json, ", \"decided_by\": ") ||
        master_buf_json_str(&m->json, by ? by : "") || master_buf_str(&m->json, "}"))
        return say(c, "out of memory");
    if (sql_audit(c, a, "keep_apart") != 0)
        return -1;
    /* commit */
    if (master_keep_apart_add(m, a, b) != 0)
        return broken(c);
    for (;;) {
        qitem_t *q = master_queue_pair(m, a, b);
        if (q == NULL)
            break;
        master_queue_remove(m, q);
    }
    for (size_t i = 0; i < nsettle; i++)
        settle[i]->state = XL_NO_MATCH;
    (void)snprintf(c->res->master_id, sizeof c->res->master_id, "%s", a->id);
    c->res->version = a->version;
    return 0;
}

/* Steward decisions ---------------------------------------------------------------------- */

static golden_t *named(ectx_t *c, const char *id, const char *what)
{
    if (id == NULL || id[0] == '\0') {
        refused(c, "%s is required", what);
        return NULL;
    }
    golden_t *g = master_golden(c->m, id);
    if (g == NULL)
        refused(c, "%s '%.64s' is not a golden record", what, id);
    return g;
}

static int apply_steward(ectx_t *c, const char *action)
{
    master_t *m = c->m;
    const master_event_t *ev = c->ev;
    if (ev->payload_type == NULL || strcmp(ev->payload_type, DECISION_TYPE) != 0)
        return refused(c, "%s must carry a %s payload", ev->type, DECISION_TYPE);
    Joinery__V1__StewardDecision *d =
        joinery__v1__steward_decision__unpack(NULL, ev->payload_len, ev->payload);
    if (d == NULL)
        return refused(c, "the payload does not decode as %s", DECISION_TYPE);
    int rc = 0;
    golden_t *a = NULL, *b = NULL;
    qitem_t *q = NULL;
    if (d->action[0] != '\0' && strcmp(d->action, action) != 0) {
        rc = refused(c, "action '%.32s' does not agree with event type %s", d->action, ev->type);
        goto done;
    }
    bool unmerge = strcmp(action, "unmerge") == 0;
    if (d->queue_id != 0 && !unmerge && strcmp(action, "merge") != 0) {
        q = hmap_get(m->queue_by_id, d->queue_id);
        if (q == NULL) {
            rc = refused(c, "steward queue item %llu is not open (unknown, or already decided)",
                         (unsigned long long)d->queue_id);
            goto done;
        }
        a = q->a;
        b = q->b;
    } else {
        a = named(c, d->master_id_a, "master_id_a");
        if (a == NULL)
            goto done;
        if (d->master_id_b[0] == '\0' && d->system[0] != '\0' && d->local_id[0] != '\0') {
            int sys = master_system_id(m, d->system, false);
            const xref_t *x = sys >= 0 ? master_xref(m, (uint16_t)sys, d->local_id) : NULL;
            if (x == NULL) {
                rc =
                    refused(c, "%.64s has no record with local id '%.64s'", d->system, d->local_id);
                goto done;
            }
            b = x->master;
        } else if ((b = named(c, d->master_id_b, "master_id_b")) == NULL) {
            goto done;
        }
    }
    if (unmerge) {
        rc = do_unmerge(c, a, b);
        goto done;
    }
    a = master_final(a);
    b = master_final(b);
    if (a == b) {
        if (strcmp(action, "keep_apart") == 0)
            rc = refused(c, "%s and %s are one record now; unmerge them first", d->master_id_a,
                         d->master_id_b);
        else
            (void)snprintf(c->res->master_id, sizeof c->res->master_id, "%s", a->id);
        goto done;
    }
    /* A link named by master ids still settles the pair's open item. */
    if (q == NULL && strcmp(action, "link") == 0)
        q = master_queue_pair(m, a, b);
    if (strcmp(action, "keep_apart") == 0)
        rc = do_keep_apart(c, a, b, d->decided_by, d->reason);
    else
        rc = do_merge(c, a, b, strcmp(action, "link") == 0 ? MK_STEWARD_LINK : MK_STEWARD_MERGE, q,
                      d->decided_by, d->reason);
done:
    joinery__v1__steward_decision__free_unpacked(d, NULL);
    return rc;
}

/* person.merged from a source system -------------------------------------------------- */

/* The sender renumbered or merged its own records. */
static int apply_source_merge(ectx_t *c)
{
    master_t *m = c->m;
    const master_event_t *ev = c->ev;
    if (ev->payload_type == NULL || strcmp(ev->payload_type, MERGED_TYPE) != 0)
        return refused(c, "person.merged must carry a %s payload", MERGED_TYPE);
    Joinery__V1__PersonMerged *pm =
        joinery__v1__person_merged__unpack(NULL, ev->payload_len, ev->payload);
    if (pm == NULL)
        return refused(c, "the payload does not decode as %s", MERGED_TYPE);
    int rc = 0;
    const char *sl = pm->survivor_local_id, *rl = pm->retired_local_id;
    xref_t *xs = NULL, *xr = NULL;
    if (sl[0] == '\0' || rl[0] == '\0' || strcmp(sl, rl) == 0) {
        rc = refused(c,
                     "person.merged needs survivor_local_id and retired_local_id: two "
                     "different ids of the person in %s",
                     ev->source);
        goto done;
    }
    xs = master_xref(m, (uint16_t)c->src, sl);
    xr = master_xref(m, (uint16_t)c->src, rl);
    if (xr == NULL) {
        /* Nothing here knows the retired id: there is nothing to merge. */
        if (xs != NULL)
            (void)snprintf(c->res->master_id, sizeof c->res->master_id, "%s",
                           master_final(xs->master)->id);
        goto done;
    }
    golden_t *r = master_final(xr->master);
    if (xs == NULL || master_final(xs->master) == r) {
        /* The survivor id is new to us, or both ids are one record already:
         * the sender's ids change, the golden records do not. */
        xref_t *nx = NULL;
        if (xs == NULL) {
            char *local = strdup(sl);
            nx = local ? malloc(sizeof *nx) : NULL;
            if (nx == NULL) {
                free(local);
                rc = say(c, "out of memory");
                goto done;
            }
            *nx = (xref_t){.local_id = local,
                           .score = NAN,
                           .linked_us = c->now,
                           .system = (uint16_t)c->src,
                           .state = XL_MATCH,
                           .how = XH_RULE};
            rc = sql_xref(c, c->src, sl, r, XL_MATCH, XH_RULE, NAN, c->now, true);
        }
        if (rc == 0)
            rc = sql_xref(c, c->src, rl, xr->master, XL_REDIRECTED, xr->how, xr->score,
                          xr->linked_us, false);
        m->json.len = 0;
        if (rc == 0 && (master_buf_str(&m->json, "{\"retired_local_id\": ") ||
                        master_buf_json_str(&m->json, rl) || master_buf_str(&m->json, "}")))
            rc = say(c, "out of memory");
        if (rc == 0)
            rc = sql_audit(c, r, "local_merge");
        if (rc != 0) {
            if (nx != NULL)
                free(nx->local_id);
            free(nx);
            goto done;
        }
        xr->state = XL_REDIRECTED;
        if (nx != NULL) {
            master_xref_attach(r, nx);
            if (master_xref_add(m, nx) != 0) {
                rc = broken(c);
                goto done;
            }
        }
        (void)snprintf(c->res->master_id, sizeof c->res->master_id, "%s", r->id);
        c->res->version = r->version;
        goto done;
    }
    golden_t *s = master_final(xs->master);
    if (master_kept_apart(m, s, r) != NULL) {
        rc = refused(c,
                     "a data steward has decided %s and %s are different people; only a "
                     "steward can merge them (steward.merge)",
                     s->id, r->id);
        goto done;
    }
    rc = do_merge(c, s, r, MK_SOURCE, NULL, NULL, pm->reason);
done:
    joinery__v1__person_merged__free_unpacked(pm, NULL);
    return rc;
}

/* Engine ---------------------------------------------------------------------------------- */

static const char *const handled[] = {
    "person.updated", "person.created",     "person.merged",   "steward.link",
    "steward.merge",  "steward.keep_apart", "steward.unmerge",
};

int master_handles(const char *type, size_t len)
{
    if (type == NULL)
        return 0;
    for (size_t i = 0; i < sizeof handled / sizeof handled[0]; i++)
        if (strlen(handled[i]) == len && memcmp(handled[i], type, len) == 0)
            return 1;
    return 0;
}

int master_apply(master_t *m, const master_event_t *ev, master_sink_t *sink, master_result_t *res,
                 char *why, size_t why_len)
{
    master_result_t local;
    if (res == NULL)
        res = &local;
    memset(res, 0, sizeof *res);
    res->outcome = MASTER_APPLIED;
    if (why != NULL && why_len > 0)
        why[0] = '\0';
    ectx_t c = {.m = m, .ev = ev, .sink = sink, .res = res, .why = why, .why_len = why_len};
    if (m == NULL || ev == NULL || sink == NULL || sink->sql == NULL || sink->emit == NULL ||
        ev->type == NULL)
        return say(&c, "master_apply: missing engine, event or sink");
    if (m->broken)
        return say(&c, "the master-data engine lost its state after running out of memory; it "
                       "must be reloaded (master_load)");
    if (ev->source == NULL || ev->source[0] == '\0')
        return refused(&c, "the event has no source system");
    c.src = master_system_id(m, ev->source, true);
    if (c.src < 0)
        return say(&c, "too many distinct source systems");
    c.now = ev->received_at_us > 0 ? ev->received_at_us : ev->occurred_at_us;
    c.occurred = ev->occurred_at_us > 0 ? ev->occurred_at_us : c.now;
    const char *t = ev->type;
    if (strcmp(t, "person.updated") == 0 || strcmp(t, "person.created") == 0) {
        c.exclude_src = true;
        return apply_person(&c);
    }
    if (strcmp(t, "person.merged") == 0) {
        c.exclude_src = true;
        return apply_source_merge(&c);
    }
    if (strncmp(t, "steward.", 8) == 0 && master_handles(t, strlen(t)))
        return apply_steward(&c, t + 8);
    return refused(&c,
                   "%.64s is not a master-data event (expected one of person.updated, "
                   "person.created, person.merged, steward.link, steward.keep_apart, "
                   "steward.merge, steward.unmerge)",
                   t);
}

static int system_of(void *ctx, const char *name)
{
    return master_system_id(ctx, name, true);
}

static int subscribers(master_t *m, const char *type, uint16_t **out, size_t *n)
{
    return master_subscribers(m->cfg, type, system_of, m, out, n);
}

static int init_rules(master_t *m, char *err, size_t errlen)
{
    const config_master_t *mc = &m->cfg->master;
    m->rules = calloc(mc->nfields ? mc->nfields : 1, sizeof *m->rules);
    if (m->rules == NULL)
        return -1;
    for (size_t i = 0; i < mc->nfields; i++, m->nrules++) {
        const config_master_field_t *f = &mc->fields[i];
        mrule_t *r = &m->rules[i];
        r->propose = f->propose;
        if (master_rule_systems(f, system_of, m, &r->owner, &r->fallback, &r->nfallback) != 0)
            return -1;
        if (!master_field_known(f->path)) {
            (void)snprintf(err, errlen, "master_data: unknown field '%s'", f->path);
            return -1;
        }
    }
    return 0;
}

master_t *master_new(const config_t *cfg, char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (cfg == NULL) {
        if (err != NULL && errlen > 0)
            (void)snprintf(err, errlen, "master_new: no configuration");
        return NULL;
    }
    master_t *m = calloc(1, sizeof *m);
    if (m == NULL)
        goto oom;
    m->cfg = cfg;
    m->today_day = -1;
    match_params_default(&m->params);
    for (size_t i = 0; i < cfg->master.nlevels; i++) {
        const config_match_level_t *l = &cfg->master.levels[i];
        m->params.m[l->field][l->level] = l->m;
        m->params.u[l->field][l->level] = l->u;
    }
    if (cfg->master.match_upper > cfg->master.match_lower) {
        m->params.upper = cfg->master.match_upper;
        m->params.lower = cfg->master.match_lower;
    }
    match_params_freeze(&m->params);
    m->golden_by_id = hmap_new(1024);
    m->xref_by_key = hmap_new(1024);
    m->blocks = hmap_new(4096);
    m->tf = hmap_new(1024);
    m->queue_by_id = hmap_new(64);
    m->queue_by_pair = hmap_new(64);
    m->keep_apart = hmap_new(64);
    m->merges = hmap_new(64);
    m->systems = calloc(MASTER_MAX_SYSTEMS, sizeof *m->systems);
    m->sys_rank = calloc(MASTER_MAX_SYSTEMS, sizeof *m->sys_rank);
    m->incoming_cap = (size_t)MASTER_MAX_INCOMING * MASTER_VALUE_MAX * 2;
    m->incoming_text = malloc(m->incoming_cap);
    m->arena = pbarena_new(PB_PERSON_ARENA_BLOCK);
    if (!m->arena || !m->golden_by_id || !m->xref_by_key || !m->blocks || !m->tf ||
        !m->queue_by_id || !m->queue_by_pair || !m->keep_apart || !m->merges || !m->systems ||
        !m->sys_rank || !m->incoming_text)
        goto oom;
    m->next_queue_id = m->next_merge_id = 1;
    /* Adapters first, so that without a survivorship list the order of the
     * adapters in the file is the order of trust. */
    for (size_t i = 0; i < cfg->nadapters; i++)
        if (master_system_id(m, cfg->adapters[i].name, true) < 0)
            goto oom;
    if (init_rules(m, err, errlen) != 0) {
        if (err != NULL && errlen > 0 && err[0] != '\0') {
            master_destroy(&m);
            return NULL;
        }
        goto oom;
    }
    if (master_fields_init(m) != 0 ||
        subscribers(m, "person.changed", &m->sub_changed, &m->nsub_changed) != 0 ||
        subscribers(m, "person.merged", &m->sub_merged, &m->nsub_merged) != 0 ||
        subscribers(m, "person.proposed", &m->sub_proposed, &m->nsub_proposed) != 0)
        goto oom;
    master_ulid_seed(&m->ulid);
    return m;
oom:
    if (err != NULL && errlen > 0)
        (void)snprintf(err, errlen, "master_new: out of memory");
    master_destroy(&m);
    return NULL;
}

void master_destroy(master_t **mp)
{
    if (mp == NULL || *mp == NULL)
        return;
    master_t *m = *mp;
    if (m->golden_by_id && m->xref_by_key && m->blocks && m->tf && m->queue_by_id &&
        m->queue_by_pair && m->keep_apart && m->merges)
        master_state_clear(m);
    hmap_destroy(&m->golden_by_id);
    hmap_destroy(&m->xref_by_key);
    hmap_destroy(&m->blocks);
    hmap_destroy(&m->tf);
    hmap_destroy(&m->queue_by_id);
    hmap_destroy(&m->queue_by_pair);
    hmap_destroy(&m->keep_apart);
    hmap_destroy(&m->merges);
    free(m->goldens);
    for (size_t i = 0; m->systems && i < m->nsystems; i++)
        free(m->systems[i]);
    free(m->systems);
    free(m->sys_rank);
    for (size_t i = 0; m->fields && i < m->nfields; i++)
        free(m->fields[i]);
    free(m->fields);
    free(m->field_rule);
    for (size_t i = 0; m->rules && i < m->nrules; i++)
        free(m->rules[i].fallback);
    free(m->rules);
    free(m->sub_changed);
    free(m->sub_merged);
    free(m->sub_proposed);
    free(m->incoming_text);
    pbarena_destroy(&m->arena);
    master_buf_free(&m->json);
    master_buf_free(&m->out);
    master_buf_free(&m->text);
    master_buf_free(&m->hist);
    free(m);
    *mp = NULL;
}

size_t master_golden_count(const master_t *m)
{
    return m ? m->nactive : 0;
}

size_t master_steward_count(const master_t *m)
{
    return m ? m->nopen : 0;
}

void master_search_counts(const master_t *m, uint64_t *searches, uint64_t *scored,
                          uint64_t *bounded)
{
    *searches = m ? m->nsearches : 0;
    *scored = m ? m->nscored : 0;
    *bounded = m ? m->nbounded : 0;
}

const char *master_lookup(const master_t *m, const char *system, const char *local_id,
                          char master_id[MASTER_ID_MAX])
{
    if (m == NULL || system == NULL || local_id == NULL)
        return NULL;
    for (size_t i = 0; i < m->nsystems; i++) {
        if (strcmp(m->systems[i], system) != 0)
            continue;
        const xref_t *x = master_xref(m, (uint16_t)i, local_id);
        if (x == NULL)
            return NULL;
        if (master_id != NULL)
            (void)snprintf(master_id, MASTER_ID_MAX, "%s", master_final(x->master)->id);
        return master_link_state_name(x->state);
    }
    return NULL;
}

int master_final_id(const master_t *m, const char *master_id, char out[MASTER_ID_MAX])
{
    const golden_t *g = m && master_id ? master_golden(m, master_id) : NULL;
    if (g == NULL)
        return -1;
    (void)snprintf(out, MASTER_ID_MAX, "%s", master_final((golden_t *)g)->id);
    return 0;
}

const char *master_local_id(const master_t *m, const char *master_id, const char *system)
{
    const golden_t *g = m && master_id && system ? master_golden(m, master_id) : NULL;
    if (g == NULL)
        return "";
    g = master_final((golden_t *)g);
    for (size_t i = 0; i < m->nsystems; i++)
        if (strcmp(m->systems[i], system) == 0)
            return primary_local(g, (int)i);
    return "";
}

const char *master_value(const master_t *m, const char *master_id, const char *field,
                         const char **source)
{
    if (m == NULL || master_id == NULL || field == NULL)
        return NULL;
    const golden_t *g = master_golden(m, master_id);
    int f = -1;
    for (size_t i = 0; i < m->nfields && f < 0; i++)
        if (strcmp(m->fields[i], field) == 0)
            f = (int)i;
    const mval_t *v = g && f >= 0 ? master_val(g->vals, f) : NULL;
    if (v == NULL)
        return NULL;
    if (source != NULL)
        *source = m->systems[v->source];
    return master_val_text(g->vals, v);
}
