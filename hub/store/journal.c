/* journal.c - see journal.h. */
#include "store/journal.h"

#include "base/hmap.h"
#include "base/text.h"

#include <arpa/inet.h>
#include <endian.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

jbatch_t *jbatch_new(jbatch_kind_t kind)
{
    jbatch_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->kind = kind;
    b->refs = 1;
    return b;
}

static char *dup_str(const char *s)
{
    return strdup(s ? s : "");
}

static void free_text(jtext_t *t)
{
    while (t != NULL) {
        jtext_t *next = t->next;
        free(t);
        t = next;
    }
}

/* BYTES for one row's parameters, from the batch's text blocks. */
static void *text_alloc(jbatch_t *b, size_t bytes)
{
    const size_t align = sizeof(max_align_t);
    if (bytes > SIZE_MAX - align - sizeof(jtext_t))
        return NULL;
    bytes = (bytes + align - 1) / align * align;
    jtext_t *t = b->sqltext;
    if (t == NULL || t->cap - t->used < bytes) {
        size_t cap = bytes > JTEXT_BLOCK ? bytes : JTEXT_BLOCK;
        jtext_t *nt = malloc(sizeof *nt + cap);
        if (!nt)
            return NULL;
        *nt = (jtext_t){.next = t, .cap = cap};
        b->sqltext = t = nt;
    }
    void *p = (char *)t->data + t->used;
    t->used += bytes;
    return p;
}

/* Gives back the text of rows from P (a row's params, or NULL for all) onwards: rows are
 * allocated in order, so that is everything after P in its block and every newer block. */
static void text_rewind(jbatch_t *b, const void *p)
{
    while (b->sqltext != NULL) {
        jtext_t *t = b->sqltext;
        const char *start = (const char *)t->data;
        if (p != NULL && (const char *)p >= start && (const char *)p < start + t->cap) {
            t->used = (size_t)((const char *)p - start);
            return;
        }
        b->sqltext = t->next;
        free(t);
    }
}

static void free_rows(jbatch_t *b)
{
    for (size_t i = 0; i < b->nrejects; i++) {
        jreject_t *r = &b->rejects[i];
        free(r->adapter);
        free(r->event_id);
        free(r->type);
        free(r->reason);
        free(r->bytes);
    }
    for (size_t i = 0; i < b->ndead; i++) {
        jdead_t *d = &b->dead[i];
        free(d->adapter);
        free(d->subscription);
        free(d->event_id);
        free(d->type);
        free(d->reason);
        free(d->envelope);
    }
    for (size_t i = 0; i < b->ncursors; i++) {
        jcursor_t *c = &b->cursors[i];
        free(c->adapter);
        free(c->subscription);
        for (size_t j = 0; j < c->npatterns; j++)
            free(c->patterns[j]);
        free(c->patterns);
        free(c->attempts);
    }
    free_text(b->sqltext);
    b->sqltext = NULL;
    free(b->sql);
    b->sql = NULL;
    b->nsql = b->capsql = 0;
    free(b->rejects);
    free(b->dead);
    free(b->cursors);
    b->rejects = NULL;
    b->dead = NULL;
    b->cursors = NULL;
    b->nrejects = b->ndead = b->ncursors = 0;
    b->caprejects = b->capdead = b->capcursors = 0;
}

void jbatch_release(jbatch_t **bp)
{
    if (!bp || !*bp)
        return;
    jbatch_t *b = *bp;
    *bp = NULL;
    if (--b->refs > 0)
        return;
    free(b->e);
    pb_buf_free(&b->data);
    free_rows(b);
    free(b);
}

bool jbatch_empty(const jbatch_t *b)
{
    return b->n == 0 && b->nrejects == 0 && b->ndead == 0 && b->ncursors == 0 && b->nsql == 0;
}

