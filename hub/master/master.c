/* master.c - the person kind of the master-data engine (contract in master.h): its
 * descriptor for the engine (engine.h), its identity rule (a new local id is matched against
 * the golden records: master_match.c), what it does besides a keyed update (steward queue
 * items; re-matching a record whose identity changed), the messages it packs, and the calls
 * the hub makes. The keyed update itself, the rows and the loading are the engine's. */
#include "master/master_int.h"

#include "base/log.h"

#include <joinery/v1/master.pb-c.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const PERSON_TYPE = "joinery.v1.Person";

/* SQL ----------------------------------------------------------------------- */

static const char SQL_GOLDEN[] =
    "INSERT INTO golden_person (master_id, version, state, redirect_to, fields, created_at, "
    "updated_at) VALUES ($1, $2::bigint, $3, $4, $5::json, $6::bigint, $7::bigint) "
    "ON CONFLICT (master_id) DO UPDATE SET version = EXCLUDED.version, state = EXCLUDED.state, "
    "redirect_to = EXCLUDED.redirect_to, fields = EXCLUDED.fields, "
    "updated_at = EXCLUDED.updated_at";
static const char SQL_XREF[] =
    "INSERT INTO xref (system, local_id, master_id, link_state, how, score, linked_at) "
    "VALUES ($1, $2, $3, $4, $5, $6::double precision, $7::bigint) "
    "ON CONFLICT (system, local_id) DO UPDATE SET master_id = EXCLUDED.master_id, "
    "link_state = EXCLUDED.link_state, how = EXCLUDED.how, score = EXCLUDED.score, "
    "linked_at = EXCLUDED.linked_at";
/* The rows of the person tables (base/rows.h): a new record or link is appended, a changed one
 * upserted, gathered per batch. */
static const row_desc_t ROW_GOLDEN = {"golden_person",
                                      7,
                                      {{"master_id", ROW_TEXT},
                                       {"version", ROW_INT8},
                                       {"state", ROW_TEXT},
                                       {"redirect_to", ROW_TEXT},
                                       {"fields", ROW_JSON},
                                       {"created_at", ROW_INT8},
                                       {"updated_at", ROW_INT8}}};
static const row_upsert_t UPSERT_GOLDEN = {
    &ROW_GOLDEN, "stage_golden_person",
    "INSERT INTO golden_person (master_id, version, state, redirect_to, fields, created_at, "
    "updated_at) SELECT master_id, version, state, redirect_to, fields, created_at, updated_at "
    "FROM stage_golden_person ON CONFLICT (master_id) DO UPDATE SET version = EXCLUDED.version, "
    "state = EXCLUDED.state, redirect_to = EXCLUDED.redirect_to, fields = EXCLUDED.fields, "
    "updated_at = EXCLUDED.updated_at",
    1};
static const row_desc_t ROW_XREF = {"xref",
                                    7,
                                    {{"system", ROW_TEXT},
                                     {"local_id", ROW_TEXT},
                                     {"master_id", ROW_TEXT},
                                     {"link_state", ROW_TEXT},
                                     {"how", ROW_TEXT},
                                     {"score", ROW_FLOAT8},
                                     {"linked_at", ROW_INT8}}};
static const row_upsert_t UPSERT_XREF = {
    &ROW_XREF, "stage_xref",
    "INSERT INTO xref (system, local_id, master_id, link_state, how, score, linked_at) "
    "SELECT system, local_id, master_id, link_state, how, score, linked_at FROM stage_xref "
    "ON CONFLICT (system, local_id) DO UPDATE SET master_id = EXCLUDED.master_id, "
    "link_state = EXCLUDED.link_state, how = EXCLUDED.how, score = EXCLUDED.score, "
    "linked_at = EXCLUDED.linked_at",
    2};
static const row_desc_t ROW_HISTORY = MD_HISTORY_ROW("golden_person_history");

