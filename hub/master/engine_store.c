/* engine_store.c - the master-data engine's records in memory and in PostgreSQL (contract in
 * engine.h): records by id and by key, the cross-reference by (kind, system, local id), field
 * blocks and their JSON, loading every kind's golden records and links from its tables at
 * start-up (or after a failed commit), and the canonical text dump.
 *
 * Everything is keyed through hmap with 64-bit hashes; where two different keys could share a
 * hash the entries chain and are compared in full. The JSON of a record is written here by hand
 * because it is on the path of every change; reading (start-up only) uses jansson. */
#include "master/engine.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEED_GOLDEN 0x676f6c64656eULL
#define SEED_XREF 0x78726566ULL
#define SEED_KEY 0x6b6579ULL

static const char *const link_state_names[XL_COUNT] = {"MATCH", "POSSIBLE_MATCH", "NO_MATCH",
                                                       "REDIRECTED"};
static const char *const how_names[XH_COUNT] = {"rule", "score", "steward"};

const char *md_link_state_name(int s)
{
    return s >= 0 && s < XL_COUNT ? link_state_names[s] : "?";
}

const char *md_how_name(int h)
{
    return h >= 0 && h < XH_COUNT ? how_names[h] : "?";
}

int md_name_index(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

int md_link_state_of(const char *name)
{
    return md_name_index(link_state_names, XL_COUNT, name);
}

int md_how_of(const char *name)
{
    return md_name_index(how_names, XH_COUNT, name);
}

static uint64_t hash_str(const char *s, uint64_t seed)
{
    return hmap_hash_bytes(s, strlen(s), seed);
}

/* Records -------------------------------------------------------------------------------- */

golden_t *md_golden(const engine_t *e, const char *id)
{
    for (golden_t *g = hmap_get(e->by_id, hash_str(id, SEED_GOLDEN)); g; g = g->hnext)
        if (strcmp(g->id, id) == 0)
            return g;
    return NULL;
}

const xref_t *md_lookup(const engine_t *e, int kind, const char *system, const char *local_id)
{
    int sys = md_system_id((engine_t *)e, system, false); /* only looks */
    return sys >= 0 ? md_xref(e, kind, sys, local_id) : NULL;
}

const char *md_value(const engine_t *e, const golden_t *g, const char *field, const char **source)
{
    int f = md_field_id((md_kind_t *)&e->kinds[g->kind], field, false); /* only looks */
    const mval_t *v = f >= 0 ? md_val(g->vals, f) : NULL;
    if (v == NULL)
        return NULL;
    if (source != NULL)
        *source = e->systems[v->source];
    return md_val_text(g->vals, v);
}

golden_t *md_by_key(const engine_t *e, int kind, const char *key)
{
    for (golden_t *g = hmap_get(e->by_key, hash_str(key, SEED_KEY + (uint64_t)kind)); g;
         g = g->knext)
        if (g->kind == kind && strcmp(g->key, key) == 0)
            return g;
    return NULL;
}

/* Follows redirects to the record that holds the entity now. Merges never form a cycle (a
 * survivor is ACTIVE when it is chosen), but the walk is bounded anyway. */
golden_t *md_final(golden_t *g)
{
    for (int i = 0; g != NULL && g->state == MS_REDIRECTED && g->redirect && i < 1000; i++)
        g = g->redirect;
    return g;
}

void md_golden_free(golden_t *g)
{
    if (g == NULL)
        return;
    free(g->vals);
    free(g->key);
    free(g->prev);
    free(g);
}

/* The record goes into the indexes. It takes ownership of G whatever it returns: on failure G
 * is freed, or listed for md_state_clear. */
int md_golden_add(engine_t *e, golden_t *g)
{
    if (e->nrecs == e->caprecs) {
        size_t cap = e->caprecs ? e->caprecs * 2 : 1024;
        golden_t **grown = realloc(e->recs, cap * sizeof *grown);
        if (grown == NULL) {
            md_golden_free(g);
            return -1;
        }
        e->recs = grown;
        e->caprecs = cap;
    }
    e->recs[e->nrecs++] = g;
    if (g->state == MS_ACTIVE)
        e->kinds[g->kind].nactive++;
    uint64_t h = hash_str(g->id, SEED_GOLDEN);
    g->hnext = hmap_get(e->by_id, h);
    if (hmap_put(e->by_id, h, g) != 0)
        return -1;
    if (g->key == NULL)
        return 0;
    uint64_t k = hash_str(g->key, SEED_KEY + g->kind);
    g->knext = hmap_get(e->by_key, k);
    return hmap_put(e->by_key, k, g);
}

/* Cross-reference ------------------------------------------------------------------------- */

static uint64_t xref_hash(int kind, int system, const char *local_id)
{
    return hash_str(local_id, SEED_XREF + (uint64_t)system + ((uint64_t)kind << 16));
}

xref_t *md_xref(const engine_t *e, int kind, int system, const char *local_id)
{
    for (xref_t *x = hmap_get(e->xrefs, xref_hash(kind, system, local_id)); x; x = x->hnext)
        if (x->kind == kind && x->system == system && strcmp(x->local_id, local_id) == 0)
            return x;
    return NULL;
}

int md_xref_add(engine_t *e, xref_t *x)
{
    uint64_t h = xref_hash(x->kind, x->system, x->local_id);
    x->hnext = hmap_get(e->xrefs, h);
    if (hmap_put(e->xrefs, h, x) != 0)
        return -1;
    e->nxrefs++;
    return 0;
}

void md_xref_attach(golden_t *g, xref_t *x)
{
    x->master = g;
    x->mnext = g->xrefs;
    g->xrefs = x;
}

void md_xref_detach(xref_t *x)
{
    for (xref_t **p = &x->master->xrefs; *p; p = &(*p)->mnext)
        if (*p == x) {
            *p = x->mnext;
            break;
        }
    x->mnext = NULL;
    x->master = NULL;
}

xref_t *md_xref_new(const char *local_id)
{
    size_t n = strlen(local_id) + 1;
    xref_t *x = calloc(1, offsetof(xref_t, local_id) + n);
    if (x == NULL)
        return NULL;
    x->score = NAN;
    memcpy(x->local_id, local_id, n);
    return x;
}

void md_xref_free(xref_t *x)
{
    free(x);
}

/* The local id a system knows this record by: a live link before one that only followed a
 * merge, then the oldest, then the smallest id, so the choice does not depend on the order
 * links were made or loaded. */
xref_t *md_primary_xref(const golden_t *g, int system)
{
    xref_t *best = NULL;
    for (xref_t *x = g->xrefs; x; x = x->mnext) {
        if (x->system != system)
            continue;
        if (best == NULL) {
            best = x;
            continue;
        }
        int xr = x->state == XL_REDIRECTED, br = best->state == XL_REDIRECTED;
        if (xr != br) {
            if (!xr)
                best = x;
            continue;
        }
        if (x->linked_us != best->linked_us) {
            if (x->linked_us < best->linked_us)
                best = x;
            continue;
        }
        if (strcmp(x->local_id, best->local_id) < 0)
            best = x;
    }
    return best;
}

void md_state_clear(engine_t *e)
{
    if (e->clear_more)
        e->clear_more(e);
    for (size_t i = 0; i < e->nrecs; i++) {
        golden_t *g = e->recs[i];
        for (xref_t *x = g->xrefs; x;) {
            xref_t *next = x->mnext;
            md_xref_free(x);
            x = next;
        }
        md_golden_free(g);
    }
    hmap_clear(e->xrefs);
    hmap_clear(e->by_id);
    hmap_clear(e->by_key);
    e->nrecs = e->nxrefs = 0;
    for (size_t k = 0; k < e->nkinds; k++)
        e->kinds[k].nactive = 0;
}

/* Field blocks ---------------------------------------------------------------------------- */

const mval_t *md_val(const mvals_t *b, int field)
{
    if (b == NULL)
        return NULL;
    size_t lo = 0, hi = b->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (b->v[mid].field == field)
            return &b->v[mid];
        if (b->v[mid].field < field)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *md_val_text(const mvals_t *b, const mval_t *v)
{
    return (const char *)b + v->off;
}

/* The next value of a merge of the old block with the changes: *I and *J advance. */
static bool next_val(const mvals_t *old, size_t *i, const mchange_t *ch, size_t n, size_t *j,
                     mval_t *v, const char **value)
{
    size_t nold = old ? old->n : 0;
    while (*i < nold || *j < n) {
        const mval_t *o = *i < nold ? &old->v[*i] : NULL;
        const mchange_t *c = *j < n ? &ch[*j] : NULL;
        if (c == NULL || (o != NULL && o->field < c->field)) {
            *v = *o;
            *value = md_val_text(old, o);
            (*i)++;
            return true;
        }
        if (o != NULL && o->field == c->field)
            (*i)++;
        (*j)++;
        if (c->value == NULL)
            continue;
        *v = (mval_t){
            .field = c->field, .source = c->source, .version = c->version, .at_us = c->at_us};
        *value = c->value;
        return true;
    }
    return false;
}

mvals_t *md_vals_build(const mvals_t *old, const mchange_t *ch, size_t n)
{
    size_t count = 0, text = 0, i = 0, j = 0;
    mval_t v;
    const char *value;
    /* First pass sizes the block, second fills it. */
    while (next_val(old, &i, ch, n, &j, &v, &value)) {
        count++;
        text += strlen(value) + 1;
    }
    mvals_t *b = NULL;
    size_t bytes = sizeof *b + count * sizeof b->v[0] + text;
    if (bytes > UINT32_MAX || (b = malloc(bytes)) == NULL)
        return NULL;
    b->n = (uint32_t)count;
    b->bytes = (uint32_t)bytes;
    size_t off = sizeof *b + count * sizeof b->v[0], k = 0;
    i = j = 0;
    while (next_val(old, &i, ch, n, &j, &v, &value)) {
        size_t len = strlen(value) + 1;
        v.off = (uint32_t)off;
        memcpy((char *)b + off, value, len);
        off += len;
        b->v[k++] = v;
    }
    return b;
}

int md_vals_json(const engine_t *e, const md_kind_t *k, const mvals_t *b, mbuf_t *out)
{
    int rc = master_buf_str(out, "{");
    for (uint32_t i = 0; b != NULL && i < b->n && rc == 0; i++) {
        const mval_t *v = &b->v[i];
        /* Compact: the record is rewritten whenever a field changes. */
        rc |= master_buf_str(out, i ? "," : "");
        rc |= master_buf_field_json(out, md_field_name(k, v->field), md_val_text(b, v),
                                    e->systems[v->source], v->version, v->at_us);
    }
    return rc | master_buf_str(out, "}");
}

/* Loading ------------------------------------------------------------------------------------ */

static int by_change_field(const void *a, const void *b)
{
    const mchange_t *x = a, *y = b;
    return (x->field > y->field) - (x->field < y->field);
}

/* One stored field {v, s, n, t} as a change; -1 if it is not that, or names no field. */
static int field_change(md_loader_t *l, md_kind_t *k, const char *key, json_t *val, mchange_t *out)
{
    const char *v = json_string_value(json_object_get(val, "v"));
    const char *s = json_string_value(json_object_get(val, "s"));
    json_t *nv = json_object_get(val, "n"), *tv = json_object_get(val, "t");
    int field = md_field_id(k, key, (k->d->flags & MD_OPEN_FIELDS) != 0);
    int sys = s ? md_system_id(l->e, s, true) : -1;
    if (v == NULL || s == NULL || !json_is_integer(nv) || !json_is_integer(tv) || field < 0 ||
        sys < 0)
        return -1;
    *out = (mchange_t){(uint16_t)field, (uint16_t)sys, v, (uint64_t)json_integer_value(nv),
                       (int64_t)json_integer_value(tv)};
    return 0;
}

int md_vals_from_json(md_loader_t *l, md_kind_t *k, const char *text, const char *whose,
                      mvals_t **out)
{
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        return err_set(l->err, l->errlen, "fields of %s are not a JSON object: %s", whose,
                       jerr.text);
    }
    size_t n = json_object_size(root), got = 0;
    mchange_t *ch = calloc(n ? n : 1, sizeof *ch);
    int rc = ch ? 0 : err_set(l->err, l->errlen, "out of memory");
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (rc != 0)
            break;
        if (field_change(l, k, key, val, &ch[got++]) != 0)
            rc = err_set(l->err, l->errlen,
                         "field '%s' of %s is not a known field as {v, s, n, t} (or too many "
                         "fields/systems)",
                         key, whose);
    }
    if (rc == 0) {
        qsort(ch, got, sizeof *ch, by_change_field);
        *out = got ? md_vals_build(NULL, ch, got) : NULL;
        if (got && *out == NULL)
            rc = err_set(l->err, l->errlen, "out of memory");
    }
    free(ch);
    json_decref(root);
    return rc;
}