/* Grows an array of ELEM-byte items to hold one more. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 64;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

jentry_t *jbatch_add(jbatch_t *b, uint64_t seq, const char *type, size_t type_len,
                     const char *source, size_t source_len, const char *event_id,
                     size_t event_id_len, const char *entity_key, size_t entity_key_len,
                     const uint8_t *envelope, size_t envelope_len, int64_t received_at)
{
    if (type_len > 65535 || source_len > 65535 || event_id_len > 65535 || entity_key_len > 65535 ||
        envelope_len > UINT32_MAX)
        return NULL;
    size_t need = type_len + source_len + event_id_len + entity_key_len + envelope_len;
    if (b->data.len + need > UINT32_MAX)
        return NULL;
    if (grow((void **)&b->e, &b->cap, b->n, sizeof *b->e) < 0 || pb_buf_reserve(&b->data, need) < 0)
        return NULL;
    jentry_t *e = &b->e[b->n++];
    memset(e, 0, sizeof *e);
    e->seq = seq;
    e->off = (uint32_t)b->data.len;
    e->type_len = (uint16_t)type_len;
    e->source_len = (uint16_t)source_len;
    e->event_id_len = (uint16_t)event_id_len;
    e->entity_key_len = (uint16_t)entity_key_len;
    e->env_len = (uint32_t)envelope_len;
    e->received_at = received_at;
    e->session = -1;
    e->entity = hmap_hash_bytes(entity_key, entity_key_len, 0);
    pb_put_raw(&b->data, type, type_len);
    pb_put_raw(&b->data, source, source_len);
    pb_put_raw(&b->data, event_id, event_id_len);
    pb_put_raw(&b->data, entity_key, entity_key_len);
    pb_put_raw(&b->data, envelope, envelope_len);
    return e;
}

int jbatch_extend_last(jbatch_t *b, const uint8_t *p, size_t len)
{
    if (!b->n || b->e[b->n - 1].target_len || b->data.len + len > UINT32_MAX ||
        pb_put_raw(&b->data, p, len) < 0)
        return -1;
    b->e[b->n - 1].env_len += (uint32_t)len;
    return 0;
}

int jbatch_set_target(jbatch_t *b, int16_t index, const char *name, size_t len)
{
    if (!b->n || len > 255 || b->data.len + len > UINT32_MAX || pb_put_raw(&b->data, name, len) < 0)
        return -1;
    b->e[b->n - 1].target = index;
    b->e[b->n - 1].target_len = (uint16_t)len;
    return 0;
}

/* A new entry of the batch's statements and rows, zeroed. */
static jsql_t *add_entry(jbatch_t *b)
{
    if (grow((void **)&b->sql, &b->capsql, b->nsql, sizeof *b->sql) < 0)
        return NULL;
    jsql_t *q = &b->sql[b->nsql];
    memset(q, 0, sizeof *q);
    return q;
}

int jbatch_add_sql(jbatch_t *b, const char *stmt, int nparams, const char *const *params)
{
    jsql_t *q = nparams >= 0 && stmt ? add_entry(b) : NULL;
    if (!q)
        return -1;
    size_t bytes = (size_t)nparams * sizeof(char *);
    for (int i = 0; i < nparams; i++)
        bytes += params[i] ? strlen(params[i]) + 1 : 0;
    char **p = text_alloc(b, bytes ? bytes : 1);
    if (!p)
        return -1;
    char *text = (char *)(p + nparams);
    for (int i = 0; i < nparams; i++) {
        if (!params[i]) {
            p[i] = NULL;
            continue;
        }
        size_t n = strlen(params[i]) + 1;
        memcpy(text, params[i], n);
        p[i] = text;
        text += n;
    }
    q->stmt = stmt;
    q->nparams = nparams;
    q->params = p;
    b->nsql++;
    return 0;
}

static uint8_t *put_be32(uint8_t *p, uint32_t v)
{
    v = htonl(v);
    memcpy(p, &v, 4);
    return p + 4;
}

static uint8_t *put_be64(uint8_t *p, uint64_t v)
{
    v = htobe64(v);
    memcpy(p, &v, 8);
    return p + 8;
}

/* One value's length in the binary COPY format (-1: NULL), and for a string its strlen in
 * *SLEN; -2 if the value does not fit its type. */
static int64_t field_len(row_type_t t, const row_val_t *v, size_t *slen)
{
    if (v->null)
        return -1;
    switch (t) {
    case ROW_INT8:
    case ROW_FLOAT8:
        return 8;
    case ROW_INT4:
        return v->i < INT32_MIN || v->i > INT32_MAX ? -2 : 4;
    case ROW_BOOL:
        return 1;
    case ROW_JSONB:
        if (!v->s)
            return -1;
        *slen = strlen(v->s);
        return (int64_t)*slen + 1; /* jsonb's binary form: version 1, then the text */
    default:
        if (!v->s)
            return -1;
        *slen = strlen(v->s);
        return (int64_t)*slen;
    }
}

/* Encodes the row as one tuple of a binary COPY (the field count, then each field's length
 * and bytes, big-endian), in the batch's text blocks. */
