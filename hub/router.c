/* router.c - the core thread: one zmq_poll loop over the adapters' ROUTER
 * socket, the ZAP authentication socket, the store pipe and a signalfd, plus
 * timers for heartbeats and cursor flushes. Every command handler runs on
 * this thread, so routing and subscription state need no locks (the Redis /
 * Malamute shape). See hub/README.md for the life of an event.
 *
 * SIGHUP reloads the configuration (reload.c) between two turns.
 *
 * The router is the one module that calls the others (session, ingest,
 * ingest_master, deliver): where an event concerns two of them (a session
 * closes and its subscriptions must let go; a commit comes back to be
 * confirmed and delivered) it is the router that tells each. They call only
 * core.c below them.
 *
 * Message layout on the ROUTER: [routing id][command][body]. */
#include "router.h"

#include "admin/admin_core.h"
#include "admin/admin_server.h"
#include "base/log.h"
#include "base/text.h"
#include "core.h"
#include "deliver.h"
#include "ingest.h"
#include "ingest_master.h"
#include "partner/partner_core.h"
#include "reload.h"
#include "session.h"

#include <joinery/v1/protocol.pb-c.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <zmq.h>

#define PROTOCOL_VERSION 1
#define MESSAGES_PER_TURN 512
/* A turn ends once it has added this many events to the pending batch. One
 * message can carry a thousand events and a publisher many messages, so a
 * turn bounded by messages alone could take in a whole publish window before
 * it looks at the store again: the commit that finished meanwhile would wait,
 * its CONFIRMs with it, and the engine's work and the store's would run in
 * series instead of side by side. */
#define EVENTS_PER_TURN 1024
#define HOUSEKEEPING_US 50000
#define CURSOR_FLUSH_US 200000
#define STOP_GRACE_US (10LL * 1000000)
/* The transport ceiling: every body up to TRANSPORT_FACTOR x max_message_bytes
 * reaches the hub and is answered ERROR TOO_LARGE, the session kept. libzmq's
 * ZMQ_MAXMSGSIZE limits a frame as it travels, which with Curve is the body
 * and 33 bytes of framing (the MESSAGE command's name, nonce, MAC and flags),
 * so the socket's limit is the ceiling plus this headroom. A frame over that
 * cannot be answered: libzmq closes the connection (docs/protocol.md 2.1). */
#define TRANSPORT_FACTOR 4
#define TRANSPORT_HEADROOM 4096
/* Every request message carries its request_id as field 15, and those that
 * name a subscription carry it as field 1 (protocol.proto). */
#define REQUEST_ID_FIELD 15
#define SUBSCRIPTION_FIELD 1
/* Refused HELLOs are logged at most once a second per Curve key: an impostor
 * may send thousands, and each would otherwise be a line. */
#define REFUSAL_LOG_US 1000000

/* ---- sessions ---- */

/* A session ends: its subscriptions let go of what they had in flight first. */
static void close_session(core_t *c, session_t *s, const char *why)
{
    deliver_session_closed(c, s);
    session_close(c, s, why);
}

/* ---- the connection's User-Id ---- */

/* ZAP names a Curve connection "ADAPTER KEY": the adapter its key belonged to when it connected,
 * and the key (Z85; neither has a space). HELLO checks both against the configuration in force,
 * so a connection made with a key a reload has since replaced or removed is refused, not only a
 * new one (ZAP is asked once, at the handshake). */
#define USER_ID_NAME_MAX 128
static const char *user_id_split(const char *user_id, char name[USER_ID_NAME_MAX])
{
    name[0] = '\0';
    if (!user_id)
        return NULL;
    const char *sp = strchr(user_id, ' ');
    size_t n = sp ? (size_t)(sp - user_id) : strlen(user_id);
    if (n >= USER_ID_NAME_MAX)
        n = USER_ID_NAME_MAX - 1;
    memcpy(name, user_id, n);
    name[n] = '\0';
    return sp ? sp + 1 : NULL;
}

/* ---- refused HELLOs in the log ---- */

/* Which rate limit a connection's refusals count against: its Curve key's
 * adapter, or the last slot for a connection without a known key. */
static log_limit_t *refusal_limit(core_t *c, const config_adapter_t *key)
{
    return &c->hello_refusals[key ? (size_t)(key - c->cfg->adapters) : c->cfg->nadapters];
}

static const char *key_owner(const core_t *c, size_t slot)
{
    return slot < c->cfg->nadapters ? c->cfg->adapters[slot].name : NULL;
}

/* Logs a refused HELLO: who the key belongs to, whom it claimed to be, and
 * why, with the claim escaped (it is the client's bytes). */
