/* session.c - adapter sessions: who is connected, on which ZeroMQ routing id,
 * under which configured adapter; heartbeats and expiry.
 *
 * Adapters are few (one per council system), so sessions live in a fixed
 * table searched linearly; the last hit is checked first because messages
 * come in runs from one peer. */
#include "core.h"

#include "deliver.h"
#include "base/log.h"

#include <joinery/v1/protocol.pb-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

session_t *session_find(core_t *c, const uint8_t *rid, size_t rid_len)
{
    for (size_t i = 0; i < CORE_MAX_SESSIONS; i++) {
        session_t *s = &c->sessions[i];
        if (s->active && s->rid_len == rid_len && memcmp(s->rid, rid, rid_len) == 0)
            return s;
    }
    return NULL;
}

session_t *core_session(core_t *c, int32_t id)
{
    if (id < 0)
        return NULL;
    session_t *s = &c->sessions[SESSION_SLOT(id)];
    return s->active && s->id == id ? s : NULL;
}

session_t *session_open(core_t *c, const uint8_t *rid, size_t rid_len,
                        const config_adapter_t *adapter)
{
    if (rid_len > CORE_ROUTING_ID_MAX)
        return NULL;
    /* A HELLO on a connection that already has a session starts it afresh. */
    session_t *old = session_find(c, rid, rid_len);
    if (old)
        session_close(c, old, "said HELLO again");
    /* An adapter may hold several sessions (two operator commands at once).
     * A reconnecting adapter's old session needs no replacing either: its
     * subscriptions move to whichever session subscribes to them next, and
     * the old one expires by heartbeat. */
    for (size_t i = 0; i < CORE_MAX_SESSIONS; i++) {
        session_t *s = &c->sessions[i];
        if (s->active)
            continue;
        s->active = true;
        s->gen++;
        s->id = (int32_t)((s->gen << 10) | (uint32_t)i) & 0x7fffffff;
        memcpy(s->rid, rid, rid_len);
        s->rid_len = rid_len;
        s->adapter = adapter;
        s->adapter_index = (size_t)(adapter - c->cfg->adapters);
        s->last_seen_us = c->now_us;
        s->confirm.len = 0;
        s->nsubs = 0;
        log_info("session", "adapter '%s' connected", adapter->name);
        return s;
    }
    return NULL;
}

void session_close(core_t *c, session_t *s, const char *why)
{
    if (!s->active)
        return;
    session_flush_confirms(c, s);
    for (size_t i = 0; i < s->nsubs; i++)
        deliver_detach(c, s->subs[i]);
    s->nsubs = 0;
    s->active = false;
    pb_buf_free(&s->confirm);
    free(s->subs);
    s->subs = NULL;
    s->capsubs = 0;
    log_info("session", "adapter '%s' disconnected: %s", s->adapter->name, why);
}

int session_attach(session_t *s, sub_t *sub)
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

void session_detach(session_t *s, const sub_t *sub)
{
    for (size_t i = 0; i < s->nsubs; i++) {
        if (s->subs[i] == sub) {
            s->subs[i] = s->subs[--s->nsubs];
            return;
        }
    }
}

/* CONFIRM entries are appended as they become known and sent once per loop
 * turn, so a batch of a thousand publishes is answered by one message. */
void session_add_confirm(core_t *c, session_t *s, const char *event_id, size_t id_len, int status,
                         uint64_t seq, const char *reason)
{
    size_t rlen = reason ? strlen(reason) : 0;
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
        session_flush_confirms(c, s);
}

void session_add_confirm_master(core_t *c, session_t *s, const char *event_id, size_t id_len,
                                int status, uint64_t seq, const char *master_id, size_t master_len)
{
    size_t inner = pb_field_size_len(1, id_len) + (status ? pb_field_size_varint(2, status) : 0) +
                   pb_field_size_varint(4, seq) + pb_field_size_len(5, master_len);
    pb_buf_t *b = &s->confirm;
    if (pb_put_len_header(b, 1, inner) < 0 || pb_put_bytes_field(b, 1, event_id, id_len) < 0 ||
        (status && pb_put_varint_field(b, 2, (uint64_t)status) < 0) ||
        pb_put_varint_field(b, 4, seq) < 0 || pb_put_bytes_field(b, 5, master_id, master_len) < 0)
        return;
    if (b->len > 256 * 1024)
        session_flush_confirms(c, s);
}

void session_flush_confirms(core_t *c, session_t *s)
{
    if (!s->active || !s->confirm.len)
        return;
    core_send(c, s, "CONFIRM", s->confirm.data, s->confirm.len);
    s->confirm.len = 0;
}

void session_tick(core_t *c)
{
    int64_t expire_us = (int64_t)c->cfg->heartbeat_ms * c->cfg->heartbeat_misses * 1000;
    uint8_t buf[16];
    Joinery__V1__Heartbeat hb = JOINERY__V1__HEARTBEAT__INIT;
    hb.time_us = (uint64_t)c->now_us;
    size_t n = joinery__v1__heartbeat__pack(&hb, buf);
    for (size_t i = 0; i < CORE_MAX_SESSIONS; i++) {
        session_t *s = &c->sessions[i];
        if (!s->active)
            continue;
        if (c->now_us - s->last_seen_us > expire_us) {
            char why[96];
            snprintf(why, sizeof why, "silent for more than %u heartbeats",
                     c->cfg->heartbeat_misses);
            session_close(c, s, why);
            continue;
        }
        core_send(c, s, "HEARTBEAT", buf, n);
    }
}
