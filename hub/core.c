/* core.c - see core.h: the core's state made and freed, sending to adapters,
 * the session table, and the pending batch handed to the store. Calls
 * nothing in the modules above it (router, session, ingest, deliver). */
#include "core.h"

#include "base/log.h"
#include "base/text.h"

#include <joinery/v1/protocol.pb-c.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

int64_t core_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

core_t *core_new(const config_t *cfg)
{
    core_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->cfg = cfg;
    c->signal_fd = -1;
    c->window = window_new(cfg->window_events);
    c->dedup = dedup_new(DEDUP_CAPACITY);
    c->pending = jbatch_new(JB_COMMIT);
    c->arena = pbarena_new(PB_ARENA_BLOCK);
    c->adapter_stats = calloc(cfg->nadapters + 1, sizeof *c->adapter_stats);
    c->hello_refusals = calloc(cfg->nadapters + 1, sizeof *c->hello_refusals);
    c->types = calloc(CORE_TYPE_SLOTS, sizeof *c->types);
    c->db_up = true;
    dbstate_init(&c->db, core_now_us());
    c->now_us = core_now_us();
    if (!c->window || !c->dedup || !c->pending || !c->adapter_stats || !c->arena ||
        !c->hello_refusals || !c->types) {
        free(c->types);
        pbarena_destroy(&c->arena);
        window_destroy(&c->window);
        dedup_destroy(&c->dedup);
        jbatch_release(&c->pending);
        free(c->adapter_stats);
        free(c->hello_refusals);
        free(c);
        return NULL;
    }
    return c;
}

void core_destroy(core_t **cp)
{
    core_t *c = *cp;
    if (!c)
        return;
    /* First: the store thread finishes what it holds and gives back (or
     * frees) every batch and job still in its pipe. */
    store_destroy(&c->store);
    for (size_t i = 0; i < CORE_MAX_SESSIONS; i++) {
        pb_buf_free(&c->sessions[i].confirm);
        free(c->sessions[i].subs);
    }
    window_destroy(&c->window);
    dedup_destroy(&c->dedup);
    jbatch_release(&c->pending);
    free(c->pending_owed.v);
    free(c->inflight.owed.v);
    uint64_t searches = 0, scored = 0, bounded = 0;
    if (c->master)
        master_search_counts(c->master, &searches, &scored, &bounded);
    if (searches)
        log_info("router",
                 "master data: %llu candidate searches read %llu candidate records (%.1f "
                 "each); %llu candidates were dismissed on their sketch without scoring",
                 (unsigned long long)searches, (unsigned long long)scored,
                 (double)scored / (double)searches, (unsigned long long)bounded);
    master_destroy(&c->master);
    entity_destroy(&c->entity);
    pb_buf_free(&c->derived);
    free(c->transient);
    pb_buf_free(&c->out);
    pb_buf_free(&c->env);
    pbarena_destroy(&c->arena);
    free(c->adapter_stats);
    free(c->hello_refusals);
    for (size_t i = 0; c->types && i < CORE_TYPE_SLOTS; i++)
        free(c->types[i].type);
    free(c->types);
    if (c->router)
        zmq_close(c->router);
    if (c->zap)
        zmq_close(c->zap);
    if (c->ctx)
        zmq_ctx_term(c->ctx);
    if (c->signal_fd >= 0)
        close(c->signal_fd);
    /* Last: every thread that could point into them (store, partners, admin) has stopped. */
    for (size_t i = 0; i < c->ncfg_owned; i++)
        config_destroy(&c->cfg_owned[i]);
    free(c->cfg_owned);
    free(c);
    *cp = NULL;
}

/* ---- text from clients ---- */

/* ---- sending ---- */

/* 0 once the message is queued; -1 when the peer is gone (EHOSTUNREACH) or its queue is at the
 * send high-water mark (EAGAIN): the socket is ZMQ_ROUTER_MANDATORY, so neither is silent. Once
 * the first frame is queued the rest of a multipart message always is. */
