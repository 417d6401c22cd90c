/* master_store.c - how the master-data engine's state looks in PostgreSQL
 * (hub/store/sql/0003_master.sql): the statements it hands to the sink, the JSON it
 * stores field values as, master_load, which rebuilds memory from the tables
 * at start-up, and master_dump, the canonical text of the state.
 *
 * Statements carry text parameters only, as the sink's contract says; the
 * JSON is written here by hand because it is on the path of every change and
 * jansson would allocate a node per value. Reading (start-up only) uses
 * jansson. */
#include "master/master_int.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const link_state_names[XL_COUNT] = {"MATCH", "POSSIBLE_MATCH", "NO_MATCH",
                                                       "REDIRECTED"};
static const char *const how_names[XH_COUNT] = {"rule", "score", "steward"};
static const char *const queue_state_names[QS_COUNT] = {"OPEN", "LINKED", "KEPT_APART", "MERGED"};

const char *master_link_state_name(int s)
{
    return s >= 0 && s < XL_COUNT ? link_state_names[s] : "?";
}

const char *master_how_name(int h)
{
    return h >= 0 && h < XH_COUNT ? how_names[h] : "?";
}

const char *master_queue_state_name(int s)
{
    return s >= 0 && s < QS_COUNT ? queue_state_names[s] : "?";
}

static int name_index(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

/* Systems ------------------------------------------------------------------- */

int master_system_id(master_t *m, const char *name, bool create)
{
    for (size_t i = 0; i < m->nsystems; i++)
        if (strcmp(m->systems[i], name) == 0)
            return (int)i;
    if (!create || m->nsystems >= MASTER_MAX_SYSTEMS)
        return -1;
    char *copy = strdup(name);
    if (copy == NULL)
        return -1;
    /* Survivorship order: the configured list first, then the order of the
     * adapters in the file (they are interned first), then the rest. */
    uint32_t rank = 1000000u + (uint32_t)m->nsystems;
    const config_strings_t *order = &m->cfg->master.survivorship;
    for (size_t i = 0; i < order->count; i++)
        if (strcmp(order->items[i], name) == 0)
            rank = (uint32_t)i;
    m->systems[m->nsystems] = copy;
    m->sys_rank[m->nsystems] = rank;
    return (int)m->nsystems++;
}

/* Buffers ------------------------------------------------------------------- */

int master_buf_reserve(mbuf_t *b, size_t more)
{
    if (b->len + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

int master_buf_add(mbuf_t *b, const void *p, size_t n)
{
    if (master_buf_reserve(b, n + 1) != 0)
        return -1;
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int master_buf_str(mbuf_t *b, const char *s)
{
    return master_buf_add(b, s, strlen(s));
}

int master_buf_printf(mbuf_t *b, const char *fmt, ...)
{
    for (int pass = 0; pass < 2; pass++) {
        size_t room = b->cap - b->len;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(room ? b->p + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0)
            return -1;
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return 0;
        }
        if (pass == 1 || master_buf_reserve(b, (size_t)n + 1) != 0)
            return -1;
    }
    return -1;
}

/* JSON string with quotes. Values are UTF-8 without control characters
 * (master_flatten refuses others), but escape them anyway: names of systems
 * and fields come from elsewhere. */
int master_buf_json_str(mbuf_t *b, const char *s)
{
    if (master_buf_reserve(b, strlen(s) * 6 + 3) != 0)
        return -1;
    char *o = b->p + b->len;
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            *o++ = '\\';
            *o++ = (char)*p;
        } else if (*p < 0x20) {
            static const char hex[] = "0123456789abcdef";
            memcpy(o, "\\u00", 4);
            o[4] = hex[*p >> 4];
            o[5] = hex[*p & 15];
            o += 6;
        } else {
            *o++ = (char)*p;
        }
    }
    *o++ = '"';
    *o = '\0';
    b->len = (size_t)(o - b->p);
    return 0;
}

void master_buf_free(mbuf_t *b)
{
    free(b->p);
    *b = (mbuf_t){0};
}

/* Decimal digits without printf: this runs for every field of every
 * changed record. */
int master_buf_i64(mbuf_t *b, int64_t v)
{
    char tmp[24];
    size_t n = sizeof tmp;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--n] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        tmp[--n] = '-';
    return master_buf_add(b, tmp + n, sizeof tmp - n);
}

