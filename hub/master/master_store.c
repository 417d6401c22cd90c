/* master_store.c - the person kind's own tables (hub/store/sql/0003_master.sql) beyond the
 * golden records and links the engine loads (engine_store.c): master_load, which also reads
 * the open steward queue, the keep-apart pairs and the undoable merges and builds the
 * blocking index, and master_dump, the canonical text of the state. */
#include "master/master_int.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The person engine a load fills. */
#define LM(l) ((master_t *)(l)->l.e)

static const char *const queue_state_names[QS_COUNT] = {"OPEN", "LINKED", "KEPT_APART", "MERGED"};

const char *master_queue_state_name(int s)
{
    return s >= 0 && s < QS_COUNT ? queue_state_names[s] : "?";
}

/* Loading -------------------------------------------------------------------- */

typedef struct {
    md_loader_t l; /* first: the engine's loader */
    /* goldens whose redirect_to is resolved once all are read */
    golden_t **redir;
    char **redir_to;
    size_t nredir, capredir;
} loader_t;

static int next_id(loader_t *l, PGconn *conn, const char *sql, uint64_t *out)
{
    PGresult *r = PQexec(conn, sql);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 ||
        master_parse_u64(PQgetvalue(r, 0, 0), out) != 0)
        rc = err_set(l->l.err, l->l.errlen, "%s: %s", sql, PQerrorMessage(conn));
    PQclear(r);
    return rc;
}

static int remember_redirect(md_loader_t *ml, golden_t *g, const char *to)
{
    loader_t *l = (loader_t *)ml;
    if (l->nredir == l->capredir) {
        size_t cap = l->capredir ? l->capredir * 2 : 64;
        golden_t **gs = realloc(l->redir, cap * sizeof *gs);
        if (gs == NULL)
            return err_set(l->l.err, l->l.errlen, "out of memory");
        l->redir = gs;
        char **ts = realloc(l->redir_to, cap * sizeof *ts);
        if (ts == NULL)
            return err_set(l->l.err, l->l.errlen, "out of memory");
        l->redir_to = ts;
        l->capredir = cap;
    }
    char *copy = strdup(to);
    if (copy == NULL)
        return err_set(l->l.err, l->l.errlen, "out of memory");
    l->redir[l->nredir] = g;
    l->redir_to[l->nredir++] = copy;
    return 0;
}

/* id, master_a, master_b, score, created_at */
static int queue_row(void *ctx, const PGresult *r)
{
    loader_t *l = ctx;
    master_t *m = LM(l);
    qitem_t *q = calloc(1, sizeof *q);
    if (q == NULL)
        return err_set(l->l.err, l->l.errlen, "out of memory");
    q->a = md_golden(&m->e, PQgetvalue(r, 0, 1));
    q->b = md_golden(&m->e, PQgetvalue(r, 0, 2));
    q->score = md_parse_score(r, 0, 3);
    if (master_parse_u64(PQgetvalue(r, 0, 0), &q->id) != 0 || q->id == 0 || q->a == NULL ||
        q->b == NULL || master_parse_i64(PQgetvalue(r, 0, 4), &q->created_us) != 0) {
        free(q);
        return err_set(l->l.err, l->l.errlen, "steward_queue %.32s: bad id or unknown record",
                       PQgetvalue(r, 0, 0));
    }
    if (master_queue_add(m, q) != 0) {
        free(q);
        return err_set(l->l.err, l->l.errlen, "out of memory");
    }
    return 0;
}

