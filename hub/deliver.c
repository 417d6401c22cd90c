/* deliver.c - see deliver.h. The hot path (pump, ack) allocates nothing in
 * the steady state: delivery and entity records come from pools on the core,
 * and DELIVER bodies are written into one reused buffer. */
#include "deliver.h"

#include "base/log.h"
#include "base/route.h"

#include <joinery/v1/protocol.pb-c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DELIVER_MAX_PER_MSG 512
#define DELIVER_MAX_BYTES (512 * 1024)
#define SCAN_BUDGET 65536 /* journal entries one pump may pass over */
/* How long a DELIVER the peer's full queue refused waits before it is tried again. */
#define DELIVER_BLOCKED_US 20000
/* A first delivery is written to delivery_attempt only once it has been in
 * flight this long: most are settled sooner, and writing a row for each would
 * double the store's work for nothing. Later deliveries (rare) are written at
 * the next cursor flush. The price: a first delivery made less than about
 * this long (plus one flush) before the hub dies is not counted. */
#define SAVE_FIRST_AFTER_US 200000

typedef struct dlv {
    uint64_t seq, entity;
    uint32_t attempts;
    uint32_t saved;  /* attempts known committed to delivery_attempt */
    uint32_t queued; /* attempts last added to a batch for it */
    int64_t due_us;
    int64_t sent_us; /* last delivery */
    bool replay;     /* a replayed dead letter (sub.replays), outside the entity order */
    jbatch_t *batch; /* reference held while in flight */
    jentry_t *e;
    struct dlv *next; /* retry list or free list */
} dlv_t;

typedef struct ent {
    uint64_t entity;
    uint64_t head_seq; /* the one in flight or about to be */
    uint64_t *q;       /* later seqs of this entity, in order */
    size_t qhead, qlen, qcap;
    struct ent *next_free;
} ent_t;

/* ---- pools ---- */

static dlv_t *dlv_get(core_t *c)
{
    dlv_t *d = c->dlv_free;
    if (d)
        c->dlv_free = d->next;
    else
        d = malloc(sizeof *d);
    if (d)
        memset(d, 0, sizeof *d);
    return d;
}

static void dlv_put(core_t *c, dlv_t *d)
{
    jbatch_release(&d->batch);
    d->next = c->dlv_free;
    c->dlv_free = d;
}

static ent_t *ent_get(core_t *c, uint64_t entity, uint64_t seq)
{
    ent_t *e = c->ent_free;
    if (e) {
        c->ent_free = e->next_free;
    } else {
        e = calloc(1, sizeof *e);
        if (!e)
            return NULL;
    }
    e->entity = entity;
    e->head_seq = seq;
    e->qhead = e->qlen = 0;
    return e;
}

static void ent_put(core_t *c, ent_t *e)
{
    e->next_free = c->ent_free;
    c->ent_free = e;
}

static int ent_push(ent_t *e, uint64_t seq)
{
    if (e->qlen == e->qcap) {
        size_t ncap = e->qcap ? e->qcap * 2 : 8;
        uint64_t *nq = malloc(ncap * sizeof *nq);
        if (!nq)
            return -1;
        for (size_t i = 0; i < e->qlen; i++)
            nq[i] = e->q[(e->qhead + i) % e->qcap];
        free(e->q);
        e->q = nq;
        e->qcap = ncap;
        e->qhead = 0;
    }
    e->q[(e->qhead + e->qlen) % e->qcap] = seq;
    e->qlen++;
    return 0;
}

static uint64_t ent_pop(ent_t *e)
{
    uint64_t s = e->q[e->qhead];
    e->qhead = (e->qhead + 1) % e->qcap;
    e->qlen--;
    return s;
}

static int ready_push(sub_t *s, uint64_t seq)
{
    if (s->ready_len == s->ready_cap) {
        size_t ncap = s->ready_cap ? s->ready_cap * 2 : 64;
        uint64_t *nr = malloc(ncap * sizeof *nr);
        if (!nr)
            return -1;
        for (size_t i = 0; i < s->ready_len; i++)
            nr[i] = s->ready[(s->ready_head + i) % s->ready_cap];
        free(s->ready);
        s->ready = nr;
        s->ready_cap = ncap;
        s->ready_head = 0;
    }
    s->ready[(s->ready_head + s->ready_len) % s->ready_cap] = seq;
    s->ready_len++;
    return 0;
}

/* ---- attempts across a lost session or a restart (sub.tries) ---- */

/* A count in sub.tries, with whether it is committed (saved) or on its way
 * (queued) to delivery_attempt, packed into the map's value (never 0: a
 * count is at least 1). */
typedef struct {
    uint32_t attempts;
    bool saved, queued;
} try_t;

static void *try_pack(try_t t)
{
    return (void *)(((uintptr_t)t.attempts << 2) | (t.saved ? 2u : 0u) | (t.queued ? 1u : 0u));
}

static try_t try_unpack(const void *v)
{
    uintptr_t u = (uintptr_t)v;
    return (try_t){(uint32_t)(u >> 2), (u & 2u) != 0, (u & 1u) != 0};
}

/* SEQ was delivered T.attempts times when the subscription let go of it (or
 * before the hub restarted). */
static void tries_keep(sub_t *s, uint64_t seq, try_t t)
{
    if (!t.attempts || t.attempts > (UINT32_MAX >> 2))
        return;
    if ((!s->tries && !(s->tries = hmap_new(64))) || hmap_put(s->tries, seq, try_pack(t)) < 0)
        log_warn("deliver", "out of memory: the attempts of seq %llu for %s/%s start again",
                 (unsigned long long)seq, s->adapter, s->name);
}

/* How many times SEQ was delivered before the subscription last let go of it
 * (0: never); forgets it, since the delivery record counts on from there. */
static try_t tries_take(sub_t *s, uint64_t seq)
{
    if (!s->tries || !hmap_count(s->tries))
        return (try_t){0, false, false};
    return try_unpack(hmap_del(s->tries, seq));
}

