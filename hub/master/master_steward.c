/* master_steward.c - the person kind's decisions beyond a keyed update: opening steward queue
 * items, the stewards' link, keep-apart, merge and unmerge, and a source system's own merge of
 * two of its records (person.merged). Each is planned, written to the sink and committed as the
 * engine's keyed update is (engine_plan.c), so a sink failure changes nothing. */
#include "master/master_int.h"

#include <joinery/v1/master.pb-c.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const MERGED_TYPE = "joinery.v1.PersonMerged";
static const char *const DECISION_TYPE = "joinery.v1.StewardDecision";

/* A new item; state takes the table's default, OPEN, as in SQL_QUEUE. */
const row_desc_t MASTER_ROW_QUEUE = {"steward_queue",
                                     6,
                                     {{"id", ROW_INT8},
                                      {"master_a", ROW_TEXT},
                                      {"master_b", ROW_TEXT},
                                      {"score", ROW_FLOAT8},
                                      {"evidence", ROW_JSON},
                                      {"created_at", ROW_INT8}}};
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

static int sql_queue_decide(md_ctx_t *c, uint64_t id, int state, const char *by, const char *reason)
{
    char qid[NUM_LEN], at[NUM_LEN];
    master_num_u(qid, id);
    master_num_i(at, c->now);
    const char *p[] = {qid, master_queue_state_name(state), at, by && *by ? by : NULL,
                       reason && *reason ? reason : NULL};
    return md_run(c, SQL_QUEUE_DECIDE, 5, p);
}

static void ordered(const golden_t **a, const golden_t **b)
{
    if (strcmp((*a)->id, (*b)->id) > 0) {
        const golden_t *t = *a;
        *a = *b;
        *b = t;
    }
}
/* Does value A (from the survivor) stand against B? The owner's value,
 * then rank, then the more recent. When the owner gave both, the survivor's
 * stands: whoever merged chose that record as the right one. */
static bool first_wins(const master_t *m, int field, const mval_t *a, const mval_t *b)
{
    const mrule_t *r = md_rule_of(person_kind(m), field);
    if (r != NULL && r->owner >= 0) {
        bool ao = a->source == r->owner, bo = b->source == r->owner;
        if (ao || bo)
            return ao;
    }
    uint32_t ra = md_rank_of(person_kind(m), r, a->source),
             rb = md_rank_of(person_kind(m), r, b->source);
    if (ra != rb)
        return ra < rb;
    return a->at_us >= b->at_us;
}

/* Steward items --------------------------------------------------------------------- */

int master_sql_queue_open(md_ctx_t *c, uint64_t id, const golden_t *a, const golden_t *b,
                          const cand_t *cand)
{
    master_t *m = M(c);
    char score[NUM_LEN];
    m->e.json.len = 0;
    if (master_evidence_json(m, cand, &m->e.json) != 0)
        return md_say(c, "out of memory");
    const row_val_t v[] = {
        row_int((int64_t)id),  row_text(a->id),
        row_text(b->id),       isfinite(cand->score) ? row_float8(cand->score) : row_null(),
        row_text(m->e.json.p), row_int(c->now)};
    if (md_run_append(c, &MASTER_ROW_QUEUE, SQL_QUEUE, v) != 0)
        return -1;
    m->e.json.len = 0;
    if (master_buf_printf(&m->e.json, "{\"queue_id\": %llu, \"with\": ", (unsigned long long)id) ||
        master_buf_json_str(&m->e.json, a->id) ||
        master_buf_printf(&m->e.json, ", \"score\": %s}",
                          md_num_d(score, cand->score) ? score : "null"))
        return md_say(c, "out of memory");
    return md_sql_audit(c, b, "queue");
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
    mprev_t *prev; /* survivor's next previous values, owned until commit */
    merge_t *mg;   /* owned until commit */
    uint8_t moved_state;
    xview_t view[MAX_XREF_VIEW]; /* survivor's links after the merge */
    size_t nview;
} mplan_t;