static int keep_row(void *ctx, const PGresult *r)
{
    loader_t *l = ctx;
    golden_t *a = md_golden(&LM(l)->e, PQgetvalue(r, 0, 0));
    golden_t *b = md_golden(&LM(l)->e, PQgetvalue(r, 0, 1));
    if (a == NULL || b == NULL)
        return err_set(l->l.err, l->l.errlen, "keep_apart (%.64s, %.64s): unknown record",
                       PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
    return master_keep_apart_add(LM(l), a, b) == 0
               ? 0
               : err_set(l->l.err, l->l.errlen, "out of memory");
}

static int moved_from_json(loader_t *l, merge_t *mg, const char *text)
{
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    size_t n = json_is_array(root) ? json_array_size(root) : 0;
    if (!json_is_array(root)) {
        json_decref(root);
        return err_set(l->l.err, l->l.errlen, "golden_merge %llu: moved is not a JSON array",
                       (unsigned long long)mg->id);
    }
    mg->moved = calloc(n ? n : 1, sizeof *mg->moved);
    if (mg->moved == NULL) {
        json_decref(root);
        return err_set(l->l.err, l->l.errlen, "out of memory");
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *e = json_array_get(root, i);
        const char *sys = json_string_value(json_object_get(e, "system"));
        const char *local = json_string_value(json_object_get(e, "local_id"));
        const char *state = json_string_value(json_object_get(e, "state"));
        const char *how = json_string_value(json_object_get(e, "how"));
        json_t *score = json_object_get(e, "score");
        int s = sys ? md_system_id(&LM(l)->e, sys, true) : -1;
        int st = state ? md_link_state_of(state) : -1;
        int h = how ? md_how_of(how) : -1;
        char *copy = local ? strdup(local) : NULL;
        if (s < 0 || st < 0 || h < 0 || copy == NULL) {
            free(copy);
            rc = err_set(l->l.err, l->l.errlen,
                         "golden_merge %llu: moved[%zu] is not {system, local_id, state, how}",
                         (unsigned long long)mg->id, i);
            break;
        }
        mg->moved[mg->nmoved++] = (moved_t){(uint16_t)s, copy, (uint8_t)st, (uint8_t)h,
                                            json_is_number(score) ? json_number_value(score) : NAN};
    }
    json_decref(root);
    return rc;
}

/* id, survivor, retired, survivor_version, survivor_before, moved, merged_at */
static int merge_row(void *ctx, const PGresult *r)
{
    loader_t *l = ctx;
    merge_t *mg = calloc(1, sizeof *mg);
    if (mg == NULL)
        return err_set(l->l.err, l->l.errlen, "out of memory");
    mg->survivor = md_golden(&LM(l)->e, PQgetvalue(r, 0, 1));
    mg->retired = md_golden(&LM(l)->e, PQgetvalue(r, 0, 2));
    int rc = 0;
    if (master_parse_u64(PQgetvalue(r, 0, 0), &mg->id) != 0 || mg->survivor == NULL ||
        mg->retired == NULL || master_parse_u64(PQgetvalue(r, 0, 3), &mg->survivor_version) != 0 ||
        master_parse_i64(PQgetvalue(r, 0, 6), &mg->merged_us) != 0)
        rc = err_set(l->l.err, l->l.errlen, "golden_merge %.32s: bad id, version or unknown record",
                     PQgetvalue(r, 0, 0));
    if (rc == 0)
        rc = md_vals_from_json(&l->l, person_kind(LM(l)), PQgetvalue(r, 0, 4), "golden_merge",
                               &mg->before);
    if (rc == 0)
        rc = moved_from_json(l, mg, PQgetvalue(r, 0, 5));
    if (rc == 0 && master_merge_add(LM(l), mg) != 0)
        rc = err_set(l->l.err, l->l.errlen, "out of memory");
    if (rc != 0)
        master_merge_free(mg);
    return rc;
}

/* master_id, kind, value, family, source, seen_at, replaced_at; oldest first, so each kept
 * value goes in front as it did when it was replaced, and the bound drops the same ones. */
static int previous_row(void *ctx, const PGresult *r)
{
    loader_t *l = ctx;
    master_t *m = LM(l);
    golden_t *g = md_golden(&m->e, PQgetvalue(r, 0, 0));
    const char *kind = PQgetvalue(r, 0, 1);
    int k = strcmp(kind, "address") == 0 ? MPREV_ADDRESS
            : strcmp(kind, "name") == 0  ? MPREV_NAME
                                         : -1;
    int source = md_system_id(&m->e, PQgetvalue(r, 0, 4), true);
    int64_t seen, until;
    if (g == NULL || k < 0 || source < 0 || master_parse_i64(PQgetvalue(r, 0, 5), &seen) != 0 ||
        master_parse_i64(PQgetvalue(r, 0, 6), &until) != 0)
        return err_set(l->l.err, l->l.errlen,
                       "golden_person_previous (%.64s, %.16s): unknown record, kind or system",
                       PQgetvalue(r, 0, 0), kind);
    char text[2 * MASTER_VALUE_MAX + 2];
    if (k == MPREV_NAME)
        (void)snprintf(text, sizeof text, "%s\n%s", PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3));
    else
        (void)snprintf(text, sizeof text, "%s", PQgetvalue(r, 0, 2));
    if (master_prev_add(g, k, text, source, seen, until) != 0)
        return err_set(l->l.err, l->l.errlen, "out of memory");
    return 0;
}

static int resolve_redirects(md_loader_t *ml)
{
    loader_t *l = (loader_t *)ml;
    for (size_t i = 0; i < l->nredir; i++) {
        golden_t *to = md_golden(&LM(l)->e, l->redir_to[i]);
        if (to == NULL || to == l->redir[i])
            return err_set(l->l.err, l->l.errlen,
                           "golden_person '%.64s' redirects to unknown record '%.64s'",
                           l->redir[i]->id, l->redir_to[i]);
        l->redir[i]->redirect = to;
    }
    return 0;
}

