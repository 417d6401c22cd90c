/* admin_server.c - see admin_server.h. libmicrohttpd runs one internal
 * thread (MHD_USE_INTERNAL_POLLING_THREAD), so every handler runs there, one
 * at a time: the core's socket and the database connection belong to that
 * thread alone and need no lock. A request waits for the core's answer (the
 * core answers between two turns; an operation that writes waits for its
 * store job), up to CORE_WAIT_MS. */
#include "admin/admin_server.h"

#include "admin/admin_auth.h"
#include "admin/admin_db.h"
#include "admin/admin_metrics.h"
#include "admin/admin_proto.h"
#include "admin/admin_static.h"
#include "admin/admin_steward.h"
#include "admin/admin_trace.h"
#include "base/log.h"

#include <errno.h>
#include <stdatomic.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <zmq.h>

#define CORE_WAIT_MS 15000
#define CORE_POLL_MS 100
#define MAX_BODY 65536
#define MAX_REASON 1000
#define DL_LIMIT_DEFAULT 100
#define DL_LIMIT_MAX 1000
#define NAME_MAX_LEN 64
#define TYPE_MAX_LEN 128

struct admin_server {
    /* The configuration in force (tokens, adapters): the core thread stores a new one after a
     * reload (admin_server_set_config); the MHD thread loads it once per request. The core
     * keeps every configuration alive until after this thread has stopped (hub/reload.c). */
    _Atomic(const config_t *) cfg;
    struct MHD_Daemon *d;
    void *sock; /* PAIR to the core; the MHD thread's */
    PGconn *pg; /* the MHD thread's; NULL until first needed or after a failure */
    char *conninfo;
    uint64_t next_id;
    char *tls_cert, *tls_key; /* PEM in memory, as libmicrohttpd wants them */
    uint64_t responses[6];    /* by status class, 1xx..5xx; the MHD thread's */
    atomic_bool stopping;     /* set by admin_server_stop: a wait for the core ends */
};

typedef struct {
    char *body;
    size_t len;
    bool too_big;
} request_t;

/* ---- responses ---- */

static enum MHD_Result respond(admin_server_t *s, struct MHD_Connection *conn, int status,
                               const char *type, const char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"joinery\"");
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    if (status >= 100 && status < 600)
        s->responses[status / 100]++;
    return rc;
}

/* Answers with J (taken). */
static enum MHD_Result respond_json(admin_server_t *s, struct MHD_Connection *conn, int status,
                                    json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text)
        return respond(s, conn, 500, "application/json", "{\"error\":\"out of memory\"}", 25);
    enum MHD_Result rc = respond(s, conn, status, "application/json", text, strlen(text));
    free(text);
    return rc;
}

/* WHY is the hub's own text (never the caller's token or a database message). */
static enum MHD_Result respond_error(admin_server_t *s, struct MHD_Connection *conn, int status,
                                     const char *why)
{
    return respond_json(s, conn, status, json_pack("{ss}", "error", why));
}

/* ---- the core ---- */

/* Sends VERB with ARGS (taken) and waits for the answer: its status, and its
 * body in *BODY (the caller's, NUL-terminated). -1 if the core did not answer. */
static int ask_core(admin_server_t *s, const char *verb, json_t *args, int *status, char **body,
                    size_t *len)
{
    uint64_t id = ++s->next_id;
    char *a = args ? json_dumps(args, JSON_COMPACT) : NULL;
    json_decref(args);
    int rc = -1;
    if (zmq_send(s->sock, &id, sizeof id, ZMQ_SNDMORE) < 0 ||
        zmq_send(s->sock, verb, strlen(verb), ZMQ_SNDMORE) < 0 ||
        zmq_send(s->sock, a ? a : "", a ? strlen(a) : 0, 0) < 0)
        goto out;
    /* In slices, so a hub that is stopping (and whose core no longer
     * answers) is not held up for the whole wait. */
    for (int64_t left = CORE_WAIT_MS; left > 0 && !atomic_load(&s->stopping);) {
        zmq_pollitem_t it = {s->sock, 0, ZMQ_POLLIN, 0};
        int ready = zmq_poll(&it, 1, CORE_POLL_MS);
        if (ready < 0)
            break;
        left -= CORE_POLL_MS;
        if (ready == 0)
            continue;
        zmq_msg_t f[3];
        int n = 0, more = 1;
        for (int i = 0; i < 3; i++)
            zmq_msg_init(&f[i]);
        while (more && n < 3 && zmq_msg_recv(&f[n], s->sock, 0) >= 0)
            more = zmq_msg_more(&f[n++]);
        uint64_t got = 0;
        if (n == 3 && zmq_msg_size(&f[0]) == sizeof got && zmq_msg_size(&f[1]) == 3)
            memcpy(&got, zmq_msg_data(&f[0]), sizeof got);
        if (got == id) {
            char code[4] = {0};
            memcpy(code, zmq_msg_data(&f[1]), 3);
            *status = (int)strtol(code, NULL, 10);
            *len = zmq_msg_size(&f[2]);
            *body = malloc(*len + 1);
            if (*body) {
                memcpy(*body, zmq_msg_data(&f[2]), *len);
                (*body)[*len] = '\0';
                rc = 0;
            }
        }
        for (int i = 0; i < 3; i++)
            zmq_msg_close(&f[i]);
        if (got == id)
            break;
    }
out:
    free(a);
    return rc;
}