static void log_refused_hello(core_t *c, const char *user_id, const char *claimed, const char *why)
{
    char name[USER_ID_NAME_MAX];
    (void)user_id_split(user_id, name);
    const config_adapter_t *key = user_id ? config_adapter(c->cfg, name) : NULL;
    log_limit_t *l = refusal_limit(c, key);
    if (l->last_us && c->now_us - l->last_us < REFUSAL_LOG_US) {
        l->suppressed++;
        return;
    }
    char shown[4 * 64 + 1], reason[1024], more[96] = "";
    text_clean(shown, sizeof shown, claimed ? claimed : "", claimed ? strnlen(claimed, 64) : 0);
    text_clean(reason, sizeof reason, why, strlen(why));
    if (l->suppressed)
        snprintf(more, sizeof more, " (and %llu more refused since the last line, not logged)",
                 (unsigned long long)l->suppressed);
    log_warn("session", "refused HELLO from a connection with %s%s%s claiming to be '%s': %s%s",
             key ? "the Curve key of adapter '" : "unknown key", key ? key->name : "",
             key ? "'" : "", claimed ? shown : "(unreadable HELLO)", reason, more);
    l->last_us = c->now_us;
    l->suppressed = 0;
}

/* A connection with a key no adapter has: a flood of them (any client can
 * make keys) is logged like refused HELLOs, once a second and a count. */
static void log_unknown_key(core_t *c, const char *z85)
{
    log_limit_t *l = &c->zap_refusals;
    if (l->last_us && c->now_us - l->last_us < REFUSAL_LOG_US) {
        l->suppressed++;
        return;
    }
    char more[96] = "";
    if (l->suppressed)
        snprintf(more, sizeof more, " (and %llu more since the last line, not logged)",
                 (unsigned long long)l->suppressed);
    log_warn("zap", "refused a connection with unknown Curve key %s%s", z85, more);
    l->last_us = c->now_us;
    l->suppressed = 0;
}

/* Refusals left out of the log are counted there once their interval is
 * over, so a flood that stops is still reported in full. */
static void log_suppressed_refusals(core_t *c)
{
    log_limit_t *z = &c->zap_refusals;
    if (z->suppressed && c->now_us - z->last_us >= REFUSAL_LOG_US) {
        log_warn("zap", "%llu more connection(s) with unknown Curve keys refused, not logged",
                 (unsigned long long)z->suppressed);
        z->last_us = c->now_us;
        z->suppressed = 0;
    }
    for (size_t i = 0; i <= c->cfg->nadapters; i++) {
        log_limit_t *l = &c->hello_refusals[i];
        if (!l->suppressed || c->now_us - l->last_us < REFUSAL_LOG_US)
            continue;
        const char *owner = key_owner(c, i);
        log_warn("session", "%llu more HELLO(s) refused from connections with %s%s%s, not logged",
                 (unsigned long long)l->suppressed,
                 owner ? "the Curve key of adapter '" : "unknown key", owner ? owner : "",
                 owner ? "'" : "");
        l->last_us = c->now_us;
        l->suppressed = 0;
    }
}

static void heartbeats(core_t *c)
{
    log_suppressed_refusals(c);
    size_t pos = 0;
    session_t *s;
    while ((s = session_next_expired(c, &pos)) != NULL) {
        char why[96];
        snprintf(why, sizeof why, "silent for more than %u heartbeats", c->cfg->heartbeat_misses);
        close_session(c, s, why);
    }
    session_heartbeat(c);
}

/* ---- store events ---- */

static void on_store(core_t *c)
{
    store_event_t ev;
    jbatch_t *b;
    store_job_t *job;
    while (store_receive(c->store, &ev, &b, &job) == 0) {
        if (ev == STORE_DB_DOWN) {
            dbstate_down(&c->db, "the connection to PostgreSQL is lost; the hub reconnects",
                         c->now_us);
            c->db_up = false;
        } else if (ev == STORE_DB_UP) {
            dbstate_up(&c->db, c->now_us);
            c->db_up = true;
        } else if (ev == STORE_JOB) {
            if (!admin_core_job_done(c, job) && !ingest_job_done(c, job))
                ingest_master_job_done(c, job);
        } else if (b->kind == JB_FETCH) {
            deliver_fetched(c, b);
        } else {
            /* The commit is back: its batch and the core's bookkeeping of it
             * meet again. */
            c->inflight.away = false;
            admin_core_commit_observed(c, c->now_us - c->inflight.sent_us, b->n);
            if (b->status == JB_COMMITTED) {
                /* Only a commit that journaled events proves a refusing
                 * database writes again: a cursor update may fit in a page
                 * a full disk still has. */
                if (b->n > 0 || c->db.health != DB_FAILING)
                    dbstate_commit_ok(&c->db, c->now_us);
                ingest_committed(c, b, &c->inflight.owed);
                deliver_cursors_committed(c, b);
                partner_core_committed(c, b);
            } else {
                /* A batch cut off by a lost connection is the store's
                 * DB_DOWN, sent before it; anything else is a commit the
                 * database refused. */
                if (c->db_up)
                    dbstate_commit_failed(&c->db, b->error, c->now_us);
                ingest_failed(c, b, &c->inflight.owed);
                partner_core_failed(c);
            }
            jbatch_release(&b);
            deliver_pump_all(c);
        }
    }
}