static void mplan_free(mplan_t *p)
{
    free(p->vals);
    free(p->prev);
    master_merge_free(p->mg);
}

/* The survivor's fields from both records' values, by the same rules as
 * any update: an owner's value first, then rank, then the more recent. */
static void plan_merge_fields(const master_t *m, mplan_t *p, uint64_t version)
{
    const mvals_t *sv = p->s->vals, *rv = p->r->vals;
    for (uint32_t j = 0; rv != NULL && j < rv->n; j++) {
        const mval_t *b = &rv->v[j];
        const mval_t *a = md_val(sv, b->field);
        if (a != NULL && first_wins(m, b->field, a, b))
            continue;
        const char *bt = md_val_text(rv, b);
        const char *at = a ? md_val_text(sv, a) : NULL;
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
        rc |= master_buf_json_str(out, m->e.systems[mv->system]);
        rc |= master_buf_str(out, ", \"local_id\": ");
        rc |= master_buf_json_str(out, mv->local_id);
        rc |= master_buf_printf(out, ", \"state\": \"%s\", \"how\": \"%s\", \"score\": %s}",
                                md_link_state_name(mv->state), md_how_name(mv->how),
                                md_num_d(score, mv->score) ? score : "null");
    }
    return rc | master_buf_str(out, "]");
}

static int plan_merge(md_ctx_t *c, mplan_t *p)
{
    master_t *m = M(c);
    uint64_t version = p->s->version + 1;
    plan_merge_fields(m, p, version);
    p->vals = md_vals_build(p->s->vals, p->ch, p->nch);
    p->mg = calloc(1, sizeof *p->mg);
    if (p->vals == NULL || p->mg == NULL ||
        master_prev_fold(p->s->prev, p->r, p->s->vals, p->vals, c->now, &p->prev) != 0)
        return md_say(c, "out of memory");
    size_t nx = 0;
    for (const xref_t *x = p->r->xrefs; x; x = x->mnext)
        nx++;
    p->mg->moved = calloc(nx ? nx : 1, sizeof *p->mg->moved);
    if (p->mg->moved == NULL)
        return md_say(c, "out of memory");
    for (const xref_t *x = p->r->xrefs; x; x = x->mnext) {
        moved_t *mv = &p->mg->moved[p->mg->nmoved];
        *mv = (moved_t){x->system, strdup(x->local_id), x->state, x->how, x->score};
        if (mv->local_id == NULL)
            return md_say(c, "out of memory");
        p->mg->nmoved++;
    }
    p->mg->id = m->next_merge_id;
    p->mg->survivor = p->s;
    p->mg->retired = p->r;
    p->mg->survivor_version = version;
    p->mg->merged_us = c->now;
    p->moved_state = p->kind == MK_STEWARD_LINK ? XL_MATCH : XL_REDIRECTED;
    p->nview = md_view_add(p->view, 0, p->s, -1);
    p->nview = md_view_add(p->view, p->nview, p->r, p->moved_state);
    return 0;
}

static const char *const MERGE_KINDS[] = {"steward.merge", "steward.link", "person.merged"};

/* PersonMerged to every subscriber, each in its own ids. */
static int emit_merged(md_ctx_t *c, const mplan_t *p)
{
    master_t *m = M(c);
    golden_t *s = p->s, *r = p->r;
    Joinery__V1__PersonMerged msg = JOINERY__V1__PERSON_MERGED__INIT;
    msg.survivor_master_id = s->id;
    msg.retired_master_id = r->id;
    msg.reason = (char *)(p->reason && *p->reason ? p->reason : MERGE_KINDS[p->kind]);
    for (size_t i = 0; i < person_kind(m)->nsub_merged; i++) {
        int sys = person_kind(m)->sub_merged[i];
        if (c->exclude_src && sys == c->src)
            continue;
        msg.survivor_local_id = (char *)md_primary_local(s, sys);
        msg.retired_local_id = (char *)md_primary_local(r, sys);
        if (md_emit(c, c->k->merged, m->e.systems[sys], s, msg.survivor_local_id,
                    (const ProtobufCMessage *)&msg) != 0)
            return -1;
    }
    return 0;
}