/* Forgets the counts of events at or below FLOOR: they are settled. Only an
 * event whose subscription no longer matches it is left to this. */
static void tries_prune(sub_t *s, uint64_t floor)
{
    if (!s->tries || !hmap_count(s->tries) || floor <= s->tries_floor)
        return;
    s->tries_floor = floor;
    uint64_t gone[64];
    size_t n;
    do {
        size_t pos = 0;
        uint64_t key;
        void *val;
        n = 0;
        while (n < sizeof gone / sizeof *gone && hmap_next(s->tries, &pos, &key, &val))
            if (key <= floor)
                gone[n++] = key;
        for (size_t i = 0; i < n; i++)
            hmap_del(s->tries, gone[i]);
    } while (n == sizeof gone / sizeof *gone);
}

/* ---- subscriptions ---- */

/* A session's list of its subscriptions (session_t.subs), kept here. */
static int attach_sub(session_t *s, sub_t *sub)
{
    for (size_t i = 0; i < s->nsubs; i++)
        if (s->subs[i] == sub)
            return 0;
    if (s->nsubs == s->capsubs) {
        size_t ncap = s->capsubs ? s->capsubs * 2 : 4;
        sub_t **n = realloc(s->subs, ncap * sizeof *n);
        if (!n)
            return -1;
        s->subs = n;
        s->capsubs = ncap;
    }
    s->subs[s->nsubs++] = sub;
    return 0;
}

static void detach_sub(session_t *s, const sub_t *sub)
{
    for (size_t i = 0; i < s->nsubs; i++) {
        if (s->subs[i] == sub) {
            s->subs[i] = s->subs[--s->nsubs];
            return;
        }
    }
}

static void free_patterns(char **p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(p[i]);
    free(p);
}

static char **copy_patterns(char *const *p, size_t n)
{
    char **out = calloc(n ? n : 1, sizeof *out);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        out[i] = strdup(p[i]);
        if (!out[i]) {
            free_patterns(out, i);
            return NULL;
        }
    }
    return out;
}

sub_t *deliver_sub_find(core_t *c, const char *adapter, const char *name)
{
    for (size_t i = 0; i < c->nsubs; i++)
        if (strcmp(c->subs[i]->adapter, adapter) == 0 && strcmp(c->subs[i]->name, name) == 0)
            return c->subs[i];
    return NULL;
}

static void sub_free(sub_t *s)
{
    free(s->adapter);
    free(s->name);
    free_patterns(s->patterns, s->npatterns);
    hmap_destroy(&s->inflight);
    hmap_destroy(&s->busy);
    hmap_destroy(&s->tries);
    free(s->ready);
    free(s->replays);
    free(s->replays_done);
    jbatch_release(&s->catchup);
    pb_buf_free(&s->transient);
    free(s);
}

sub_t *deliver_sub_restore(core_t *c, const char *adapter, const char *name, char *const *patterns,
                           size_t n, uint64_t acked_seq)
{
    if (c->nsubs == c->capsubs) {
        size_t ncap = c->capsubs ? c->capsubs * 2 : 16;
        sub_t **ns = realloc(c->subs, ncap * sizeof *ns);
        if (!ns)
            return NULL;
        c->subs = ns;
        c->capsubs = ncap;
    }
    sub_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->id = ++c->next_sub_id;
    s->adapter = strdup(adapter);
    s->name = strdup(name);
    s->patterns = copy_patterns(patterns, n);
    s->npatterns = n;
    s->inflight = hmap_new(1024);
    s->busy = hmap_new(1024);
    s->session = -1;
    const config_adapter_t *a = config_adapter(c->cfg, adapter);
    s->adapter_target = a ? (int16_t)(a - c->cfg->adapters + 1) : -1;
    s->is_operator = a && a->is_operator;
    s->scan_seq = acked_seq + 1;
    s->persisted_floor = s->queued_floor = acked_seq;
    s->count_seq = acked_seq;
    s->patterns_saved = true; /* open_sub says otherwise for a new one */
    if (!s->adapter || !s->name || !s->patterns || !s->inflight || !s->busy) {
        sub_free(s);
        return NULL;
    }
    c->subs[c->nsubs++] = s;
    return s;
}

void deliver_destroy_all(core_t *c)
{
    for (size_t i = 0; i < c->nsubs; i++) {
        deliver_detach(c, c->subs[i]);
        sub_free(c->subs[i]);
    }
    free(c->subs);
    c->subs = NULL;
    c->nsubs = c->capsubs = 0;
    while (c->dlv_free) {
        dlv_t *d = c->dlv_free;
        c->dlv_free = d->next;
        free(d);
    }
    while (c->ent_free) {
        ent_t *e = c->ent_free;
        c->ent_free = e->next_free;
        free(e->q);
        free(e);
    }
}

uint64_t deliver_floor(const sub_t *s)
{
    uint64_t lowest = s->scan_seq;
    size_t pos = 0;
    uint64_t key;
    void *val;
    while (hmap_next(s->busy, &pos, &key, &val)) {
        const ent_t *e = val;
        if (e->head_seq < lowest)
            lowest = e->head_seq;
    }
    return lowest - 1;
}

uint64_t deliver_min_floor(const core_t *c)
{
    uint64_t m = UINT64_MAX;
    for (size_t i = 0; i < c->nsubs; i++) {
        uint64_t f = deliver_floor(c->subs[i]);
        if (f < m)
            m = f;
    }
    return m;
}

void deliver_session_closed(core_t *c, session_t *sess)
{
    for (size_t i = 0; i < sess->nsubs; i++)
        deliver_detach(c, sess->subs[i]);
    sess->nsubs = 0;
}