/* ---- HELLO and STATUS ---- */

static const config_adapter_t *authenticate(core_t *c, const Joinery__V1__Hello *m,
                                            const char *user_id, char *why, size_t why_len)
{
    if (c->cfg->curve) {
        char name[USER_ID_NAME_MAX];
        const char *key = user_id_split(user_id, name);
        const config_adapter_t *a = user_id ? config_adapter(c->cfg, name) : NULL;
        if (!a && name[0])
            snprintf(why, why_len,
                     "the connection's Curve key was adapter '%s''s, which is no longer in the "
                     "hub's configuration",
                     name);
        else if (!a)
            snprintf(why, why_len, "the connection's Curve key is not bound to any adapter");
        else if (key && !(a->public_key && strcmp(a->public_key, key) == 0))
            snprintf(why, why_len,
                     "the connection's Curve key is no longer adapter '%s''s (the hub's "
                     "configuration has a new one); connect again with the new key",
                     a->name);
        else if (strcmp(a->name, m->adapter) != 0)
            snprintf(why, why_len, "this Curve key belongs to adapter '%s', not '%.64s'", a->name,
                     m->adapter);
        else
            return a;
        return NULL;
    }
    const config_adapter_t *a = config_adapter(c->cfg, m->adapter);
    if (!a)
        snprintf(why, why_len, "no adapter named '%.64s' in the hub configuration", m->adapter);
    return a;
}

static void refuse_hello(core_t *c, const uint8_t *rid, size_t rid_len, const char *user_id,
                         const char *claimed, int code, const char *why)
{
    core_send_error(c, rid, rid_len, code, "HELLO", "%s", why);
    log_refused_hello(c, user_id, claimed, why);
}

static void welcome(core_t *c, const session_t *s)
{
    Joinery__V1__Welcome w = JOINERY__V1__WELCOME__INIT;
    w.protocol_version = PROTOCOL_VERSION;
    w.hub_version = (char *)JOINERY_VERSION;
    w.heartbeat_ms = c->cfg->heartbeat_ms;
    w.heartbeat_misses = c->cfg->heartbeat_misses;
    w.session_id = (uint64_t)s->id;
    w.max_message_bytes = c->cfg->max_message_bytes;
    w.max_batch = c->cfg->max_batch;
    uint8_t buf[128];
    size_t n = joinery__v1__welcome__pack(&w, buf);
    core_send(c, s, "WELCOME", buf, n);
}

static void on_hello(core_t *c, const uint8_t *rid, size_t rid_len, const uint8_t *body, size_t len,
                     const char *user_id)
{
    Joinery__V1__Hello *m = joinery__v1__hello__unpack(NULL, len, body);
    char why[256];
    if (!m) {
        refuse_hello(c, rid, rid_len, user_id, NULL, JOINERY__V1__ERROR_CODE__ERROR_BAD_FRAME,
                     "HELLO body is not a valid Hello message");
        return;
    }
    const config_adapter_t *a = NULL;
    if (m->protocol_version != PROTOCOL_VERSION) {
        snprintf(why, sizeof why,
                 "protocol_version %u is not supported; this hub speaks version %d",
                 m->protocol_version, PROTOCOL_VERSION);
        refuse_hello(c, rid, rid_len, user_id, m->adapter, JOINERY__V1__ERROR_CODE__ERROR_VERSION,
                     why);
    } else if (!(a = authenticate(c, m, user_id, why, sizeof why))) {
        refuse_hello(c, rid, rid_len, user_id, m->adapter,
                     JOINERY__V1__ERROR_CODE__ERROR_NOT_AUTHORISED, why);
    }
    /* A HELLO on a connection that already has a session starts it afresh. */
    session_t *old = a ? core_session_find(c, rid, rid_len) : NULL;
    if (old)
        close_session(c, old, "said HELLO again");
    session_t *s = a ? session_open(c, rid, rid_len, a) : NULL;
    if (a && !s)
        refuse_hello(c, rid, rid_len, user_id, m->adapter,
                     JOINERY__V1__ERROR_CODE__ERROR_BAD_REQUEST,
                     "the hub has no room for another session");
    if (s)
        welcome(c, s);
    joinery__v1__hello__free_unpacked(m, NULL);
}