static int add_row(jbatch_t *b, const row_desc_t *row, const row_upsert_t *u, const row_val_t *vals)
{
    if (row->ncols <= 0 || row->ncols > ROW_MAX_COLS)
        return -1;
    int64_t len[ROW_MAX_COLS];
    size_t slen[ROW_MAX_COLS], bytes = 2;
    for (int i = 0; i < row->ncols; i++) {
        len[i] = field_len(row->cols[i].type, &vals[i], &slen[i]);
        if (len[i] < -1 || len[i] > INT32_MAX)
            return -1;
        bytes += 4 + (len[i] > 0 ? (size_t)len[i] : 0);
    }
    jsql_t *q = add_entry(b);
    uint8_t *t = q ? text_alloc(b, bytes) : NULL;
    if (!t)
        return -1;
    q->row = row;
    q->upsert = u;
    q->tuple = t;
    q->tuple_len = bytes;
    uint16_t n = htons((uint16_t)row->ncols);
    memcpy(t, &n, 2);
    t += 2;
    for (int i = 0; i < row->ncols; i++) {
        const row_val_t *v = &vals[i];
        t = put_be32(t, (uint32_t)(int32_t)len[i]);
        if (len[i] < 0)
            continue;
        switch (row->cols[i].type) {
        case ROW_INT8:
            t = put_be64(t, (uint64_t)v->i);
            break;
        case ROW_INT4:
            t = put_be32(t, (uint32_t)(int32_t)v->i);
            break;
        case ROW_FLOAT8: {
            uint64_t bits;
            memcpy(&bits, &v->d, sizeof bits);
            t = put_be64(t, bits);
            break;
        }
        case ROW_BOOL:
            *t++ = v->b ? 1 : 0;
            break;
        case ROW_JSONB:
            *t++ = 1;
            memcpy(t, v->s, slen[i]);
            t += slen[i];
            break;
        default:
            memcpy(t, v->s, slen[i]);
            t += slen[i];
            break;
        }
    }
    b->nsql++;
    return 0;
}

int jbatch_add_row(jbatch_t *b, const row_desc_t *row, const row_val_t *vals)
{
    return add_row(b, row, NULL, vals);
}

int jbatch_add_upsert_row(jbatch_t *b, const row_upsert_t *u, const row_val_t *vals)
{
    return add_row(b, u->row, u, vals);
}

/* What a column of rejected_event shows of a text, escapes included: an event_id or type four
 * times its longest valid length; a reason, the longest the hub writes. */
#define REJECT_ID_TEXT_MAX 520
#define REJECT_REASON_TEXT_MAX 1024

static char *dup_text(const char *s, size_t cap)
{
    char buf[REJECT_REASON_TEXT_MAX + 1];
    if (cap > sizeof buf)
        cap = sizeof buf;
    text_clean(buf, cap, s, s ? strlen(s) : 0);
    return strdup(buf);
}

int jbatch_add_reject(jbatch_t *b, const char *adapter, const char *event_id, const char *type,
                      const char *reason, const void *bytes, size_t len, size_t keep, int64_t at)
{
    if (grow((void **)&b->rejects, &b->caprejects, b->nrejects, sizeof *b->rejects) < 0)
        return -1;
    jreject_t *r = &b->rejects[b->nrejects];
    memset(r, 0, sizeof *r);
    size_t kept = keep < len ? keep : len;
    r->bytes = malloc(kept ? kept : 1);
    r->adapter = dup_text(adapter, REJECT_ID_TEXT_MAX);
    r->event_id = dup_text(event_id, REJECT_ID_TEXT_MAX);
    r->type = dup_text(type, REJECT_ID_TEXT_MAX);
    r->reason = dup_text(reason, REJECT_REASON_TEXT_MAX);
    r->len = kept;
    r->size = len;
    r->at = at;
    unsigned int hlen = 0;
    if (!r->bytes || !r->adapter || !r->event_id || !r->type || !r->reason ||
        EVP_Digest(len ? bytes : "", len, r->sha256, &hlen, EVP_sha256(), NULL) != 1 ||
        hlen != sizeof r->sha256) {
        /* Out of memory: no half-made row may reach the insert. */
        free(r->bytes);
        free(r->adapter);
        free(r->event_id);
        free(r->type);
        free(r->reason);
        return -1;
    }
    if (kept)
        memcpy(r->bytes, bytes, kept);
    b->nrejects++;
    return 0;
}