void deliver_detach(core_t *c, sub_t *s)
{
    uint64_t floor = deliver_floor(s);
    size_t pos = 0;
    uint64_t key;
    void *val;
    while (hmap_next(s->inflight, &pos, &key, &val)) {
        dlv_t *d = val;
        /* its next delivery counts on (a replay starts again: it is in sub.replays) */
        if (!d->replay)
            tries_keep(s, d->seq,
                       (try_t){d->attempts, d->saved >= d->attempts, d->queued >= d->attempts});
        dlv_put(c, d);
    }
    hmap_clear(s->inflight);
    tries_prune(s, floor);
    pos = 0;
    while (hmap_next(s->busy, &pos, &key, &val))
        ent_put(c, val);
    hmap_clear(s->busy);
    s->retry_head = NULL;
    s->ready_len = s->ready_head = 0;
    s->replays_sent = 0;
    s->scan_seq = floor + 1;
    /* Everything above the floor will be delivered again, settled or not:
     * events waiting are counted afresh from there. */
    s->count_seq = floor;
    s->matched = s->settled = 0;
    s->count_inexact = false;
    s->credit = 0;
    s->session = -1;
}

/* ---- finding an entry ---- */

typedef enum { AT_FOUND, AT_SKIP, AT_WAIT } at_t;

static void request_fetch(core_t *c, sub_t *s, uint64_t from)
{
    if (s->fetching || !c->db_up)
        return;
    jbatch_t *b = jbatch_new(JB_FETCH);
    if (!b)
        return;
    b->fetch_from = from;
    b->fetch_limit = 4096;
    /* A read is held while the subscription works through it: a part of
     * what the window may hold, not 4096 events of any size. */
    b->fetch_max_bytes = c->cfg->window_bytes ? c->cfg->window_bytes / 8 + 1 : 0;
    b->fetch_owner = s->id;
    if (store_submit(c->store, b) < 0) {
        jbatch_release(&b);
        return;
    }
    s->fetching = true;
}

/* Where is SEQ's event? In the window, in this subscription's catch-up read,
 * or to be read (AT_WAIT). AT_SKIP: no journal entry has this seq. */
static at_t entry_at(core_t *c, sub_t *s, uint64_t seq, jbatch_t **b, jentry_t **e)
{
    *e = window_find(c->window, seq, b);
    if (*e)
        return AT_FOUND;
    uint64_t first = window_first(c->window);
    if (first && seq >= first)
        return AT_SKIP; /* a gap left by a failed commit, or a duplicate */
    if (s->catchup && s->catchup->n && seq >= s->catchup->e[0].seq &&
        seq <= s->catchup->e[s->catchup->n - 1].seq) {
        *b = s->catchup;
        *e = jbatch_find(s->catchup, seq);
        return *e ? AT_FOUND : AT_SKIP;
    }
    if (!first && seq > c->head_seq)
        return AT_SKIP;
    request_fetch(c, s, seq);
    return AT_WAIT;
}

/* ---- sending ---- */

typedef struct {
    core_t *c;
    sub_t *s;
    session_t *sess;
    size_t count;
    dlv_t *dlv[DELIVER_MAX_PER_MSG]; /* the deliveries in the message being built */
    bool blocked;                    /* the peer's send queue is full: stop for now */
} out_t;

static void out_begin(out_t *o)
{
    o->c->out.len = 0;
    pb_put_bytes_field(&o->c->out, 1, o->s->name, strlen(o->s->name));
    o->count = 0;
}

static void schedule_retry(sub_t *s, dlv_t *d);

/* A DELIVER the socket would not take (the peer's queue at its high-water mark: a subscriber
 * that grants more credit than it reads): its deliveries were never sent, so they are not
 * attempts. They go back, in flight still, to be sent again once the queue has drained, in
 * seq order -- an entity's next event waits behind its head, so order holds. */
static void out_unsend(out_t *o)
{
    for (size_t i = 0; i < o->count; i++) {
        dlv_t *d = o->dlv[i];
        d->attempts--;
        o->s->credit++;
        o->s->delivered--;
        d->due_us = o->c->now_us + DELIVER_BLOCKED_US;
        schedule_retry(o->s, d);
    }
    o->blocked = true;
}

static void out_flush(out_t *o)
{
    if (o->count) {
        if (core_send(o->c, o->sess, "DELIVER", o->c->out.data, o->c->out.len) < 0)
            out_unsend(o);
        else
            o->c->adapter_stats[o->sess->adapter_index].delivered += o->count;
    }
    out_begin(o);
}

static void out_add(out_t *o, dlv_t *d, const uint8_t *env, size_t len)
{
    pb_buf_t *b = &o->c->out;
    size_t inner = pb_field_size_varint(1, d->seq) + pb_field_size_varint(2, d->attempts) +
                   pb_field_size_len(3, len);
    if (pb_put_len_header(b, 2, inner) < 0 || pb_put_varint_field(b, 1, d->seq) < 0 ||
        pb_put_varint_field(b, 2, d->attempts) < 0 || pb_put_bytes_field(b, 3, env, len) < 0)
        return;
    o->dlv[o->count++] = d;
    if (o->count >= DELIVER_MAX_PER_MSG || b->len >= DELIVER_MAX_BYTES)
        out_flush(o);
}

static void send_dlv(out_t *o, dlv_t *d)
{
    d->due_us = 0; /* in flight, not waiting for a retry */
    d->attempts++;
    d->sent_us = o->c->now_us;
    o->s->credit--;
    o->s->delivered++;
    out_add(o, d, jentry_envelope(d->batch, d->e), d->e->env_len);
}

static void settle(core_t *c, sub_t *s, dlv_t *d);
static void dead_letter(core_t *c, sub_t *s, dlv_t *d, const char *reason);

/* Puts SEQ in flight: it is its entity's head. An event already delivered
 * max_attempts times, each time left unsettled when its session ended or the
 * subscription was taken afresh, is dead-lettered instead: an event whose
 * handling kills the adapter must not come back for ever. */
