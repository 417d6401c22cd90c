/* admin_server.c - see admin_server.h. libmicrohttpd runs one internal
 * thread (MHD_USE_INTERNAL_POLLING_THREAD), so every handler runs there, one
 * at a time: the core's socket and the database connection belong to that
 * thread alone and need no lock. A request waits for the core's answer (the
 * core answers between two turns; an operation that writes waits for its
 * store job), up to CORE_WAIT_MS. */
#include "admin/admin_server.h"

#include "admin/admin_request.h"
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

static enum MHD_Result on_dead_letters(admin_server_t *s, struct MHD_Connection *conn,
                                       const admin_dl_filter_t *f)
{
    char err[512];
    PGconn *c = db(s);
    json_t *j = c ? admin_db_dead_letters(c, f, err, sizeof err) : NULL;
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
                                  const admin_request_t *r)
{
    return relay(
        s, conn, ADMIN_VERB_DISCARD,
        json_pack("{sI ss ss}", "id", (json_int_t)r->id, "who", r->who, "reason", r->reason));
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

static enum MHD_Result on_trace(admin_server_t *s, struct MHD_Connection *conn,
                                const admin_trace_query_t *q)
{
    char err[512];
    PGconn *c = db(s);
    json_t *j = c ? admin_trace(c, atomic_load(&s->cfg), q, err, sizeof err) : NULL;
    if (!j)
        return db_failed(s, conn, c ? err : "no connection");
    return respond_json(s, conn, 200, j);
}

static enum MHD_Result on_steward_queue(admin_server_t *s, struct MHD_Connection *conn,
                                        const admin_request_t *r)
{
    char err[512];
    PGconn *c = db(s);
    json_t *j =
        c ? admin_steward_queue(c, r->queue.state, r->queue.after, r->queue.limit, err, sizeof err)
          : NULL;
    if (!j)
        return db_failed(s, conn, c ? err : "no connection");
    return respond_json(s, conn, 200, j);
}

static enum MHD_Result on_golden_search(admin_server_t *s, struct MHD_Connection *conn,
                                        const admin_golden_search_t *q)
{
    char err[512];
    PGconn *c = db(s);
    json_t *j = c ? admin_golden_search(c, q, err, sizeof err) : NULL;
    if (!j)
        return db_failed(s, conn, c ? err : "no connection");
    return respond_json(s, conn, 200, j);
}

static enum MHD_Result on_golden(admin_server_t *s, struct MHD_Connection *conn, const char *id)
{
    char err[512];
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

/* ARGS (taken) are the decision admin_request_parse made of the body. */
static enum MHD_Result on_decide(admin_server_t *s, struct MHD_Connection *conn, json_t *args)
{
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
    char err[1024];
    config_t *next = config_load(atomic_load(&s->cfg)->path, err, sizeof err);
    json_t *args = NULL;
    if (next) {
        char ptr[32];
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

/* The endpoint R names, taken (admin_request_parse checked its arguments and the caller's
 * role); the JSON values passed to the core are taken from R. */
static enum MHD_Result dispatch(admin_server_t *s, struct MHD_Connection *conn, admin_request_t *r)
{
    json_t *taken = NULL;
    switch (r->ep) {
    case ADMIN_EP_HEALTHZ:
        return respond_json(s, conn, 200, json_pack("{ss}", "status", "ok"));
    case ADMIN_EP_READYZ:
        return on_readyz(s, conn);
    case ADMIN_EP_METRICS:
        return on_metrics(s, conn);
    case ADMIN_EP_ADAPTERS:
        return relay(s, conn, ADMIN_VERB_ADAPTERS, NULL);
    case ADMIN_EP_SUBSCRIPTIONS:
        return on_subscriptions(s, conn);
    case ADMIN_EP_DELETE_SUBSCRIPTION:
        return relay(
            s, conn, ADMIN_VERB_DELETE_SUB,
            json_pack("{ss ss ss}", "adapter", r->adapter, "name", r->name, "who", r->who));
    case ADMIN_EP_DEAD_LETTERS:
        return on_dead_letters(s, conn, &r->dl);
    case ADMIN_EP_DEAD_LETTER:
        return on_dead_letter(s, conn, r->id);
    case ADMIN_EP_REPLAY:
        taken = r->ids;
        r->ids = NULL;
        return on_replay(s, conn, taken, r->who);
    case ADMIN_EP_DISCARD:
        return on_discard(s, conn, r);
    case ADMIN_EP_TRACE:
        return on_trace(s, conn, &r->trace);
    case ADMIN_EP_STEWARD_QUEUE:
        return on_steward_queue(s, conn, r);
    case ADMIN_EP_GOLDEN_SEARCH:
        return on_golden_search(s, conn, &r->golden);
    case ADMIN_EP_GOLDEN:
        return on_golden(s, conn, r->master_id);
    case ADMIN_EP_DECIDE:
        taken = r->decision;
        r->decision = NULL;
        return on_decide(s, conn, taken);
    case ADMIN_EP_RELOAD:
        return on_reload(s, conn, r->who);
    case ADMIN_EP_NONE:
        break;
    }
    return respond_error(s, conn, 404, "no such endpoint");
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

typedef struct {
    admin_arg_t *args;
    size_t n, cap;
} args_t;

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    args_t *a = cls;
    if (a->n == a->cap)
        return MHD_NO;
    a->args[a->n++] = (admin_arg_t){key, value};
    return MHD_YES;
}

static enum MHD_Result handle(admin_server_t *s, struct MHD_Connection *conn, const char *url,
                              const char *method, const request_t *rq)
{
    if (admin_static_owns(url))
        return on_static(s, conn, url, method);
    /* The query's arguments as libmicrohttpd decoded them, in order. */
    int n = MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, NULL, NULL);
    args_t a = {NULL, 0, n > 0 ? (size_t)n : 0};
    if (a.cap && !(a.args = calloc(a.cap, sizeof *a.args)))
        return respond_error(s, conn, 500, "out of memory");
    if (a.cap)
        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, &a);
    admin_request_in_t in = {
        .method = method,
        .path = url,
        .args = a.args,
        .nargs = a.n,
        .authorization =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
        .body = rq->body,
        .body_len = rq->len,
        .body_too_big = rq->too_big,
    };
    admin_request_t r;
    enum MHD_Result rc = admin_request_parse(atomic_load(&s->cfg), &in, &r) != 0
                             ? respond_error(s, conn, r.status, r.why)
                             : dispatch(s, conn, &r);
    admin_request_clear(&r);
    free(a.args);
    return rc;
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
        if (!rq->too_big && rq->len + n <= ADMIN_MAX_BODY) {
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
    char *buf = malloc(ADMIN_MAX_BODY * 4 + 1);
    size_t n = buf ? fread(buf, 1, ADMIN_MAX_BODY * 4, f) : 0;
    fclose(f);
    if (!buf || n == 0 || n == ADMIN_MAX_BODY * 4) {
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