static void on_status(core_t *c, session_t *s)
{
    if (!s->adapter->is_operator) {
        core_send_error(c, s->rid, s->rid_len, JOINERY__V1__ERROR_CODE__ERROR_NOT_AUTHORISED,
                        "STATUS", "adapter '%s' is not an operator (set operator: true)",
                        s->adapter->name);
        return;
    }
    size_t na = c->cfg->nadapters, ns = c->nsubs;
    Joinery__V1__AdapterStatus *as = calloc(na + 1, sizeof *as);
    Joinery__V1__AdapterStatus **ap = calloc(na + 1, sizeof *ap);
    Joinery__V1__SubscriptionStatus *ss = calloc(ns + 1, sizeof *ss);
    Joinery__V1__SubscriptionStatus **sp = calloc(ns + 1, sizeof *sp);
    Joinery__V1__StatusReply r = JOINERY__V1__STATUS_REPLY__INIT;
    if (as && ap && ss && sp) {
        size_t shown = 0;
        for (size_t i = 0; i < na; i++) {
            if (c->cfg->adapters[i].removed) /* a slot a reload emptied */
                continue;
            joinery__v1__adapter_status__init(&as[i]);
            as[i].name = c->cfg->adapters[i].name;
            as[i].published = c->adapter_stats[i].published;
            as[i].delivered = c->adapter_stats[i].delivered;
            as[i].last_seen_us = c->adapter_stats[i].last_seen_us;
            as[i].rejected = c->adapter_stats[i].rejected;
            as[i].refusals_dropped = c->adapter_stats[i].refusals_dropped;
            for (size_t k = 0; k < CORE_MAX_SESSIONS; k++)
                if (c->sessions[k].active && c->sessions[k].adapter_index == i)
                    as[i].connected = 1;
            ap[shown++] = &as[i];
        }
        for (size_t i = 0; i < ns; i++) {
            sub_t *sub = c->subs[i];
            joinery__v1__subscription_status__init(&ss[i]);
            ss[i].adapter = sub->adapter;
            ss[i].subscription = sub->name;
            ss[i].patterns = sub->patterns;
            ss[i].n_patterns = sub->npatterns;
            ss[i].acked_seq = deliver_floor(sub);
            ss[i].lag = c->head_seq > ss[i].acked_seq ? c->head_seq - ss[i].acked_seq : 0;
            ss[i].in_flight = (uint32_t)hmap_count(sub->inflight);
            ss[i].connected = core_session(c, sub->session) != NULL;
            sp[i] = &ss[i];
        }
        r.adapters = ap;
        r.n_adapters = shown;
        r.subscriptions = sp;
        r.n_subscriptions = ns;
    }
    r.head_seq = c->head_seq;
    r.dead_letters = c->dead_letters;
    r.rejected = c->rejected + c->malformed;
    char state[320];
    dbstate_describe(&c->db, c->now_us, state, sizeof state);
    r.database_up = c->db_up && c->db.health == DB_UP;
    r.database_state = state;
    r.failed_commits = c->db.failures_total;
    for (size_t i = 0; i <= na; i++) /* the last slot: refusals before HELLO */
        r.refusals_dropped += c->adapter_stats[i].refusals_dropped;
    r.hub_version = (char *)JOINERY_VERSION;
    size_t n = joinery__v1__status_reply__get_packed_size(&r);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf) {
        joinery__v1__status_reply__pack(&r, buf);
        core_send(c, s, "STATUS-REPLY", buf, n);
    }
    free(buf);
    free(as);
    free(ap);
    free(ss);
    free(sp);
}

/* ---- the ROUTER ---- */

static void printable(char *out, size_t cap, const uint8_t *p, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 5 < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, (p[i] >= 0x20 && p[i] < 0x7f) ? "%c" : "\\x%02x",
                              p[i]);
    out[n] = '\0';
}

static void on_command(core_t *c, const uint8_t *rid, size_t rid_len, const char *cmd,
                       const uint8_t *body, size_t len, const char *user_id)
{
    if (strcmp(cmd, "HELLO") == 0) {
        on_hello(c, rid, rid_len, body, len, user_id);
        return;
    }
    session_t *s = core_session_find(c, rid, rid_len);
    if (!s) {
        core_send_error(c, rid, rid_len, JOINERY__V1__ERROR_CODE__ERROR_NO_SESSION, cmd,
                        "no session: send HELLO first (or again, if the session expired)");
        return;
    }
    s->last_seen_us = c->now_us;
    c->adapter_stats[s->adapter_index].last_seen_us = c->now_us;
    if (strcmp(cmd, "PUBLISH") == 0) {
        ingest_publish(c, s, body, len);
        if (c->ntransient)
            deliver_transients(c);
    } else if (strcmp(cmd, "ACK") == 0)
        deliver_ack(c, s, body, len);
    else if (strcmp(cmd, "HEARTBEAT") == 0)
        return;
    else if (strcmp(cmd, "NACK") == 0)
        deliver_nack(c, s, body, len);
    else if (strcmp(cmd, "SUBSCRIBE") == 0)
        deliver_subscribe(c, s, body, len);
    else if (strcmp(cmd, "CREDIT") == 0)
        deliver_credit(c, s, body, len);
    else if (strcmp(cmd, "STATUS") == 0)
        on_status(c, s);
    else if (strcmp(cmd, "GOODBYE") == 0)
        close_session(c, s, "said goodbye");
}

/* Notes the request's id (and the subscription it names) for
 * core_send_error, reading the body once at its top level. A body that does
 * not parse gives neither: its Error carries no request_id. */
