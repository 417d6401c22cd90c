/* sdk_outbox.c - slot array + free list + three intrusive lists + event_id hash index. */
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

struct sdk_outbox {
    sdk_outbox_entry_t *slots;
    size_t nslots; /* slots allocated so far (grows up to max) */
    size_t max;
    size_t count;
    uint32_t free_head;
    list_t lists[3];
    sdk_hindex_t index;
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
    ob->max = max;
    ob->free_head = SDK_OUTBOX_NONE;
    for (int i = 0; i < 3; i++) {
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

uint32_t sdk_outbox_add(sdk_outbox_t *ob, const char *event_id, const uint8_t *bytes, size_t len,
                        joinery_confirm_fn cb, void *ud, char *err, size_t errlen)
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
    if (sdk_buf_append(&e->bytes, bytes, len) != 0) {
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
    sdk_hindex_insert(&ob->index, e->hash, id);
    list_append(ob, id, SDK_OUTBOX_QUEUED);
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

void sdk_outbox_requeue_inflight(sdk_outbox_t *ob)
{
    list_t *in = &ob->lists[SDK_OUTBOX_INFLIGHT];
    list_t *q = &ob->lists[SDK_OUTBOX_QUEUED];
    if (in->head == SDK_OUTBOX_NONE) {
        return;
    }
    for (uint32_t id = in->head; id != SDK_OUTBOX_NONE; id = ob->slots[id].next) {
        ob->slots[id].state = SDK_OUTBOX_QUEUED;
    }
    ob->slots[in->tail].next = q->head;
    if (q->head != SDK_OUTBOX_NONE) {
        ob->slots[q->head].prev = in->tail;
    } else {
        q->tail = in->tail;
    }
    q->head = in->head;
    q->count += in->count;
    in->head = in->tail = SDK_OUTBOX_NONE;
    in->count = 0;
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