static int start_dlv(out_t *o, uint64_t seq, jbatch_t *b, jentry_t *e)
{
    dlv_t *d = dlv_get(o->c);
    if (!d)
        return -1;
    d->seq = seq;
    d->entity = e->entity;
    d->batch = b;
    b->refs++;
    d->e = e;
    try_t t = tries_take(o->s, seq);
    d->attempts = t.attempts;
    d->saved = t.saved ? t.attempts : 0;
    d->queued = t.queued ? t.attempts : 0;
    if (d->attempts && d->attempts >= o->c->cfg->max_attempts) {
        char why[192];
        snprintf(why, sizeof why,
                 "delivered %u times without being settled: no ACK or NACK came before the "
                 "session ended or the subscription was subscribed afresh",
                 d->attempts);
        dead_letter(o->c, o->s, d, why);
        settle(o->c, o->s, d);
        return 0;
    }
    if (hmap_put(o->s->inflight, seq, d) < 0) {
        tries_keep(o->s, seq, t);
        dlv_put(o->c, d);
        return -1;
    }
    send_dlv(o, d);
    return 0;
}

/* Starts SEQ, or queues it behind its entity's event in flight. 1 = handled,
 * 0 = must wait for a journal read, -1 = out of memory. */
static int offer(out_t *o, uint64_t seq, jbatch_t *b, jentry_t *e)
{
    sub_t *s = o->s;
    ent_t *busy = hmap_get(s->busy, e->entity);
    if (busy)
        return ent_push(busy, seq) < 0 ? -1 : 1;
    ent_t *ne = ent_get(o->c, e->entity, seq);
    if (!ne || hmap_put(s->busy, e->entity, ne) < 0) {
        if (ne)
            ent_put(o->c, ne);
        return -1;
    }
    return start_dlv(o, seq, b, e) < 0 ? -1 : 1;
}

static bool pump_ready(out_t *o)
{
    sub_t *s = o->s;
    uint64_t seq = s->ready[s->ready_head];
    jbatch_t *b;
    jentry_t *e;
    at_t at = entry_at(o->c, s, seq, &b, &e);
    if (at == AT_WAIT)
        return false;
    s->ready_head = (s->ready_head + 1) % s->ready_cap;
    s->ready_len--;
    if (at == AT_FOUND)
        start_dlv(o, seq, b, e);
    return true;
}

static void pump_retry(out_t *o)
{
    dlv_t *d = o->s->retry_head;
    o->s->retry_head = d->next;
    d->next = NULL;
    send_dlv(o, d);
}

/* Is E for this subscription's adapter? Addressed events (a correction to the
 * system whose write was refused) go to their one adapter only. */
static bool for_adapter(core_t *c, const sub_t *s, const jbatch_t *b, jentry_t *e)
{
    if (e->target == JENTRY_TARGET_UNRESOLVED) {
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)e->target_len, jentry_target_name(b, e));
        const config_adapter_t *a = config_adapter(c->cfg, name);
        if (a)
            e->target = (int16_t)(a - c->cfg->adapters + 1);
        else
            e->target = strcmp(name, JENTRY_OPERATORS_NAME) == 0 ? JENTRY_TARGET_OPERATORS : -1;
    }
    if (e->target == JENTRY_TARGET_OPERATORS)
        return s->is_operator;
    return e->target == 0 || e->target == s->adapter_target;
}

/* One step of the scan; false when the scan must stop for now. */
static bool pump_scan(out_t *o)
{
    sub_t *s = o->s;
    if (s->scan_seq > o->c->head_seq)
        return false;
    jbatch_t *b;
    jentry_t *e;
    at_t at = entry_at(o->c, s, s->scan_seq, &b, &e);
    if (at == AT_WAIT)
        return false;
    if (at == AT_FOUND && for_adapter(o->c, s, b, e) &&
        route_match_any(s->patterns, s->npatterns, jentry_type(b, e), e->type_len) &&
        offer(o, s->scan_seq, b, e) < 0)
        return false;
    s->scan_seq++;
    return true;
}

static void replay_settled(core_t *c, sub_t *s, uint64_t seq)
{
    for (size_t i = 0; i < s->nreplays; i++) {
        if (s->replays[i] != seq)
            continue;
        if (i < s->replays_sent)
            s->replays_sent--;
        memmove(&s->replays[i], &s->replays[i + 1], (s->nreplays - i - 1) * sizeof *s->replays);
        s->nreplays--;
        break;
    }
    if (s->ndone == s->capdone) {
        size_t ncap = s->capdone ? s->capdone * 2 : 8;
        uint64_t *n = realloc(s->replays_done, ncap * sizeof *n);
        if (!n) {
            log_warn("deliver", "out of memory: replay of seq %llu for %s/%s stays unsettled",
                     (unsigned long long)seq, s->adapter, s->name);
            return;
        }
        s->replays_done = n;
        s->capdone = ncap;
    }
    s->replays_done[s->ndone++] = seq;
    c->replays_done = true;
}

/* The next replayed dead letter out; false when it must wait for a journal read. */
static bool pump_replay(out_t *o)
{
    sub_t *s = o->s;
    uint64_t seq = s->replays[s->replays_sent];
    /* At or above the scan (a session ended, and everything above the floor
     * is delivered again): the scan delivers it. Reading it back from here
     * would also move a scan that is behind the window past what it has not
     * read (deliver_fetched jumps to the first entry of a read). */
    if (seq >= s->scan_seq) {
        replay_settled(o->c, s, seq);
        return true;
    }
    jbatch_t *b;
    jentry_t *e;
    at_t at = entry_at(o->c, s, seq, &b, &e);
    if (at == AT_WAIT)
        return false;
    /* No such entry, or the seq is in flight already (a reconnect made the scan
     * deliver it again): delivering it is what the replay asked for. */
    if (at == AT_SKIP || hmap_get(s->inflight, seq)) {
        replay_settled(o->c, s, seq);
        return true;
    }
    dlv_t *d = dlv_get(o->c);
    if (!d || hmap_put(s->inflight, seq, d) < 0) {
        if (d)
            dlv_put(o->c, d);
        return false;
    }
    d->seq = seq;
    d->entity = e->entity;
    d->batch = b;
    b->refs++;
    d->e = e;
    d->replay = true;
    s->replays_sent++;
    send_dlv(o, d);
    return true;
}