/* Asks the core and passes its JSON answer on as it is. */
static enum MHD_Result relay(admin_server_t *s, struct MHD_Connection *conn, const char *verb,
                             json_t *args)
{
    int status = 0;
    char *body = NULL;
    size_t len = 0;
    if (ask_core(s, verb, args, &status, &body, &len) < 0)
        return respond_error(s, conn, 503, "the hub's core did not answer in time");
    enum MHD_Result rc = respond(s, conn, status, "application/json", body, len);
    free(body);
    return rc;
}

/* ---- the database ---- */

static PGconn *db(admin_server_t *s)
{
    if (s->pg && PQstatus(s->pg) != CONNECTION_OK) {
        PQfinish(s->pg);
        s->pg = NULL;
    }
    if (!s->pg) {
        char err[512];
        s->pg = admin_db_connect(s->conninfo, err, sizeof err);
        if (!s->pg)
            log_warn("admin", "%s", err);
    }
    return s->pg;
}

static enum MHD_Result db_failed(admin_server_t *s, struct MHD_Connection *conn, const char *err)
{
    /* The database's message stays in the log: it may name tables and hosts. */
    log_warn("admin", "database read failed: %s", err);
    return respond_error(s, conn, 503, "the database is unavailable; try again");
}

/* ---- checking what the caller sent ---- */

static bool name_ok(const char *p, size_t len)
{
    if (len == 0 || len > NAME_MAX_LEN)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '_' ||
              p[i] == '-' || p[i] == '.'))
            return false;
    return true;
}

/* A dead letter's id: 1 to 18 digits, not zero. */
static bool id_parse(const char *p, size_t len, long long *out)
{
    if (len == 0 || len > 18)
        return false;
    long long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return v > 0;
}

static const char *const dl_params[] = {"adapter", "subscription", "type", "limit", "after", NULL};

typedef struct {
    const char *const *allowed; /* NULL-terminated */
    const char *bad;
} params_check_t;

static enum MHD_Result check_param(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    (void)value;
    params_check_t *pc = cls;
    for (size_t i = 0; pc->allowed[i]; i++)
        if (strcmp(key, pc->allowed[i]) == 0)
            return MHD_YES;
    pc->bad = key;
    return MHD_NO;
}

/* Whether every query parameter is one of ALLOWED. */
static bool params_known(struct MHD_Connection *conn, const char *const *allowed)
{
    params_check_t pc = {allowed, NULL};
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, check_param, &pc);
    return pc.bad == NULL;
}

static const char *query(struct MHD_Connection *conn, const char *key)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
    return v ? v : "";
}

/* The list's filters, or a reason in *WHY. */
static bool dl_filter(struct MHD_Connection *conn, admin_dl_filter_t *f, const char **why)
{
    if (!params_known(conn, dl_params)) {
        *why = "unknown query parameter; expected adapter, subscription, type, limit, after";
        return false;
    }
    f->adapter = query(conn, "adapter");
    f->subscription = query(conn, "subscription");
    f->type = query(conn, "type");
    if ((*f->adapter && !name_ok(f->adapter, strlen(f->adapter))) ||
        (*f->subscription && !name_ok(f->subscription, strlen(f->subscription)))) {
        *why = "adapter and subscription must be names of 1-64 of a-z 0-9 _ - .";
        return false;
    }
    if (strlen(f->type) > TYPE_MAX_LEN) {
        *why = "type is longer than 128 characters";
        return false;
    }
    const char *limit = query(conn, "limit"), *after = query(conn, "after");
    long long v = 0;
    f->limit = DL_LIMIT_DEFAULT;
    if (*limit) {
        if (!id_parse(limit, strlen(limit), &v) || v > DL_LIMIT_MAX) {
            *why = "limit must be a whole number from 1 to 1000";
            return false;
        }
        f->limit = (int)v;
    }
    f->after = 0;
    if (*after && !(strcmp(after, "0") == 0 || id_parse(after, strlen(after), &f->after))) {
        *why = "after must be a dead letter id (a whole number)";
        return false;
    }
    return true;
}

/* ---- endpoints ---- */

static enum MHD_Result on_readyz(admin_server_t *s, struct MHD_Connection *conn)
{
    char err[512] = "";
    PGconn *c = db(s);
    bool ok = c && admin_db_ready(c, err, sizeof err);
    int status = 0;
    char *body = NULL;
    size_t len = 0;
    json_t *core = NULL;
    if (ok && ask_core(s, ADMIN_VERB_STATUS, NULL, &status, &body, &len) == 0)
        core = json_loadb(body, len, 0, NULL);
    free(body);
    const char *why = !c      ? "the database cannot be reached"
                      : !ok   ? "the database schema is not this hub's (migrations not applied)"
                      : !core ? "the hub's core did not answer"
                      : !json_is_true(json_object_get(core, "database_up"))
                          ? "the hub's store is not committing to the database"
                          : NULL;
    if (!ok && c)
        log_warn("admin", "not ready: %s", err);
    json_decref(core);
    if (why)
        return respond_json(s, conn, 503, json_pack("{sb ss}", "ready", 0, "reason", why));
    return respond_json(s, conn, 200, json_pack("{sb}", "ready", 1));
}

