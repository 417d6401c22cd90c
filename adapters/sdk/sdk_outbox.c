/* sdk_outbox.c - slot array + free list + four intrusive lists + event_id hash index, and the
 * records: a pool of record slots, each heading the intrusive list of its unconfirmed events in
 * publish order, found by key hash. A record lives exactly as long as it has unconfirmed
 * events, so the pool never holds more than max records and is reused without allocating. */
#include "sdk_outbox.h"

#include "sdk_hindex.h"

#include <stdlib.h>
#include <string.h>

/* A slot keeps its buffer for the next event unless it grew past this, so one huge event does
 * not pin memory for the client's lifetime. */
#define KEEP_BUFFER_BYTES 65536

typedef struct {
    uint32_t head, tail;
    size_t count;
} list_t;

typedef struct {
    uint64_t key;        /* sdk_outbox_record() */
    uint32_t head, tail; /* unconfirmed events, oldest first; tail doubles as the free link */
    uint32_t nresend;    /* of them marked for resending: the record is blocked while > 0 */
} rec_t;

struct sdk_outbox {
    sdk_outbox_entry_t *slots;
    size_t nslots; /* slots allocated so far (grows up to max) */
    size_t max;
    size_t count;
    uint32_t free_head;
    list_t lists[SDK_OUTBOX_NLISTS];
    sdk_hindex_t index;
    rec_t *recs;
    size_t nrecs; /* record slots allocated so far (grows up to max) */
    size_t recs_used;
    size_t blocked;
    uint32_t rec_free;
    sdk_hindex_t rec_index;
};