static void pump(core_t *c, sub_t *s)
{
    session_t *sess = core_session(c, s->session);
    if (!sess)
        return;
    out_t o; /* not zeroed: dlv[] is written before it is read */
    o.c = c;
    o.s = s;
    o.sess = sess;
    o.blocked = false;
    out_begin(&o);
    int budget = SCAN_BUDGET;
    while (s->credit > 0 && budget-- > 0 && !o.blocked) {
        if (s->replays_sent < s->nreplays) {
            if (!pump_replay(&o))
                break;
        } else if (s->ready_len) {
            if (!pump_ready(&o))
                break;
        } else if (s->retry_head && s->retry_head->due_us <= c->now_us) {
            pump_retry(&o);
        } else if (!pump_scan(&o)) {
            break;
        }
    }
    out_flush(&o);
}

void deliver_pump_all(core_t *c)
{
    for (size_t i = 0; i < c->nsubs; i++)
        if (c->subs[i]->session >= 0 && c->subs[i]->credit > 0)
            pump(c, c->subs[i]);
}

static void flush_transient(core_t *c, sub_t *s)
{
    session_t *sess = core_session(c, s->session);
    if (sess && s->ntransient) {
        core_send(c, sess, "DELIVER", s->transient.data, s->transient.len);
        c->adapter_stats[sess->adapter_index].delivered += s->ntransient;
    }
    s->transient.len = 0;
    s->ntransient = 0;
}

static void route_transient(core_t *c, const transient_t *t)
{
    const char *type = t->type;
    size_t type_len = t->type_len, env_len = (size_t)t->env_len + t->extra_len;
    for (size_t i = 0; i < c->nsubs; i++) {
        sub_t *s = c->subs[i];
        if (s->session < 0 || !route_match_any(s->patterns, s->npatterns, type, type_len))
            continue;
        pb_buf_t *b = &s->transient;
        if (!s->ntransient && pb_put_bytes_field(b, 1, s->name, strlen(s->name)) < 0)
            continue;
        /* The envelope as journaled would be: the publisher's bytes, then the hub's fields. */
        size_t inner = pb_field_size_varint(2, 1) + pb_field_size_len(3, env_len) + 2;
        if (pb_put_len_header(b, 2, inner) < 0 || pb_put_varint_field(b, 2, 1) < 0 ||
            pb_put_len_header(b, 3, env_len) < 0 || pb_put_raw(b, t->env, t->env_len) < 0 ||
            pb_put_raw(b, t->extra, t->extra_len) < 0 || pb_put_varint_field(b, 4, 1) < 0)
            continue;
        s->ntransient++;
        s->delivered++;
        if (s->ntransient >= DELIVER_MAX_PER_MSG || b->len >= DELIVER_MAX_BYTES)
            flush_transient(c, s);
    }
}

void deliver_transients(core_t *c)
{
    for (size_t i = 0; i < c->ntransient; i++)
        route_transient(c, &c->transient[i]);
    c->ntransient = 0;
}

void deliver_flush_transient(core_t *c)
{
    for (size_t i = 0; i < c->nsubs; i++)
        if (c->subs[i]->ntransient)
            flush_transient(c, c->subs[i]);
}

/* ---- settling ---- */

static sub_t *session_sub(session_t *sess, const char *name, size_t len)
{
    for (size_t i = 0; i < sess->nsubs; i++)
        if (strlen(sess->subs[i]->name) == len && memcmp(sess->subs[i]->name, name, len) == 0)
            return sess->subs[i];
    return NULL;
}

/* The event is done (acked or dead-lettered): free its entity for the next. */
static void settle(core_t *c, sub_t *s, dlv_t *d)
{
    if (d->replay) {
        replay_settled(c, s, d->seq);
        dlv_put(c, d);
        return;
    }
    s->settled++;
    ent_t *e = hmap_get(s->busy, d->entity);
    if (e) {
        if (e->qlen) {
            e->head_seq = ent_pop(e);
            ready_push(s, e->head_seq);
        } else {
            hmap_del(s->busy, d->entity);
            ent_put(c, e);
        }
    }
    dlv_put(c, d);
}

/* The reason is the adapter's text, shown to operators as JSON: kept to printable ASCII (other
 * bytes become '?'), so no encoding of it can fail, and cut to DELIVER_REASON_MAX. */