/* A person event's plan: the engine's, and the steward items it opens. */
typedef struct {
    md_plan_t b; /* first: the engine's plan */
    cand_t queue[MAX_POSSIBLE];
    qitem_t *q[MAX_POSSIBLE]; /* owned until commit */
    size_t nq;
    cand_t dup;        /* a link to a record holding another of the sender's ids; g NULL if none */
    cand_t via;        /* a link made on one of the record's previous values; g NULL if none */
    mprev_plan_t prev; /* the address or name this event replaces, kept (master_prev.c) */
} pplan_t;

static void pplan_free(md_plan_t *bp)
{
    pplan_t *p = (pplan_t *)bp;
    for (size_t i = 0; i < p->nq; i++)
        free(p->q[i]);
    free(p->prev.next);
}

/* Decoding ------------------------------------------------------------------------ */

void master_today(master_t *m, int64_t now_us, char out[32])
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

static int person_decode(md_ctx_t *c)
{
    master_t *m = M(c);
    const master_event_t *ev = c->ev;
    if (ev->payload_type == NULL || strcmp(ev->payload_type, PERSON_TYPE) != 0)
        return md_refused(c, "%s must carry a %s payload, not %s", ev->type, PERSON_TYPE,
                          ev->payload_type ? ev->payload_type : "none"),
               -1;
    Joinery__V1__Person *person =
        joinery__v1__person__unpack(pbarena_allocator(m->e.arena), ev->payload_len, ev->payload);
    if (person == NULL) {
        pbarena_reset(m->e.arena);
        return md_refused(c, "the payload does not decode as %s", PERSON_TYPE), -1;
    }
    char today[32];
    master_today(m, c->now, today);
    int rc = master_flatten(m, person, today, m->e.in, &m->e.nin, c->why, c->why_len);
    pbarena_reset(m->e.arena); /* master_flatten copied what it keeps */
    if (rc != 0)
        c->res->outcome = MASTER_REFUSED;
    return rc;
}

/* Identity ------------------------------------------------------------------------ */

/* Steward items for the candidates ALL[0..N) with B, the record the event is about. */
static int plan_queue(md_ctx_t *c, pplan_t *p, const cand_t *all, size_t n, golden_t *b)
{
    master_t *m = M(c);
    for (size_t i = 0; i < n; i++) {
        if ((p->q[p->nq] = calloc(1, sizeof *p->q[0])) == NULL)
            return md_say(c, "out of memory");
        *p->q[p->nq] = (qitem_t){.id = m->next_queue_id + p->nq,
                                 .a = all[i].g,
                                 .b = b,
                                 .score = all[i].score,
                                 .created_us = c->now};
        p->queue[p->nq++] = all[i];
    }
    return 0;
}

/* A local id seen for the first time is matched: linked to the record it is, or a new record,
 * with steward items for the possible matches. */
static int person_identify(md_ctx_t *c, md_plan_t *bp)
{
    if (bp->x != NULL) {
        bp->g = md_final(bp->x->master);
        return 0;
    }
    master_t *m = M(c);
    match_person_t mp;
    char given[MATCH_JW_MAX_LEN];
    master_match_view_incoming(m->e.in, m->e.nin, &mp, given, sizeof given);
    search_t s;
    master_search(m, &mp, NULL, c->src, &s);
    if (s.link.g != NULL) {
        bp->g = s.link.g;
        bp->link_state = XL_MATCH;
        bp->how = s.link.how;
        bp->score = s.link.score;
        if (s.link.same_system)
            ((pplan_t *)bp)->dup = s.link;
        if (s.link.prev)
            ((pplan_t *)bp)->via = s.link;
        return 0;
    }
    if (md_plan_new(c, bp, NULL) != 0)
        return -1;
    bp->link_state = s.nposs ? XL_POSSIBLE : XL_NO_MATCH;
    bp->how = s.nposs ? s.poss[0].how : XH_SCORE;
    bp->score = s.nposs ? s.poss[0].score : s.best;
    return plan_queue(c, (pplan_t *)bp, s.poss, s.nposs, bp->newg);
}

/* A change to what the matcher compares may reveal that this record and
 * another are one person: such pairs go to a steward, never merged here. */