static uint64_t id_hash(const char *s)
{
    /* FNV-1a: the ids are our own, so no adversary to fear; the finaliser spreads the bits
     * that select the hash slot. */
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static int id_eq(const void *ctx, uint32_t id, const void *key)
{
    const sdk_outbox_t *ob = ctx;
    return strcmp(ob->slots[id].event_id, key) == 0;
}

static int rec_eq(const void *ctx, uint32_t id, const void *key)
{
    const sdk_outbox_t *ob = ctx;
    return ob->recs[id].key == *(const uint64_t *)key;
}

uint64_t sdk_outbox_record(const char *source_record_id, const char *master_id)
{
    /* Tagged, so a source_record_id and a master_id that read the same stay apart. */
    char tag = 'r';
    const char *s = source_record_id;
    if (s == NULL || s[0] == '\0') {
        tag = 'm';
        s = master_id;
    }
    if (s == NULL || s[0] == '\0') {
        return 0;
    }
    uint64_t h = (0xcbf29ce484222325ull ^ (uint8_t)tag) * 0x100000001b3ull;
    for (; *s; s++) {
        h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h != 0 ? h : 1;
}

sdk_outbox_t *sdk_outbox_new(size_t max)
{
    if (max == 0 || max >= SDK_OUTBOX_NONE) {
        return NULL;
    }
    sdk_outbox_t *ob = calloc(1, sizeof *ob);
    if (ob == NULL) {
        return NULL;
    }
    if (sdk_hindex_init(&ob->index, max) != 0) {
        free(ob);
        return NULL;
    }
    if (sdk_hindex_init(&ob->rec_index, max) != 0) {
        sdk_hindex_free(&ob->index);
        free(ob);
        return NULL;
    }
    ob->max = max;
    ob->free_head = SDK_OUTBOX_NONE;
    ob->rec_free = SDK_OUTBOX_NONE;
    for (int i = 0; i < SDK_OUTBOX_NLISTS; i++) {
        ob->lists[i].head = ob->lists[i].tail = SDK_OUTBOX_NONE;
    }
    return ob;
}

void sdk_outbox_destroy(sdk_outbox_t **ob)
{
    if (ob == NULL || *ob == NULL) {
        return;
    }
    for (size_t i = 0; i < (*ob)->nslots; i++) {
        sdk_buf_free(&(*ob)->slots[i].bytes);
    }
    free((*ob)->slots);
    sdk_hindex_free(&(*ob)->index);
    free((*ob)->recs);
    sdk_hindex_free(&(*ob)->rec_index);
    free(*ob);
    *ob = NULL;
}

static void list_unlink(sdk_outbox_t *ob, uint32_t id)
{
    sdk_outbox_entry_t *e = &ob->slots[id];
    list_t *l = &ob->lists[e->state];
    if (e->prev != SDK_OUTBOX_NONE) {
        ob->slots[e->prev].next = e->next;
    } else {
        l->head = e->next;
    }
    if (e->next != SDK_OUTBOX_NONE) {
        ob->slots[e->next].prev = e->prev;
    } else {
        l->tail = e->prev;
    }
    l->count--;
    e->prev = e->next = SDK_OUTBOX_NONE;
}

static void list_append(sdk_outbox_t *ob, uint32_t id, sdk_outbox_state_t state)
{
    sdk_outbox_entry_t *e = &ob->slots[id];
    list_t *l = &ob->lists[state];
    e->state = (int)state;
    e->next = SDK_OUTBOX_NONE;
    e->prev = l->tail;
    if (l->tail != SDK_OUTBOX_NONE) {
        ob->slots[l->tail].next = id;
    } else {
        l->head = id;
    }
    l->tail = id;
    l->count++;
}

static void list_prepend(sdk_outbox_t *ob, uint32_t id, sdk_outbox_state_t state)
{
    sdk_outbox_entry_t *e = &ob->slots[id];
    list_t *l = &ob->lists[state];
    e->state = (int)state;
    e->prev = SDK_OUTBOX_NONE;
    e->next = l->head;
    if (l->head != SDK_OUTBOX_NONE) {
        ob->slots[l->head].prev = id;
    } else {
        l->tail = id;
    }
    l->head = id;
    l->count++;
}

static uint32_t slot_take(sdk_outbox_t *ob)
{
    if (ob->free_head != SDK_OUTBOX_NONE) {
        uint32_t id = ob->free_head;
        ob->free_head = ob->slots[id].next;
        return id;
    }
    if (ob->nslots == ob->max) {
        return SDK_OUTBOX_NONE;
    }
    /* Grow geometrically so small adapters do not pay for max_unconfirmed slots up front. */
    size_t n = ob->nslots ? ob->nslots * 2 : 64;
    if (n > ob->max) {
        n = ob->max;
    }
    sdk_outbox_entry_t *s = realloc(ob->slots, n * sizeof *s);
    if (s == NULL) {
        return SDK_OUTBOX_NONE;
    }
    memset(s + ob->nslots, 0, (n - ob->nslots) * sizeof *s);
    ob->slots = s;
    for (size_t i = n; i-- > ob->nslots + 1;) {
        s[i].state = -1;
        s[i].next = ob->free_head;
        ob->free_head = (uint32_t)i;
    }
    uint32_t id = (uint32_t)ob->nslots;
    ob->nslots = n;
    return id;
}

/* The record slot for key: the one that exists, else a new one. SDK_OUTBOX_NONE when out of
 * memory. */
static uint32_t rec_get(sdk_outbox_t *ob, uint64_t key)
{
    uint32_t r = sdk_hindex_find(&ob->rec_index, key, rec_eq, ob, &key);
    if (r != SDK_HINDEX_NONE) {
        return r;
    }
    if (ob->rec_free == SDK_OUTBOX_NONE) {
        /* Never more records than events, so never more than max. */
        size_t n = ob->nrecs ? ob->nrecs * 2 : 64;
        if (n > ob->max) {
            n = ob->max;
        }
        if (n <= ob->nrecs) {
            return SDK_OUTBOX_NONE;
        }
        rec_t *g = realloc(ob->recs, n * sizeof *g);
        if (g == NULL) {
            return SDK_OUTBOX_NONE;
        }
        ob->recs = g;
        for (size_t i = n; i-- > ob->nrecs;) {
            g[i].tail = ob->rec_free;
            ob->rec_free = (uint32_t)i;
        }
        ob->nrecs = n;
    }
    r = ob->rec_free;
    rec_t *rc = &ob->recs[r];
    ob->rec_free = rc->tail;
    rc->key = key;
    rc->head = rc->tail = SDK_OUTBOX_NONE;
    rc->nresend = 0;
    sdk_hindex_insert(&ob->rec_index, key, r);
    ob->recs_used++;
    return r;
}

static void rec_append(sdk_outbox_t *ob, uint32_t id, uint32_t r)
{
    sdk_outbox_entry_t *e = &ob->slots[id];
    rec_t *rc = &ob->recs[r];
    e->rec = r;
    e->rnext = SDK_OUTBOX_NONE;
    e->rprev = rc->tail;
    if (rc->tail != SDK_OUTBOX_NONE) {
        ob->slots[rc->tail].rnext = id;
    } else {
        rc->head = id;
    }
    rc->tail = id;
}

/* Whether the entry may be sent while its record is blocked: it has no record, or it is the
 * record's oldest unconfirmed event. */
static int rec_first(const sdk_outbox_entry_t *e)
{
    return e->rec == SDK_OUTBOX_NONE || e->rprev == SDK_OUTBOX_NONE;
}

static void mark_resend(sdk_outbox_t *ob, sdk_outbox_entry_t *e)
{
    if (e->resend) {
        return;
    }
    e->resend = 1;
    if (e->rec != SDK_OUTBOX_NONE && ob->recs[e->rec].nresend++ == 0) {
        ob->blocked++;
    }
}

static void list_move(sdk_outbox_t *ob, uint32_t id, sdk_outbox_state_t state, int front)
{
    list_unlink(ob, id);
    if (front) {
        list_prepend(ob, id, state);
    } else {
        list_append(ob, id, state);
    }
}

/* The entry leaves its record (it was settled). What the record held may go next: all of it,
 * in publish order, once nothing of the record awaits a resend; else its new oldest event. */
static void rec_leave(sdk_outbox_t *ob, uint32_t id)
{
    sdk_outbox_entry_t *e = &ob->slots[id];
    uint32_t r = e->rec;
    if (r == SDK_OUTBOX_NONE) {
        return;
    }
    rec_t *rc = &ob->recs[r];
    int was_first = e->rprev == SDK_OUTBOX_NONE;
    if (e->rprev != SDK_OUTBOX_NONE) {
        ob->slots[e->rprev].rnext = e->rnext;
    } else {
        rc->head = e->rnext;
    }
    if (e->rnext != SDK_OUTBOX_NONE) {
        ob->slots[e->rnext].rprev = e->rprev;
    } else {
        rc->tail = e->rprev;
    }
    e->rec = e->rprev = e->rnext = SDK_OUTBOX_NONE;
    int unblocked = 0;
    if (e->resend && --rc->nresend == 0) {
        ob->blocked--;
        unblocked = 1;
    }
    if (rc->head == SDK_OUTBOX_NONE) {
        sdk_hindex_remove(&ob->rec_index, rc->key, r);
        rc->tail = ob->rec_free;
        ob->rec_free = r;
        ob->recs_used--;
        return;
    }
    if (unblocked) {
        /* To the end of QUEUED in publish order, unsent QUEUED ones too: an unsent event may
         * still sit in QUEUED ahead of older ones that were held. */
        for (uint32_t x = rc->head; x != SDK_OUTBOX_NONE; x = ob->slots[x].rnext) {
            int st = ob->slots[x].state;
            if (st == SDK_OUTBOX_HELD || st == SDK_OUTBOX_QUEUED) {
                list_move(ob, x, SDK_OUTBOX_QUEUED, 0);
            }
        }
    } else if (rc->nresend > 0 && was_first && ob->slots[rc->head].state == SDK_OUTBOX_HELD) {
        /* Its turn now, backoff or not: the hub has just answered the one before it. */
        list_move(ob, rc->head, SDK_OUTBOX_QUEUED, 1);
    }
}

uint32_t sdk_outbox_add(sdk_outbox_t *ob, const char *event_id, const uint8_t *bytes, size_t len,
                        uint64_t record, joinery_confirm_fn cb, void *ud, char *err, size_t errlen)
{
    size_t idlen = strlen(event_id);
    if (idlen == 0 || idlen > JOINERY_EVENT_ID_MAX) {
        sdk_errf(err, errlen, "event_id must be 1 to %u bytes", JOINERY_EVENT_ID_MAX);
        return SDK_OUTBOX_NONE;
    }
    if (ob->count >= ob->max) {
        sdk_errf(err, errlen, "%zu events already await confirmation", ob->count);
        return SDK_OUTBOX_NONE;
    }
    if (sdk_outbox_find(ob, event_id) != SDK_OUTBOX_NONE) {
        sdk_errf(err, errlen, "event %s is already awaiting confirmation", event_id);
        return SDK_OUTBOX_NONE;
    }
    uint32_t id = slot_take(ob);
    if (id == SDK_OUTBOX_NONE) {
        sdk_errf(err, errlen, "out of memory");
        return SDK_OUTBOX_NONE;
    }
    sdk_outbox_entry_t *e = &ob->slots[id];
    e->bytes.len = 0;
    uint32_t r = SDK_OUTBOX_NONE;
    if (sdk_buf_append(&e->bytes, bytes, len) != 0 ||
        (record != 0 && (r = rec_get(ob, record)) == SDK_OUTBOX_NONE)) {
        e->state = -1;
        e->next = ob->free_head;
        ob->free_head = id;
        sdk_errf(err, errlen, "out of memory for a %zu-byte event", len);
        return SDK_OUTBOX_NONE;
    }
    memcpy(e->event_id, event_id, idlen + 1);
    e->cb = cb;
    e->ud = ud;
    e->due_ms = 0;
    e->attempts = 0;
    e->hash = id_hash(event_id);
    e->resend = 0;
    e->rec = e->rprev = e->rnext = SDK_OUTBOX_NONE;
    sdk_hindex_insert(&ob->index, e->hash, id);
    int held = 0;
    if (r != SDK_OUTBOX_NONE) {
        held = ob->recs[r].nresend > 0;
        rec_append(ob, id, r);
    }
    list_append(ob, id, held ? SDK_OUTBOX_HELD : SDK_OUTBOX_QUEUED);
    ob->count++;
    return id;
}

sdk_outbox_entry_t *sdk_outbox_get(sdk_outbox_t *ob, uint32_t id)
{
    if (id >= ob->nslots || ob->slots[id].state < 0) {
        return NULL;
    }
    return &ob->slots[id];
}

uint32_t sdk_outbox_find(const sdk_outbox_t *ob, const char *event_id)
{
    return sdk_hindex_find(&ob->index, id_hash(event_id), id_eq, ob, event_id);
}

void sdk_outbox_remove(sdk_outbox_t *ob, uint32_t id)
{
    sdk_outbox_entry_t *e = sdk_outbox_get(ob, id);
    if (e == NULL) {
        return;
    }
    list_unlink(ob, id);
    sdk_hindex_remove(&ob->index, e->hash, id);
    rec_leave(ob, id);
    e->resend = 0;
    if (e->bytes.cap > KEEP_BUFFER_BYTES) {
        sdk_buf_free(&e->bytes);
    }
    e->state = -1;
    e->cb = NULL;
    e->ud = NULL;
    e->next = ob->free_head;
    ob->free_head = id;
    ob->count--;
}

void sdk_outbox_move(sdk_outbox_t *ob, uint32_t id, sdk_outbox_state_t state)
{
    if (sdk_outbox_get(ob, id) == NULL) {
        return;
    }
    list_unlink(ob, id);
    list_append(ob, id, state);
}

void sdk_outbox_move_front(sdk_outbox_t *ob, uint32_t id, sdk_outbox_state_t state)
{
    if (sdk_outbox_get(ob, id) == NULL) {
        return;
    }
    list_unlink(ob, id);
    list_prepend(ob, id, state);
}

uint32_t sdk_outbox_first(const sdk_outbox_t *ob, sdk_outbox_state_t state)
{
    return ob->lists[state].head;
}

uint32_t sdk_outbox_last(const sdk_outbox_t *ob, sdk_outbox_state_t state)
{
    return ob->lists[state].tail;
}

int sdk_outbox_hold(sdk_outbox_t *ob, uint32_t id)
{
    sdk_outbox_entry_t *e = &ob->slots[id];
    /* The common case, no record blocked, reads nothing else. */
    if (ob->blocked == 0 || rec_first(e) || ob->recs[e->rec].nresend == 0) {
        return 0;
    }
    list_move(ob, id, SDK_OUTBOX_HELD, 0);
    return 1;
}

sdk_outbox_state_t sdk_outbox_retry(sdk_outbox_t *ob, uint32_t id)
{
    sdk_outbox_entry_t *e = &ob->slots[id];
    mark_resend(ob, e);
    sdk_outbox_state_t st = rec_first(e) ? SDK_OUTBOX_WAITING : SDK_OUTBOX_HELD;
    list_move(ob, id, st, 0);
    return st;
}

sdk_outbox_state_t sdk_outbox_resend(sdk_outbox_t *ob, uint32_t id)
{
    sdk_outbox_entry_t *e = &ob->slots[id];
    mark_resend(ob, e);
    sdk_outbox_state_t st = rec_first(e) ? SDK_OUTBOX_QUEUED : SDK_OUTBOX_HELD;
    list_move(ob, id, st, 0);
    return st;
}

void sdk_outbox_requeue_inflight(sdk_outbox_t *ob)
{
    /* Backwards, each to the front: QUEUED then starts with them in send order. */
    uint32_t id = ob->lists[SDK_OUTBOX_INFLIGHT].tail;
    while (id != SDK_OUTBOX_NONE) {
        sdk_outbox_entry_t *e = &ob->slots[id];
        uint32_t preceding = e->prev;
        mark_resend(ob, e);
        if (rec_first(e)) {
            list_move(ob, id, SDK_OUTBOX_QUEUED, 1);
        } else {
            list_move(ob, id, SDK_OUTBOX_HELD, 0);
        }
        id = preceding;
    }
}

size_t sdk_outbox_count(const sdk_outbox_t *ob)
{
    return ob->count;
}

size_t sdk_outbox_count_in(const sdk_outbox_t *ob, sdk_outbox_state_t state)
{
    return ob->lists[state].count;
}

int sdk_outbox_full(const sdk_outbox_t *ob)
{
    return ob->count >= ob->max;
}

size_t sdk_outbox_records(const sdk_outbox_t *ob)
{
    return ob->recs_used;
}

size_t sdk_outbox_blocked(const sdk_outbox_t *ob)
{
    return ob->blocked;
}