/* The golden_merge row: what an unmerge needs to undo it. */
static int sql_merge_row(md_ctx_t *c, const mplan_t *p, uint64_t vs)
{
    master_t *m = M(c);
    char id[NUM_LEN], ver[NUM_LEN], at[NUM_LEN];
    master_num_u(id, p->mg->id);
    master_num_u(ver, vs);
    master_num_i(at, c->now);
    mbuf_t before = {0};
    m->e.json.len = 0;
    if (md_vals_json(&m->e, person_kind(m), p->s->vals, &before) != 0 ||
        moved_json(m, p->mg, &m->e.json) != 0) {
        master_buf_free(&before);
        return md_say(c, "out of memory");
    }
    const char *mp[] = {id,
                        p->s->id,
                        p->r->id,
                        ver,
                        before.p,
                        m->e.json.p,
                        c->ev->event_id ? c->ev->event_id : "",
                        c->ev->source,
                        at};
    int rc = md_run(c, SQL_MERGE, 9, mp);
    master_buf_free(&before);
    return rc;
}

/* Open items between the two are settled by the merge, and a keep-apart pair ends. */
static int settle_pair(md_ctx_t *c, const mplan_t *p)
{
    master_t *m = M(c);
    golden_t *s = p->s, *r = p->r;
    const golden_t *qa = s, *qb = r;
    ordered(&qa, &qb);
    for (qitem_t *q = hmap_get(m->queue_by_pair, master_pair_hash(s, r)); q; q = q->pnext)
        if ((q->a == s && q->b == r) || (q->a == r && q->b == s))
            if (sql_queue_decide(c, q->id, q == p->decided ? QS_LINKED : QS_MERGED, p->by,
                                 p->reason) != 0)
                return -1;
    if (master_kept_apart(m, s, r) == NULL)
        return 0;
    const char *kp[] = {qa->id, qb->id};
    return md_run(c, SQL_KEEP_DEL, 2, kp);
}

static int audit_merge(md_ctx_t *c, const mplan_t *p, uint64_t vs)
{
    mbuf_t *j = &M(c)->e.json;
    j->len = 0;
    if (master_buf_str(j, "{\"retired\": ") || master_buf_json_str(j, p->r->id) ||
        master_buf_printf(j, ", \"by\": \"%s\", \"version\": %llu, \"moved\": %zu",
                          MERGE_KINDS[p->kind], (unsigned long long)vs, p->mg->nmoved) ||
        master_buf_str(j, ", \"decided_by\": ") || master_buf_json_str(j, p->by ? p->by : "") ||
        master_buf_str(j, "}"))
        return md_say(c, "out of memory");
    if (md_sql_audit(c, p->s, "merge") != 0)
        return -1;
    j->len = 0;
    if (master_buf_str(j, "{\"survivor\": ") || master_buf_json_str(j, p->s->id) ||
        master_buf_str(j, "}"))
        return md_say(c, "out of memory");
    return md_sql_audit(c, p->r, "merged_into");
}

static int write_merge(md_ctx_t *c, mplan_t *p)
{
    golden_t *s = p->s, *r = p->r;
    uint64_t vs = s->version + 1, vr = r->version + 1;
    if (emit_merged(c, p) != 0 ||
        md_emit_changed(c, s, vs, p->vals, p->changed, p->nchanged, p->view, p->nview) != 0)
        return -1;
    if (md_sql_golden(c, s, vs, MS_ACTIVE, NULL, p->vals, false) != 0 ||
        md_sql_golden(c, r, vr, MS_REDIRECTED, s, r->vals, false) != 0 ||
        md_sql_history(c, s, vs, p->ch, p->old, p->nch) != 0)
        return -1;
    for (const xref_t *x = r->xrefs; x; x = x->mnext)
        if (md_sql_xref(c, x->system, x->local_id, s, p->moved_state,
                        p->kind == MK_STEWARD_LINK ? XH_STEWARD : x->how, x->score, x->linked_us,
                        false))
            return -1;
    if (sql_merge_row(c, p, vs) != 0 || settle_pair(c, p) != 0)
        return -1;
    return audit_merge(c, p, vs);
}

