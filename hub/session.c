/* session.c - see session.h.
 *
 * Adapters are few (one per council system), so sessions live in a fixed
 * table (core.c's) searched linearly. */
#include "session.h"

#include "base/log.h"

#include <joinery/v1/protocol.pb-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

session_t *session_open(core_t *c, const uint8_t *rid, size_t rid_len,
                        const config_adapter_t *adapter)
{
    if (rid_len > CORE_ROUTING_ID_MAX)
        return NULL;
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
        /* The session id (also in WELCOME, so in the adapter's own log) tells apart two
         * sessions of one adapter: a reconnect before the old one expired, two operators. */
        log_info("session", "session %d: adapter '%s' connected", (int)s->id, adapter->name);
        return s;
    }
    return NULL;
}

void session_close(core_t *c, session_t *s, const char *why)
{
    if (!s->active)
        return;
    core_flush_confirms(c, s);
    s->nsubs = 0;
    s->active = false;
    pb_buf_free(&s->confirm);
    free(s->subs);
    s->subs = NULL;
    s->capsubs = 0;
    log_info("session", "session %d: adapter '%s' disconnected: %s", (int)s->id, s->adapter->name,
             why);
}

session_t *session_next_expired(core_t *c, size_t *pos)
{
    int64_t expire_us = (int64_t)c->cfg->heartbeat_ms * c->cfg->heartbeat_misses * 1000;
    for (; *pos < CORE_MAX_SESSIONS; (*pos)++) {
        session_t *s = &c->sessions[*pos];
        if (s->active && c->now_us - s->last_seen_us > expire_us)
            return &c->sessions[(*pos)++];
    }
    return NULL;
}

void session_heartbeat(core_t *c)
{
    uint8_t buf[16];
    Joinery__V1__Heartbeat hb = JOINERY__V1__HEARTBEAT__INIT;
    hb.time_us = (uint64_t)c->now_us;
    size_t n = joinery__v1__heartbeat__pack(&hb, buf);
    for (size_t i = 0; i < CORE_MAX_SESSIONS; i++)
        if (c->sessions[i].active)
            core_send(c, &c->sessions[i], "HEARTBEAT", buf, n);
}