int master_buf_field_json(mbuf_t *out, const char *name, const char *value, const char *source,
                          uint64_t version, int64_t at_us)
{
    int rc = master_buf_json_str(out, name);
    rc |= master_buf_str(out, ":{\"v\":");
    rc |= master_buf_json_str(out, value);
    rc |= master_buf_str(out, ",\"s\":");
    rc |= master_buf_json_str(out, source);
    rc |= master_buf_str(out, ",\"n\":");
    rc |= master_buf_i64(out, (int64_t)version);
    rc |= master_buf_str(out, ",\"t\":");
    rc |= master_buf_i64(out, at_us);
    return rc | master_buf_str(out, "}");
}

int master_vals_json(const master_t *m, const mvals_t *b, mbuf_t *out)
{
    int rc = master_buf_str(out, "{");
    for (uint32_t i = 0; b != NULL && i < b->n && rc == 0; i++) {
        const mval_t *v = &b->v[i];
        /* Compact: the record is rewritten whenever a field changes. */
        rc |= master_buf_str(out, i ? "," : "");
        rc |= master_buf_field_json(out, master_field_name(m, v->field), master_val_text(b, v),
                                    m->systems[v->source], v->version, v->at_us);
    }
    return rc | master_buf_str(out, "}");
}

/* Loading -------------------------------------------------------------------- */

typedef struct {
    master_t *m;
    char *err;
    size_t errlen;
    /* goldens whose redirect_to is resolved once all are read */
    golden_t **redir;
    char **redir_to;
    size_t nredir, capredir;
} loader_t;

static double parse_score(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return NAN;
    char *end = NULL;
    double v = strtod(PQgetvalue(r, row, col), &end);
    return end && *end == '\0' ? v : NAN;
}

static int by_change_field(const void *a, const void *b)
{
    const mchange_t *x = a, *y = b;
    return (x->field > y->field) - (x->field < y->field);
}

/* golden_person.fields (or golden_merge.survivor_before) -> a block. */
static int vals_from_json(loader_t *l, const char *text, const char *whose, mvals_t **out)
{
    master_t *m = l->m;
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        return master_fail(l->err, l->errlen, "fields of %s are not a JSON object: %s", whose,
                           jerr.text);
    }
    size_t n = json_object_size(root);
    mchange_t *ch = calloc(n ? n : 1, sizeof *ch);
    if (ch == NULL) {
        json_decref(root);
        return master_fail(l->err, l->errlen, "out of memory");
    }
    size_t k = 0;
    int rc = 0;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        const char *v = json_string_value(json_object_get(val, "v"));
        const char *s = json_string_value(json_object_get(val, "s"));
        json_t *nv = json_object_get(val, "n"), *tv = json_object_get(val, "t");
        int field = master_field_id(m, key, true);
        int sys = s ? master_system_id(m, s, true) : -1;
        if (v == NULL || s == NULL || !json_is_integer(nv) || !json_is_integer(tv) || field < 0 ||
            sys < 0) {
            rc = master_fail(l->err, l->errlen,
                             "field '%s' of %s is not {v, s, n, t} (or too many fields/systems)",
                             key, whose);
            break;
        }
        ch[k++] = (mchange_t){(uint16_t)field, (uint16_t)sys, v, (uint64_t)json_integer_value(nv),
                              (int64_t)json_integer_value(tv)};
    }
    if (rc == 0) {
        qsort(ch, k, sizeof *ch, by_change_field);
        *out = k ? master_vals_build(NULL, ch, k) : NULL;
        if (k && *out == NULL)
            rc = master_fail(l->err, l->errlen, "out of memory");
    }
    free(ch);
    json_decref(root);
    return rc;
}

static int next_id(loader_t *l, PGconn *conn, const char *sql, uint64_t *out)
{
    PGresult *r = PQexec(conn, sql);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 ||
        master_parse_u64(PQgetvalue(r, 0, 0), out) != 0)
        rc = master_fail(l->err, l->errlen, "%s: %s", sql, PQerrorMessage(conn));
    PQclear(r);
    return rc;
}