static int commit_merge(md_ctx_t *c, mplan_t *p)
{
    master_t *m = M(c);
    golden_t *s = p->s, *r = p->r;
    master_index_remove(m, s);
    master_index_remove(m, r);
    p->mg->before = s->vals;
    s->vals = p->vals;
    p->vals = NULL;
    free(s->prev);
    s->prev = p->prev;
    p->prev = NULL;
    s->version++;
    s->updated_us = c->now;
    r->state = MS_REDIRECTED;
    r->redirect = s;
    r->version++;
    r->updated_us = c->now;
    person_kind(m)->nactive--;
    while (r->xrefs != NULL) {
        xref_t *x = r->xrefs;
        md_xref_detach(x);
        x->state = p->moved_state;
        if (p->kind == MK_STEWARD_LINK)
            x->how = XH_STEWARD;
        md_xref_attach(s, x);
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
        return md_broken(c);
    }
    if (master_index_add(m, s) != 0)
        return md_broken(c);
    return 0;
}

static int do_merge(md_ctx_t *c, golden_t *s, golden_t *r, int kind, qitem_t *decided,
                    const char *by, const char *reason)
{
    mplan_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        return md_say(c, "out of memory");
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
    mprev_t *prev; /* and its previous values without the merge's */
    xref_t *back[MAX_XREF_VIEW];
    const moved_t *how_back[MAX_XREF_VIEW];
    size_t nback;
    xview_t sview[MAX_XREF_VIEW], rview[MAX_XREF_VIEW];
    size_t nsview, nrview;
} uplan_t;

/* Fields the merge set and nothing has changed since go back to what the
 * survivor had; later changes stand. */