static int send_to(core_t *c, const uint8_t *rid, size_t rid_len, const char *command,
                   const void *body, size_t len)
{
    if (zmq_send(c->router, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    zmq_send(c->router, command, strlen(command), ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(c->router, body, len, ZMQ_DONTWAIT);
    return 0;
}

int core_send(core_t *c, const session_t *s, const char *command, const void *body, size_t len)
{
    return send_to(c, s->rid, s->rid_len, command, body, len);
}

/* A subscription name is at most 64 characters; more is only shown in part. */
#define ERROR_SUB_SHOWN 64

void core_send_error(core_t *c, const uint8_t *rid, size_t rid_len, int code, const char *command,
                     const char *fmt, ...)
{
    /* Handlers quote what the client sent; the escaping here, once, is what
     * keeps every ERROR parseable. Up to 4 bytes out for each byte in. */
    char raw[512], reason[4 * sizeof raw], cmd[4 * 32], sub[4 * ERROR_SUB_SHOWN + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    Joinery__V1__Error e = JOINERY__V1__ERROR__INIT;
    e.code = (Joinery__V1__ErrorCode)code;
    text_clean(reason, sizeof reason, raw, strlen(raw));
    e.reason = reason;
    text_clean(cmd, sizeof cmd, command, strnlen(command, 32));
    e.command = cmd;
    e.request_id = c->request_id;
    if (c->request_sub) {
        size_t n = c->request_sub_len < ERROR_SUB_SHOWN ? c->request_sub_len : ERROR_SUB_SHOWN;
        text_clean(sub, sizeof sub, c->request_sub, n);
        e.subscription = sub;
    }
    uint8_t buf[sizeof reason + sizeof cmd + sizeof sub + 32];
    if (joinery__v1__error__get_packed_size(&e) > sizeof buf)
        return; /* cannot be: every field is bounded above */
    size_t n = joinery__v1__error__pack(&e, buf);
    send_to(c, rid, rid_len, "ERROR", buf, n);
}

/* ---- the session table ---- */

session_t *core_session(core_t *c, int32_t id)
{
    if (id < 0)
        return NULL;
    session_t *s = &c->sessions[SESSION_SLOT(id)];
    return s->active && s->id == id ? s : NULL;
}

session_t *core_session_find(core_t *c, const uint8_t *rid, size_t rid_len)
{
    for (size_t i = 0; i < CORE_MAX_SESSIONS; i++) {
        session_t *s = &c->sessions[i];
        if (s->active && s->rid_len == rid_len && memcmp(s->rid, rid, rid_len) == 0)
            return s;
    }
    return NULL;
}

/* ---- CONFIRM ---- */

/* A string for a ConfirmEntry: P itself when it is valid UTF-8 (every event
 * the hub takes: one pass, no copy), else its escaped copy in BUF. */
static const char *confirm_text(const char *p, size_t *len, char *buf, size_t cap)
{
    if (text_utf8(p, *len))
        return p;
    *len = text_clean(buf, cap, p, *len);
    return buf;
}

/* CONFIRM entries are appended as they become known and sent once per loop
 * turn, so a batch of a thousand publishes is answered by one message. */
void core_confirm(core_t *c, session_t *s, const char *event_id, size_t id_len, int status,
                  uint64_t seq, const char *reason)
{
    char idbuf[4 * 129], whybuf[1024];
    size_t rlen = reason ? strlen(reason) : 0;
    event_id = confirm_text(event_id, &id_len, idbuf, sizeof idbuf);
    if (rlen)
        reason = confirm_text(reason, &rlen, whybuf, sizeof whybuf);
    size_t inner = pb_field_size_len(1, id_len) + (status ? pb_field_size_varint(2, status) : 0) +
                   (rlen ? pb_field_size_len(3, rlen) : 0) +
                   (seq ? pb_field_size_varint(4, seq) : 0);
    pb_buf_t *b = &s->confirm;
    if (pb_put_len_header(b, 1, inner) < 0 || pb_put_bytes_field(b, 1, event_id, id_len) < 0 ||
        (status && pb_put_varint_field(b, 2, (uint64_t)status) < 0) ||
        (rlen && pb_put_bytes_field(b, 3, reason, rlen) < 0) ||
        (seq && pb_put_varint_field(b, 4, seq) < 0))
        return;
    if (b->len > 256 * 1024)
        core_flush_confirms(c, s);
}

void core_confirm_master(core_t *c, session_t *s, const char *event_id, size_t id_len, int status,
                         uint64_t seq, const char *master_id, size_t master_len)
{
    core_confirm_master_note(c, s, event_id, id_len, status, seq, master_id, master_len, NULL);
}

void core_confirm_master_note(core_t *c, session_t *s, const char *event_id, size_t id_len,
                              int status, uint64_t seq, const char *master_id, size_t master_len,
                              const char *reason)
{
    char idbuf[4 * 129], midbuf[4 * MASTER_ID_MAX], whybuf[1024];
    size_t rlen = reason ? strlen(reason) : 0;
    event_id = confirm_text(event_id, &id_len, idbuf, sizeof idbuf);
    master_id = confirm_text(master_id, &master_len, midbuf, sizeof midbuf);
    if (rlen)
        reason = confirm_text(reason, &rlen, whybuf, sizeof whybuf);
    size_t inner = pb_field_size_len(1, id_len) + (status ? pb_field_size_varint(2, status) : 0) +
                   (rlen ? pb_field_size_len(3, rlen) : 0) + pb_field_size_varint(4, seq) +
                   pb_field_size_len(5, master_len);
    pb_buf_t *b = &s->confirm;
    if (pb_put_len_header(b, 1, inner) < 0 || pb_put_bytes_field(b, 1, event_id, id_len) < 0 ||
        (status && pb_put_varint_field(b, 2, (uint64_t)status) < 0) ||
        (rlen && pb_put_bytes_field(b, 3, reason, rlen) < 0) ||
        pb_put_varint_field(b, 4, seq) < 0 || pb_put_bytes_field(b, 5, master_id, master_len) < 0)
        return;
    if (b->len > 256 * 1024)
        core_flush_confirms(c, s);
}

void core_flush_confirms(core_t *c, session_t *s)
{
    if (!s->active || !s->confirm.len)
        return;
    core_send(c, s, "CONFIRM", s->confirm.data, s->confirm.len);
    s->confirm.len = 0;
}

/* ---- counts per type ---- */

void core_count_type(core_t *c, size_t adapter, const char *type, size_t len, bool confirmed)
{
    uint64_t h = 1469598103934665603ULL ^ adapter; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)type[i]) * 1099511628211ULL;
    size_t i = (size_t)h & (CORE_TYPE_SLOTS - 1);
    type_count_t *t = &c->types[i];
    while (t->type && !(t->hash == h && t->adapter == adapter && strlen(t->type) == len &&
                        memcmp(t->type, type, len) == 0)) {
        i = (i + 1) & (CORE_TYPE_SLOTS - 1);
        t = &c->types[i];
    }
    if (!t->type) {
        /* Once per (adapter, type) seen, never more than the table holds. */
        if (c->ntypes >= CORE_TYPE_MAX_FILL || !(t->type = strndup(type, len))) {
            c->types_untracked++;
            return;
        }
        t->hash = h;
        t->adapter = (uint32_t)adapter;
        c->ntypes++;
    }
    if (confirmed)
        t->confirmed++;
    else
        t->rejected++;
}

/* ---- the pending batch ---- */

bool core_pending_empty(const core_t *c)
{
    return jbatch_empty(c->pending) && c->pending_owed.n == 0;
}

void core_dispatch(core_t *c)
{
    if (c->inflight.away || !c->db_up || core_pending_empty(c) ||
        !dbstate_may_commit(&c->db, c->now_us))
        return;
    jbatch_t *next = jbatch_new(JB_COMMIT);
    if (!next)
        return;
    if (store_submit(c->store, c->pending) < 0) {
        jbatch_release(&next);
        return;
    }
    /* The batch is the store's now: only the core's bookkeeping stays. The
     * owed lists swap, so neither is allocated again. */
    c->pending = next;
    c->inflight.away = true;
    c->inflight.sent_us = c->now_us;
    owed_list_t owed = c->inflight.owed;
    c->inflight.owed = c->pending_owed;
    c->pending_owed = owed;
    c->pending_owed.n = 0;
}