static int remember_redirect(loader_t *l, golden_t *g, const char *to)
{
    if (l->nredir == l->capredir) {
        size_t cap = l->capredir ? l->capredir * 2 : 64;
        golden_t **gs = realloc(l->redir, cap * sizeof *gs);
        if (gs == NULL)
            return master_fail(l->err, l->errlen, "out of memory");
        l->redir = gs;
        char **ts = realloc(l->redir_to, cap * sizeof *ts);
        if (ts == NULL)
            return master_fail(l->err, l->errlen, "out of memory");
        l->redir_to = ts;
        l->capredir = cap;
    }
    char *copy = strdup(to);
    if (copy == NULL)
        return master_fail(l->err, l->errlen, "out of memory");
    l->redir[l->nredir] = g;
    l->redir_to[l->nredir++] = copy;
    return 0;
}

/* master_id, version, state, redirect_to, fields, created_at, updated_at */
static int golden_row(void *ctx, const PGresult *r)
{
    loader_t *l = ctx;
    master_t *m = l->m;
    const char *id = PQgetvalue(r, 0, 0);
    if (strlen(id) >= MASTER_ID_MAX || master_golden(m, id) != NULL)
        return master_fail(l->err, l->errlen, "golden_person '%.64s': id too long or repeated", id);
    golden_t *g = calloc(1, sizeof *g);
    if (g == NULL)
        return master_fail(l->err, l->errlen, "out of memory");
    (void)snprintf(g->id, sizeof g->id, "%s", id);
    int state = strcmp(PQgetvalue(r, 0, 2), "REDIRECTED") == 0 ? MS_REDIRECTED : MS_ACTIVE;
    g->state = (uint8_t)state;
    if (master_parse_u64(PQgetvalue(r, 0, 1), &g->version) != 0 ||
        master_parse_i64(PQgetvalue(r, 0, 5), &g->created_us) != 0 ||
        master_parse_i64(PQgetvalue(r, 0, 6), &g->updated_us) != 0 ||
        vals_from_json(l, PQgetvalue(r, 0, 4), id, &g->vals) != 0) {
        free(g->vals);
        free(g);
        return master_fail(l->err, l->errlen, "golden_person '%.64s': bad version, times or fields",
                           id);
    }
    if (master_golden_add(m, g) != 0) {
        free(g->vals);
        free(g);
        return master_fail(l->err, l->errlen, "out of memory");
    }
    if (state == MS_REDIRECTED)
        return remember_redirect(l, g, PQgetvalue(r, 0, 3));
    return 0;
}