int jbatch_add_dead(jbatch_t *b, const char *adapter, const char *subscription, uint64_t seq,
                    const char *event_id, const char *type, uint32_t attempts, const char *reason,
                    const void *envelope, size_t envelope_len, int64_t at)
{
    if (grow((void **)&b->dead, &b->capdead, b->ndead, sizeof *b->dead) < 0)
        return -1;
    jdead_t *d = &b->dead[b->ndead];
    memset(d, 0, sizeof *d);
    d->envelope = malloc(envelope_len ? envelope_len : 1);
    d->adapter = dup_str(adapter);
    d->subscription = dup_str(subscription);
    /* Text the subscriber or publisher chose (a NACK's reason, the event's
     * id and type) goes into text columns: one invalid byte would fail the
     * whole commit, so it is cleaned like a refusal's. */
    d->event_id = dup_text(event_id, REJECT_ID_TEXT_MAX);
    d->type = dup_text(type, REJECT_ID_TEXT_MAX);
    d->reason = dup_text(reason, REJECT_REASON_TEXT_MAX);
    d->seq = seq;
    d->attempts = attempts;
    d->envelope_len = envelope_len;
    d->at = at;
    b->ndead++;
    if (!d->envelope || !d->adapter || !d->subscription || !d->event_id || !d->type || !d->reason)
        return -1;
    if (envelope_len)
        memcpy(d->envelope, envelope, envelope_len);
    return 0;
}

int jbatch_add_cursor(jbatch_t *b, const char *adapter, const char *subscription,
                      uint64_t acked_seq, char *const *patterns, size_t npatterns)
{
    /* One row per subscription per batch: a later cursor replaces an earlier one. */
    for (size_t i = 0; i < b->ncursors; i++) {
        jcursor_t *c = &b->cursors[i];
        if (strcmp(c->adapter, adapter) == 0 && strcmp(c->subscription, subscription) == 0 &&
            !patterns) {
            c->acked_seq = acked_seq;
            return 0;
        }
    }
    if (grow((void **)&b->cursors, &b->capcursors, b->ncursors, sizeof *b->cursors) < 0)
        return -1;
    jcursor_t *c = &b->cursors[b->ncursors];
    memset(c, 0, sizeof *c);
    c->adapter = dup_str(adapter);
    c->subscription = dup_str(subscription);
    c->acked_seq = acked_seq;
    b->ncursors++;
    if (!c->adapter || !c->subscription)
        return -1;
    if (patterns) {
        c->patterns = calloc(npatterns ? npatterns : 1, sizeof *c->patterns);
        if (!c->patterns)
            return -1;
        for (size_t i = 0; i < npatterns; i++) {
            c->patterns[i] = dup_str(patterns[i]);
            c->npatterns++;
            if (!c->patterns[i])
                return -1;
        }
    }
    return 0;
}

int jbatch_add_attempt(jbatch_t *b, const char *adapter, const char *subscription, uint64_t seq,
                       uint32_t attempts)
{
    jcursor_t *c = NULL;
    for (size_t i = 0; i < b->ncursors && !c; i++)
        if (strcmp(b->cursors[i].adapter, adapter) == 0 &&
            strcmp(b->cursors[i].subscription, subscription) == 0)
            c = &b->cursors[i];
    if (!c) {
        /* acked_seq 0: the row carries counts only, and moves no floor. */
        if (jbatch_add_cursor(b, adapter, subscription, 0, NULL, 0) < 0)
            return -1;
        c = &b->cursors[b->ncursors - 1];
    }
    if (grow((void **)&c->attempts, &c->capattempts, c->nattempts, sizeof *c->attempts) < 0)
        return -1;
    c->attempts[c->nattempts++] = (jattempt_t){seq, attempts};
    return 0;
}

int jbatch_take_dead(jbatch_t *to, jbatch_t *from)
{
    for (size_t i = 0; i < from->ndead; i++) {
        if (grow((void **)&to->dead, &to->capdead, to->ndead, sizeof *to->dead) < 0)
            return -1;
        to->dead[to->ndead++] = from->dead[i];
    }
    from->ndead = 0;
    return 0;
}

void jbatch_truncate_sql(jbatch_t *b, size_t mark)
{
    if (mark == 0) {
        /* Nothing kept: the array goes too. A committed batch is truncated so before the window
         * keeps it for its events, and the array is some four entries per person event plus
         * the slack of its doublings: 60-80 MB over a full window of person loads. */
        text_rewind(b, NULL);
        free(b->sql);
        b->sql = NULL;
        b->nsql = b->capsql = 0;
        return;
    }
    if (mark >= b->nsql)
        return;
    const jsql_t *q = &b->sql[mark];
    text_rewind(b, q->stmt ? (const void *)q->params : q->tuple);
    b->nsql = mark;
}