static void keep_retry_reason(core_t *c, sub_t *s, uint64_t seq, const char *reason)
{
    const char *r = reason && *reason ? reason : "(no reason given)";
    size_t n = 0;
    for (; r[n] != '\0' && n + 1 < sizeof s->last_retry_reason; n++) {
        unsigned char ch = (unsigned char)r[n];
        s->last_retry_reason[n] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    s->last_retry_reason[n] = '\0';
    s->last_retry_seq = seq;
    s->last_retry_us = c->now_us;
}

static void dead_letter(core_t *c, sub_t *s, dlv_t *d, const char *reason)
{
    const jentry_t *e = d->e;
    char event_id[129], type[129];
    snprintf(event_id, sizeof event_id, "%.*s", (int)e->event_id_len, jentry_event_id(d->batch, e));
    snprintf(type, sizeof type, "%.*s", (int)e->type_len, jentry_type(d->batch, e));
    jbatch_add_dead(c->pending, s->adapter, s->name, d->seq, event_id, type, d->attempts, reason,
                    jentry_envelope(d->batch, e), e->env_len, c->now_us);
    log_warn("deliver", "dead-lettered seq %llu (%s) for %s/%s after %u attempt(s): %s",
             (unsigned long long)d->seq, event_id, s->adapter, s->name, d->attempts, reason);
    s->dead++;
    c->dead_letters++;
    c->dead_lettered++;
}

void deliver_ack(core_t *c, session_t *sess, const uint8_t *body, size_t len)
{
    pb_reader_t r = {body, body + len};
    pb_field_t f;
    sub_t *s = NULL;
    const uint8_t *seqs = NULL;
    size_t seqs_len = 0;
    int rc;
    /* Hand-parsed: ACKs are as frequent as events. */
    while ((rc = pb_next(&r, &f)) == 1) {
        if (f.field == 1 && f.wire == PB_LEN)
            s = session_sub(sess, (const char *)f.ptr, f.len);
        else if (f.field == 2 && f.wire == PB_LEN) {
            seqs = f.ptr;
            seqs_len = f.len;
        }
    }
    if (rc < 0 || !s) {
        core_send_error(c, sess->rid, sess->rid_len, rc < 0 ? 1 : 7, "ACK", "%s",
                        rc < 0 ? "ACK body is not a valid Ack message"
                               : "ACK names a subscription this session has not subscribed");
        return;
    }
    pb_reader_t pr = {seqs, seqs + seqs_len};
    uint64_t seq;
    while (pb_next_varint(&pr, &seq) == 0) {
        dlv_t *d = hmap_del(s->inflight, seq);
        if (!d)
            continue; /* already settled, or from before a reconnect */
        s->credit++;
        s->acked++;
        settle(c, s, d);
    }
    pump(c, s);
}

static int64_t retry_delay_us(const config_t *cfg, uint32_t attempts)
{
    int64_t ms = cfg->retry_base_ms;
    for (uint32_t i = 1; i < attempts && ms < cfg->retry_max_ms; i++)
        ms *= 2;
    if (ms > cfg->retry_max_ms)
        ms = cfg->retry_max_ms;
    return ms * 1000;
}

static void schedule_retry(sub_t *s, dlv_t *d)
{
    dlv_t **pp = &s->retry_head;
    while (*pp && (*pp)->due_us <= d->due_us)
        pp = &(*pp)->next;
    d->next = *pp;
    *pp = d;
}

void deliver_nack(core_t *c, session_t *sess, const uint8_t *body, size_t len)
{
    Joinery__V1__Nack *m = joinery__v1__nack__unpack(NULL, len, body);
    if (!m) {
        core_send_error(c, sess->rid, sess->rid_len, 1, "NACK", "NACK body is not a valid Nack");
        return;
    }
    sub_t *s = session_sub(sess, m->subscription, strlen(m->subscription));
    if (!s) {
        /* As for ACK and CREDIT: a NACK that names no subscription of the
         * session is a fault of the adapter, and it should hear of it. */
        core_send_error(c, sess->rid, sess->rid_len, JOINERY__V1__ERROR_CODE__ERROR_BAD_REQUEST,
                        "NACK", "NACK names a subscription this session has not subscribed");
        joinery__v1__nack__free_unpacked(m, NULL);
        return;
    }
    /* A seq not in flight (settled already, or delivered to a session that
     * has ended) is not an error: after a reconnect that is normal. */
    dlv_t *d = hmap_get(s->inflight, m->seq);
    if (d && d->due_us == 0) {
        s->credit++;
        bool reject = m->action == JOINERY__V1__NACK_ACTION__NACK_REJECT;
        if (reject || d->attempts >= c->cfg->max_attempts) {
            char why[512];
            snprintf(why, sizeof why, "%s%s", reject ? "" : "too many attempts; last: ",
                     m->reason && *m->reason ? m->reason : "(no reason given)");
            dead_letter(c, s, d, why);
            hmap_del(s->inflight, m->seq);
            settle(c, s, d);
        } else {
            s->retries++;
            keep_retry_reason(c, s, m->seq, m->reason);
            d->due_us = c->now_us + retry_delay_us(c->cfg, d->attempts);
            schedule_retry(s, d);
        }
        pump(c, s);
    }
    joinery__v1__nack__free_unpacked(m, NULL);
}

void deliver_credit(core_t *c, session_t *sess, const uint8_t *body, size_t len)
{
    Joinery__V1__Credit *m = joinery__v1__credit__unpack(NULL, len, body);
    if (!m) {
        core_send_error(c, sess->rid, sess->rid_len, 1, "CREDIT", "CREDIT body is not valid");
        return;
    }
    sub_t *s = session_sub(sess, m->subscription, strlen(m->subscription));
    if (s) {
        /* Credit adds up, to a ceiling no window needs: a CREDIT of 4e9, sent
         * again and again, must not wrap the count. */
        s->credit =
            s->credit + m->credit > DELIVER_MAX_CREDIT ? DELIVER_MAX_CREDIT : s->credit + m->credit;
        pump(c, s);
    } else {
        core_send_error(c, sess->rid, sess->rid_len, 7, "CREDIT",
                        "no subscription '%s' in this session", m->subscription);
    }
    joinery__v1__credit__free_unpacked(m, NULL);
}

/* ---- subscribe ---- */

static bool name_valid(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= '0' && n[i] <= '9') || n[i] == '_' ||
              n[i] == '-' || n[i] == '.'))
            return false;
    return true;
}

static bool same_patterns(const sub_t *s, char *const *p, size_t n)
{
    if (s->npatterns != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(s->patterns[i], p[i]) != 0)
            return false;
    return true;
}

/* Refusal text for the first requested pattern that is malformed or not
 * permitted; NULL if all are fine. */
/* The ERROR code for the first requested pattern that is malformed
 * (BAD_REQUEST: a fault in the request, docs/protocol.md 7.1) or not
 * permitted (NOT_AUTHORISED: the configuration's call), with its reason in
 * WHY; 0 if all are fine. */
static int check_patterns(const config_adapter_t *a, const Joinery__V1__Subscribe *m, char *why,
                          size_t why_len)
{
    if (m->n_patterns == 0)
        return snprintf(why, why_len, "SUBSCRIBE needs at least one pattern"),
               JOINERY__V1__ERROR_CODE__ERROR_BAD_REQUEST;
    for (size_t i = 0; i < m->n_patterns; i++) {
        if (!route_pattern_valid(m->patterns[i])) {
            snprintf(why, why_len,
                     "pattern '%.128s' is malformed: use dot-separated segments of a-z 0-9 _ - "
                     "or '*'",
                     m->patterns[i]);
            return JOINERY__V1__ERROR_CODE__ERROR_BAD_REQUEST;
        }
        if (!route_covered(a->subscribe.items, a->subscribe.count, m->patterns[i])) {
            snprintf(why, why_len,
                     "adapter '%s' may not subscribe to '%s'; its configuration permits: %s%s",
                     a->name, m->patterns[i], a->subscribe.count ? a->subscribe.items[0] : "none",
                     a->subscribe.count > 1 ? ", ..." : "");
            return JOINERY__V1__ERROR_CODE__ERROR_NOT_AUTHORISED;
        }
    }
    return 0;
}