static enum MHD_Result on_subscriptions(admin_server_t *s, struct MHD_Connection *conn)
{
    int status = 0;
    char *body = NULL;
    size_t len = 0;
    if (ask_core(s, ADMIN_VERB_SUBSCRIPTIONS, NULL, &status, &body, &len) < 0)
        return respond_error(s, conn, 503, "the hub's core did not answer in time");
    json_t *subs = json_loadb(body, len, 0, NULL);
    free(body);
    if (!json_is_array(subs)) {
        json_decref(subs);
        return respond_error(s, conn, 500, "the core's answer was not understood");
    }
    char err[512];
    PGconn *c = db(s);
    if (!c || admin_db_add_counts(c, subs, err, sizeof err) < 0) {
        /* Live state is still worth having: the stored counts are null. */
        for (size_t i = 0; i < json_array_size(subs); i++)
            json_object_set_new(json_array_get(subs, i), "dead_letters", json_null());
    }
    return respond_json(s, conn, 200, json_pack("{so}", "subscriptions", subs));
}

static enum MHD_Result on_dead_letters(admin_server_t *s, struct MHD_Connection *conn)
{
    admin_dl_filter_t f;
    const char *why = NULL;
    if (!dl_filter(conn, &f, &why))
        return respond_error(s, conn, 400, why);
    char err[512];
    PGconn *c = db(s);
    json_t *j = c ? admin_db_dead_letters(c, &f, err, sizeof err) : NULL;
    if (!j)
        return db_failed(s, conn, c ? err : "no connection");
    return respond_json(s, conn, 200, j);
}

static enum MHD_Result on_dead_letter(admin_server_t *s, struct MHD_Connection *conn, long long id)
{
    char err[512];
    bool found = false;
    PGconn *c = db(s);
    json_t *j = c ? admin_db_dead_letter(c, id, &found, err, sizeof err) : NULL;
    if (!j && c && !found && PQstatus(c) == CONNECTION_OK &&
        strcmp(err, "no such dead letter") == 0)
        return respond_error(s, conn, 404, "no such dead letter");
    if (!j)
        return db_failed(s, conn, c ? err : "no connection");
    return respond_json(s, conn, 200, j);
}

/* The request body as a JSON object, or NULL with a reason in *WHY. */
static json_t *body_object(const request_t *rq, const char **why)
{
    if (rq->too_big) {
        *why = "the request body is larger than 64 KiB";
        return NULL;
    }
    json_t *j = rq->len ? json_loadb(rq->body, rq->len, 0, NULL) : NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        *why = "the request body must be a JSON object";
        return NULL;
    }
    return j;
}

/* {"ids": [1, 2, ...]}: 1 to ADMIN_MAX_REPLAY positive ids. */
static json_t *replay_ids(const request_t *rq, const char **why)
{
    json_t *j = body_object(rq, why);
    if (!j)
        return NULL;
    json_t *ids = json_object_get(j, "ids");
    size_t n = json_array_size(ids);
    bool ok = json_is_array(ids) && n >= 1 && n <= ADMIN_MAX_REPLAY && json_object_size(j) == 1;
    for (size_t i = 0; ok && i < n; i++) {
        const json_t *v = json_array_get(ids, i);
        ok = json_is_integer(v) && json_integer_value(v) > 0;
    }
    if (!ok) {
        *why = "the body must be {\"ids\": [...]}, 1 to 1000 dead letter ids (positive integers)";
        json_decref(j);
        return NULL;
    }
    json_incref(ids);
    json_decref(j);
    return ids;
}

static enum MHD_Result on_replay(admin_server_t *s, struct MHD_Connection *conn, json_t *ids,
                                 const char *who)
{
    size_t asked = json_array_size(ids);
    json_t *want = json_deep_copy(ids);
    int status = 0;
    char *body = NULL;
    size_t len = 0;
    if (ask_core(s, ADMIN_VERB_REPLAY, json_pack("{so ss}", "ids", ids, "who", who), &status, &body,
                 &len) < 0) {
        json_decref(want);
        return respond_error(s, conn, 503, "the hub's core did not answer in time");
    }
    json_t *ans = status == 200 ? json_loadb(body, len, 0, NULL) : NULL;
    if (!ans) {
        enum MHD_Result rc = respond(s, conn, status, "application/json", body, len);
        free(body);
        json_decref(want);
        return rc;
    }
    free(body);
    /* What was asked and did not move: no such dead letter (or already
     * replayed), or its subscription is gone. */
    json_t *moved = json_object_get(ans, "replayed"), *left = json_array();
    for (size_t i = 0; i < json_array_size(want); i++) {
        json_t *v = json_array_get(want, i);
        bool found = false;
        for (size_t k = 0; k < json_array_size(moved) && !found; k++)
            found = json_integer_value(json_array_get(moved, k)) == json_integer_value(v);
        if (!found)
            json_array_append(left, v);
    }
    json_object_set_new(ans, "not_replayed", left);
    json_decref(want);
    /* One id asked for and not there: that is a 404, not a partial success. */
    if (asked == 1 && json_array_size(moved) == 0) {
        json_decref(ans);
        return respond_error(s, conn, 404,
                             "no such dead letter (it may have been replayed or discarded "
                             "already, or its subscription deleted)");
    }
    return respond_json(s, conn, 200, ans);
}