static void note_request(core_t *c, const char *cmd, const uint8_t *body, size_t len)
{
    bool names_sub = strcmp(cmd, "SUBSCRIBE") == 0 || strcmp(cmd, "ACK") == 0 ||
                     strcmp(cmd, "NACK") == 0 || strcmp(cmd, "CREDIT") == 0;
    pb_reader_t r = {body, body + len};
    pb_field_t f;
    uint64_t id = 0;
    const uint8_t *sub = NULL;
    size_t sub_len = 0;
    int rc;
    while ((rc = pb_next(&r, &f)) == 1) {
        if (f.field == REQUEST_ID_FIELD && f.wire == PB_VARINT) {
            id = f.u;
        } else if (names_sub && f.field == SUBSCRIPTION_FIELD && f.wire == PB_LEN) {
            sub = f.ptr;
            sub_len = f.len;
        }
    }
    if (rc < 0)
        return;
    c->request_id = id;
    c->request_sub = (const char *)sub;
    c->request_sub_len = sub_len;
}

static const char *const known_commands[] = {
    "HELLO", "PUBLISH", "ACK", "NACK", "SUBSCRIBE", "CREDIT", "STATUS", "GOODBYE", "HEARTBEAT"};

static bool command_known(const zmq_msg_t *m, char *out, size_t cap)
{
    size_t len = zmq_msg_size((zmq_msg_t *)m);
    const char *p = zmq_msg_data((zmq_msg_t *)m);
    for (size_t i = 0; i < sizeof known_commands / sizeof *known_commands; i++) {
        if (strlen(known_commands[i]) == len && memcmp(known_commands[i], p, len) == 0) {
            snprintf(out, cap, "%s", known_commands[i]);
            return true;
        }
    }
    return false;
}

/* A message with a known command: refused if too large, else carried out;
 * either way an ERROR it causes names the request (note_request). */
static void on_request(core_t *c, const uint8_t *rid, size_t rid_len, const char *who,
                       const char *cmd, zmq_msg_t *cmd_frame, zmq_msg_t *body_frame)
{
    const uint8_t *body = zmq_msg_data(body_frame);
    size_t len = zmq_msg_size(body_frame);
    note_request(c, cmd, body, len);
    if (len > c->cfg->max_message_bytes) {
        char why[128];
        snprintf(why, sizeof why, "%s body of %zu bytes exceeds the hub's limit of %u", cmd, len,
                 c->cfg->max_message_bytes);
        ingest_keep_refused(c, who, why, body, len);
        core_send_error(c, rid, rid_len, JOINERY__V1__ERROR_CODE__ERROR_TOO_LARGE, cmd, "%s", why);
    } else {
        on_command(c, rid, rid_len, cmd, body, len, zmq_msg_gets(cmd_frame, "User-Id"));
    }
    /* request_sub points into the message, which the caller closes next. */
    c->request_id = 0;
    c->request_sub = NULL;
    c->request_sub_len = 0;
}

/* Reads one whole message; 0 when there was none. Frames past the third are
 * drained and counted, so a malformed message never desynchronises the socket. */
static int on_message(core_t *c)
{
    zmq_msg_t f[3];
    int n = 0, more = 1;
    size_t extra = 0;
    for (int i = 0; i < 3; i++)
        zmq_msg_init(&f[i]);
    while (more) {
        zmq_msg_t *m = n < 3 ? &f[n] : &f[2];
        if (n >= 3) {
            extra++;
            zmq_msg_close(m);
            zmq_msg_init(m);
        }
        if (zmq_msg_recv(m, c->router, ZMQ_DONTWAIT) < 0)
            break;
        if (n < 3)
            n++;
        more = zmq_msg_more(m);
    }
    int got = n > 0;
    if (n >= 1) {
        const uint8_t *rid = zmq_msg_data(&f[0]);
        size_t rid_len = zmq_msg_size(&f[0]);
        session_t *s = core_session_find(c, rid, rid_len);
        const char *who = s ? s->adapter->name : "";
        char cmd[32], shown[160];
        if (n < 3 || extra) {
            const zmq_msg_t *last = &f[n - 1];
            char why[128];
            snprintf(why, sizeof why, "a message must be two frames, a command and a body; got %zu",
                     (size_t)(n - 1) + extra);
            ingest_keep_refused(c, who, why, zmq_msg_data((zmq_msg_t *)last),
                                zmq_msg_size((zmq_msg_t *)last));
            core_send_error(c, rid, rid_len, JOINERY__V1__ERROR_CODE__ERROR_BAD_FRAME, "", "%s",
                            why);
        } else if (!command_known(&f[1], cmd, sizeof cmd)) {
            printable(shown, sizeof shown, zmq_msg_data(&f[1]),
                      zmq_msg_size(&f[1]) > 32 ? 32 : zmq_msg_size(&f[1]));
            ingest_keep_refused(c, who, "unknown command", zmq_msg_data(&f[1]),
                                zmq_msg_size(&f[1]));
            core_send_error(c, rid, rid_len, JOINERY__V1__ERROR_CODE__ERROR_UNKNOWN_COMMAND, "",
                            "unknown command '%s'; expected HELLO, PUBLISH, ACK, NACK, SUBSCRIBE, "
                            "CREDIT, STATUS, HEARTBEAT or GOODBYE",
                            shown);
        } else {
            on_request(c, rid, rid_len, who, cmd, &f[1], &f[2]);
        }
    }
    for (int i = 0; i < 3; i++)
        zmq_msg_close(&f[i]);
    return got;
}