static int plan_rematch(md_ctx_t *c, md_plan_t *bp)
{
    master_t *m = M(c);
    if (master_prev_plan(c, bp, &((pplan_t *)bp)->prev) != 0)
        return -1;
    if (bp->newg != NULL || !bp->rematch)
        return 0;
    match_person_t mp;
    char given[MATCH_JW_MAX_LEN];
    master_match_view(bp->vals, &mp, given, sizeof given);
    search_t s;
    master_search(m, &mp, bp->g, -1, &s);
    cand_t all[MAX_POSSIBLE + 1];
    size_t n = 0;
    if (s.link.g != NULL)
        all[n++] = s.link;
    for (size_t i = 0; i < s.nposs && n < MAX_POSSIBLE; i++)
        all[n++] = s.poss[i];
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (!master_kept_apart(m, all[i].g, bp->g) && !master_queue_pair(m, all[i].g, bp->g))
            all[kept++] = all[i];
    return plan_queue(c, (pplan_t *)bp, all, kept, bp->g);
}

/* A link made on a previous address or name says so in the audit trail (fields and systems,
 * never values), and in the event's reason. */
static int audit_via(md_ctx_t *c, const pplan_t *p)
{
    const cand_t *v = &p->via;
    if (v->g == NULL || !v->prev || v->prev > master_prev_count(v->g->prev))
        return 0;
    master_t *m = M(c);
    const mprev_ent_t *e = &v->g->prev->v[v->prev - 1];
    char num[NUM_LEN];
    mbuf_t *j = &m->e.json;
    j->len = 0;
    int rc = master_buf_str(j, "{\"matched_previous\": ");
    rc |= master_buf_json_str(j, e->kind == MPREV_ADDRESS ? "address" : "name");
    rc |= master_buf_str(j, ", \"system\": ");
    rc |= master_buf_json_str(j, m->e.systems[e->source]);
    rc |=
        master_buf_printf(j, ", \"replaced_at\": %s, \"reason\": ", master_num_i(num, e->until_us));
    rc |= master_buf_json_str(j, v->why);
    if ((rc | master_buf_str(j, "}")) != 0)
        return md_say(c, "out of memory");
    return md_sql_audit(c, p->b.g, "link_evidence");
}

static int write_queue(md_ctx_t *c, md_plan_t *bp)
{
    pplan_t *p = (pplan_t *)bp;
    for (size_t i = 0; i < p->nq; i++)
        if (master_sql_queue_open(c, p->q[i]->id, p->q[i]->a, p->q[i]->b, &p->queue[i]) != 0)
            return -1;
    if (p->dup.g != NULL && master_emit_duplicate(c, p->dup.g, &p->dup) != 0)
        return -1;
    if (master_report_dropped(c, bp->g) != 0)
        return -1;
    if (master_prev_write(c, bp->g, &p->prev) != 0 || audit_via(c, p) != 0)
        return -1;
    /* What the CONFIRM of a kept event says about the fields it lost (ingest reads it). */
    master_dropped_text(M(c), c->why, c->why_len);
    return 0;
}

static int commit_queue(md_ctx_t *c, md_plan_t *bp)
{
    pplan_t *p = (pplan_t *)bp;
    master_t *m = M(c);
    if (p->prev.next != NULL) {
        /* The record's keys now include those of the value it left: indexed again with it. */
        golden_t *g = bp->g;
        if (g->state == MS_ACTIVE)
            master_index_remove(m, g);
        free(g->prev);
        g->prev = p->prev.next;
        p->prev.next = NULL;
        if (g->state == MS_ACTIVE && master_index_add(m, g) != 0)
            return md_broken(c);
    }
    for (size_t i = 0; i < p->nq; i++) {
        qitem_t *q = p->q[i];
        p->q[i] = NULL;
        if (master_queue_add(m, q) != 0) {
            free(q);
            return md_broken(c);
        }
    }
    m->next_queue_id += p->nq;
    p->nq = 0;
    return 0;
}