static sub_t *open_sub(core_t *c, session_t *sess, const Joinery__V1__Subscribe *m)
{
    sub_t *s = deliver_sub_find(c, sess->adapter->name, m->subscription);
    if (!s) {
        uint64_t start = m->from_beginning ? 0 : c->head_seq;
        s = deliver_sub_restore(c, sess->adapter->name, m->subscription, m->patterns, m->n_patterns,
                                start);
        if (!s)
            return NULL;
        s->patterns_saved = false;
        jbatch_add_cursor(c->pending, s->adapter, s->name, start, s->patterns, s->npatterns);
        log_info("deliver", "new subscription %s/%s from seq %llu", s->adapter, s->name,
                 (unsigned long long)start + 1);
        return s;
    }
    if (!same_patterns(s, m->patterns, m->n_patterns)) {
        char **np = copy_patterns(m->patterns, m->n_patterns);
        if (!np)
            return NULL;
        free_patterns(s->patterns, s->npatterns);
        s->patterns = np;
        s->npatterns = m->n_patterns;
        s->patterns_saved = false;
        jbatch_add_cursor(c->pending, s->adapter, s->name, s->persisted_floor, s->patterns,
                          s->npatterns);
    }
    return s;
}

void deliver_subscribe(core_t *c, session_t *sess, const uint8_t *body, size_t len)
{
    Joinery__V1__Subscribe *m = joinery__v1__subscribe__unpack(NULL, len, body);
    char why[512];
    int code;
    if (!m) {
        core_send_error(c, sess->rid, sess->rid_len, 1, "SUBSCRIBE",
                        "SUBSCRIBE body is not a valid Subscribe message");
        return;
    }
    if (!name_valid(m->subscription)) {
        core_send_error(c, sess->rid, sess->rid_len, 7, "SUBSCRIBE",
                        "subscription name '%.64s' is invalid: 1-64 of a-z 0-9 _ - .",
                        m->subscription);
    } else if (m->n_patterns > DELIVER_MAX_PATTERNS) {
        core_send_error(c, sess->rid, sess->rid_len, 7, "SUBSCRIBE",
                        "SUBSCRIBE names %zu patterns: at most %d patterns of at most 128 "
                        "characters each",
                        m->n_patterns, DELIVER_MAX_PATTERNS);
    } else if ((code = check_patterns(sess->adapter, m, why, sizeof why)) != 0) {
        core_send_error(c, sess->rid, sess->rid_len, code, "SUBSCRIBE", "%s", why);
    } else {
        sub_t *s = open_sub(c, sess, m);
        if (!s) {
            core_send_error(c, sess->rid, sess->rid_len, 7, "SUBSCRIBE", "out of memory");
        } else {
            /* A (re)subscribe starts afresh: whatever was in flight before is
             * delivered again. */
            session_t *old = core_session(c, s->session);
            if (old)
                detach_sub(old, s);
            deliver_detach(c, s);
            s->session = sess->id;
            attach_sub(sess, s);
            s->credit = m->credit ? m->credit : c->cfg->default_credit;
            if (s->credit > DELIVER_MAX_CREDIT)
                s->credit = DELIVER_MAX_CREDIT;
            Joinery__V1__Subscribed ok = JOINERY__V1__SUBSCRIBED__INIT;
            ok.subscription = s->name;
            ok.acked_seq = deliver_floor(s);
            ok.head_seq = c->head_seq;
            uint8_t buf[256];
            size_t n = joinery__v1__subscribed__pack(&ok, buf);
            core_send(c, sess, "SUBSCRIBED", buf, n);
            pump(c, s);
        }
    }
    joinery__v1__subscribe__free_unpacked(m, NULL);
}

/* ---- cursors and reads ---- */

/* Counts in flight not yet in delivery_attempt go into the pending batch,
 * with the cursor. RESEND: nothing is away, so a count queued before and not
 * marked saved was in a batch that failed. */
static void queue_inflight_attempts(core_t *c, sub_t *s, bool resend)
{
    size_t pos = 0;
    uint64_t key;
    void *val;
    while (hmap_next(s->inflight, &pos, &key, &val)) {
        dlv_t *d = val;
        if (d->replay || d->attempts <= d->saved || (d->attempts <= d->queued && !resend))
            continue;
        if (d->attempts == 1 && !c->stopping && c->now_us - d->sent_us < SAVE_FIRST_AFTER_US)
            continue;
        if (jbatch_add_attempt(c->pending, s->adapter, s->name, d->seq, d->attempts) == 0)
            d->queued = d->attempts;
    }
}

/* The same for the counts of events let go of (sub.tries). The map cannot
 * change while it is walked, so the seqs are gathered first; this runs only
 * while a subscription holds counts not yet saved. */
static void queue_kept_attempts(core_t *c, sub_t *s, bool resend)
{
    size_t pos = 0, n = 0;
    uint64_t key;
    void *val;
    while (hmap_next(s->tries, &pos, &key, &val)) {
        try_t t = try_unpack(val);
        n += !t.saved && (!t.queued || resend);
    }
    uint64_t *todo = n ? malloc(n * sizeof *todo) : NULL;
    if (!todo)
        return; /* nothing to do, or out of memory: the next flush tries again */
    size_t got = 0;
    pos = 0;
    while (got < n && hmap_next(s->tries, &pos, &key, &val)) {
        try_t t = try_unpack(val);
        if (!t.saved && (!t.queued || resend))
            todo[got++] = key;
    }
    for (size_t i = 0; i < got; i++) {
        try_t t = try_unpack(hmap_get(s->tries, todo[i]));
        if (jbatch_add_attempt(c->pending, s->adapter, s->name, todo[i], t.attempts) < 0)
            break;
        t.queued = true;
        hmap_put(s->tries, todo[i], try_pack(t)); /* replaces: the map does not grow */
    }
    free(todo);
}