jentry_t *jbatch_find(const jbatch_t *b, uint64_t seq)
{
    if (!b->n || seq < b->e[0].seq || seq > b->e[b->n - 1].seq)
        return NULL;
    /* Commit batches hold consecutive seqs; fetched ones may have gaps. */
    size_t guess = (size_t)(seq - b->e[0].seq);
    if (guess < b->n && b->e[guess].seq == seq)
        return &b->e[guess];
    size_t lo = 0, hi = b->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->e[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < b->n && b->e[lo].seq == seq ? &b->e[lo] : NULL;
}

/* ---- window ---- */

struct window {
    jbatch_t **ring;
    size_t head, count, cap;
    size_t events, max_events;
    size_t bytes, max_bytes; /* max_bytes 0: no byte bound */
};

window_t *window_new(size_t max_events)
{
    window_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->cap = 1024;
    w->ring = calloc(w->cap, sizeof *w->ring);
    if (!w->ring) {
        free(w);
        return NULL;
    }
    w->max_events = max_events ? max_events : 1;
    return w;
}

void window_set_max_bytes(window_t *w, size_t max_bytes)
{
    w->max_bytes = max_bytes;
}

size_t jbatch_bytes(const jbatch_t *b)
{
    return b->cap * sizeof *b->e + b->data.cap;
}

/* A batch grew by doubling while it was filled; in the window it never grows
 * again, so the slack (up to half of each buffer) would be memory held for
 * nothing until the batch leaves the window. A failed shrink keeps the
 * bigger buffer, which is still correct. */
static void shrink_to_fit(jbatch_t *b)
{
    if (b->n && b->cap > b->n) {
        jentry_t *e = realloc(b->e, b->n * sizeof *e);
        if (e) {
            b->e = e;
            b->cap = b->n;
        }
    }
    if (b->data.len && b->data.cap > b->data.len) {
        uint8_t *d = realloc(b->data.data, b->data.len);
        if (d) {
            b->data.data = d;
            b->data.cap = b->data.len;
        }
    }
}

static jbatch_t *ring_at(const window_t *w, size_t i)
{
    return w->ring[(w->head + i) & (w->cap - 1)];
}

static void evict_oldest(window_t *w)
{
    jbatch_t *b = w->ring[w->head];
    w->ring[w->head] = NULL;
    w->head = (w->head + 1) & (w->cap - 1);
    w->count--;
    w->events -= b->n;
    w->bytes -= jbatch_bytes(b);
    jbatch_release(&b);
}

void window_destroy(window_t **wp)
{
    if (!wp || !*wp)
        return;
    window_t *w = *wp;
    while (w->count)
        evict_oldest(w);
    free(w->ring);
    free(w);
    *wp = NULL;
}

static bool over_bounds(const window_t *w)
{
    return w->events > w->max_events || (w->max_bytes && w->bytes > w->max_bytes);
}

int window_push(window_t *w, jbatch_t *b)
{
    if (w->count == w->cap) {
        size_t ncap = w->cap * 2;
        jbatch_t **nr = calloc(ncap, sizeof *nr);
        if (!nr)
            return -1;
        for (size_t i = 0; i < w->count; i++)
            nr[i] = ring_at(w, i);
        free(w->ring);
        w->ring = nr;
        w->head = 0;
        w->cap = ncap;
    }
    shrink_to_fit(b);
    b->refs++;
    w->ring[(w->head + w->count) & (w->cap - 1)] = b;
    w->count++;
    w->events += b->n;
    w->bytes += jbatch_bytes(b);
    while (w->count > 1 && over_bounds(w))
        evict_oldest(w);
    return 0;
}

uint64_t window_first(const window_t *w)
{
    return w->count ? ring_at(w, 0)->e[0].seq : 0;
}

uint64_t window_last(const window_t *w)
{
    if (!w->count)
        return 0;
    const jbatch_t *b = ring_at(w, w->count - 1);
    return b->e[b->n - 1].seq;
}

size_t window_events(const window_t *w)
{
    return w->events;
}

size_t window_bytes(const window_t *w)
{
    return w->bytes;
}

size_t window_max_bytes(const window_t *w)
{
    return w->max_bytes;
}

jentry_t *window_find(const window_t *w, uint64_t seq, jbatch_t **batch)
{
    if (!w->count || seq < window_first(w) || seq > window_last(w))
        return NULL;
    /* Newest batches are the ones asked for most: look from the end first. */
    size_t lo = 0, hi = w->count;
    jbatch_t *last = ring_at(w, w->count - 1);
    if (seq >= last->e[0].seq) {
        lo = w->count - 1;
    } else {
        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            if (ring_at(w, mid)->e[0].seq <= seq)
                lo = mid;
            else
                hi = mid;
        }
    }
    jbatch_t *b = ring_at(w, lo);
    jentry_t *e = jbatch_find(b, seq);
    if (!e || e->state != JE_OK)
        return NULL;
    *batch = b;
    return e;
}