static int index_add(engine_t *e, golden_t *g)
{
    return master_index_add((master_t *)e, g);
}

static void index_remove(engine_t *e, golden_t *g)
{
    master_index_remove((master_t *)e, g);
}

/* Messages ------------------------------------------------------------------------- */

typedef struct {
    Joinery__V1__PersonChanged msg;
    mperson_t pb;
} pchanged_t;

/* PersonChanged with FIELDS of VALS. */
static const ProtobufCMessage *person_changed(md_ctx_t *c, void *scratch, const golden_t *g,
                                              uint64_t version, const mvals_t *vals,
                                              const uint16_t *fields, char **names, size_t n)
{
    pchanged_t *s = scratch;
    const char *values[MASTER_MAX_FIELDS];
    for (size_t i = 0; i < n; i++) {
        const mval_t *v = md_val(vals, fields[i]);
        values[i] = v ? md_val_text(vals, v) : "";
    }
    if (master_person_build(M(c), fields, values, n, &s->pb) != 0)
        return NULL;
    static const Joinery__V1__PersonChanged init = JOINERY__V1__PERSON_CHANGED__INIT;
    s->msg = init;
    MD_FILL_CHANGED(s->msg, g, version, names, n);
    s->msg.person = &s->pb.person;
    return &s->msg.base;
}

/* PersonCorrection to the sender, or PersonProposal (with the proposed field as a Person) to
 * the owner. */
static int person_refusal(md_ctx_t *c, const md_refmsg_t *r, bool propose)
{
    Joinery__V1__PersonCorrection correction = JOINERY__V1__PERSON_CORRECTION__INIT;
    Joinery__V1__PersonProposal proposal = JOINERY__V1__PERSON_PROPOSAL__INIT;
    if (!propose) {
        MD_FILL_CORRECTION(correction, r);
        return md_send_refusal(c, r, false, &correction.base);
    }
    uint16_t f = r->field_id;
    mperson_t pb;
    if (master_person_build(M(c), &f, &r->refused, 1, &pb) != 0)
        return md_say(c, "out of memory");
    MD_FILL_PROPOSAL(proposal, r);
    proposal.person = &pb.person;
    return md_send_refusal(c, r, true, &proposal.base);
}

/* The descriptor -------------------------------------------------------------------- */

const md_desc_t PERSON_DESC = {
    .name = "person",
    .prefix = 'P',
    .payload = "joinery.v1.Person",
    .needs_local = "%s needs source_record_id: the person's id in %s, so the hub can link it "
                   "to the golden record",
    .fields = {MASTER_FIELDS, MF_FIXED_COUNT, master_field_known,
               "nhs_number, ni_number, name.given, name.family, birth_date, sex, death_date, "
               "address.home, telecom.phone, telecom.email, gp_practice_ods, "
               "consent.<purpose>, ... or a prefix such as 'name' or 'consent'"},
    .key_field = -1,
    .flags = MD_OPEN_FIELDS | MD_SCORED_LINKS | MD_MERGES,
    .golden = {&ROW_GOLDEN,
               &UPSERT_GOLDEN,
               SQL_GOLDEN,
               "SELECT master_id, version, state, coalesce(redirect_to, ''), fields::text, "
               "created_at, updated_at FROM golden_person",
               {GC_ID, GC_VERSION, GC_STATE, GC_REDIRECT, GC_FIELDS, GC_CREATED, GC_UPDATED}},
    .xref = {&ROW_XREF,
             &UPSERT_XREF,
             SQL_XREF,
             "SELECT system, local_id, master_id, link_state, how, score, linked_at FROM xref",
             {XC_SYSTEM, XC_LOCAL, XC_MASTER, XC_STATE, XC_HOW, XC_SCORE, XC_LINKED}},
    .history = &ROW_HISTORY,
    .sql_history = MD_SQL_HISTORY("golden_person_history"),
    .size = {sizeof(pplan_t), sizeof(pchanged_t), offsetof(pchanged_t, msg.local_id)},
    .id = {person_decode, person_identify, NULL},
    .msg = {person_changed, NULL, person_refusal},
    .parent = master_parent_field,
    .reindexes = master_match_field,
    .rematches = master_identity_field,
    .after_fields = plan_rematch,
    .write_more = write_queue,
    .commit_more = commit_queue,
    .plan_free = pplan_free,
    .index = index_add,
    .unindex = index_remove,
};