double md_parse_score(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return NAN;
    char *end = NULL;
    double v = strtod(PQgetvalue(r, row, col), &end);
    return end && *end == '\0' ? v : NAN;
}

/* One column of a golden row into G; *REDIRECT gets redirect_to. */
static int golden_col(md_loader_t *l, md_kind_t *k, golden_t *g, int col, const char *v,
                      const char **redirect)
{
    switch (col) {
    case GC_ID:
        if (strlen(v) >= MASTER_ID_MAX || md_golden(l->e, v) != NULL)
            return -1;
        (void)snprintf(g->id, sizeof g->id, "%s", v);
        return 0;
    case GC_VERSION:
        return master_parse_u64(v, &g->version);
    case GC_STATE:
        g->state = strcmp(v, "REDIRECTED") == 0 ? MS_REDIRECTED : MS_ACTIVE;
        return 0;
    case GC_REDIRECT:
        *redirect = v;
        return 0;
    case GC_FIELDS:
        return md_vals_from_json(l, k, v, g->id, &g->vals);
    case GC_CREATED:
        return master_parse_i64(v, &g->created_us);
    case GC_UPDATED:
        return master_parse_i64(v, &g->updated_us);
    case GC_KEY:
        return (g->key = strdup(v)) ? 0 : -1;
    default:
        return 0; /* GC_KEY_FIELD: the fields hold it */
    }
}