/* ---- dedup ---- */

typedef struct {
    uint64_t h1, h2, seq;
} dslot_t;

struct dedup {
    dslot_t *slots;
    size_t mask, count;
    dedup_key_t *fifo; /* insertion order, for eviction */
    size_t fifo_head, fifo_len, capacity;
};

dedup_t *dedup_new(size_t capacity)
{
    dedup_t *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    size_t cap = 1024;
    while (cap < capacity * 2)
        cap *= 2;
    d->slots = calloc(cap, sizeof *d->slots);
    d->fifo = calloc(capacity ? capacity : 1, sizeof *d->fifo);
    if (!d->slots || !d->fifo) {
        free(d->slots);
        free(d->fifo);
        free(d);
        return NULL;
    }
    d->mask = cap - 1;
    d->capacity = capacity ? capacity : 1;
    return d;
}

void dedup_destroy(dedup_t **dp)
{
    if (!dp || !*dp)
        return;
    free((*dp)->slots);
    free((*dp)->fifo);
    free(*dp);
    *dp = NULL;
}

/* Two independent 64-bit hashes: a false "duplicate" would lose an event, and
 * with 128 bits the chance over a million ids is far below any hardware fault. */
dedup_key_t dedup_key(const char *source, size_t slen, const char *event_id, size_t elen)
{
    uint64_t s1 = hmap_hash_bytes(source, slen, 0x9e3779b97f4a7c15ULL);
    uint64_t s2 = hmap_hash_bytes(source, slen, 0xc2b2ae3d27d4eb4fULL);
    /* h1 is never zero: zero marks an empty slot. */
    dedup_key_t k = {hmap_hash_bytes(event_id, elen, s1) | 1, hmap_hash_bytes(event_id, elen, s2)};
    return k;
}

static size_t dslot(const dedup_t *d, dedup_key_t k)
{
    size_t i = (size_t)k.h1 & d->mask;
    while (d->slots[i].h1 && !(d->slots[i].h1 == k.h1 && d->slots[i].h2 == k.h2))
        i = (i + 1) & d->mask;
    return i;
}

int dedup_get(const dedup_t *d, dedup_key_t k, uint64_t *seq)
{
    size_t i = dslot(d, k);
    if (!d->slots[i].h1)
        return 0;
    *seq = d->slots[i].seq;
    return 1;
}

void dedup_del(dedup_t *d, dedup_key_t k)
{
    size_t i = dslot(d, k);
    if (!d->slots[i].h1)
        return;
    size_t j = i;
    for (;;) {
        j = (j + 1) & d->mask;
        if (!d->slots[j].h1)
            break;
        size_t home = (size_t)d->slots[j].h1 & d->mask;
        int movable = (i <= j) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            d->slots[i] = d->slots[j];
            i = j;
        }
    }
    memset(&d->slots[i], 0, sizeof d->slots[i]);
    d->count--;
}

void dedup_put(dedup_t *d, dedup_key_t k, uint64_t seq)
{
    size_t i = dslot(d, k);
    if (d->slots[i].h1) {
        d->slots[i].seq = seq;
        return;
    }
    if (d->fifo_len == d->capacity) {
        dedup_del(d, d->fifo[d->fifo_head]);
        d->fifo_head = (d->fifo_head + 1) % d->capacity;
        d->fifo_len--;
        i = dslot(d, k);
    }
    d->slots[i].h1 = k.h1;
    d->slots[i].h2 = k.h2;
    d->slots[i].seq = seq;
    d->count++;
    d->fifo[(d->fifo_head + d->fifo_len) % d->capacity] = k;
    d->fifo_len++;
}

size_t dedup_count(const dedup_t *d)
{
    return d->count;
}