static enum MHD_Result on_discard(admin_server_t *s, struct MHD_Connection *conn,
                                  const request_t *rq, long long id, const char *who)
{
    const char *why = NULL;
    json_t *j = body_object(rq, &why);
    const char *reason = j ? json_string_value(json_object_get(j, "reason")) : NULL;
    if (j && (!reason || !*reason || strlen(reason) > MAX_REASON))
        why = "the body must be {\"reason\": \"...\"}, a reason of 1 to 1000 characters";
    if (!j || why) {
        json_decref(j);
        return respond_error(s, conn, 400, why);
    }
    json_t *args = json_pack("{sI ss ss}", "id", (json_int_t)id, "who", who, "reason", reason);
    json_decref(j);
    return relay(s, conn, ADMIN_VERB_DISCARD, args);
}

static enum MHD_Result on_metrics(admin_server_t *s, struct MHD_Connection *conn)
{
    int status = 0;
    char *body = NULL;
    size_t len = 0;
    if (ask_core(s, ADMIN_VERB_METRICS, NULL, &status, &body, &len) < 0 || status != 200) {
        free(body);
        return respond_error(s, conn, 503, "the hub's core did not answer in time");
    }
    metrics_t m = {0};
    metrics_append(&m, body, len);
    free(body);
    metrics_family(&m, "joinery_admin_responses_total", "counter",
                   "Admin API responses by status class since the hub started");
    static const char *const classes[] = {"", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (int i = 1; i < 6; i++) {
        const char *l[] = {"code", classes[i]};
        /* This response counts as the 2xx it is about to be. */
        metrics_sample(&m, "joinery_admin_responses_total", l, 1,
                       (double)(s->responses[i] + (i == 2)));
    }
    enum MHD_Result rc =
        m.failed ? respond_error(s, conn, 500, "out of memory")
                 : respond(s, conn, 200, "text/plain; version=0.0.4; charset=utf-8", m.data, m.len);
    metrics_free(&m);
    return rc;
}

/* ---- trace and the steward's reads ---- */

/* An id the caller names (event, correlation, master): 1 to TRACE_ID_MAX
 * bytes, none of them a control character. */
static bool id_ok(const char *p, size_t len)
{
    if (len == 0 || len > TRACE_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return false;
    return true;
}

/* LIMIT's value, DEF if absent; false if it is not 1 to MAX. */
static bool limit_parse(struct MHD_Connection *conn, int def, int max, int *out)
{
    const char *v = query(conn, "limit");
    long long n = 0;
    *out = def;
    if (!*v)
        return true;
    if (!id_parse(v, strlen(v), &n) || n > max)
        return false;
    *out = (int)n;
    return true;
}

static const char *trace_check(struct MHD_Connection *conn, admin_trace_query_t *q)
{
    static const char *const allowed[] = {"event_id", "correlation_id", "master_id",
                                          "source",   "limit",          NULL};
    static const char *const keys[] = {"event_id", "correlation_id", "master_id"};
    if (!params_known(conn, allowed))
        return "unknown query parameter; expected event_id, correlation_id or master_id, "
               "source, limit";
    int given = 0;
    for (int k = 0; k < 3; k++)
        if (*query(conn, keys[k])) {
            q->key = (trace_key_t)k;
            q->value = query(conn, keys[k]);
            given++;
        }
    if (given != 1)
        return "give exactly one of event_id, correlation_id, master_id";
    if (!id_ok(q->value, strlen(q->value)))
        return "the id must be 1 to 256 bytes without control characters";
    q->source = query(conn, "source");
    /* An adapter's name, or an internal publisher's ("joinery", "admin:<token name>"). */
    if (*q->source && (q->key != TRACE_EVENT_ID || strlen(q->source) > 80 ||
                       !id_ok(q->source, strlen(q->source))))
        return "source goes with event_id and is the publisher's name (an adapter, joinery, "
               "admin:<token name>)";
    if (!limit_parse(conn, TRACE_LIMIT_DEFAULT, TRACE_LIMIT_MAX, &q->limit))
        return "limit must be a whole number from 1 to 100";
    return NULL;
}

static enum MHD_Result on_trace(admin_server_t *s, struct MHD_Connection *conn)
{
    admin_trace_query_t q = {0};
    const char *why = trace_check(conn, &q);
    if (why)
        return respond_error(s, conn, 400, why);
    char err[512];
    PGconn *c = db(s);
    json_t *j = c ? admin_trace(c, atomic_load(&s->cfg), &q, err, sizeof err) : NULL;
    if (!j)
        return db_failed(s, conn, c ? err : "no connection");
    return respond_json(s, conn, 200, j);
}

static enum MHD_Result on_steward_queue(admin_server_t *s, struct MHD_Connection *conn)
{
    static const char *const allowed[] = {"state", "limit", "after", NULL};
    static const char *const states[] = {"OPEN", "LINKED", "KEPT_APART", "MERGED", "ALL"};
    if (!params_known(conn, allowed))
        return respond_error(s, conn, 400, "unknown query parameter; expected state, limit, after");
    const char *state = *query(conn, "state") ? query(conn, "state") : "OPEN";
    bool known = false;
    for (size_t i = 0; i < sizeof states / sizeof *states; i++)
        known = known || strcmp(state, states[i]) == 0;
    if (!known)
        return respond_error(s, conn, 400,
                             "state must be one of OPEN, LINKED, KEPT_APART, MERGED, ALL");
    int limit = 0;
    if (!limit_parse(conn, STEWARD_LIMIT_DEFAULT, STEWARD_LIMIT_MAX, &limit))
        return respond_error(s, conn, 400, "limit must be a whole number from 1 to 1000");
    const char *after = query(conn, "after");
    long long a = 0;
    if (*after && !(strcmp(after, "0") == 0 || id_parse(after, strlen(after), &a)))
        return respond_error(s, conn, 400, "after must be a queue item id (a whole number)");
    char err[512];
    PGconn *c = db(s);
    json_t *j = c ? admin_steward_queue(c, state, a, limit, err, sizeof err) : NULL;
    if (!j)
        return db_failed(s, conn, c ? err : "no connection");
    return respond_json(s, conn, 200, j);
}

static bool date_ok(const char *d)
{
    static const char shape[] = "0000-00-00";
    if (strlen(d) != sizeof shape - 1)
        return false;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == '-' ? d[i] != '-' : (d[i] < '0' || d[i] > '9'))
            return false;
    return true;
}

static const char *golden_check(struct MHD_Connection *conn, admin_golden_search_t *q)
{
    static const char *const allowed[] = {"name",       "birth_date", "postcode",
                                          "nhs_number", "limit",      NULL};
    if (!params_known(conn, allowed))
        return "unknown query parameter; expected name, birth_date, postcode, nhs_number, limit";
    q->name = query(conn, "name");
    q->birth_date = query(conn, "birth_date");
    q->postcode = query(conn, "postcode");
    q->nhs_number = query(conn, "nhs_number");
    if (!*q->name && !*q->birth_date && !*q->postcode && !*q->nhs_number)
        return "give at least one of name, birth_date, postcode, nhs_number";
    const char *terms[] = {q->name, q->postcode, q->nhs_number};
    for (size_t i = 0; i < 3; i++)
        if (strlen(terms[i]) > GOLDEN_TERM_MAX || (*terms[i] && !id_ok(terms[i], strlen(terms[i]))))
            return "a search term is 1 to 128 characters without control characters";
    if (*q->birth_date && !date_ok(q->birth_date))
        return "birth_date is YYYY-MM-DD";
    if (!limit_parse(conn, GOLDEN_LIMIT_DEFAULT, GOLDEN_LIMIT_MAX, &q->limit))
        return "limit must be a whole number from 1 to 100";
    return NULL;
}

static enum MHD_Result on_golden_search(admin_server_t *s, struct MHD_Connection *conn)
{
    admin_golden_search_t q = {0};
    const char *why = golden_check(conn, &q);
    if (why)
        return respond_error(s, conn, 400, why);
    char err[512];
    PGconn *c = db(s);
    json_t *j = c ? admin_golden_search(c, &q, err, sizeof err) : NULL;
    if (!j)
        return db_failed(s, conn, c ? err : "no connection");
    return respond_json(s, conn, 200, j);
}

static enum MHD_Result on_golden(admin_server_t *s, struct MHD_Connection *conn, const char *seg,
                                 size_t len)
{
    if (!id_ok(seg, len))
        return respond_error(s, conn, 400, "a master id is 1 to 256 bytes");
    char id[TRACE_ID_MAX + 1], err[512];
    memcpy(id, seg, len);
    id[len] = '\0';
    PGconn *c = db(s);
    json_t *j = c ? admin_trace_golden(c, id, err, sizeof err) : NULL;
    if (!j)
        return db_failed(s, conn, c ? err : "no connection");
    if (json_is_null(json_object_get(j, "golden")) &&
        json_array_size(json_object_get(j, "xref")) == 0) {
        json_decref(j);
        return respond_error(s, conn, 404, "no such golden record");
    }
    return respond_json(s, conn, 200, j);
}

/* ---- steward decisions ---- */

#define DECIDE_WAIT_MS 10000
#define DECIDE_POLL_MS 50

/* The API's verb as StewardDecision.action; NULL if there is no such decision. */
static const char *steward_action(const char *p, size_t len)
{
    static const char *const verbs[][2] = {
        {"link", "link"}, {"keep-apart", "keep_apart"}, {"merge", "merge"}, {"unmerge", "unmerge"}};
    for (size_t i = 0; i < sizeof verbs / sizeof *verbs; i++)
        if (strlen(verbs[i][0]) == len && memcmp(p, verbs[i][0], len) == 0)
            return verbs[i][1];
    return NULL;
}

/* The decision's arguments for the core (new), or NULL with a reason in *WHY: link and
 * keep-apart name a queue item or two records, merge and unmerge two records (survivor
 * first); every decision has a reason. */
static json_t *decision_args(json_t *body, const char *action, const char *who, const char **why)
{
    json_t *q = json_object_get(body, "queue_id");
    const char *a = json_string_value(json_object_get(body, "master_id_a"));
    const char *b = json_string_value(json_object_get(body, "master_id_b"));
    const char *reason = json_string_value(json_object_get(body, "reason"));
    bool by_queue = strcmp(action, "link") == 0 || strcmp(action, "keep_apart") == 0;
    bool ids = a && b && id_ok(a, strlen(a)) && id_ok(b, strlen(b)) && strlen(a) <= 128 &&
               strlen(b) <= 128;
    bool queue = json_is_integer(q) && json_integer_value(q) > 0;
    size_t known = (q != NULL) + (json_object_get(body, "master_id_a") != NULL) +
                   (json_object_get(body, "master_id_b") != NULL) + (reason != NULL);
    if (!reason || !*reason || strlen(reason) > MAX_REASON) {
        *why = "a decision needs \"reason\": 1 to 1000 characters";
        return NULL;
    }
    if (known != json_object_size(body) || (by_queue ? queue == ids : !ids || q)) {
        *why = by_queue ? "the body is {\"queue_id\": N} or {\"master_id_a\": ..., "
                          "\"master_id_b\": ...}, with \"reason\""
                        : "the body is {\"master_id_a\": survivor, \"master_id_b\": retired, "
                          "\"reason\": ...}";
        return NULL;
    }
    return json_pack("{ss ss ss sI ss ss}", "action", action, "master_id_a", a ? a : "",
                     "master_id_b", b ? b : "", "queue_id",
                     (json_int_t)(queue ? json_integer_value(q) : 0), "reason", reason, "who", who);
}

/* The engine's answer to the decision the core took, from the database: journaled (OK, with
 * its seq and the golden record it left), or refused (with the reason); NULL while neither. */
static json_t *decision_outcome(PGconn *c, const char *source, const char *event_id, int *status)
{
    const char *v[2] = {source, event_id};
    PGresult *r = PQexecParams(c,
                               "SELECT 'OK', seq, entity_key FROM journal WHERE source = $1 AND "
                               "event_id = $2 UNION ALL SELECT 'REJECTED', 0, reason FROM "
                               "rejected_event WHERE adapter = $1 AND event_id = $2",
                               2, NULL, v, NULL, NULL, 0);
    json_t *j = NULL;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0) {
        bool ok = strcmp(PQgetvalue(r, 0, 0), "OK") == 0;
        const char *k = PQgetvalue(r, 0, 2);
        *status = ok ? 200 : 409;
        j = ok ? json_pack("{ss ss sI ss}", "status", "OK", "event_id", event_id, "seq",
                           (json_int_t)strtoll(PQgetvalue(r, 0, 1), NULL, 10), "master_id",
                           strncmp(k, "m:", 2) == 0 ? k + 2 : "")
               : json_pack("{ss ss ss}", "status", "REJECTED", "event_id", event_id, "error", k);
    }
    PQclear(r);
    return j;
}