static int golden_row(void *ctx, const PGresult *r)
{
    md_loader_t *l = ctx;
    md_kind_t *k = &l->e->kinds[l->kind];
    const md_table_t *t = &k->d->golden;
    golden_t *g = calloc(1, sizeof *g);
    if (g == NULL)
        return err_set(l->err, l->errlen, "out of memory");
    g->kind = (uint8_t)l->kind;
    const char *redirect = "";
    for (int i = 0; i < t->row->ncols; i++)
        if (golden_col(l, k, g, t->cols[i], PQgetvalue(r, 0, i), &redirect) != 0) {
            md_golden_free(g);
            return err_set(l->err, l->errlen,
                           "%s '%.64s': id too long or repeated, or bad version, times, key "
                           "or fields",
                           t->row->table, PQgetvalue(r, 0, 0));
        }
    if (md_golden_add(l->e, g) != 0) /* it owns G now */
        return err_set(l->err, l->errlen, "out of memory");
    if (g->state == MS_REDIRECTED && l->redirect)
        return l->redirect(l, g, redirect);
    return 0;
}

/* One column of a cross-reference row into X (and *G, its record). */
static int xref_col(md_loader_t *l, xref_t *x, golden_t **g, int col, const PGresult *r, int i)
{
    const char *v = PQgetvalue(r, 0, i);
    int n;
    switch (col) {
    case XC_SYSTEM:
        n = md_system_id(l->e, v, true);
        x->system = (uint16_t)n;
        return n < 0 ? -1 : 0;
    case XC_LOCAL:
        return 0; /* md_xref_new took it (xref_row) */
    case XC_MASTER:
        *g = md_golden(l->e, v);
        return *g && (*g)->kind == l->kind ? 0 : -1;
    case XC_STATE:
        n = md_name_index(link_state_names, XL_COUNT, v);
        x->state = (uint8_t)n;
        break;
    case XC_HOW:
        n = md_name_index(how_names, XH_COUNT, v);
        x->how = (uint8_t)n;
        break;
    case XC_SCORE:
        x->score = md_parse_score(r, 0, i);
        return 0;
    default:
        return master_parse_i64(v, &x->linked_us);
    }
    return n < 0 ? -1 : 0;
}

