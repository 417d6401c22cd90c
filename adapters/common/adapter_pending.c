/* adapter_pending.c - events in flight and who waits for them (contract in adapter_pending.h).
 *
 * Events sit in a fixed array found through an open-addressing index (linear probing, deleted
 * by backward shift, so no tombstones build up); each has a doubly linked list of waiters taken
 * from a second fixed array. Both arrays chain their free slots, so add and confirm cost a hash
 * and a few index moves. */
#include "adapter_pending.h"

#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX

typedef struct {
    char id[JOINERY_EVENT_ID_MAX + 1];
    uint32_t hash;
    uint32_t first; /* waiter list, or free-list link while unused */
} pev_t;

typedef struct {
    void *token;
    uint64_t owner;
    uint32_t ev; /* NONE while free */
    uint32_t prev, next;
} pwait_t;

struct adapter_pending {
    adapter_answer_fn fn;
    void *ud;
    pev_t *ev;
    size_t nev, used_ev;
    uint32_t free_ev;
    pwait_t *w;
    size_t nw, used_w;
    uint32_t free_w;
    uint32_t *index; /* event slot + 1; 0 empty */
    size_t mask;
};

static uint32_t hash_id(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a: ids are short and not chosen by an attacker's hash */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

adapter_pending_t *adapter_pending_new(size_t max_events, size_t max_waiters, adapter_answer_fn fn,
                                       void *ud)
{
    if (max_events == 0 || max_waiters == 0 || max_events >= NONE / 4 || max_waiters >= NONE)
        return NULL;
    adapter_pending_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    size_t slots = 16;
    while (slots < max_events * 2)
        slots *= 2;
    p->fn = fn;
    p->ud = ud;
    p->nev = max_events;
    p->nw = max_waiters;
    p->mask = slots - 1;
    p->ev = calloc(max_events, sizeof *p->ev);
    p->w = calloc(max_waiters, sizeof *p->w);
    p->index = calloc(slots, sizeof *p->index);
    if (p->ev == NULL || p->w == NULL || p->index == NULL) {
        adapter_pending_destroy(&p);
        return NULL;
    }
    for (size_t i = 0; i < max_events; i++)
        p->ev[i].first = i + 1 < max_events ? (uint32_t)(i + 1) : NONE;
    for (size_t i = 0; i < max_waiters; i++) {
        p->w[i].ev = NONE;
        p->w[i].next = i + 1 < max_waiters ? (uint32_t)(i + 1) : NONE;
    }
    p->free_ev = 0;
    p->free_w = 0;
    return p;
}

void adapter_pending_destroy(adapter_pending_t **p)
{
    if (p == NULL || *p == NULL)
        return;
    free((*p)->ev);
    free((*p)->w);
    free((*p)->index);
    free(*p);
    *p = NULL;
}

/* The index position holding EVENT_ID, or the empty position where it would go. */
static size_t probe(const adapter_pending_t *p, const char *id, uint32_t h, int *found)
{
    size_t i = h & p->mask;
    for (;;) {
        uint32_t e = p->index[i];
        if (e == 0) {
            *found = 0;
            return i;
        }
        if (p->ev[e - 1].hash == h && strcmp(p->ev[e - 1].id, id) == 0) {
            *found = 1;
            return i;
        }
        i = (i + 1) & p->mask;
    }
}

static void index_remove(adapter_pending_t *p, size_t i)
{
    /* Backward-shift deletion: move later entries of the probe run into the hole when their home
     * position does not lie strictly between the hole and themselves. */
    size_t hole = i;
    for (size_t j = (i + 1) & p->mask; p->index[j] != 0; j = (j + 1) & p->mask) {
        size_t home = p->ev[p->index[j] - 1].hash & p->mask;
        if (((j - home) & p->mask) >= ((j - hole) & p->mask)) {
            p->index[hole] = p->index[j];
            hole = j;
        }
    }
    p->index[hole] = 0;
}

static uint32_t take_waiter(adapter_pending_t *p, uint32_t ev, void *token, uint64_t owner)
{
    uint32_t w = p->free_w;
    p->free_w = p->w[w].next;
    p->used_w++;
    pwait_t *x = &p->w[w];
    x->token = token;
    x->owner = owner;
    x->ev = ev;
    x->prev = NONE;
    x->next = p->ev[ev].first;
    if (x->next != NONE)
        p->w[x->next].prev = w;
    p->ev[ev].first = w;
    return w;
}

static void unlink_waiter(adapter_pending_t *p, uint32_t w)
{
    pwait_t *x = &p->w[w];
    if (x->prev != NONE)
        p->w[x->prev].next = x->next;
    else
        p->ev[x->ev].first = x->next;
    if (x->next != NONE)
        p->w[x->next].prev = x->prev;
    x->ev = NONE;
    x->token = NULL;
    x->next = p->free_w;
    p->free_w = w;
    p->used_w--;
}

int adapter_pending_add(adapter_pending_t *p, const char *event_id, void *token, uint64_t owner)
{
    size_t len = strlen(event_id);
    if (len == 0 || len > JOINERY_EVENT_ID_MAX || p->free_w == NONE)
        return -1;
    uint32_t h = hash_id(event_id);
    int found;
    size_t i = probe(p, event_id, h, &found);
    if (found) {
        take_waiter(p, p->index[i] - 1, token, owner);
        return 1;
    }
    if (p->free_ev == NONE)
        return -1;
    uint32_t e = p->free_ev;
    p->free_ev = p->ev[e].first;
    p->used_ev++;
    memcpy(p->ev[e].id, event_id, len + 1);
    p->ev[e].hash = h;
    p->ev[e].first = NONE;
    p->index[i] = e + 1;
    take_waiter(p, e, token, owner);
    return 0;
}

/* Answers every waiter of the event at index position I and frees it. */
static void finish(adapter_pending_t *p, size_t i, int ok, const char *reason,
                   const joinery_confirm_t *cf)
{
    uint32_t e = p->index[i] - 1;
    index_remove(p, i);
    while (p->ev[e].first != NONE) {
        uint32_t w = p->ev[e].first;
        void *token = p->w[w].token;
        unlink_waiter(p, w);
        p->fn(p->ud, token, ok, reason, cf);
    }
    p->ev[e].id[0] = '\0';
    p->ev[e].first = p->free_ev;
    p->free_ev = e;
    p->used_ev--;
}

void adapter_pending_fail(adapter_pending_t *p, const char *event_id, const char *reason)
{
    int found;
    size_t i = probe(p, event_id, hash_id(event_id), &found);
    if (found)
        finish(p, i, 0, reason, NULL);
}

void adapter_pending_on_confirm(void *ud, const joinery_confirm_t *cf)
{
    adapter_pending_t *p = ud;
    if (cf == NULL || cf->event_id == NULL)
        return;
    int found;
    size_t i = probe(p, cf->event_id, hash_id(cf->event_id), &found);
    if (!found)
        return; /* not ours (published without this module): nothing waits for it */
    int ok = cf->status == JOINERY_OK || cf->status == JOINERY_DUPLICATE;
    finish(p, i, ok, ok || cf->reason == NULL ? "" : cf->reason, cf);
}

size_t adapter_pending_drop_owner(adapter_pending_t *p, uint64_t owner)
{
    size_t n = 0;
    /* A scan: owners go away far more rarely than events come and go, and a per-owner list would
     * cost every add. */
    for (size_t w = 0; w < p->nw && p->used_w > 0; w++) {
        if (p->w[w].ev != NONE && p->w[w].owner == owner) {
            unlink_waiter(p, (uint32_t)w);
            n++;
        }
    }
    return n;
}

size_t adapter_pending_room(const adapter_pending_t *p)
{
    size_t a = p->nev - p->used_ev, b = p->nw - p->used_w;
    return a < b ? a : b;
}

size_t adapter_pending_events(const adapter_pending_t *p)
{
    return p->used_ev;
}