static enum MHD_Result on_decide(admin_server_t *s, struct MHD_Connection *conn,
                                 const request_t *rq, const char *action, const char *who)
{
    const char *why = NULL;
    json_t *body = body_object(rq, &why);
    json_t *args = body ? decision_args(body, action, who, &why) : NULL;
    json_decref(body);
    if (!args)
        return respond_error(s, conn, 400, why);
    int status = 0;
    char *ans = NULL;
    size_t len = 0;
    if (ask_core(s, ADMIN_VERB_STEWARD, args, &status, &ans, &len) < 0)
        return respond_error(s, conn, 503, "the hub's core did not answer in time");
    json_t *taken = status == 202 ? json_loadb(ans, len, 0, NULL) : NULL;
    if (!taken) {
        enum MHD_Result rc = respond(s, conn, status, "application/json", ans, len);
        free(ans);
        return rc;
    }
    free(ans);
    const char *source = json_string_value(json_object_get(taken, "source"));
    const char *event_id = json_string_value(json_object_get(taken, "event_id"));
    json_t *out = NULL;
    /* The group commit is a few milliseconds away; the engine's verdict is in it. */
    for (int waited = 0;
         !out && source && event_id && waited < DECIDE_WAIT_MS && !atomic_load(&s->stopping);
         waited += DECIDE_POLL_MS) {
        PGconn *c = db(s);
        out = c ? decision_outcome(c, source, event_id, &status) : NULL;
        if (!out) {
            struct timespec ts = {0, DECIDE_POLL_MS * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    if (!out) {
        status = 202;
        out = json_pack("{ss so}", "status", "PENDING", "event_id",
                        json_incref(json_object_get(taken, "event_id")));
    }
    json_decref(taken);
    return respond_json(s, conn, status, out);
}

/* ---- reload ---- */

/* POST /api/v1/reload (operate): the configuration file is read and parsed here, on this
 * thread, and the result handed to the core (ADMIN_VERB_RELOAD), which checks it against the
 * running one and swaps it between two turns; a file that does not load is the core's to log
 * and answer too, so every reload is one line in the log however it ends. */
static enum MHD_Result on_reload(admin_server_t *s, struct MHD_Connection *conn, const char *who)
{
    char err[1024], ptr[32];
    config_t *next = config_load(atomic_load(&s->cfg)->path, err, sizeof err);
    json_t *args = NULL;
    if (next) {
        (void)snprintf(ptr, sizeof ptr, "%" PRIxPTR, (uintptr_t)next);
        args = json_pack("{ss ss}", "who", who, "config", ptr);
    } else {
        args = json_pack("{ss ss}", "who", who, "error", err);
    }
    if (!args) {
        config_destroy(&next);
        return respond_error(s, conn, 500, "out of memory");
    }
    /* From here NEXT is the core's (ownership passes with the message, as a batch's does with
     * the store's pipe); if the core does not answer in time it still takes it. */
    return relay(s, conn, ADMIN_VERB_RELOAD, args);
}

void admin_server_set_config(admin_server_t *s, const config_t *cfg)
{
    atomic_store(&s->cfg, cfg);
}

/* ---- routing ---- */

typedef struct {
    const char *seg[6];
    size_t len[6];
    size_t n;
} path_t;

static bool path_split(const char *url, path_t *p)
{
    p->n = 0;
    const char *q = url;
    while (*q == '/')
        q++;
    while (*q) {
        if (p->n == 6)
            return false;
        const char *slash = strchr(q, '/');
        size_t len = slash ? (size_t)(slash - q) : strlen(q);
        p->seg[p->n] = q;
        p->len[p->n++] = len;
        q += len;
        if (*q == '/')
            q++;
    }
    return true;
}

static bool seg_is(const path_t *p, size_t i, const char *s)
{
    return i < p->n && p->len[i] == strlen(s) && memcmp(p->seg[i], s, p->len[i]) == 0;
}

/* The role an API path needs for METHOD; 0 if no such endpoint. */
static admin_role_t role_needed(const char *method, const path_t *p)
{
    bool get = strcmp(method, "GET") == 0;
    if (seg_is(p, 0, "metrics") && p->n == 1)
        return get ? ADMIN_ROLE_READ : 0;
    if (seg_is(p, 2, "steward") && !get)
        return ADMIN_ROLE_STEWARD;
    return get ? ADMIN_ROLE_READ : ADMIN_ROLE_OPERATE;
}

static enum MHD_Result api(admin_server_t *s, struct MHD_Connection *conn, const char *method,
                           const path_t *p, const request_t *rq, const char *who)
{
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0,
         del = strcmp(method, "DELETE") == 0;
    long long id = 0;
    if (seg_is(p, 0, "metrics") && p->n == 1)
        return on_metrics(s, conn);
    if (!seg_is(p, 0, "api") || !seg_is(p, 1, "v1"))
        return respond_error(s, conn, 404, "no such endpoint");
    if (seg_is(p, 2, "adapters") && p->n == 3 && get)
        return relay(s, conn, ADMIN_VERB_ADAPTERS, NULL);
    if (seg_is(p, 2, "subscriptions") && p->n == 3 && get)
        return on_subscriptions(s, conn);
    if (seg_is(p, 2, "subscriptions") && p->n == 5 && del) {
        if (!name_ok(p->seg[3], p->len[3]) || !name_ok(p->seg[4], p->len[4]))
            return respond_error(s, conn, 400,
                                 "adapter and subscription must be names of 1-64 of a-z 0-9 _ - .");
        return relay(s, conn, ADMIN_VERB_DELETE_SUB,
                     json_pack("{ss# ss# ss}", "adapter", p->seg[3], (int)p->len[3], "name",
                               p->seg[4], (int)p->len[4], "who", who));
    }
    if (seg_is(p, 2, "trace") && p->n == 3 && get)
        return on_trace(s, conn);
    if (seg_is(p, 2, "steward") && seg_is(p, 3, "queue") && p->n == 4 && get)
        return on_steward_queue(s, conn);
    if (seg_is(p, 2, "steward") && p->n == 4 && post && steward_action(p->seg[3], p->len[3]))
        return on_decide(s, conn, rq, steward_action(p->seg[3], p->len[3]), who);
    if (seg_is(p, 2, "reload") && p->n == 3 && post)
        return on_reload(s, conn, who);
    if (seg_is(p, 2, "golden") && p->n == 3 && get)
        return on_golden_search(s, conn);
    if (seg_is(p, 2, "golden") && p->n == 4 && get)
        return on_golden(s, conn, p->seg[3], p->len[3]);
    if (!seg_is(p, 2, "dead-letters"))
        return respond_error(s, conn, 404, "no such endpoint");
    if (p->n == 3 && get)
        return on_dead_letters(s, conn);
    const char *why = NULL;
    if (p->n == 4 && seg_is(p, 3, "replay") && post) {
        json_t *ids = replay_ids(rq, &why);
        return ids ? on_replay(s, conn, ids, who) : respond_error(s, conn, 400, why);
    }
    if (p->n >= 4 && !id_parse(p->seg[3], p->len[3], &id))
        return respond_error(s, conn, 400, "a dead letter id is a positive whole number");
    if (p->n == 4 && get)
        return on_dead_letter(s, conn, id);
    if (p->n == 5 && seg_is(p, 4, "replay") && post)
        return on_replay(s, conn, json_pack("[I]", (json_int_t)id), who);
    if (p->n == 5 && seg_is(p, 4, "discard") && post)
        return on_discard(s, conn, rq, id, who);
    return respond_error(s, conn, (get || post || del) ? 404 : 405, "no such endpoint");
}

/* The dashboard's files: no token, as they hold no data (the page asks for
 * one and sends it to the API). */
static enum MHD_Result on_static(admin_server_t *s, struct MHD_Connection *conn, const char *url,
                                 const char *method)
{
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return respond_error(s, conn, 405, "use GET");
    struct MHD_Response *r = admin_static_response(url);
    if (!r)
        return respond_error(s, conn, 404, "no such file");
    enum MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    s->responses[2]++;
    return rc;
}

static enum MHD_Result handle(admin_server_t *s, struct MHD_Connection *conn, const char *url,
                              const char *method, const request_t *rq)
{
    if (admin_static_owns(url))
        return on_static(s, conn, url, method);
    path_t p;
    if (!path_split(url, &p))
        return respond_error(s, conn, 404, "no such endpoint");
    bool get = strcmp(method, "GET") == 0;
    /* For load balancers and service managers: no token, and nothing in the
     * answer but whether. */
    if (p.n == 1 && seg_is(&p, 0, "healthz"))
        return get ? respond_json(s, conn, 200, json_pack("{ss}", "status", "ok"))
                   : respond_error(s, conn, 405, "use GET");
    if (p.n == 1 && seg_is(&p, 0, "readyz"))
        return get ? on_readyz(s, conn) : respond_error(s, conn, 405, "use GET");
    const char *who = NULL;
    const char *auth =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    switch (admin_auth_check(atomic_load(&s->cfg), auth, role_needed(method, &p), &who)) {
    case AUTH_MISSING:
        return respond_error(s, conn, 401, "an Authorization: Bearer token is required");
    case AUTH_WRONG:
        return respond_error(s, conn, 401, "the token is not valid");
    case AUTH_FORBIDDEN:
        return respond_error(s, conn, 403, "the token's role does not allow this");
    case AUTH_OK:
        break;
    }
    return api(s, conn, method, &p, rq, who);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **ctx)
{
    (void)version;
    admin_server_t *s = cls;
    request_t *rq = *ctx;
    if (!rq) {
        /* Owned by the connection until on_completed frees it. */
        rq = calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        *ctx = rq;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        if (!rq->too_big && rq->len + n <= MAX_BODY) {
            char *b = realloc(rq->body, rq->len + n + 1);
            if (!b)
                return MHD_NO;
            memcpy(b + rq->len, upload_data, n);
            rq->body = b;
            rq->len += n;
        } else {
            rq->too_big = true;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    return handle(s, conn, url, method, rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **ctx,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    request_t *rq = *ctx;
    if (rq) {
        free(rq->body);
        free(rq);
    }
    *ctx = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n')
        line[--n] = '\0';
    log_warn("admin", "http: %s", line);
}

/* ---- start and stop ---- */

static char *read_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(MAX_BODY * 4 + 1);
    size_t n = buf ? fread(buf, 1, MAX_BODY * 4, f) : 0;
    fclose(f);
    if (!buf || n == 0 || n == MAX_BODY * 4) {
        snprintf(err, errlen, "%s is empty, unreadable or larger than 256 KiB", path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* HOST:PORT into an address libmicrohttpd can bind. */
static int resolve(const char *hostport, struct sockaddr_storage *sa, char *err, size_t errlen)
{
    const char *colon = strrchr(hostport, ':');
    char host[256];
    size_t hl = colon ? (size_t)(colon - hostport) : 0;
    if (!colon || hl == 0 || hl >= sizeof host) {
        snprintf(err, errlen, "admin.listen '%s' is not HOST:PORT", hostport);
        return -1;
    }
    memcpy(host, hostport, hl);
    host[hl] = '\0';
    if (host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errlen, "admin.listen '%s': %s", hostport, gai_strerror(rc));
        return -1;
    }
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

admin_server_t *admin_server_start(const config_t *cfg, void *ctx, const char *conninfo, char *err,
                                   size_t errlen)
{
    admin_server_t *s = calloc(1, sizeof *s);
    if (!s || !(s->conninfo = strdup(conninfo))) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    atomic_init(&s->cfg, cfg);
    struct sockaddr_storage sa = {0};
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (resolve(cfg->admin_listen, &sa, err, errlen) < 0)
        goto fail;
    if (sa.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (cfg->admin_tls_cert) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            snprintf(err, errlen, "admin.tls is set but libmicrohttpd was built without TLS");
            goto fail;
        }
        if (!(s->tls_cert = read_file(cfg->admin_tls_cert, err, errlen)) ||
            !(s->tls_key = read_file(cfg->admin_tls_key, err, errlen)))
            goto fail;
        flags |= MHD_USE_TLS;
    }
    s->sock = zmq_socket(ctx, ZMQ_PAIR);
    int linger = 0;
    if (!s->sock || zmq_setsockopt(s->sock, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
        zmq_connect(s->sock, ADMIN_INPROC) < 0) {
        snprintf(err, errlen, "cannot connect to the core: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (s->tls_cert)
        s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
                                mhd_log, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_CONNECTION_TIMEOUT,
                                30u, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                MHD_OPTION_HTTPS_MEM_CERT, s->tls_cert, MHD_OPTION_HTTPS_MEM_KEY,
                                s->tls_key, MHD_OPTION_END);
    else
        s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
                                mhd_log, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_CONNECTION_TIMEOUT,
                                30u, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    if (!s->d) {
        snprintf(err, errlen,
                 "cannot listen on %s for the admin API (in use, or not an address "
                 "of this machine?)",
                 cfg->admin_listen);
        goto fail;
    }
    log_info("admin", "admin API listening on %s%s (%zu token(s))", cfg->admin_listen,
             s->tls_cert ? " with TLS" : "", cfg->nadmin_tokens);
    return s;
fail:
    admin_server_stop(&s);
    return NULL;
}

void admin_server_stop(admin_server_t **sp)
{
    admin_server_t *s = *sp;
    if (!s)
        return;
    atomic_store(&s->stopping, true);
    if (s->d)
        MHD_stop_daemon(s->d); /* joins its thread: nothing below is in use after */
    if (s->sock)
        zmq_close(s->sock);
    PQfinish(s->pg);
    free(s->tls_cert);
    if (s->tls_key) {
        explicit_bzero(s->tls_key, strlen(s->tls_key));
        free(s->tls_key);
    }
    free(s->conninfo);
    free(s);
    *sp = NULL;
}