static int xref_row(void *ctx, const PGresult *r)
{
    md_loader_t *l = ctx;
    const md_table_t *t = &l->e->kinds[l->kind].d->xref;
    const char *local = NULL;
    for (int i = 0; i < t->row->ncols && local == NULL; i++)
        if (t->cols[i] == XC_LOCAL)
            local = PQgetvalue(r, 0, i);
    xref_t *x = md_xref_new(local != NULL ? local : "");
    if (x == NULL)
        return err_set(l->err, l->errlen, "out of memory");
    x->kind = (uint8_t)l->kind;
    golden_t *g = NULL;
    int i = 0;
    while (i < t->row->ncols && xref_col(l, x, &g, t->cols[i], r, i) == 0)
        i++;
    if (i < t->row->ncols || g == NULL) {
        md_xref_free(x);
        return err_set(l->err, l->errlen, "%s (%.64s, %.64s): unknown record, state or how",
                       t->row->table, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
    }
    md_xref_attach(g, x);
    if (md_xref_add(l->e, x) != 0)
        return err_set(l->err, l->errlen, "out of memory");
    return 0;
}

int md_load_kind(md_loader_t *l, PGconn *conn, int (*after)(md_loader_t *l))
{
    const md_desc_t *d = l->e->kinds[l->kind].d;
    int rc = master_each_row(conn, d->golden.load, golden_row, l, l->err, l->errlen);
    if (rc == 0 && after != NULL)
        rc = after(l);
    if (rc == 0)
        rc = master_each_row(conn, d->xref.load, xref_row, l, l->err, l->errlen);
    return rc;
}

int md_load(engine_t *e, PGconn *conn, int (*load)(engine_t *e, PGconn *conn, void *ctx), void *ctx,
            char *err, size_t errlen)
{
    md_state_clear(e);
    e->broken = true;
    /* One snapshot, so the tables agree with each other. */
    int rc = master_exec_ok(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err, errlen);
    if (rc == 0)
        rc = load(e, conn, ctx);
    rc = master_load_end(conn, rc, err, errlen);
    if (rc != 0) {
        md_state_clear(e); /* a half-loaded engine must not decide anything */
        return -1;
    }
    e->broken = false;
    return 0;
}

/* Dump ---------------------------------------------------------------------------------------- */

struct md_dump {
    char **lines;
    size_t n, cap;
    mbuf_t line;
};

mbuf_t *md_dump_buf(md_dump_t *d)
{
    return &d->line;
}

int md_dump_end_line(md_dump_t *d)
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

int md_dump_line(md_dump_t *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[1];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0 || master_buf_reserve(&d->line, (size_t)n + 1) != 0)
        return -1;
    va_start(ap, fmt);
    (void)vsnprintf(d->line.p + d->line.len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    d->line.len += (size_t)n;
    return md_dump_end_line(d);
}

static int by_text(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int md_dump(const engine_t *e,
            int (*lines)(const engine_t *e, md_dump_t *d, const golden_t *g, void *ctx),
            int (*more)(const engine_t *e, md_dump_t *d, void *ctx), void *ctx, char **out,
            size_t *len)
{
    md_dump_t d = {0};
    int rc = 0;
    for (size_t i = 0; i < e->nrecs && rc == 0; i++)
        rc = lines(e, &d, e->recs[i], ctx);
    if (rc == 0 && more != NULL)
        rc = more(e, &d, ctx);
    mbuf_t all = {0};
    if (rc == 0) {
        qsort(d.lines, d.n, sizeof *d.lines, by_text);
        rc = master_buf_str(&all, "");
        for (size_t i = 0; i < d.n && rc == 0; i++)
            rc = master_buf_str(&all, d.lines[i]) | master_buf_str(&all, "\n");
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