/* system, local_id, master_id, link_state, how, score, linked_at */
static int xref_row(void *ctx, const PGresult *r)
{
    loader_t *l = ctx;
    master_t *m = l->m;
    int sys = master_system_id(m, PQgetvalue(r, 0, 0), true);
    golden_t *g = master_golden(m, PQgetvalue(r, 0, 2));
    int state = name_index(link_state_names, XL_COUNT, PQgetvalue(r, 0, 3));
    int how = name_index(how_names, XH_COUNT, PQgetvalue(r, 0, 4));
    int64_t at = 0;
    if (sys < 0 || g == NULL || state < 0 || how < 0 ||
        master_parse_i64(PQgetvalue(r, 0, 6), &at) != 0)
        return master_fail(l->err, l->errlen, "xref (%.64s, %.64s): unknown record, state or how",
                           PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
    xref_t *x = calloc(1, sizeof *x);
    char *local = strdup(PQgetvalue(r, 0, 1));
    if (x == NULL || local == NULL) {
        free(x);
        free(local);
        return master_fail(l->err, l->errlen, "out of memory");
    }
    *x = (xref_t){.local_id = local,
                  .score = parse_score(r, 0, 5),
                  .linked_us = at,
                  .system = (uint16_t)sys,
                  .state = (uint8_t)state,
                  .how = (uint8_t)how};
    master_xref_attach(g, x);
    if (master_xref_add(m, x) != 0)
        return master_fail(l->err, l->errlen, "out of memory");
    return 0;
}

/* id, master_a, master_b, score, created_at */
static int queue_row(void *ctx, const PGresult *r)
{
    loader_t *l = ctx;
    master_t *m = l->m;
    qitem_t *q = calloc(1, sizeof *q);
    if (q == NULL)
        return master_fail(l->err, l->errlen, "out of memory");
    q->a = master_golden(m, PQgetvalue(r, 0, 1));
    q->b = master_golden(m, PQgetvalue(r, 0, 2));
    q->score = parse_score(r, 0, 3);
    if (master_parse_u64(PQgetvalue(r, 0, 0), &q->id) != 0 || q->id == 0 || q->a == NULL ||
        q->b == NULL || master_parse_i64(PQgetvalue(r, 0, 4), &q->created_us) != 0) {
        free(q);
        return master_fail(l->err, l->errlen, "steward_queue %.32s: bad id or unknown record",
                           PQgetvalue(r, 0, 0));
    }
    if (master_queue_add(m, q) != 0) {
        free(q);
        return master_fail(l->err, l->errlen, "out of memory");
    }
    return 0;
}

static int keep_row(void *ctx, const PGresult *r)
{
    loader_t *l = ctx;
    golden_t *a = master_golden(l->m, PQgetvalue(r, 0, 0));
    golden_t *b = master_golden(l->m, PQgetvalue(r, 0, 1));
    if (a == NULL || b == NULL)
        return master_fail(l->err, l->errlen, "keep_apart (%.64s, %.64s): unknown record",
                           PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
    return master_keep_apart_add(l->m, a, b) == 0 ? 0
                                                  : master_fail(l->err, l->errlen, "out of memory");
}

static int moved_from_json(loader_t *l, merge_t *mg, const char *text)
{
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    size_t n = json_is_array(root) ? json_array_size(root) : 0;
    if (!json_is_array(root)) {
        json_decref(root);
        return master_fail(l->err, l->errlen, "golden_merge %llu: moved is not a JSON array",
                           (unsigned long long)mg->id);
    }
    mg->moved = calloc(n ? n : 1, sizeof *mg->moved);
    if (mg->moved == NULL) {
        json_decref(root);
        return master_fail(l->err, l->errlen, "out of memory");
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *e = json_array_get(root, i);
        const char *sys = json_string_value(json_object_get(e, "system"));
        const char *local = json_string_value(json_object_get(e, "local_id"));
        const char *state = json_string_value(json_object_get(e, "state"));
        const char *how = json_string_value(json_object_get(e, "how"));
        json_t *score = json_object_get(e, "score");
        int s = sys ? master_system_id(l->m, sys, true) : -1;
        int st = state ? name_index(link_state_names, XL_COUNT, state) : -1;
        int h = how ? name_index(how_names, XH_COUNT, how) : -1;
        char *copy = local ? strdup(local) : NULL;
        if (s < 0 || st < 0 || h < 0 || copy == NULL) {
            free(copy);
            rc = master_fail(l->err, l->errlen,
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

/* id, survivor, retired, survivor_version, survivor_before, moved */
static int merge_row(void *ctx, const PGresult *r)
{
    loader_t *l = ctx;
    merge_t *mg = calloc(1, sizeof *mg);
    if (mg == NULL)
        return master_fail(l->err, l->errlen, "out of memory");
    mg->survivor = master_golden(l->m, PQgetvalue(r, 0, 1));
    mg->retired = master_golden(l->m, PQgetvalue(r, 0, 2));
    int rc = 0;
    if (master_parse_u64(PQgetvalue(r, 0, 0), &mg->id) != 0 || mg->survivor == NULL ||
        mg->retired == NULL || master_parse_u64(PQgetvalue(r, 0, 3), &mg->survivor_version) != 0)
        rc = master_fail(l->err, l->errlen, "golden_merge %.32s: bad id, version or unknown record",
                         PQgetvalue(r, 0, 0));
    if (rc == 0)
        rc = vals_from_json(l, PQgetvalue(r, 0, 4), "golden_merge", &mg->before);
    if (rc == 0)
        rc = moved_from_json(l, mg, PQgetvalue(r, 0, 5));
    if (rc == 0 && master_merge_add(l->m, mg) != 0)
        rc = master_fail(l->err, l->errlen, "out of memory");
    if (rc != 0)
        master_merge_free(mg);
    return rc;
}

static int resolve_redirects(loader_t *l)
{
    for (size_t i = 0; i < l->nredir; i++) {
        golden_t *to = master_golden(l->m, l->redir_to[i]);
        if (to == NULL || to == l->redir[i])
            return master_fail(l->err, l->errlen,
                               "golden_person '%.64s' redirects to unknown record '%.64s'",
                               l->redir[i]->id, l->redir_to[i]);
        l->redir[i]->redirect = to;
    }
    return 0;
}

static int index_all(loader_t *l)
{
    master_t *m = l->m;
    for (size_t i = 0; i < m->ngoldens; i++)
        if (m->goldens[i]->state == MS_ACTIVE && master_index_add(m, m->goldens[i]) != 0)
            return master_fail(l->err, l->errlen, "out of memory building the blocking index");
    return 0;
}

static int load_all(loader_t *l, PGconn *conn)
{
    /* One snapshot, so the tables agree with each other. */
    if (master_exec_ok(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", l->err,
                       l->errlen) != 0)
        return -1;
    int rc = master_each_row(
        conn,
        "SELECT master_id, version, state, coalesce(redirect_to, ''), fields::text, "
        "created_at, updated_at FROM golden_person",
        golden_row, l, l->err, l->errlen);
    if (rc == 0)
        rc = resolve_redirects(l);
    if (rc == 0)
        rc =
            master_each_row(conn,
                            "SELECT system, local_id, master_id, link_state, how, score, linked_at "
                            "FROM xref",
                            xref_row, l, l->err, l->errlen);
    if (rc == 0)
        rc = master_each_row(conn,
                             "SELECT id, master_a, master_b, score, created_at FROM steward_queue "
                             "WHERE state = 'OPEN'",
                             queue_row, l, l->err, l->errlen);
    if (rc == 0)
        rc = master_each_row(conn, "SELECT master_a, master_b FROM keep_apart", keep_row, l, l->err,
                             l->errlen);
    if (rc == 0)
        rc = master_each_row(
            conn,
            "SELECT id, survivor, retired, survivor_version, survivor_before::text, "
            "moved::text FROM golden_merge WHERE state = 'MERGED'",
            merge_row, l, l->err, l->errlen);
    if (rc == 0)
        rc = next_id(l, conn, "SELECT coalesce(max(id), 0) + 1 FROM steward_queue",
                     &l->m->next_queue_id);
    if (rc == 0)
        rc = next_id(l, conn, "SELECT coalesce(max(id), 0) + 1 FROM golden_merge",
                     &l->m->next_merge_id);
    if (rc == 0)
        rc = index_all(l);
    return master_load_end(conn, rc, l->err, l->errlen);
}

int master_load(master_t *m, PGconn *conn, char *err, size_t errlen)
{
    if (m == NULL || conn == NULL) {
        if (err && errlen)
            (void)snprintf(err, errlen, "master_load: no engine or connection");
        return -1;
    }
    loader_t l = {.m = m, .err = err, .errlen = errlen};
    master_state_clear(m);
    m->broken = true;
    int rc = load_all(&l, conn);
    for (size_t i = 0; i < l.nredir; i++)
        free(l.redir_to[i]);
    free(l.redir_to);
    free(l.redir);
    if (rc != 0) {
        /* A half-loaded engine must not decide anything. */
        master_state_clear(m);
        return -1;
    }
    m->broken = false;
    return 0;
}

/* Dump ------------------------------------------------------------------------- */

typedef struct {
    char **lines;
    size_t n, cap;
    mbuf_t line;
} dump_t;

static int dump_line(dump_t *d)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 256;
        char **grown = realloc(d->lines, cap * sizeof *grown);
        if (grown == NULL)
            return -1;
        d->lines = grown;
        d->cap = cap;
    }
    char *copy = strdup(d->line.p ? d->line.p : "");
    if (copy == NULL)
        return -1;
    d->lines[d->n++] = copy;
    d->line.len = 0;
    return 0;
}

static int by_text(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int dump_vals(const master_t *m, dump_t *d, const char *prefix, const mvals_t *b,
                     unsigned flags)
{
    for (uint32_t i = 0; b != NULL && i < b->n; i++) {
        const mval_t *v = &b->v[i];
        int rc = master_buf_printf(&d->line, "%s %s = ", prefix, master_field_name(m, v->field));
        rc |= master_buf_json_str(&d->line, master_val_text(b, v));
        rc |= master_buf_printf(&d->line, " from %s at %lld", m->systems[v->source],
                                (long long)v->at_us);
        if (flags & MASTER_DUMP_VERSIONS)
            rc |= master_buf_printf(&d->line, " v%llu", (unsigned long long)v->version);
        if (rc != 0 || dump_line(d) != 0)
            return -1;
    }
    return 0;
}

static int dump_golden(const master_t *m, dump_t *d, const golden_t *g, unsigned flags)
{
    int rc = master_buf_printf(&d->line, "golden %s %s", g->id,
                               g->state == MS_ACTIVE ? "ACTIVE" : "REDIRECTED");
    if (g->redirect != NULL && g->state == MS_REDIRECTED)
        rc |= master_buf_printf(&d->line, " -> %s", g->redirect->id);
    if (flags & MASTER_DUMP_VERSIONS)
        rc |= master_buf_printf(&d->line, " v%llu created %lld updated %lld",
                                (unsigned long long)g->version, (long long)g->created_us,
                                (long long)g->updated_us);
    if (rc != 0 || dump_line(d) != 0)
        return -1;
    char prefix[MASTER_ID_MAX + 16];
    (void)snprintf(prefix, sizeof prefix, "field %s", g->id);
    if (dump_vals(m, d, prefix, g->vals, flags) != 0)
        return -1;
    for (const xref_t *x = g->xrefs; x; x = x->mnext) {
        rc = master_buf_printf(&d->line, "xref %s %s -> %s %s %s", m->systems[x->system],
                               x->local_id, g->id, master_link_state_name(x->state),
                               master_how_name(x->how));
        if (!isnan(x->score))
            rc |= master_buf_printf(&d->line, " %.2f", x->score);
        rc |= master_buf_printf(&d->line, " at %lld", (long long)x->linked_us);
        if (rc != 0 || dump_line(d) != 0)
            return -1;
    }
    return 0;
}

static int dump_steward(const master_t *m, dump_t *d, unsigned flags)
{
    size_t pos = 0;
    uint64_t key;
    void *value;
    while (hmap_next(m->queue_by_id, &pos, &key, &value)) {
        const qitem_t *q = value;
        if (master_buf_printf(&d->line, "queue %llu %s %s %.2f OPEN", (unsigned long long)q->id,
                              q->a->id, q->b->id, q->score) != 0 ||
            dump_line(d) != 0)
            return -1;
    }
    pos = 0;
    while (hmap_next(m->keep_apart, &pos, &key, &value))
        for (const kpair_t *k = value; k; k = k->pnext) {
            int swap = strcmp(k->a->id, k->b->id) > 0;
            if (master_buf_printf(&d->line, "keep_apart %s %s", swap ? k->b->id : k->a->id,
                                  swap ? k->a->id : k->b->id) != 0 ||
                dump_line(d) != 0)
                return -1;
        }
    pos = 0;
    while (hmap_next(m->merges, &pos, &key, &value))
        for (const merge_t *mg = value; mg; mg = mg->hnext) {
            if (master_buf_printf(&d->line, "merge %s into %s", mg->retired->id,
                                  mg->survivor->id) != 0 ||
                dump_line(d) != 0)
                return -1;
            char prefix[2 * MASTER_ID_MAX + 32];
            (void)snprintf(prefix, sizeof prefix, "merge %s before", mg->retired->id);
            if (dump_vals(m, d, prefix, mg->before, flags) != 0)
                return -1;
            for (size_t i = 0; i < mg->nmoved; i++)
                if (master_buf_printf(&d->line, "merge %s moved %s %s %s %s", mg->retired->id,
                                      m->systems[mg->moved[i].system], mg->moved[i].local_id,
                                      master_link_state_name(mg->moved[i].state),
                                      master_how_name(mg->moved[i].how)) != 0 ||
                    dump_line(d) != 0)
                    return -1;
        }
    return 0;
}

int master_dump(const master_t *m, unsigned flags, char **out, size_t *len)
{
    if (m == NULL || out == NULL)
        return -1;
    dump_t d = {0};
    int rc = 0;
    for (size_t i = 0; i < m->ngoldens && rc == 0; i++)
        rc = dump_golden(m, &d, m->goldens[i], flags);
    if (rc == 0 && (flags & MASTER_DUMP_STEWARD))
        rc = dump_steward(m, &d, flags);
    mbuf_t all = {0};
    if (rc == 0) {
        qsort(d.lines, d.n, sizeof *d.lines, by_text);
        rc = master_buf_str(&all, "");
        for (size_t i = 0; i < d.n && rc == 0; i++)
            rc = master_buf_printf(&all, "%s\n", d.lines[i]);
    }
    for (size_t i = 0; i < d.n; i++)
        free(d.lines[i]);
    free(d.lines);
    master_buf_free(&d.line);
    if (rc != 0) {
        master_buf_free(&all);
        return -1;
    }
    *out = all.p;
    if (len != NULL)
        *len = all.len;
    return 0;
}