void deliver_queue_cursors(core_t *c)
{
    bool resend = !c->inflight.away;
    for (size_t i = 0; i < c->nsubs; i++) {
        sub_t *s = c->subs[i];
        uint64_t f = deliver_floor(s);
        if (!s->patterns_saved && resend)
            jbatch_add_cursor(c->pending, s->adapter, s->name, s->persisted_floor, s->patterns,
                              s->npatterns); /* the batch that created it failed */
        if (f > s->queued_floor || (f > s->persisted_floor && resend)) {
            if (jbatch_add_cursor(c->pending, s->adapter, s->name, f, NULL, 0) == 0)
                s->queued_floor = f;
        }
        tries_prune(s, f);
        queue_inflight_attempts(c, s, resend);
        if (s->tries && hmap_count(s->tries))
            queue_kept_attempts(c, s, resend);
    }
}

/* The counts of CUR are in delivery_attempt now. */
static void attempts_committed(sub_t *s, const jcursor_t *cur)
{
    for (size_t i = 0; i < cur->nattempts; i++) {
        const jattempt_t *a = &cur->attempts[i];
        dlv_t *d = hmap_get(s->inflight, a->seq);
        if (d && d->saved < a->attempts)
            d->saved = a->attempts;
        void *v = !d && s->tries ? hmap_get(s->tries, a->seq) : NULL;
        if (v) {
            try_t t = try_unpack(v);
            if (t.attempts <= a->attempts && !t.saved) {
                t.saved = true;
                hmap_put(s->tries, a->seq, try_pack(t));
            }
        }
    }
}

void deliver_cursors_committed(core_t *c, const jbatch_t *b)
{
    for (size_t i = 0; i < b->ncursors; i++) {
        const jcursor_t *cur = &b->cursors[i];
        sub_t *s = deliver_sub_find(c, cur->adapter, cur->subscription);
        if (!s)
            continue;
        if (cur->acked_seq > s->persisted_floor)
            s->persisted_floor = cur->acked_seq;
        if (cur->patterns && same_patterns(s, cur->patterns, cur->npatterns))
            s->patterns_saved = true;
        attempts_committed(s, cur);
    }
}

int deliver_sub_restore_attempts(sub_t *s, const jattempt_t *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i].seq <= s->persisted_floor || !a[i].attempts)
            continue; /* settled: the next cursor write deletes it */
        if ((!s->tries && !(s->tries = hmap_new(64))) ||
            hmap_put(s->tries, a[i].seq, try_pack((try_t){a[i].attempts, true, true})) < 0)
            return -1;
    }
    return 0;
}

void deliver_fetched(core_t *c, jbatch_t *b)
{
    sub_t *s = NULL;
    for (size_t i = 0; i < c->nsubs && !s; i++)
        if (c->subs[i]->id == b->fetch_owner)
            s = c->subs[i];
    if (!s) {
        jbatch_release(&b);
        return;
    }
    s->fetching = false;
    if (b->status != JB_COMMITTED) {
        jbatch_release(&b);
        return; /* retried on the next pump */
    }
    /* Nothing in the journal from there up to the window: jump ahead. */
    if (b->n == 0 || b->e[0].seq > s->scan_seq) {
        uint64_t next = b->n ? b->e[0].seq : window_first(c->window);
        if (!next)
            next = c->head_seq + 1;
        if (next > s->scan_seq && s->ready_len == 0)
            s->scan_seq = next;
    }
    jbatch_release(&s->catchup);
    s->catchup = b;
    pump(c, s);
}

/* ---- for the admin API ---- */

int deliver_replay(core_t *c, sub_t *s, uint64_t seq)
{
    for (size_t i = 0; i < s->nreplays; i++)
        if (s->replays[i] == seq)
            return 0;
    if (s->nreplays == s->capreplays) {
        size_t ncap = s->capreplays ? s->capreplays * 2 : 8;
        uint64_t *n = realloc(s->replays, ncap * sizeof *n);
        if (!n)
            return -1;
        s->replays = n;
        s->capreplays = ncap;
    }
    s->replays[s->nreplays++] = seq;
    pump(c, s);
    return 0;
}

/* Counting goes as far as the window reaches; what was pushed out of it
 * before it was counted cannot be (the count is then a lower bound). */
uint64_t deliver_waiting(core_t *c, sub_t *s, bool *exact)
{
    uint64_t first = window_first(c->window);
    if (first && s->count_seq + 1 < first) {
        s->count_inexact = true;
        s->count_seq = first - 1;
    }
    for (uint64_t seq = s->count_seq + 1; seq <= c->head_seq; seq++) {
        jbatch_t *b;
        jentry_t *e = window_find(c->window, seq, &b);
        if (e && for_adapter(c, s, b, e) &&
            route_match_any(s->patterns, s->npatterns, jentry_type(b, e), e->type_len))
            s->matched++;
    }
    if (c->head_seq > s->count_seq)
        s->count_seq = c->head_seq;
    *exact = !s->count_inexact;
    return s->matched > s->settled ? s->matched - s->settled : 0;
}

size_t deliver_retrying(const sub_t *s)
{
    size_t n = 0;
    for (const dlv_t *d = s->retry_head; d; d = d->next)
        n++;
    return n;
}

void deliver_sub_delete(core_t *c, sub_t *s)
{
    deliver_detach(c, s);
    for (size_t i = 0; i < c->nsubs; i++) {
        if (c->subs[i] == s) {
            c->subs[i] = c->subs[--c->nsubs];
            break;
        }
    }
    sub_free(s);
}