static const md_words_t PERSON_WORDS = {
    "master_apply: missing engine, event or sink",
    "the master-data engine lost its state after running out of memory; it must be reloaded "
    "(master_load)",
    "out of memory while updating the master-data indexes; the engine must be reloaded "
    "(master_load) before it takes more events",
};

/* Engine ---------------------------------------------------------------------------------- */

static const char *const handled[] = {
    "person.updated", "person.created",     "person.merged",   "steward.link",
    "steward.merge",  "steward.keep_apart", "steward.unmerge",
};

size_t master_row_tables(const row_desc_t **out, size_t cap)
{
    const md_desc_t *const kinds[] = {&PERSON_DESC, &ADDRESS_DESC, &CASE_DESC};
    const row_desc_t *all[3 * 3 + 4] = {&MASTER_ROW_AUDIT, &MASTER_ROW_QUEUE, &MASTER_ROW_FINDING,
                                        &MASTER_ROW_PREVIOUS};
    size_t n = 4;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        all[n++] = kinds[k]->golden.row;
        all[n++] = kinds[k]->xref.row;
        all[n++] = kinds[k]->history;
    }
    for (size_t i = 0; i < n && i < cap; i++)
        out[i] = all[i];
    return n;
}

int master_handles(const char *type, size_t len)
{
    return md_type_in(handled, sizeof handled / sizeof handled[0], type, len);
}

int master_apply(master_t *m, const master_event_t *ev, master_sink_t *sink, master_result_t *res,
                 char *why, size_t why_len)
{
    md_ctx_t c;
    int rc = md_begin(&c, m ? &m->e : NULL, &PERSON_WORDS, ev, sink, res, why, why_len, NULL);
    if (rc != 1)
        return rc;
    md_use_kind(&c, PERSON);
    const char *t = ev->type;
    if (strcmp(t, "person.updated") == 0 || strcmp(t, "person.created") == 0) {
        c.exclude_src = true;
        return md_apply_keyed(&c);
    }
    if (strcmp(t, "person.merged") == 0) {
        c.exclude_src = true;
        return master_apply_source_merge(&c);
    }
    if (strncmp(t, "steward.", 8) == 0 && master_handles(t, strlen(t)))
        return master_apply_steward(&c, t + 8);
    return md_refused(&c,
                      "%.64s is not a master-data event (expected one of person.updated, "
                      "person.created, person.merged, steward.link, steward.keep_apart, "
                      "steward.merge, steward.unmerge)",
                      t);
}

int master_check_config(const config_t *cfg, char *err, size_t errlen)
{
    if (cfg == NULL)
        return err_set(err, errlen, "no configuration");
    if (md_check_rules(cfg, &PERSON_DESC, &cfg->master.person, err, errlen) != 0)
        return -1;
    return entity_check_config(cfg, err, errlen);
}

static void init_params(master_t *m, const config_t *cfg)
{
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
    /* Which parameters decide the links is the first thing to know about a hub's matching. */
    if (cfg->master.params_file != NULL)
        log_info("master", "matching parameters: %s (fnv1a-64 %s)", cfg->master.params_file,
                 cfg->master.params_sum);
    else if (cfg->master.nlevels > 0)
        log_info("master", "matching parameters: built-in defaults with %zu levels from %s",
                 cfg->master.nlevels, cfg->file ? cfg->file : "the configuration");
    else
        log_info("master", "matching parameters: built-in defaults");
}