static int index_all(loader_t *l)
{
    master_t *m = LM(l);
    for (size_t i = 0; i < m->e.nrecs; i++)
        if (m->e.recs[i]->state == MS_ACTIVE && master_index_add(m, m->e.recs[i]) != 0)
            return err_set(l->l.err, l->l.errlen, "out of memory building the blocking index");
    return 0;
}

/* The person kind's records and links, then what only persons have. */
static int load_persons(engine_t *e, PGconn *conn, void *ctx)
{
    loader_t *l = ctx;
    (void)e;
    int rc = md_load_kind(&l->l, conn, resolve_redirects);
    if (rc == 0)
        rc = master_each_row(conn,
                             "SELECT id, master_a, master_b, score, created_at FROM steward_queue "
                             "WHERE state = 'OPEN'",
                             queue_row, l, l->l.err, l->l.errlen);
    if (rc == 0)
        rc = master_each_row(conn, "SELECT master_a, master_b FROM keep_apart", keep_row, l,
                             l->l.err, l->l.errlen);
    if (rc == 0)
        rc = master_each_row(
            conn,
            "SELECT id, survivor, retired, survivor_version, survivor_before::text, "
            "moved::text, merged_at FROM golden_merge WHERE state = 'MERGED'",
            merge_row, l, l->l.err, l->l.errlen);
    /* What the engine kept (master_prev.c): per record and kind, the newest few distinct
     * values, each with the times of its latest row. */
    if (rc == 0)
        rc = master_each_row(conn,
                             "SELECT master_id, kind, value, coalesce(family, ''), source, "
                             "seen_at, replaced_at FROM (SELECT *, row_number() OVER "
                             "(PARTITION BY master_id, kind ORDER BY replaced_at DESC, seq DESC) "
                             "AS newest FROM (SELECT DISTINCT ON (master_id, kind, value, "
                             "coalesce(family, '')) * FROM golden_person_previous ORDER BY "
                             "master_id, kind, value, coalesce(family, ''), replaced_at DESC, "
                             "seq DESC) d) p WHERE newest <= " MASTER_PREV_KEEP_SQL
                             " ORDER BY replaced_at, seq",
                             previous_row, l, l->l.err, l->l.errlen);
    if (rc == 0)
        rc = next_id(l, conn, "SELECT coalesce(max(id), 0) + 1 FROM steward_queue",
                     &LM(l)->next_queue_id);
    if (rc == 0)
        rc = next_id(l, conn, "SELECT coalesce(max(id), 0) + 1 FROM golden_merge",
                     &LM(l)->next_merge_id);
    if (rc == 0 && master_prev_fold_all(LM(l)) != 0)
        rc = err_set(l->l.err, l->l.errlen, "out of memory folding merged records' values");
    if (rc == 0)
        rc = index_all(l);
    return rc;
}

int master_load(master_t *m, PGconn *conn, char *err, size_t errlen)
{
    if (m == NULL || conn == NULL)
        return err_set(err, errlen, "master_load: no engine or connection");
    loader_t l = {.l = {.e = &m->e,
                        .kind = PERSON,
                        .err = err,
                        .errlen = errlen,
                        .redirect = remember_redirect}};
    int rc = md_load(&m->e, conn, load_persons, &l, err, errlen);
    for (size_t i = 0; i < l.nredir; i++)
        free(l.redir_to[i]);
    free(l.redir_to);
    free(l.redir);
    return rc;
}

/* Dump ------------------------------------------------------------------------- */

static int dump_vals(const master_t *m, md_dump_t *d, const char *prefix, const mvals_t *b,
                     unsigned flags)
{
    mbuf_t *line = md_dump_buf(d);
    for (uint32_t i = 0; b != NULL && i < b->n; i++) {
        const mval_t *v = &b->v[i];
        int rc =
            master_buf_printf(line, "%s %s = ", prefix, md_field_name(person_kind(m), v->field));
        rc |= master_buf_json_str(line, md_val_text(b, v));
        rc |= master_buf_printf(line, " from %s at %lld", m->e.systems[v->source],
                                (long long)v->at_us);
        if (flags & MASTER_DUMP_VERSIONS)
            rc |= master_buf_printf(line, " v%llu", (unsigned long long)v->version);
        if (rc != 0 || md_dump_end_line(d) != 0)
            return -1;
    }
    return 0;
}