/* ---- ZAP: which Curve keys may connect, and as whom ---- */

static void on_zap(core_t *c)
{
    zmq_msg_t f[8];
    int n = 0, more = 1;
    while (more && n < 8) {
        zmq_msg_init(&f[n]);
        if (zmq_msg_recv(&f[n], c->zap, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&f[n]);
            break;
        }
        more = zmq_msg_more(&f[n]);
        n++;
    }
    if (n < 6) {
        for (int i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
        return;
    }
    const config_adapter_t *a = NULL;
    if (n >= 7 && zmq_msg_size(&f[5]) == 5 && memcmp(zmq_msg_data(&f[5]), "CURVE", 5) == 0 &&
        zmq_msg_size(&f[6]) == 32) {
        char z85[41];
        zmq_z85_encode(z85, zmq_msg_data(&f[6]), 32);
        a = config_adapter_by_key(c->cfg, z85);
        if (!a)
            log_unknown_key(c, z85);
    }
    const char *code = a ? "200" : "400";
    const char *text = a ? "OK" : "unknown key";
    char uid[USER_ID_NAME_MAX + 48] = "";
    if (a)
        snprintf(uid, sizeof uid, "%s %s", a->name, a->public_key);
    zmq_send(c->zap, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(c->zap, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), ZMQ_SNDMORE);
    zmq_send(c->zap, code, 3, ZMQ_SNDMORE);
    zmq_send(c->zap, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(c->zap, uid, strlen(uid), ZMQ_SNDMORE);
    zmq_send(c->zap, "", 0, 0);
    for (int i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
}

/* ---- set-up ---- */

static int open_sockets(core_t *c, char *err, size_t errlen)
{
    const config_t *cfg = c->cfg;
    c->router = zmq_socket(c->ctx, ZMQ_ROUTER);
    /* Per peer. What a peer may queue towards the hub is what it can make the
     * hub hold (up to the transport ceiling each): a thousand messages keep
     * a fast publisher busy (each PUBLISH holds up to max_batch events) and
     * bound a hostile one. Outgoing, deliveries are bounded by credit and
     * by the mark (refused ones wait); the rest (CONFIRMs, ERRORs to a peer
     * that never reads) is dropped beyond it, and its session expires or its
     * publishes are resent. */
    int rcvhwm = 1000, sndhwm = 10000, linger = 0, mandatory = 1;
    int64_t maxmsg = (int64_t)cfg->max_message_bytes * TRANSPORT_FACTOR + TRANSPORT_HEADROOM;
    zmq_setsockopt(c->router, ZMQ_SNDHWM, &sndhwm, sizeof sndhwm);
    /* Beyond the mark a ROUTER drops a message silently unless it is mandatory: then the send
     * fails (EAGAIN), and a DELIVER it refused is sent again later (deliver.c out_unsend)
     * instead of holding its credit, undelivered, until the session ends. */
    zmq_setsockopt(c->router, ZMQ_ROUTER_MANDATORY, &mandatory, sizeof mandatory);
    zmq_setsockopt(c->router, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
    zmq_setsockopt(c->router, ZMQ_LINGER, &linger, sizeof linger);
    /* A hard ceiling far above the refusal limit: bigger frames are not even
     * buffered; libzmq disconnects the peer, and the hub never sees them. */
    zmq_setsockopt(c->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (cfg->curve) {
        c->zap = zmq_socket(c->ctx, ZMQ_REP);
        if (zmq_bind(c->zap, "inproc://zeromq.zap.01") < 0) {
            snprintf(err, errlen, "cannot bind the ZAP handler: %s", zmq_strerror(zmq_errno()));
            return -1;
        }
        int on = 1;
        zmq_setsockopt(c->router, ZMQ_CURVE_SERVER, &on, sizeof on);
        zmq_setsockopt(c->router, ZMQ_CURVE_SECRETKEY, cfg->hub_secret_key, 40);
        zmq_setsockopt(c->router, ZMQ_ZAP_DOMAIN, "joinery", 7);
    } else {
        log_warn("router", "security.curve is false: DEVELOPMENT MODE, connections are neither "
                           "encrypted nor authenticated; never run a council's data like this");
    }
    if (zmq_bind(c->router, cfg->listen) < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", cfg->listen, zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

static int open_signals(core_t *c)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    c->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return c->signal_fd < 0 ? -1 : 0;
}

/* Dead letters replayed through the admin API and not yet settled by their
 * subscriber are delivered again (dead_letter_replay). */
static int restore_replays(core_t *c, PGconn *conn, char *err, size_t errlen)
{
    store_replay_t *r = NULL;
    size_t n = 0;
    if (store_replays_waiting(conn, &r, &n, err, errlen) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        sub_t *s = deliver_sub_find(c, r[i].adapter, r[i].subscription);
        if (s && deliver_replay(c, s, r[i].seq) < 0) {
            snprintf(err, errlen, "out of memory restoring replays");
            rc = -1;
        }
    }
    free(r);
    return rc;
}

/* Loads what the hub must know before it serves anyone: the journal head,
 * subscriptions and their cursors, the recent window and dedup keys. */
static int boot(core_t *c, const char *conninfo, char *err, size_t errlen)
{
#ifdef __GLIBC__
    /* Large blocks (events of hundreds of KB, the window's batches, bodies of
     * refused messages) get their own mappings, given back to the system
     * when freed. glibc's default raises this threshold after the first such
     * block is freed, and from then on they come from the heaps of three
     * threads, where freed memory mostly stays in the process: the window
     * would move on, and the hub would not shrink. */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
    PGconn *conn = store_connect(conninfo, 60000, err, errlen);
    if (!conn)
        return -1;
    store_sub_row_t *rows = NULL;
    size_t nrows = 0;
    int rc = -1;
    if (store_head(conn, &c->head_seq, err, errlen) < 0 ||
        store_stored_counts(conn, &c->dead_letters, &c->rejected, err, errlen) < 0 ||
        store_subscriptions(conn, &rows, &nrows, err, errlen) < 0)
        goto out;
    uint64_t from = c->head_seq;
    for (size_t i = 0; i < nrows; i++) {
        sub_t *s = deliver_sub_restore(c, rows[i].adapter, rows[i].name, rows[i].patterns,
                                       rows[i].npatterns, rows[i].acked_seq);
        if (!s || deliver_sub_restore_attempts(s, rows[i].attempts, rows[i].nattempts) < 0) {
            snprintf(err, errlen, "out of memory restoring subscription %s/%s", rows[i].adapter,
                     rows[i].name);
            goto out;
        }
        if (rows[i].acked_seq < from)
            from = rows[i].acked_seq;
    }
    if (restore_replays(c, conn, err, errlen) < 0)
        goto out;
    window_set_max_bytes(c->window, c->cfg->window_bytes);
    uint64_t keep = c->cfg->window_events;
    if (c->head_seq > keep && from < c->head_seq - keep)
        from = c->head_seq - keep;
    uint64_t dedup_from = c->head_seq > DEDUP_CAPACITY ? c->head_seq - DEDUP_CAPACITY : 0;
    if (store_load_window(conn, from, c->window, err, errlen) < 0 ||
        store_load_dedup(conn, dedup_from, c->dedup, err, errlen) < 0)
        goto out;
    c->master = master_new(c->cfg, err, errlen);
    if (!c->master || master_load(c->master, conn, err, errlen) < 0)
        goto out;
    c->entity = entity_new(c->cfg, err, errlen);
    if (!c->entity || entity_load(c->entity, conn, err, errlen) < 0)
        goto out;
    c->next_seq = c->head_seq + 1;
    log_info("router",
             "journal head %llu, %zu subscription(s), %zu event(s) in memory, %zu golden "
             "record(s), %zu pair(s) awaiting a steward, %zu golden address(es), %zu golden "
             "case(s)",
             (unsigned long long)c->head_seq, nrows, window_events(c->window),
             master_golden_count(c->master), master_steward_count(c->master),
             entity_count(c->entity, ENTITY_ADDRESS), entity_count(c->entity, ENTITY_CASE));
    rc = 0;
out:
    store_sub_rows_free(rows, nrows);
    PQfinish(conn);
    return rc;
}

/* ---- the loop ---- */

static void goodbye_all(core_t *c, const char *why)
{
    Joinery__V1__Goodbye g = JOINERY__V1__GOODBYE__INIT;
    g.reason = (char *)why;
    uint8_t buf[128];
    size_t n = joinery__v1__goodbye__pack(&g, buf);
    for (size_t i = 0; i < CORE_MAX_SESSIONS; i++)
        if (c->sessions[i].active)
            core_send(c, &c->sessions[i], "GOODBYE", buf, n);
}

static void turn(core_t *c, zmq_pollitem_t *items, int64_t *next_hb, int64_t *next_cursor)
{
    c->now_us = core_now_us();
    if (items[3].revents & ZMQ_POLLIN) {
        struct signalfd_siginfo si;
        ssize_t got = read(c->signal_fd, &si, sizeof si);
        if (got == (ssize_t)sizeof si && si.ssi_signo == SIGHUP) {
            if (!c->stopping)
                reload_from_file(c, "SIGHUP");
        } else if (got == (ssize_t)sizeof si && !c->stopping) {
            log_info("router", "signal %u: finishing in-flight commits, then stopping",
                     si.ssi_signo);
            c->stopping = true;
            deliver_queue_cursors(c);
        }
    }
    if (items[2].revents & ZMQ_POLLIN)
        on_store(c);
    if (items[5].revents & ZMQ_POLLIN)
        partner_core_receive(c);
    if (items[1].revents & ZMQ_POLLIN)
        on_zap(c);
    if (items[0].revents & ZMQ_POLLIN) {
        size_t before = c->pending->n;
        for (int i = 0; i < MESSAGES_PER_TURN && on_message(c); i++)
            if (c->pending->n >= before + EVENTS_PER_TURN)
                break;
    }
    if (items[4].revents & ZMQ_POLLIN)
        admin_core_request(c); /* after the adapters' messages of this turn */
    if (c->now_us >= *next_hb) {
        heartbeats(c);
        *next_hb = c->now_us + (int64_t)c->cfg->heartbeat_ms * 1000;
    }
    if (c->now_us >= *next_cursor) {
        deliver_queue_cursors(c);
        deliver_pump_all(c); /* retries that fell due */
        dbstate_tick(&c->db, c->now_us);
        *next_cursor = c->now_us + CURSOR_FLUSH_US;
    }
    ingest_master_reload(c); /* hands the store a job if the engines are stale */
    ingest_tick(c);          /* refused input: quota log lines, expiry */
    admin_core_tick(c);      /* settled replays recorded, rates sampled */
    deliver_flush_transient(c);
    for (size_t i = 0; i < CORE_MAX_SESSIONS; i++)
        if (c->sessions[i].active && c->sessions[i].confirm.len)
            core_flush_confirms(c, &c->sessions[i]);
    core_dispatch(c);
}

static void loop(core_t *c)
{
    void *partners = partner_core_socket(c);
    zmq_pollitem_t items[6] = {{c->router, 0, ZMQ_POLLIN, 0},
                               {c->zap, 0, c->zap ? ZMQ_POLLIN : 0, 0},
                               {store_socket(c->store), 0, ZMQ_POLLIN, 0},
                               {NULL, c->signal_fd, ZMQ_POLLIN, 0},
                               {c->admin, 0, c->admin ? ZMQ_POLLIN : 0, 0},
                               {partners, 0, partners ? ZMQ_POLLIN : 0, 0}};
    int64_t next_hb = 0, next_cursor = 0, stop_by = 0;
    for (;;) {
        if (zmq_poll(items, 6, HOUSEKEEPING_US / 1000) < 0 && zmq_errno() != EINTR)
            break;
        turn(c, items, &next_hb, &next_cursor);
        if (c->stopping) {
            if (!stop_by)
                stop_by = c->now_us + STOP_GRACE_US;
            bool drained = !c->inflight.away && (core_pending_empty(c) || !c->db_up);
            if (drained || c->now_us > stop_by)
                break;
        }
    }
    goodbye_all(c, "hub shutting down");
}

int router_run(const config_t *cfg, const char *conninfo)
{
    char err[512];
    /* Block the stop signals and SIGHUP (reload) before any thread exists,
     * so they arrive only through the signalfd in the poll set. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    admin_server_t *admin = NULL;
    core_t *c = core_new(cfg);
    if (!c) {
        log_error("router", "out of memory");
        return -1;
    }
    int rc = -1;
    if (open_signals(c) < 0) {
        log_error("router", "cannot create a signalfd");
        goto out;
    }
    if (boot(c, conninfo, err, sizeof err) < 0) {
        log_error("router", "%s", err);
        goto out;
    }
    c->ctx = zmq_ctx_new();
    c->store = c->ctx ? store_new(c->ctx, conninfo, err, sizeof err) : NULL;
    if (!c->store) {
        log_error("router", "%s", c->ctx ? err : "cannot create a ZeroMQ context");
        goto out;
    }
    if (open_sockets(c, err, sizeof err) < 0 || partner_core_start(c, err, sizeof err) < 0) {
        log_error("router", "%s", err);
        goto out;
    }
    /* The admin thread talks to the core only through c->admin. */
    if (cfg->admin_enabled &&
        (admin_core_open(c, err, sizeof err) < 0 ||
         !(admin = admin_server_start(cfg, c->ctx, conninfo, err, sizeof err)))) {
        log_error("router", "%s", err);
        goto out;
    }
    c->admin_server = admin; /* told of reloads (reload.c) */
    log_info("router", "ready: listening on %s (curve %s)", cfg->listen, cfg->curve ? "on" : "OFF");
    loop(c);
    log_info("router", "stopped cleanly at journal head %llu", (unsigned long long)c->head_seq);
    rc = 0;
out:
    admin_server_stop(&admin); /* first: its thread may be waiting on the core */
    c->admin_server = NULL;
    admin_core_close(c);
    partner_core_stop(c); /* its threads' sockets must close before the context */
    for (size_t i = 0; i < CORE_MAX_SESSIONS; i++)
        close_session(c, &c->sessions[i], "hub stopped");
    deliver_destroy_all(c);
    core_destroy(&c);
    return rc;
}