static int plan_unmerge(md_ctx_t *c, uplan_t *p)
{
    master_t *m = M(c);
    const mvals_t *sv = p->s->vals, *before = p->mg->before;
    uint64_t version = p->s->version + 1;
    for (uint32_t i = 0; sv != NULL && i < sv->n; i++) {
        const mval_t *v = &sv->v[i];
        if (v->version != p->mg->survivor_version)
            continue;
        const mval_t *b = md_val(before, v->field);
        p->old[p->nch] = md_val_text(sv, v);
        p->ch[p->nch++] =
            b ? (mchange_t){v->field, b->source, md_val_text(before, b), version, b->at_us}
              : (mchange_t){v->field, v->source, NULL, version, 0};
    }
    p->vals = md_vals_build(sv, p->ch, p->nch);
    if (p->vals == NULL || master_prev_unfold(m, p->s, p->mg, p->vals, &p->prev) != 0)
        return md_say(c, "out of memory");
    for (size_t i = 0; i < p->mg->nmoved && p->nback < MAX_XREF_VIEW; i++) {
        const moved_t *mv = &p->mg->moved[i];
        xref_t *x = md_xref(&m->e, PERSON, mv->system, mv->local_id);
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

static int emit_whole(md_ctx_t *c, const golden_t *g, uint64_t version, const mvals_t *vals,
                      const xview_t *view, size_t nview)
{
    uint16_t fields[MASTER_MAX_FIELDS];
    size_t n = 0;
    for (uint32_t i = 0; vals != NULL && i < vals->n; i++)
        fields[n++] = vals->v[i].field;
    return md_emit_changed(c, g, version, vals, fields, n, view, nview);
}

static int write_unmerge(md_ctx_t *c, uplan_t *p)
{
    master_t *m = M(c);
    golden_t *s = p->s, *r = p->r;
    uint64_t vs = s->version + 1, vr = r->version + 1;
    /* Every system hears about both records whole: its ids may have moved
     * from one to the other. */
    if (emit_whole(c, s, vs, p->vals, p->sview, p->nsview) != 0 ||
        emit_whole(c, r, vr, r->vals, p->rview, p->nrview) != 0)
        return -1;
    if (md_sql_golden(c, s, vs, MS_ACTIVE, NULL, p->vals, false) != 0 ||
        md_sql_golden(c, r, vr, MS_ACTIVE, NULL, r->vals, false) != 0)
        return -1;
    if (md_sql_history(c, s, vs, p->ch, p->old, p->nch) != 0)
        return -1;
    for (size_t i = 0; i < p->nback; i++) {
        const moved_t *mv = p->how_back[i];
        if (md_sql_xref(c, mv->system, mv->local_id, r, mv->state, mv->how, mv->score,
                        p->back[i]->linked_us, false) != 0)
            return -1;
    }
    char id[NUM_LEN], at[NUM_LEN];
    master_num_u(id, p->mg->id);
    master_num_i(at, c->now);
    const char *up[] = {id, at};
    if (md_run(c, SQL_UNMERGE, 2, up) != 0)
        return -1;
    const golden_t *qa = s, *qb = r;
    ordered(&qa, &qb);
    const char *kp[] = {qa->id, qb->id, at, NULL, "unmerged"};
    if (md_run(c, SQL_KEEP, 5, kp) != 0)
        return -1;
    m->e.json.len = 0;
    if (master_buf_str(&m->e.json, "{\"retired\": ") || master_buf_json_str(&m->e.json, r->id) ||
        master_buf_printf(&m->e.json, ", \"restored_fields\": %zu, \"moved_back\": %zu}", p->nch,
                          p->nback))
        return md_say(c, "out of memory");
    return md_sql_audit(c, s, "unmerge");
}

static int commit_unmerge(md_ctx_t *c, uplan_t *p)
{
    master_t *m = M(c);
    golden_t *s = p->s, *r = p->r;
    master_index_remove(m, s);
    free(s->vals);
    s->vals = p->vals;
    p->vals = NULL;
    free(s->prev);
    s->prev = p->prev;
    p->prev = NULL;
    s->version++;
    s->updated_us = c->now;
    r->state = MS_ACTIVE;
    r->redirect = NULL;
    r->version++;
    r->updated_us = c->now;
    person_kind(m)->nactive++;
    for (size_t i = 0; i < p->nback; i++) {
        xref_t *x = p->back[i];
        md_xref_detach(x);
        x->state = p->how_back[i]->state;
        x->how = p->how_back[i]->how;
        x->score = p->how_back[i]->score;
        md_xref_attach(r, x);
    }
    master_merge_remove(m, p->mg);
    if (master_keep_apart_add(m, s, r) != 0 || master_index_add(m, s) != 0 ||
        master_index_add(m, r) != 0)
        return md_broken(c);
    return 0;
}

static int do_unmerge(md_ctx_t *c, golden_t *s, golden_t *r)
{
    merge_t *mg = master_merge_of(M(c), r);
    if (mg == NULL || mg->survivor != s || r->state != MS_REDIRECTED || r->redirect != s)
        return md_refused(c, "%s was not merged into %s, or that merge was already undone", r->id,
                          s->id);
    if (s->state != MS_ACTIVE)
        return md_refused(c, "%s has since been merged into another record; undo that merge first",
                          s->id);
    uplan_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        return md_say(c, "out of memory");
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
    free(p->prev);
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

static int do_keep_apart(md_ctx_t *c, golden_t *a, golden_t *b, const char *by, const char *reason)
{
    master_t *m = M(c);
    const golden_t *qa = a, *qb = b;
    ordered(&qa, &qb);
    char at[NUM_LEN];
    master_num_i(at, c->now);
    const char *kp[] = {qa->id, qb->id, at, by && *by ? by : NULL,
                        reason && *reason ? reason : NULL};
    if (md_run(c, SQL_KEEP, 5, kp) != 0)
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
            if (md_sql_xref(c, x->system, x->local_id, both[i], XL_NO_MATCH, x->how, x->score,
                            x->linked_us, false) != 0)
                return -1;
            settle[nsettle++] = x;
        }
    }
    m->e.json.len = 0;
    if (master_buf_str(&m->e.json, "{\"with\": ") || master_buf_json_str(&m->e.json, b->id) ||
        master_buf_str(&m->e.json, ", \"decided_by\": ") ||
        master_buf_json_str(&m->e.json, by ? by : "") || master_buf_str(&m->e.json, "}"))
        return md_say(c, "out of memory");
    if (md_sql_audit(c, a, "keep_apart") != 0)
        return -1;
    /* commit */
    if (master_keep_apart_add(m, a, b) != 0)
        return md_broken(c);
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

static golden_t *named(md_ctx_t *c, const char *id, const char *what)
{
    if (id == NULL || id[0] == '\0') {
        md_refused(c, "%s is required", what);
        return NULL;
    }
    golden_t *g = md_golden(&M(c)->e, id);
    if (g == NULL)
        md_refused(c, "%s '%.64s' is not a golden record", what, id);
    return g;
}

int master_apply_steward(md_ctx_t *c, const char *action)
{
    master_t *m = M(c);
    const master_event_t *ev = c->ev;
    if (ev->payload_type == NULL || strcmp(ev->payload_type, DECISION_TYPE) != 0)
        return md_refused(c, "%s must carry a %s payload", ev->type, DECISION_TYPE);
    Joinery__V1__StewardDecision *d =
        joinery__v1__steward_decision__unpack(NULL, ev->payload_len, ev->payload);
    if (d == NULL)
        return md_refused(c, "the payload does not decode as %s", DECISION_TYPE);
    int rc = 0;
    golden_t *a = NULL, *b = NULL;
    qitem_t *q = NULL;
    if (d->action[0] != '\0' && strcmp(d->action, action) != 0) {
        rc = md_refused(c, "action '%.32s' does not agree with event type %s", d->action, ev->type);
        goto done;
    }
    bool unmerge = strcmp(action, "unmerge") == 0;
    if (d->queue_id != 0 && !unmerge && strcmp(action, "merge") != 0) {
        q = hmap_get(m->queue_by_id, d->queue_id);
        if (q == NULL) {
            rc = md_refused(c, "steward queue item %llu is not open (unknown, or already decided)",
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
            int sys = md_system_id(&m->e, d->system, false);
            const xref_t *x = sys >= 0 ? md_xref(&m->e, PERSON, sys, d->local_id) : NULL;
            if (x == NULL) {
                rc = md_refused(c, "%.64s has no record with local id '%.64s'", d->system,
                                d->local_id);
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
    a = md_final(a);
    b = md_final(b);
    if (a == b) {
        if (strcmp(action, "keep_apart") == 0)
            rc = md_refused(c, "%s and %s are one record now; unmerge them first", d->master_id_a,
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
/* The survivor id SL is new to us (XS NULL), or both ids are one record R already: the sender's
 * ids change, the golden records do not. */
static int local_merge(md_ctx_t *c, const xref_t *xs, xref_t *xr, golden_t *r, const char *sl,
                       const char *rl)
{
    master_t *m = M(c);
    int rc = 0;
    xref_t *nx = NULL;
    if (xs == NULL) {
        nx = md_xref_new(sl);
        if (nx == NULL)
            return md_say(c, "out of memory");
        nx->linked_us = c->now;
        nx->system = (uint16_t)c->src;
        nx->state = XL_MATCH;
        nx->how = XH_RULE;
        rc = md_sql_xref(c, c->src, sl, r, XL_MATCH, XH_RULE, NAN, c->now, true);
    }
    if (rc == 0)
        rc = md_sql_xref(c, c->src, rl, xr->master, XL_REDIRECTED, xr->how, xr->score,
                         xr->linked_us, false);
    m->e.json.len = 0;
    if (rc == 0 && (master_buf_str(&m->e.json, "{\"retired_local_id\": ") ||
                    master_buf_json_str(&m->e.json, rl) || master_buf_str(&m->e.json, "}")))
        rc = md_say(c, "out of memory");
    if (rc == 0)
        rc = md_sql_audit(c, r, "local_merge");
    if (rc != 0) {
        md_xref_free(nx);
        return rc;
    }
    xr->state = XL_REDIRECTED;
    if (nx != NULL) {
        md_xref_attach(r, nx);
        if (md_xref_add(&m->e, nx) != 0)
            return md_broken(c);
    }
    (void)snprintf(c->res->master_id, sizeof c->res->master_id, "%s", r->id);
    c->res->version = r->version;
    return 0;
}

/* The sender's local ids SL (survivor) and RL (retired) are one person now. */
static int merge_local_ids(md_ctx_t *c, const char *sl, const char *rl, const char *reason)
{
    master_t *m = M(c);
    if (sl[0] == '\0' || rl[0] == '\0' || strcmp(sl, rl) == 0)
        return md_refused(c,
                          "person.merged needs survivor_local_id and retired_local_id: two "
                          "different ids of the person in %s",
                          c->ev->source);
    xref_t *xs = md_xref(&m->e, PERSON, c->src, sl);
    xref_t *xr = md_xref(&m->e, PERSON, c->src, rl);
    if (xr == NULL) {
        /* Nothing here knows the retired id: there is nothing to merge. */
        if (xs != NULL)
            (void)snprintf(c->res->master_id, sizeof c->res->master_id, "%s",
                           md_final(xs->master)->id);
        return 0;
    }
    golden_t *r = md_final(xr->master);
    if (xs == NULL || md_final(xs->master) == r)
        return local_merge(c, xs, xr, r, sl, rl);
    golden_t *s = md_final(xs->master);
    if (master_kept_apart(m, s, r) != NULL)
        return md_refused(c,
                          "a data steward has decided %s and %s are different people; only a "
                          "steward can merge them (steward.merge)",
                          s->id, r->id);
    return do_merge(c, s, r, MK_SOURCE, NULL, NULL, reason);
}

int master_apply_source_merge(md_ctx_t *c)
{
    const master_event_t *ev = c->ev;
    if (ev->payload_type == NULL || strcmp(ev->payload_type, MERGED_TYPE) != 0)
        return md_refused(c, "person.merged must carry a %s payload", MERGED_TYPE);
    Joinery__V1__PersonMerged *pm =
        joinery__v1__person_merged__unpack(NULL, ev->payload_len, ev->payload);
    if (pm == NULL)
        return md_refused(c, "the payload does not decode as %s", MERGED_TYPE);
    int rc = merge_local_ids(c, pm->survivor_local_id, pm->retired_local_id, pm->reason);
    joinery__v1__person_merged__free_unpacked(pm, NULL);
    return rc;
}

/* A system's own duplicates and the fields it sent that the hub could not take -------------- */

/* At most this many of one system's ids for one person are named in a DuplicateFound. */
#define DUP_MAX_IDS 16

int master_emit_duplicate(md_ctx_t *c, const golden_t *g, const cand_t *link)
{
    const char *mine = c->ev->local_id ? c->ev->local_id : "";
    char *ids[DUP_MAX_IDS];
    size_t n = 0;
    /* The oldest first, as the xref lists them, then the one just linked. */
    for (const xref_t *x = g->xrefs; x != NULL && n + 1 < DUP_MAX_IDS; x = x->mnext)
        if (x->system == c->src && strcmp(x->local_id, mine) != 0)
            ids[n++] = (char *)x->local_id; /* protobuf-c's type; only read */
    ids[n++] = (char *)mine;
    Joinery__V1__DuplicateFound msg = JOINERY__V1__DUPLICATE_FOUND__INIT;
    msg.master_id = (char *)g->id;
    msg.local_ids = ids;
    msg.n_local_ids = n;
    msg.reason = (char *)link->why;
    msg.score = isfinite(link->score) ? link->score : 0.0;
    return md_emit(c, "person.duplicate_found", c->ev->source, g, mine, &msg.base);
}

const row_desc_t MASTER_ROW_FINDING = {"person_data_quality",
                                       8,
                                       {{"event_id", ROW_TEXT},
                                        {"system", ROW_TEXT},
                                        {"local_id", ROW_TEXT},
                                        {"master_id", ROW_TEXT},
                                        {"field", ROW_TEXT},
                                        {"value", ROW_TEXT},
                                        {"reason", ROW_TEXT},
                                        {"found_at", ROW_INT8}}};
static const char SQL_FINDING[] =
    "INSERT INTO person_data_quality (event_id, system, local_id, master_id, field, value, "
    "reason, found_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::bigint)";

static int emit_data_quality(md_ctx_t *c, const golden_t *g)
{
    const master_t *m = M(c);
    Joinery__V1__DroppedField fields[MASTER_MAX_DROPPED];
    Joinery__V1__DroppedField *list[MASTER_MAX_DROPPED];
    for (size_t i = 0; i < m->ndropped; i++) {
        static const Joinery__V1__DroppedField init = JOINERY__V1__DROPPED_FIELD__INIT;
        fields[i] = init;
        fields[i].field = (char *)m->dropped[i].field;
        fields[i].value = (char *)m->dropped[i].value;
        fields[i].reason = (char *)m->dropped[i].reason;
        list[i] = &fields[i];
    }
    Joinery__V1__DataQuality msg = JOINERY__V1__DATA_QUALITY__INIT;
    msg.master_id = (char *)g->id;
    msg.local_id = (char *)(c->ev->local_id ? c->ev->local_id : "");
    msg.event_id = (char *)(c->ev->event_id ? c->ev->event_id : "");
    msg.dropped = list;
    msg.n_dropped = m->ndropped;
    return md_emit(c, "person.data_quality", c->ev->source, g, msg.local_id, &msg.base);
}

int master_report_dropped(md_ctx_t *c, const golden_t *g)
{
    const master_t *m = M(c);
    if (m->ndropped == 0)
        return 0;
    if (emit_data_quality(c, g) != 0)
        return -1;
    for (size_t i = 0; i < m->ndropped; i++) {
        const mdropped_t *d = &m->dropped[i];
        const row_val_t v[] = {row_text(c->ev->event_id ? c->ev->event_id : ""),
                               row_text(c->ev->source),
                               row_text(c->ev->local_id ? c->ev->local_id : ""),
                               row_text(g->id),
                               row_text(d->field),
                               row_text(d->value),
                               row_text(d->reason),
                               row_int(c->now)};
        if (md_run_append(c, &MASTER_ROW_FINDING, SQL_FINDING, v) != 0)
            return -1;
    }
    return 0;
}

void master_dropped_text(const master_t *m, char *out, size_t len)
{
    if (out == NULL || len == 0)
        return;
    out[0] = '\0';
    size_t n = 0;
    for (size_t i = 0; i < m->ndropped && n + 1 < len; i++) {
        int w = snprintf(out + n, len - n, "%s%s: %s", i ? "; dropped " : "kept; dropped ",
                         m->dropped[i].field, m->dropped[i].reason);
        if (w < 0)
            break;
        n += (size_t)w < len - n ? (size_t)w : len - n - 1;
    }
}