/* A record's previous addresses and names, newest first. */
static int dump_previous(const master_t *m, md_dump_t *d, const golden_t *g)
{
    for (size_t i = 0; i < master_prev_count(g->prev); i++) {
        const mprev_ent_t *e = &g->prev->v[i];
        mbuf_t *line = md_dump_buf(d);
        int rc = master_buf_printf(line, "previous %s %s = ", g->id,
                                   e->kind == MPREV_ADDRESS ? "address" : "name");
        rc |= master_buf_json_str(line, master_prev_text(g->prev, i));
        rc |= master_buf_printf(line, " from %s seen %lld until %lld", m->e.systems[e->source],
                                (long long)e->seen_us, (long long)e->until_us);
        if (rc != 0 || md_dump_end_line(d) != 0)
            return -1;
    }
    return 0;
}

static int dump_xref(const master_t *m, md_dump_t *d, const golden_t *g, const xref_t *x)
{
    mbuf_t *line = md_dump_buf(d);
    int rc = master_buf_printf(line, "xref %s %s -> %s %s %s", m->e.systems[x->system], x->local_id,
                               g->id, md_link_state_name(x->state), md_how_name(x->how));
    if (!isnan(x->score))
        rc |= master_buf_printf(line, " %.2f", x->score);
    rc |= master_buf_printf(line, " at %lld", (long long)x->linked_us);
    return rc != 0 ? -1 : md_dump_end_line(d);
}

static int dump_golden(const engine_t *e, md_dump_t *d, const golden_t *g, void *ctx)
{
    const master_t *m = (const master_t *)e;
    unsigned flags = *(const unsigned *)ctx;
    mbuf_t *line = md_dump_buf(d);
    int rc = master_buf_printf(line, "golden %s %s", g->id,
                               g->state == MS_ACTIVE ? "ACTIVE" : "REDIRECTED");
    if (g->redirect != NULL && g->state == MS_REDIRECTED)
        rc |= master_buf_printf(line, " -> %s", g->redirect->id);
    if (flags & MASTER_DUMP_VERSIONS)
        rc |= master_buf_printf(line, " v%llu created %lld updated %lld",
                                (unsigned long long)g->version, (long long)g->created_us,
                                (long long)g->updated_us);
    if (rc != 0 || md_dump_end_line(d) != 0)
        return -1;
    char prefix[MASTER_ID_MAX + 16];
    (void)snprintf(prefix, sizeof prefix, "field %s", g->id);
    if (dump_vals(m, d, prefix, g->vals, flags) != 0)
        return -1;
    if (dump_previous(m, d, g) != 0)
        return -1;
    for (const xref_t *x = g->xrefs; x; x = x->mnext)
        if (dump_xref(m, d, g, x) != 0)
            return -1;
    return 0;
}

static int dump_merges(const master_t *m, md_dump_t *d, unsigned flags)
{
    size_t pos = 0;
    uint64_t key;
    void *value;
    while (hmap_next(m->merges, &pos, &key, &value))
        for (const merge_t *mg = value; mg; mg = mg->hnext) {
            if (md_dump_line(d, "merge %s into %s", mg->retired->id, mg->survivor->id) != 0)
                return -1;
            char prefix[2 * MASTER_ID_MAX + 32];
            (void)snprintf(prefix, sizeof prefix, "merge %s before", mg->retired->id);
            if (dump_vals(m, d, prefix, mg->before, flags) != 0)
                return -1;
            for (size_t i = 0; i < mg->nmoved; i++)
                if (md_dump_line(d, "merge %s moved %s %s %s %s", mg->retired->id,
                                 m->e.systems[mg->moved[i].system], mg->moved[i].local_id,
                                 md_link_state_name(mg->moved[i].state),
                                 md_how_name(mg->moved[i].how)) != 0)
                    return -1;
        }
    return 0;
}

static int dump_steward(const engine_t *e, md_dump_t *d, void *ctx)
{
    const master_t *m = (const master_t *)e;
    unsigned flags = *(const unsigned *)ctx;
    if (!(flags & MASTER_DUMP_STEWARD))
        return 0;
    size_t pos = 0;
    uint64_t key;
    void *value;
    while (hmap_next(m->queue_by_id, &pos, &key, &value)) {
        const qitem_t *q = value;
        if (md_dump_line(d, "queue %llu %s %s %.2f OPEN", (unsigned long long)q->id, q->a->id,
                         q->b->id, q->score) != 0)
            return -1;
    }
    pos = 0;
    while (hmap_next(m->keep_apart, &pos, &key, &value))
        for (const kpair_t *k = value; k; k = k->pnext) {
            int swap = strcmp(k->a->id, k->b->id) > 0;
            if (md_dump_line(d, "keep_apart %s %s", swap ? k->b->id : k->a->id,
                             swap ? k->a->id : k->b->id) != 0)
                return -1;
        }
    return dump_merges(m, d, flags);
}

int master_dump(const master_t *m, unsigned flags, char **out, size_t *len)
{
    if (m == NULL || out == NULL)
        return -1;
    return md_dump(&m->e, dump_golden, dump_steward, &flags, out, len);
}