/* What only persons have; md_open made the engine. */
static int init_person(master_t *m, const config_t *cfg)
{
    m->today_day = -1;
    m->use_history = true;
    init_params(m, cfg);
    m->blocks = hmap_new(4096);
    m->tf = hmap_new(1024);
    m->queue_by_id = hmap_new(64);
    m->queue_by_pair = hmap_new(64);
    m->keep_apart = hmap_new(64);
    m->merges = hmap_new(64);
    m->incoming_cap = (size_t)MASTER_MAX_INCOMING * MASTER_VALUE_MAX * 2;
    m->incoming_text = malloc(m->incoming_cap);
    m->next_queue_id = m->next_merge_id = 1;
    if (cfg->master.shared_identifier != NULL &&
        (m->shared_system = strdup(cfg->master.shared_identifier)) == NULL)
        return -1;
    if (!m->blocks || !m->tf || !m->queue_by_id || !m->queue_by_pair || !m->keep_apart ||
        !m->merges || !m->incoming_text)
        return -1;
    m->e.clear_more = master_state_clear;
    return 0;
}

master_t *master_new(const config_t *cfg, char *err, size_t errlen)
{
    static const md_desc_t *const descs[] = {&PERSON_DESC};
    master_t *m = calloc(1, sizeof *m);
    int rc = m ? md_open(&m->e, "master_new", PB_PERSON_ARENA_BLOCK, cfg, &PERSON_WORDS, descs,
                         cfg ? &cfg->master.person : NULL, 1, err, errlen)
               : err_set(err, errlen, "master_new: out of memory");
    if (rc == 0 && init_person(m, cfg) != 0)
        rc = err_set(err, errlen, "master_new: out of memory");
    if (rc == 0)
        return m;
    master_destroy(&m);
    return NULL;
}

static void free_person(master_t *m)
{
    if (!(m->blocks && m->tf && m->queue_by_id && m->queue_by_pair && m->keep_apart && m->merges))
        m->e.clear_more = NULL;
    md_fini(&m->e);
    hmap_destroy(&m->blocks);
    hmap_destroy(&m->tf);
    hmap_destroy(&m->queue_by_id);
    hmap_destroy(&m->queue_by_pair);
    hmap_destroy(&m->keep_apart);
    hmap_destroy(&m->merges);
    free(m->incoming_text);
    free(m->shared_system);
    free(m);
}

void master_destroy(master_t **mp)
{
    if (mp != NULL && *mp != NULL)
        free_person(*mp);
    if (mp != NULL)
        *mp = NULL;
}

void master_set_id_generator(master_t *m, master_id_fn fn, void *ctx)
{
    if (m != NULL)
        md_set_id_generator(&m->e, fn, ctx);
}

size_t master_golden_count(const master_t *m)
{
    return m ? m->e.kinds[PERSON].nactive : 0;
}

size_t master_steward_count(const master_t *m)
{
    return m ? m->nopen : 0;
}

void master_set_history(master_t *m, bool on)
{
    if (m != NULL)
        m->use_history = on;
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
    const xref_t *x = m && system && local_id ? md_lookup(&m->e, PERSON, system, local_id) : NULL;
    if (x != NULL && master_id != NULL)
        (void)snprintf(master_id, MASTER_ID_MAX, "%s", md_final(x->master)->id);
    return x ? md_link_state_name(x->state) : NULL;
}

int master_final_id(const master_t *m, const char *master_id, char out[MASTER_ID_MAX])
{
    golden_t *g = m && master_id ? md_golden(&m->e, master_id) : NULL;
    if (g == NULL)
        return -1;
    (void)snprintf(out, MASTER_ID_MAX, "%s", md_final(g)->id);
    return 0;
}

const char *master_local_id(const master_t *m, const char *master_id, const char *system)
{
    golden_t *g = m && master_id && system ? md_golden(&m->e, master_id) : NULL;
    int sys = g ? md_system_id((engine_t *)&m->e, system, false) : -1;
    return sys >= 0 ? md_primary_local(md_final(g), sys) : "";
}

const char *master_value(const master_t *m, const char *master_id, const char *field,
                         const char **source)
{
    const golden_t *g = m && master_id && field ? md_golden(&m->e, master_id) : NULL;
    return g ? md_value(&m->e, g, field, source) : NULL;
}
