/* store.c - see store.h. */
#include "store/store.h"

#include "base/log.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define STORE_ENDPOINT_FMT "inproc://joinery-store-%p"
#define SQLSTATE_UNIQUE "23505"
#define STORE_STR_(x) #x
#define STORE_STR(x) STORE_STR_(x)

typedef struct {
    int kind; /* store_event_t, or 0 = stop (core -> store) */
    jbatch_t *batch;
    store_job_t *job;
} store_msg_t;

#define STORE_MAX_PREPARED 64
#define STORE_MAX_STAGED 8

struct store {
    void *ctx;
    void *core_sock;  /* core's end */
    void *store_sock; /* thread's end; used only by the thread */
    char endpoint[64];
    char *conninfo;
    pthread_t thread;
    bool started;
    /* So that a stop need not wait for a long job: the running job's cancel
     * handle (NULL when none runs), and whether the hub is stopping (no job
     * starts then). The only state shared under a lock, taken when a job
     * starts and ends and when the hub stops. */
    pthread_mutex_t cancel_mu;
    PGcancel *cancel;
    bool stopping;
    /* Thread-only state. */
    PGconn *conn;
    pb_buf_t copybuf;
    int backoff_ms;
    /* Statements prepared on this connection ("j<index>"), by their text.
     * Emptied on reconnect. */
    char *prepared[STORE_MAX_PREPARED];
    size_t nprepared;
    /* Upsert stage tables created on this connection (temporary tables), by
     * descriptor. */
    const row_upsert_t *staged[STORE_MAX_STAGED];
    size_t nstaged;
    /* Refused rows that could not be written (write_rejects): how many since
     * the last log line, and when the next may be written. */
    uint64_t rejects_lost;
    int64_t rejects_log_ms;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int send_msg(void *sock, int kind, jbatch_t *b)
{
    store_msg_t m = {kind, b, NULL};
    return zmq_send(sock, &m, sizeof m, 0) == (int)sizeof m ? 0 : -1;
}

static int send_job(void *sock, store_job_t *job, int flags)
{
    store_msg_t m = {STORE_JOB, NULL, job};
    return zmq_send(sock, &m, sizeof m, flags) == (int)sizeof m ? 0 : -1;
}

/* ---- connection ---- */

/* CONNINFO as "key=value ..." without its password, for messages and logs. */
static void conninfo_shown(const char *conninfo, char *out, size_t outlen)
{
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
    size_t used = 0;
    out[0] = '\0';
    for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++) {
        if (o->val == NULL || o->val[0] == '\0' || strcmp(o->keyword, "password") == 0)
            continue;
        const char *q = strpbrk(o->val, " \t'") != NULL ? "'" : "";
        int n = snprintf(out + used, outlen - used, "%s%s=%s%s%s", used ? " " : "", o->keyword, q,
                         o->val, q);
        if (n < 0 || (size_t)n >= outlen - used)
            break;
        used += (size_t)n;
    }
    PQconninfoFree(opts);
}

/* libpq's message on one line: it ends in a newline, may hold several, and
 * indents its hints with tabs. */
static void connect_error(PGconn *c, char *err, size_t errlen)
{
    const char *m = PQerrorMessage(c);
    size_t n = 0;
    for (; *m != '\0' && n + 1 < errlen; m++) {
        bool space = *m == ' ' || *m == '\n' || *m == '\t';
        if (space && (n == 0 || err[n - 1] == ' '))
            continue;
        err[n++] = space ? ' ' : *m;
    }
    while (n > 0 && err[n - 1] == ' ')
        n--;
    err[n] = '\0';
}

/* What a conninfo does not say about the network gets these. Without them a database that stops
 * answering (a dropped network, a frozen host) holds a connection attempt, a ping or a query in
 * flight for minutes of TCP retries, and the hub with it; with them an attempt fails after 10 s,
 * a dead connection is found within about 30 s, and the hub's usual retries take over. Keepalive
 * probes are answered by the server's kernel, so a slow query is never cut short. */
static const char *const NET_DEFAULTS[][2] = {
    {"connect_timeout", "10"},    {"keepalives", "1"},       {"keepalives_idle", "10"},
    {"keepalives_interval", "5"}, {"keepalives_count", "3"}, {"tcp_user_timeout", "30000"},
};
#define NET_NDEFAULTS (sizeof NET_DEFAULTS / sizeof NET_DEFAULTS[0])
#define CONNINFO_MAX_OPTIONS 96 /* libpq 15 knows about 45 */
#define UNANSWERED_MS 2000

/* A conninfo as keywords and values, with NET_DEFAULTS added where it is silent. kw and val point
 * into opts (owned) and NET_DEFAULTS; ok false when libpq cannot read the conninfo, which is then
 * used as it is, so that libpq says why. */
typedef struct {
    PQconninfoOption *opts;
    const char *kw[CONNINFO_MAX_OPTIONS + NET_NDEFAULTS + 1];
    const char *val[CONNINFO_MAX_OPTIONS + NET_NDEFAULTS + 1];
    bool ok;
} conn_params_t;

static void conn_params_init(conn_params_t *p, const char *conninfo)
{
    p->opts = PQconninfoParse(conninfo, NULL);
    p->ok = p->opts != NULL;
    if (!p->ok)
        return;
    size_t n = 0;
    bool given[NET_NDEFAULTS] = {false};
    for (const PQconninfoOption *o = p->opts; o->keyword && n < CONNINFO_MAX_OPTIONS; o++) {
        if (!o->val)
            continue;
        for (size_t d = 0; d < NET_NDEFAULTS; d++)
            given[d] = given[d] || strcmp(o->keyword, NET_DEFAULTS[d][0]) == 0;
        p->kw[n] = o->keyword;
        p->val[n++] = o->val;
    }
    for (size_t d = 0; d < NET_NDEFAULTS; d++) {
        if (!given[d]) {
            p->kw[n] = NET_DEFAULTS[d][0];
            p->val[n++] = NET_DEFAULTS[d][1];
        }
    }
    p->kw[n] = p->val[n] = NULL;
}

static void conn_params_free(conn_params_t *p)
{
    PQconninfoFree(p->opts);
    p->opts = NULL;
}

/* A server that answers a ping is up and refused us for a reason of its own
 * (no such database, role or password; pg_hba.conf): waiting cannot fix that,
 * and an operator should not stare at a silent hub for a minute to learn it. */
static bool connect_hopeless(const char *conninfo, const conn_params_t *p)
{
    PGPing ping = p->ok ? PQpingParams(p->kw, p->val, 0) : PQping(conninfo);
    return ping == PQPING_OK || ping == PQPING_NO_ATTEMPT;
}

#define WAIT_LOG_EVERY_MS 10000

/* An operator watching a hub that waits for its database sees at once why and for how long,
 * and then that it is still waiting, rather than a minute of silence before the verdict. */
static void wait_log(bool waited, int64_t start, int wait_ms, int64_t *next_log, const char *where,
                     const char *why)
{
    int64_t now = now_ms();
    if (!waited)
        log_warn("store",
                 "database unreachable: waiting up to %d s for PostgreSQL at %s: %s (check that "
                 "it runs there, and database.conninfo)",
                 (wait_ms + 999) / 1000, where, why);
    else if (now >= *next_log)
        log_warn("store", "database still unreachable after %d s of %d s: PostgreSQL at %s: %s",
                 (int)((now - start + 500) / 1000), (wait_ms + 999) / 1000, where, why);
    else
        return;
    *next_log = now + WAIT_LOG_EVERY_MS;
}

/* A stop the hub holds for its core (main.c) is pending: waiting longer for the database would
 * only keep the operator waiting. */
static bool stop_pending(void)
{
    sigset_t p;
    return sigpending(&p) == 0 && (sigismember(&p, SIGTERM) == 1 || sigismember(&p, SIGINT) == 1);
}

static PGconn *connect_loop(const char *conninfo, const conn_params_t *p, int wait_ms, char *err,
                            size_t errlen)
{
    int64_t start = now_ms(), deadline = start + wait_ms;
    int delay = 50;
    int64_t next_log = 0;
    char why[512], where[512];
    for (bool waited = false;; waited = true) {
        int64_t tried = now_ms();
        PGconn *c = p->ok ? PQconnectdbParams(p->kw, p->val, 0) : PQconnectdb(conninfo);
        if (PQstatus(c) == CONNECTION_OK) {
            if (waited)
                log_info("store", "connected to PostgreSQL after %.1f s",
                         (double)(now_ms() - start) / 1000.0);
            return c;
        }
        connect_error(c, why, sizeof why);
        PQfinish(c);
        conninfo_shown(conninfo, where, sizeof where);
        /* A server that refuses us does so at once; an attempt that took seconds was not
         * answered, and a ping would only wait as long again. */
        bool unanswered = now_ms() - tried > UNANSWERED_MS;
        if ((wait_ms > 0 && !unanswered && connect_hopeless(conninfo, p)) ||
            now_ms() + delay > deadline) {
            char after[64] = "";
            if (waited)
                snprintf(after, sizeof after, " (after waiting %d s)",
                         (int)((now_ms() - start + 500) / 1000));
            snprintf(err, errlen, "cannot connect to PostgreSQL at %s: %s%s", where, why, after);
            return NULL;
        }
        if (stop_pending()) {
            snprintf(err, errlen,
                     "stopped while waiting for PostgreSQL at %s (%s): a stop was asked for", where,
                     why);
            return NULL;
        }
        wait_log(waited, start, wait_ms, &next_log, where, why);
        struct timespec ts = {delay / 1000, (long)(delay % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        delay = delay * 2 > 2000 ? 2000 : delay * 2;
    }
}

PGconn *store_connect(const char *conninfo, int wait_ms, char *err, size_t errlen)
{
    conn_params_t p;
    conn_params_init(&p, conninfo);
    PGconn *c = connect_loop(conninfo, &p, wait_ms, err, errlen);
    conn_params_free(&p);
    return c;
}

static bool conn_lost(PGconn *c)
{
    return !c || PQstatus(c) != CONNECTION_OK;
}

/* Runs SQL; on failure ERR says the statement's start and the server's message. */
static int exec_ok(PGconn *c, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        snprintf(err, errlen, "%.100s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    return ok ? 0 : -1;
}

/* ---- binary COPY encoding ---- */

static void put_i16(pb_buf_t *b, int16_t v)
{
    uint16_t n = htons((uint16_t)v);
    pb_put_raw(b, &n, 2);
}

static void put_i32(pb_buf_t *b, int32_t v)
{
    uint32_t n = htonl((uint32_t)v);
    pb_put_raw(b, &n, 4);
}

static void put_i64_field(pb_buf_t *b, int64_t v)
{
    uint64_t n = htobe64((uint64_t)v);
    put_i32(b, 8);
    pb_put_raw(b, &n, 8);
}

static void put_bytes_field(pb_buf_t *b, const void *p, size_t len)
{
    put_i32(b, (int32_t)len);
    pb_put_raw(b, p, len);
}

static const char copy_header[] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";

/* Encodes the batch's events as one binary COPY stream. */
static int encode_journal(pb_buf_t *out, const jbatch_t *b)
{
    out->len = 0;
    if (pb_buf_reserve(out, b->data.len + b->n * 64 + 32) < 0)
        return -1;
    pb_put_raw(out, copy_header, 19);
    for (size_t i = 0; i < b->n; i++) {
        const jentry_t *e = &b->e[i];
        if (e->state != JE_OK)
            continue;
        put_i16(out, 8);
        put_i64_field(out, (int64_t)e->seq);
        put_bytes_field(out, jentry_source(b, e), e->source_len);
        put_bytes_field(out, jentry_event_id(b, e), e->event_id_len);
        put_bytes_field(out, jentry_type(b, e), e->type_len);
        put_bytes_field(out, jentry_entity_key(b, e), e->entity_key_len);
        put_i64_field(out, e->received_at);
        put_bytes_field(out, jentry_envelope(b, e), e->env_len);
        put_bytes_field(out, jentry_target_name(b, e), e->target_len);
    }
    put_i16(out, -1);
    return 0;
}

/* Runs the COPY. Returns 0, -1 on error; *unique set if it failed on a duplicate key. */
static int copy_journal(store_t *s, const jbatch_t *b, bool *unique, char *err, size_t errlen)
{
    *unique = false;
    if (encode_journal(&s->copybuf, b) < 0) {
        snprintf(err, errlen, "out of memory encoding COPY");
        return -1;
    }
    PGresult *r = PQexec(s->conn, "COPY journal (seq, source, event_id, type, entity_key, "
                                  "received_at, envelope, target) FROM STDIN (FORMAT binary)");
    int st = PQresultStatus(r);
    PQclear(r);
    if (st != PGRES_COPY_IN) {
        snprintf(err, errlen, "COPY journal: %s", PQerrorMessage(s->conn));
        return -1;
    }
    if (PQputCopyData(s->conn, (const char *)s->copybuf.data, (int)s->copybuf.len) != 1 ||
        PQputCopyEnd(s->conn, NULL) != 1) {
        snprintf(err, errlen, "COPY journal: %s", PQerrorMessage(s->conn));
        return -1;
    }
    int rc = 0;
    while ((r = PQgetResult(s->conn)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            *unique = state && strcmp(state, SQLSTATE_UNIQUE) == 0;
            snprintf(err, errlen, "COPY journal: %s", PQresultErrorMessage(r));
            rc = -1;
        }
        PQclear(r);
    }
    return rc;
}

/* The slow path, taken only when a duplicate older than the in-memory dedup
 * window reached the database: insert row by row, and mark each duplicate with
 * the seq of the original so its publisher gets the original CONFIRM. */
static int insert_one_by_one(store_t *s, jbatch_t *b, char *err, size_t errlen)
{
    for (size_t i = 0; i < b->n; i++) {
        jentry_t *e = &b->e[i];
        if (e->state != JE_OK)
            continue;
        char seq[24], at[24];
        snprintf(seq, sizeof seq, "%llu", (unsigned long long)e->seq);
        snprintf(at, sizeof at, "%lld", (long long)e->received_at);
        const char *vals[8] = {seq,
                               jentry_source(b, e),
                               jentry_event_id(b, e),
                               jentry_type(b, e),
                               jentry_entity_key(b, e),
                               at,
                               (const char *)jentry_envelope(b, e),
                               jentry_target_name(b, e)};
        int lens[8] = {0, e->source_len,   e->event_id_len, e->type_len, e->entity_key_len,
                       0, (int)e->env_len, e->target_len};
        int fmts[8] = {0, 1, 1, 1, 1, 0, 1, 1};
        PGresult *r = PQexecParams(
            s->conn,
            "WITH ins AS (INSERT INTO journal (seq, source, event_id, type, entity_key, "
            "received_at, envelope, target) VALUES ($1, convert_from($2,'UTF8'), "
            "convert_from($3,'UTF8'), convert_from($4,'UTF8'), convert_from($5,'UTF8'), $6, $7, "
            "convert_from($8,'UTF8')) "
            "ON CONFLICT (source, event_id) DO NOTHING RETURNING seq) "
            "SELECT seq FROM ins UNION ALL SELECT seq FROM journal WHERE source = "
            "convert_from($2,'UTF8') AND event_id = convert_from($3,'UTF8') AND NOT EXISTS "
            "(SELECT 1 FROM ins)",
            8, NULL, vals, lens, fmts, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
            snprintf(err, errlen, "insert journal row: %s", PQerrorMessage(s->conn));
            PQclear(r);
            return -1;
        }
        uint64_t got = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        if (got != e->seq) {
            e->state = JE_DUPLICATE;
            e->dup_seq = got;
        }
    }
    return 0;
}

/* The prepared statement name for STMT ("j<index>"), preparing it on first
 * use; -1 if it cannot be (then it is sent unprepared), -2 on error. A
 * statement is known by its text, not by the address it was handed at: two
 * statements with one text share a name, and a statement is never run as
 * another that once lived at the same address. (Statements are the engine's
 * rare ones -- steward decisions, merges --, a handful of texts.) */
static int prepared_index(store_t *s, const char *stmt, int nparams, char *err, size_t errlen)
{
    for (size_t i = 0; i < s->nprepared; i++)
        if (strcmp(s->prepared[i], stmt) == 0)
            return (int)i;
    if (s->nprepared == STORE_MAX_PREPARED)
        return -1;
    char *text = strdup(stmt);
    if (!text) {
        snprintf(err, errlen, "out of memory");
        return -2;
    }
    char name[16];
    snprintf(name, sizeof name, "j%zu", s->nprepared);
    PGresult *r = PQprepare(s->conn, name, stmt, nparams, NULL);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        snprintf(err, errlen, "prepare master-data statement: %s", PQresultErrorMessage(r));
    PQclear(r);
    if (!ok) {
        free(text);
        return -2;
    }
    s->prepared[s->nprepared] = text;
    return (int)s->nprepared++;
}

static void forget_prepared(store_t *s)
{
    for (size_t i = 0; i < s->nprepared; i++)
        free(s->prepared[i]);
    s->nprepared = 0;
}

/* ---- the engine's rows in binary ---- */

/* "COPY TABLE (the row's columns) FROM STDIN (FORMAT binary)" into OUT; -1 if it does not fit
 * (descriptors are short: it always does). */
static int copy_statement(char *out, size_t cap, const char *table, const row_desc_t *row)
{
    int n = snprintf(out, cap, "COPY %s (", table);
    for (int i = 0; i < row->ncols && n > 0 && (size_t)n < cap; i++)
        n += snprintf(out + n, cap - (size_t)n, "%s%s", i ? ", " : "", row->cols[i].name);
    if (n > 0 && (size_t)n < cap)
        n += snprintf(out + n, cap - (size_t)n, ") FROM STDIN (FORMAT binary)");
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* Runs COPY_STMT with the binary rows in s->copybuf (header, tuples, trailer). */
static int send_copy(store_t *s, const char *copy_stmt, char *err, size_t errlen)
{
    PGresult *r = PQexec(s->conn, copy_stmt);
    int st = PQresultStatus(r);
    PQclear(r);
    if (st != PGRES_COPY_IN ||
        PQputCopyData(s->conn, (const char *)s->copybuf.data, (int)s->copybuf.len) != 1 ||
        PQputCopyEnd(s->conn, NULL) != 1) {
        snprintf(err, errlen, "%.100s: %s", copy_stmt, PQerrorMessage(s->conn));
        return -1;
    }
    int rc = 0;
    while ((r = PQgetResult(s->conn)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            snprintf(err, errlen, "%.100s: %s", copy_stmt, PQresultErrorMessage(r));
            rc = -1;
        }
        PQclear(r);
    }
    return rc;
}

/* Starts s->copybuf: the binary COPY header. */
static int copy_begin(store_t *s, size_t bytes)
{
    s->copybuf.len = 0;
    if (pb_buf_reserve(&s->copybuf, bytes + 21) < 0)
        return -1;
    pb_put_raw(&s->copybuf, copy_header, 19);
    return 0;
}

/* Ends s->copybuf with the trailer and sends it into TABLE, whose rows are ROW's. */
static int copy_end(store_t *s, const char *table, const row_desc_t *row, char *err, size_t errlen)
{
    char stmt[1024];
    if (copy_statement(stmt, sizeof stmt, table, row) < 0) {
        snprintf(err, errlen, "COPY %s: too many columns", table);
        return -1;
    }
    put_i16(&s->copybuf, -1);
    return send_copy(s, stmt, err, errlen);
}

/* The append-only rows, one COPY per table for the whole batch, in the order they came. */
static int write_copies(store_t *s, const jbatch_t *b, char *err, size_t errlen)
{
    const row_desc_t *done[16];
    size_t ndone = 0;
    for (size_t i = 0; i < b->nsql; i++) {
        const row_desc_t *row = b->sql[i].row;
        bool seen = !row || b->sql[i].upsert;
        for (size_t k = 0; k < ndone && !seen; k++)
            seen = done[k] == row;
        if (seen)
            continue;
        if (ndone == sizeof done / sizeof *done) {
            snprintf(err, errlen, "too many tables of appended rows in one batch");
            return -1;
        }
        done[ndone++] = row;
        size_t bytes = 0;
        for (size_t j = i; j < b->nsql; j++)
            if (b->sql[j].row == row && !b->sql[j].upsert)
                bytes += b->sql[j].tuple_len;
        if (copy_begin(s, bytes) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        for (size_t j = i; j < b->nsql; j++)
            if (b->sql[j].row == row && !b->sql[j].upsert)
                pb_put_raw(&s->copybuf, b->sql[j].tuple, b->sql[j].tuple_len);
        if (copy_end(s, row->table, row, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* Rows of one upsert, ordered by key, then by position in the batch. KEY is the encoded key
 * fields of the tuple (each a length and bytes), NKEY of them. */
typedef struct {
    const jsql_t *q;
    size_t pos;
    int nkey;
} urow_t;

/* Compares the first NKEY fields of two tuples as strcmp compares text (byte order, the
 * shorter first when one is the start of the other); a NULL sorts as empty. */
static int key_cmp(const uint8_t *x, const uint8_t *y, int nkey)
{
    x += 2;
    y += 2;
    for (int k = 0; k < nkey; k++) {
        uint32_t lx, ly;
        memcpy(&lx, x, 4);
        memcpy(&ly, y, 4);
        int32_t nx = (int32_t)ntohl(lx), ny = (int32_t)ntohl(ly);
        size_t ax = nx > 0 ? (size_t)nx : 0, ay = ny > 0 ? (size_t)ny : 0;
        size_t n = ax < ay ? ax : ay;
        int c = n ? memcmp(x + 4, y + 4, n) : 0;
        if (c)
            return c;
        if (ax != ay)
            return ax < ay ? -1 : 1;
        x += 4 + ax;
        y += 4 + ay;
    }
    return 0;
}

static int urow_cmp(const void *a, const void *b)
{
    const urow_t *x = a, *y = b;
    int c = key_cmp(x->q->tuple, y->q->tuple, x->nkey);
    if (c)
        return c;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

static bool same_key(const urow_t *x, const urow_t *y)
{
    return key_cmp(x->q->tuple, y->q->tuple, x->nkey) == 0;
}

/* The stage table of U on this connection, created on first use. */
static int stage_ready(store_t *s, const row_upsert_t *u, char *err, size_t errlen)
{
    for (size_t k = 0; k < s->nstaged; k++)
        if (s->staged[k] == u)
            return 0;
    char sql[512];
    int n = snprintf(sql, sizeof sql,
                     "CREATE TEMP TABLE IF NOT EXISTS %s (LIKE %s) ON COMMIT DELETE ROWS", u->stage,
                     u->row->table);
    if (n < 0 || (size_t)n >= sizeof sql || s->nstaged == STORE_MAX_STAGED) {
        snprintf(err, errlen, "cannot stage rows of %s", u->row->table);
        return -1;
    }
    if (exec_ok(s->conn, sql, err, errlen) < 0)
        return -1;
    s->staged[s->nstaged++] = u;
    return 0;
}

/* Gathered upserts: nothing else in a batch reads these tables, so applying
 * each key's last row once, at the end, is the same as applying them all in
 * order. One COPY into a stage table and one INSERT ... ON CONFLICT per kind. */
static int write_upserts(store_t *s, const jbatch_t *b, char *err, size_t errlen)
{
    const row_upsert_t *done[STORE_MAX_STAGED];
    size_t ndone = 0;
    urow_t *rows = NULL;
    int rc = 0;
    for (size_t i = 0; i < b->nsql && rc == 0; i++) {
        const row_upsert_t *u = b->sql[i].upsert;
        bool seen = !u;
        for (size_t k = 0; k < ndone && !seen; k++)
            seen = done[k] == u;
        if (seen)
            continue;
        if (ndone == sizeof done / sizeof *done) {
            snprintf(err, errlen, "too many kinds of upsert in one batch");
            rc = -1;
            break;
        }
        done[ndone++] = u;
        if (stage_ready(s, u, err, errlen) < 0) {
            rc = -1;
            break;
        }
        size_t n = 0, bytes = 0;
        for (size_t j = i; j < b->nsql; j++)
            n += b->sql[j].upsert == u;
        free(rows);
        rows = malloc(n * sizeof *rows);
        if (!rows) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        n = 0;
        for (size_t j = i; j < b->nsql; j++)
            if (b->sql[j].upsert == u) {
                rows[n++] = (urow_t){&b->sql[j], j, u->nkey};
                bytes += b->sql[j].tuple_len;
            }
        qsort(rows, n, sizeof *rows, urow_cmp);
        if (copy_begin(s, bytes) < 0) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        for (size_t j = 0; j < n; j++)
            if (j + 1 == n || !same_key(&rows[j], &rows[j + 1]))
                pb_put_raw(&s->copybuf, rows[j].q->tuple, rows[j].q->tuple_len);
        if (copy_end(s, u->stage, u->row, err, errlen) < 0 ||
            exec_ok(s->conn, u->merge, err, errlen) < 0)
            rc = -1;
    }
    free(rows);
    return rc;
}

/* Where one commit's time went, for the debug log: one line per batch. */
typedef struct {
    int64_t start, journal, pipeline, copies, sql, rest, commit;
} btimes_t;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A statement of the batch and its prepared name's index (-1: sent unprepared). */
typedef struct {
    const jsql_t *q;
    int id;
} pstmt_t;

/* Sends statements [from, to) of ST and a sync, then reads their results up to
 * the sync. Returns 0, -1 if a statement failed (err says which), -2 if the
 * connection broke (it is then dropped: nothing was committed). */
static int pipeline_chunk(store_t *s, const pstmt_t *st, size_t from, size_t to, char *err,
                          size_t errlen)
{
    int sent_ok = 1;
    for (size_t i = from; i < to && sent_ok; i++) {
        const jsql_t *q = st[i].q;
        const char *const *params = (const char *const *)q->params;
        char name[16];
        snprintf(name, sizeof name, "j%d", st[i].id);
        sent_ok =
            st[i].id >= 0
                ? PQsendQueryPrepared(s->conn, name, q->nparams, params, NULL, NULL, 0) == 1
                : PQsendQueryParams(s->conn, q->stmt, q->nparams, NULL, params, NULL, NULL, 0) == 1;
    }
    if (!sent_ok || PQpipelineSync(s->conn) != 1) {
        snprintf(err, errlen, "send master-data rows: %s", PQerrorMessage(s->conn));
        PQfinish(s->conn);
        s->conn = NULL;
        return -2;
    }
    int rc = 0;
    for (;;) {
        PGresult *r = PQgetResult(s->conn);
        if (!r) {
            if (conn_lost(s->conn))
                return -2;
            continue; /* end of one statement's results */
        }
        ExecStatusType est = PQresultStatus(r);
        if (est == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            return rc;
        }
        if (est != PGRES_COMMAND_OK && est != PGRES_TUPLES_OK && rc == 0) {
            snprintf(err, errlen, "master-data row: %s", PQresultErrorMessage(r));
            rc = -1;
        }
        PQclear(r);
    }
}

/* The master-data engine's statements (the rows go by COPY), in pipelines: a
 * batch of a thousand person events costs a few round trips, not thousands.
 * Each pipeline is kept short and read to its sync before the next is sent:
 * the connection blocks, so a pipeline whose results filled the server's
 * socket buffer while we were still sending would deadlock. A sync inside
 * BEGIN ... COMMIT does not end the transaction. */
#define PIPELINE_CHUNK 256

static int write_statements(store_t *s, const jbatch_t *b, char *err, size_t errlen)
{
    size_t n = 0;
    for (size_t i = 0; i < b->nsql; i++)
        n += b->sql[i].stmt != NULL;
    if (!n)
        return 0;
    pstmt_t *st = malloc(n * sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* Prepared first: each statement is parsed and planned once per
     * connection instead of once per row. */
    int rc = 0;
    n = 0;
    for (size_t i = 0; i < b->nsql && rc == 0; i++) {
        const jsql_t *q = &b->sql[i];
        if (!q->stmt)
            continue;
        st[n] = (pstmt_t){q, prepared_index(s, q->stmt, q->nparams, err, errlen)};
        rc = st[n++].id == -2 ? -1 : 0;
    }
    if (rc == 0 && PQenterPipelineMode(s->conn) != 1) {
        snprintf(err, errlen, "enter pipeline mode: %s", PQerrorMessage(s->conn));
        rc = -1;
    } else if (rc == 0) {
        for (size_t from = 0; from < n && rc == 0; from += PIPELINE_CHUNK)
            rc = pipeline_chunk(s, st, from, from + PIPELINE_CHUNK < n ? from + PIPELINE_CHUNK : n,
                                err, errlen);
        if (rc != -2)
            PQexitPipelineMode(s->conn);
        rc = rc < 0 ? -1 : 0;
    }
    free(st);
    return rc;
}

/* The engine's rows and statements: appends first (a statement may refer to
 * a row appended in the same batch -- a steward's decision on an item opened
 * a moment before -- and no appended row depends on a statement), then the
 * statements, then the gathered upserts. */
static int write_sql(store_t *s, const jbatch_t *b, btimes_t *t, char *err, size_t errlen)
{
    t->pipeline = t->copies = t->journal;
    if (!b->nsql)
        return 0;
    int rc = write_copies(s, b, err, errlen);
    t->copies = now_us();
    if (rc == 0)
        rc = write_statements(s, b, err, errlen);
    t->pipeline = now_us();
    return rc == 0 ? write_upserts(s, b, err, errlen) : rc;
}

static int insert_reject(PGconn *c, const jreject_t *r)
{
    char at[24], size[24];
    snprintf(at, sizeof at, "%lld", (long long)r->at);
    snprintf(size, sizeof size, "%zu", r->size);
    const char *vals[9] = {at,
                           r->adapter,
                           r->event_id,
                           r->type,
                           r->reason,
                           (const char *)r->bytes,
                           size,
                           (const char *)r->sha256,
                           r->len < r->size ? "t" : "f"};
    int lens[9] = {0, 0, 0, 0, 0, (int)r->len, 0, (int)sizeof r->sha256, 0};
    int fmts[9] = {0, 0, 0, 0, 0, 1, 0, 1, 0};
    PGresult *res = PQexecParams(c,
                                 "INSERT INTO rejected_event (received_at, adapter, event_id, "
                                 "type, reason, bytes, size, sha256, truncated) VALUES "
                                 "($1,$2,$3,$4,$5,$6,$7,$8,$9)",
                                 9, NULL, vals, lens, fmts, 0);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    return ok ? 0 : -1;
}

/* One refused row must never fail the batch it rides in: the events in it
 * would all be answered RETRY, for ever if the row came again. Its text is
 * valid by construction (jbatch_add_reject); should a row fail all the same
 * (a constraint added by hand, a bug), the rows are redone one by one and
 * those that fail are left out, counted and logged once a minute at most.
 * The rows share one savepoint, so a flood of them costs one round trip
 * more per batch, not one per row; only after a failure does each row get a
 * savepoint of its own. */
static int write_rejects(store_t *s, const jbatch_t *b, char *err, size_t errlen)
{
    if (b->nrejects == 0)
        return 0;
    if (exec_ok(s->conn, "SAVEPOINT rejects", err, errlen) < 0)
        return -1;
    size_t i = 0;
    while (i < b->nrejects && insert_reject(s->conn, &b->rejects[i]) == 0)
        i++;
    if (i == b->nrejects)
        return exec_ok(s->conn, "RELEASE SAVEPOINT rejects", err, errlen);
    char first[256];
    snprintf(first, sizeof first, "%s", PQerrorMessage(s->conn));
    first[strcspn(first, "\n")] = '\0';
    if (conn_lost(s->conn) || exec_ok(s->conn, "ROLLBACK TO SAVEPOINT rejects", err, errlen) < 0) {
        snprintf(err, errlen, "insert rejected_event: %.200s", first);
        return -1;
    }
    size_t lost = 0;
    for (i = 0; i < b->nrejects; i++) {
        if (exec_ok(s->conn, "SAVEPOINT reject", err, errlen) < 0)
            return -1;
        const char *end = "RELEASE SAVEPOINT reject";
        if (insert_reject(s->conn, &b->rejects[i]) < 0) {
            lost++;
            end = "ROLLBACK TO SAVEPOINT reject";
        }
        if (exec_ok(s->conn, end, err, errlen) < 0)
            return -1;
    }
    s->rejects_lost += lost;
    if (lost && now_ms() >= s->rejects_log_ms) {
        log_error("store",
                  "%llu refused message(s) could not be kept in rejected_event (%llu since the "
                  "last such line); the rest of their batches committed. First error: %s",
                  (unsigned long long)lost, (unsigned long long)s->rejects_lost, first);
        s->rejects_lost = 0;
        s->rejects_log_ms = now_ms() + 60000;
    }
    return exec_ok(s->conn, "RELEASE SAVEPOINT rejects", err, errlen);
}

static int write_dead(store_t *s, const jbatch_t *b, char *err, size_t errlen)
{
    for (size_t i = 0; i < b->ndead; i++) {
        const jdead_t *d = &b->dead[i];
        char seq[24], att[16], at[24];
        snprintf(seq, sizeof seq, "%llu", (unsigned long long)d->seq);
        snprintf(att, sizeof att, "%u", d->attempts);
        snprintf(at, sizeof at, "%lld", (long long)d->at);
        const char *vals[9] = {
            d->adapter, d->subscription,          seq, d->event_id, d->type, att, d->reason,
            at,         (const char *)d->envelope};
        int lens[9] = {0, 0, 0, 0, 0, 0, 0, 0, (int)d->envelope_len};
        int fmts[9] = {0, 0, 0, 0, 0, 0, 0, 0, 1};
        PGresult *r = PQexecParams(s->conn,
                                   "INSERT INTO dead_letter (adapter, subscription, seq, event_id, "
                                   "type, attempts, reason, dead_at, envelope) VALUES "
                                   "($1,$2,$3,$4,$5,$6,$7,$8,$9)",
                                   9, NULL, vals, lens, fmts, 0);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok) {
            snprintf(err, errlen, "insert dead_letter: %s", PQerrorMessage(s->conn));
            return -1;
        }
    }
    return 0;
}

/* Patterns are validated to [a-z0-9_.*-] on the way in, so quoting each
 * element is enough to make a safe array literal. Any number of them: the
 * SUBSCRIBE was answered before this commit, which must not fail for them. */
static int pattern_array(const jcursor_t *c, pb_buf_t *out)
{
    out->len = 0;
    if (pb_put_raw(out, "{", 1) < 0)
        return -1;
    for (size_t i = 0; i < c->npatterns; i++) {
        if ((i && pb_put_raw(out, ",", 1) < 0) || pb_put_raw(out, "\"", 1) < 0 ||
            pb_put_raw(out, c->patterns[i], strlen(c->patterns[i])) < 0 ||
            pb_put_raw(out, "\"", 1) < 0)
            return -1;
    }
    return pb_put_raw(out, "}", 2); /* with the NUL */
}

/* The cursor's delivery counts as two array literals, seqs and counts, each
 * NUL-terminated, one after the other in OUT; *COUNTS_AT is where the second
 * starts. */
static int attempt_arrays(const jcursor_t *c, pb_buf_t *out, size_t *counts_at)
{
    out->len = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass)
            *counts_at = out->len;
        if (pb_put_raw(out, "{", 1) < 0)
            return -1;
        for (size_t i = 0; i < c->nattempts; i++) {
            char num[24];
            int w = pass ? snprintf(num, sizeof num, "%s%u", i ? "," : "", c->attempts[i].attempts)
                         : snprintf(num, sizeof num, "%s%llu", i ? "," : "",
                                    (unsigned long long)c->attempts[i].seq);
            if (w < 0 || pb_put_raw(out, num, (size_t)w) < 0)
                return -1;
        }
        if (pb_put_raw(out, "}", 2) < 0)
            return -1;
    }
    return 0;
}

/* Both forms of a cursor row also delete the subscription's delivery counts
 * at or below its acked floor (settled) and keep the counts it carries (the
 * largest per seq), in the same statement: no round trip of their own. */
#define CURSOR_ATTEMPTS_SQL                                                                        \
    "WITH pruned AS (DELETE FROM delivery_attempt WHERE adapter = $1 AND subscription = $2 "       \
    "AND seq <= $3), counted AS (INSERT INTO delivery_attempt (adapter, subscription, seq, "       \
    "attempts) SELECT DISTINCT ON (t.seq) $1, $2, t.seq, t.n FROM unnest($4::bigint[], "           \
    "$5::integer[]) AS t(seq, n) WHERE t.seq > $3 ORDER BY t.seq, t.n DESC "                       \
    "ON CONFLICT (adapter, subscription, seq) DO UPDATE SET attempts = "                           \
    "greatest(delivery_attempt.attempts, EXCLUDED.attempts)) "

static int write_cursor(store_t *s, const jcursor_t *c, pb_buf_t *arr, pb_buf_t *att, char *err,
                        size_t errlen)
{
    char seq[24];
    size_t counts_at = 0;
    snprintf(seq, sizeof seq, "%llu", (unsigned long long)c->acked_seq);
    if (attempt_arrays(c, att, &counts_at) < 0 || (c->patterns && pattern_array(c, arr) < 0)) {
        snprintf(err, errlen, "out of memory writing the cursor of subscription %s",
                 c->subscription);
        return -1;
    }
    const char *vals[6] = {c->adapter,
                           c->subscription,
                           seq,
                           (const char *)att->data,
                           (const char *)att->data + counts_at,
                           c->patterns ? (const char *)arr->data : NULL};
    /* A floor that came in the same batch as the patterns was merged into
     * this row (jbatch_add_cursor): the upsert keeps the larger floor. */
    PGresult *r =
        c->patterns
            ? PQexecParams(s->conn,
                           CURSOR_ATTEMPTS_SQL
                           "INSERT INTO subscription (adapter, name, patterns, acked_seq) "
                           "VALUES ($1,$2,$6,$3) ON CONFLICT (adapter, name) DO UPDATE SET "
                           "patterns = EXCLUDED.patterns, acked_seq = greatest("
                           "subscription.acked_seq, EXCLUDED.acked_seq), updated_at = now()",
                           6, NULL, vals, NULL, NULL, 0)
            : PQexecParams(s->conn,
                           CURSOR_ATTEMPTS_SQL
                           "UPDATE subscription SET acked_seq = $3, updated_at = now() "
                           "WHERE adapter = $1 AND name = $2 AND acked_seq < $3",
                           5, NULL, vals, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok)
        snprintf(err, errlen, "write subscription cursor: %s", PQerrorMessage(s->conn));
    return ok ? 0 : -1;
}

static int write_cursors(store_t *s, const jbatch_t *b, char *err, size_t errlen)
{
    pb_buf_t arr = {0}, att = {0};
    int rc = 0;
    for (size_t i = 0; i < b->ncursors && rc == 0; i++)
        rc = write_cursor(s, &b->cursors[i], &arr, &att, err, errlen);
    pb_buf_free(&arr);
    pb_buf_free(&att);
    return rc;
}

static size_t count_events(const jbatch_t *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++)
        n += b->e[i].state == JE_OK;
    return n;
}

/* Everything but BEGIN and COMMIT. */
static int write_batch(store_t *s, jbatch_t *b, btimes_t *t, char *err, size_t errlen)
{
    if (count_events(b)) {
        bool unique;
        if (copy_journal(s, b, &unique, err, errlen) < 0) {
            if (!unique || conn_lost(s->conn))
                return -1;
            /* A duplicate the dedup window no longer held: redo the transaction
             * row by row so every other event still commits. */
            if (exec_ok(s->conn, "ROLLBACK", err, errlen) < 0 ||
                exec_ok(s->conn, "BEGIN", err, errlen) < 0 ||
                insert_one_by_one(s, b, err, errlen) < 0)
                return -1;
        }
    }
    t->journal = now_us();
    if (write_sql(s, b, t, err, errlen) < 0)
        return -1;
    t->sql = now_us();
    if (write_rejects(s, b, err, errlen) < 0 || write_dead(s, b, err, errlen) < 0 ||
        write_cursors(s, b, err, errlen) < 0)
        return -1;
    t->rest = now_us();
    return 0;
}

typedef enum { COMMIT_OK, COMMIT_FAILED, COMMIT_UNKNOWN } commit_outcome_t;

static commit_outcome_t commit_batch(store_t *s, jbatch_t *b)
{
    char *err = b->error;
    size_t errlen = sizeof b->error;
    if (conn_lost(s->conn)) {
        snprintf(err, errlen, "database unavailable");
        return COMMIT_FAILED;
    }
    btimes_t t = {.start = now_us()};
    if (exec_ok(s->conn, "BEGIN", err, errlen) < 0)
        return COMMIT_FAILED;
    if (write_batch(s, b, &t, err, errlen) < 0) {
        if (!conn_lost(s->conn))
            exec_ok(s->conn, "ROLLBACK", err + strlen(err), errlen - strlen(err));
        return COMMIT_FAILED;
    }
    PGresult *r = PQexec(s->conn, "COMMIT");
    int st = PQresultStatus(r);
    PQclear(r);
    if (st == PGRES_COMMAND_OK) {
        t.commit = now_us();
        log_debug("store",
                  "batch of %zu events, %zu master-data rows: journal %lld us, appends %lld us, "
                  "master-data statements %lld us, upserts %lld us, other rows %lld us, commit "
                  "%lld us",
                  b->n, b->nsql, (long long)(t.journal - t.start),
                  (long long)(t.copies - t.journal), (long long)(t.pipeline - t.copies),
                  (long long)(t.sql - t.pipeline), (long long)(t.rest - t.sql),
                  (long long)(t.commit - t.rest));
        return COMMIT_OK;
    }
    snprintf(err, errlen, "COMMIT: %s", PQerrorMessage(s->conn));
    return conn_lost(s->conn) ? COMMIT_UNKNOWN : COMMIT_FAILED;
}

/* After a reconnect: did the batch whose COMMIT was cut off make it? Its first
 * event is in the journal exactly when the whole transaction committed. */
static commit_outcome_t resolve_unknown(store_t *s, const jbatch_t *b)
{
    const jentry_t *first = NULL;
    for (size_t i = 0; i < b->n && !first; i++)
        if (b->e[i].state == JE_OK)
            first = &b->e[i];
    if (!first)
        return COMMIT_FAILED; /* rows only: redoing them is harmless */
    char seq[24];
    snprintf(seq, sizeof seq, "%llu", (unsigned long long)first->seq);
    const char *vals[1] = {seq};
    PGresult *r =
        PQexecParams(s->conn, "SELECT 1 FROM journal WHERE seq = $1", 1, NULL, vals, NULL, NULL, 0);
    commit_outcome_t out = COMMIT_UNKNOWN;
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        out = PQntuples(r) ? COMMIT_OK : COMMIT_FAILED;
    PQclear(r);
    return out;
}

/* ---- fetch ---- */

static uint64_t be64_at(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return be64toh(v);
}

int store_fetch(PGconn *c, jbatch_t *b, char *err, size_t errlen)
{
    char from[24], limit[16], bytes[24];
    snprintf(from, sizeof from, "%llu", (unsigned long long)b->fetch_from);
    snprintf(limit, sizeof limit, "%u", b->fetch_limit ? b->fetch_limit : 4096);
    snprintf(bytes, sizeof bytes, "%zu", b->fetch_max_bytes ? b->fetch_max_bytes : SIZE_MAX / 2);
    const char *vals[3] = {from, limit, bytes};
    /* Bounded in bytes as well as rows: 4096 events of 1 MiB would be 4 GiB in
     * this result and again in the batch. octet_length of a stored envelope
     * reads its size, not its bytes, so the rows left out are never read. */
    PGresult *r = PQexecParams(c,
                               "SELECT seq, type, source, event_id, entity_key, received_at, "
                               "envelope, target FROM (SELECT j.*, sum(octet_length(envelope)) "
                               "OVER (ORDER BY seq) AS upto FROM (SELECT seq, type, source, "
                               "event_id, entity_key, received_at, envelope, target FROM journal "
                               "WHERE seq >= $1 ORDER BY seq LIMIT $2) j) k "
                               "WHERE upto - octet_length(envelope) < $3::bigint ORDER BY seq",
                               3, NULL, vals, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "read journal: %s", PQerrorMessage(c));
        PQclear(r);
        return -1;
    }
    int rows = PQntuples(r);
    for (int i = 0; i < rows; i++) {
        if (!jbatch_add(b, be64_at(PQgetvalue(r, i, 0)), PQgetvalue(r, i, 1),
                        (size_t)PQgetlength(r, i, 1), PQgetvalue(r, i, 2),
                        (size_t)PQgetlength(r, i, 2), PQgetvalue(r, i, 3),
                        (size_t)PQgetlength(r, i, 3), PQgetvalue(r, i, 4),
                        (size_t)PQgetlength(r, i, 4), (const uint8_t *)PQgetvalue(r, i, 6),
                        (size_t)PQgetlength(r, i, 6), (int64_t)be64_at(PQgetvalue(r, i, 5)))) {
            snprintf(err, errlen, "out of memory reading journal");
            PQclear(r);
            return -1;
        }
        /* The core maps the target's name to an adapter on first use. */
        if (PQgetlength(r, i, 7) > 0 &&
            jbatch_set_target(b, JENTRY_TARGET_UNRESOLVED, PQgetvalue(r, i, 7),
                              (size_t)PQgetlength(r, i, 7)) < 0) {
            snprintf(err, errlen, "bad target in journal row");
            PQclear(r);
            return -1;
        }
    }
    PQclear(r);
    return 0;
}

/* ---- the thread ---- */

/* Every publish waits for the database while it is away, so the hub asks again at least once a
 * second: a PostgreSQL back after a restart of a few seconds is found within a second, where a
 * 5 s cap had added up to 5 s to every outage. One connection attempt a second costs a server
 * nothing. */
#define BACKOFF_MAX_MS 1000

static void reconnect(store_t *s)
{
    char err[512];
    PQfinish(s->conn);
    forget_prepared(s);
    s->nstaged = 0;
    s->conn = store_connect(s->conninfo, 0, err, sizeof err);
    if (s->conn) {
        log_info("store", "database connection restored");
        s->backoff_ms = 100;
    } else {
        s->backoff_ms = s->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : s->backoff_ms * 2;
    }
}

/* Reconnects until the outcome of B's commit is known, or the core says stop. */
static commit_outcome_t settle_unknown(store_t *s, jbatch_t *b, bool *stop)
{
    for (;;) {
        zmq_pollitem_t it = {s->store_sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, s->backoff_ms) > 0) {
            store_msg_t m;
            if (zmq_recv(s->store_sock, &m, sizeof m, 0) == (int)sizeof m) {
                if (m.kind == 0) {
                    *stop = true;
                    return COMMIT_UNKNOWN;
                }
                if (m.kind == STORE_JOB) {
                    m.job->rc = -1;
                    snprintf(m.job->error, sizeof m.job->error, "database unavailable");
                    send_job(s->store_sock, m.job, 0);
                    continue;
                }
                snprintf(m.batch->error, sizeof m.batch->error, "database unavailable");
                m.batch->status = JB_FAILED;
                send_msg(s->store_sock, STORE_BATCH, m.batch);
            }
        }
        reconnect(s);
        if (!s->conn)
            continue;
        commit_outcome_t o = resolve_unknown(s, b);
        if (o != COMMIT_UNKNOWN) {
            send_msg(s->store_sock, STORE_DB_UP, NULL);
            return o;
        }
    }
}

static void handle(store_t *s, jbatch_t *b, bool *stop)
{
    bool was_up = !conn_lost(s->conn);
    if (b->kind == JB_FETCH) {
        b->status = !conn_lost(s->conn) && store_fetch(s->conn, b, b->error, sizeof b->error) == 0
                        ? JB_COMMITTED
                        : JB_FAILED;
    } else {
        commit_outcome_t o = commit_batch(s, b);
        if (o == COMMIT_UNKNOWN) {
            log_warn("store", "connection lost during COMMIT; holding the batch until the "
                              "database says whether it committed");
            send_msg(s->store_sock, STORE_DB_DOWN, NULL);
            was_up = false;
            o = settle_unknown(s, b, stop);
        }
        b->status = o == COMMIT_OK ? JB_COMMITTED : JB_FAILED;
        /* The core says so, once per change of state (dbstate.c): a full
         * disk fails every commit, and must not fill the log too. */
        if (o == COMMIT_FAILED)
            log_debug("store", "commit failed: %s", b->error);
    }
    if (was_up && conn_lost(s->conn)) {
        log_warn("store", "database connection lost: %s", PQerrorMessage(s->conn));
        send_msg(s->store_sock, STORE_DB_DOWN, NULL);
    }
    send_msg(s->store_sock, STORE_BATCH, b);
}

/* Runs a job on the connection and hands it back. A job that broke the
 * connection is reported like a batch that did. */
static void run_job(store_t *s, store_job_t *job)
{
    bool was_up = !conn_lost(s->conn);
    if (!was_up) {
        job->rc = -1;
        snprintf(job->error, sizeof job->error, "database unavailable");
    } else {
        PGcancel *cancel = PQgetCancel(s->conn);
        pthread_mutex_lock(&s->cancel_mu);
        bool stopping = s->stopping;
        s->cancel = stopping ? NULL : cancel;
        pthread_mutex_unlock(&s->cancel_mu);
        job->error[0] = '\0';
        if (stopping) {
            job->rc = -1;
            snprintf(job->error, sizeof job->error, "the hub is stopping");
        } else {
            job->rc = job->run(job, s->conn, job->error, sizeof job->error);
        }
        pthread_mutex_lock(&s->cancel_mu);
        s->cancel = NULL;
        pthread_mutex_unlock(&s->cancel_mu);
        PQfreeCancel(cancel);
        /* The next batch starts with BEGIN: leave no transaction open. */
        if (!conn_lost(s->conn) && PQtransactionStatus(s->conn) != PQTRANS_IDLE) {
            char err[256];
            exec_ok(s->conn, "ROLLBACK", err, sizeof err);
        }
    }
    if (was_up && conn_lost(s->conn)) {
        log_warn("store", "database connection lost: %s", PQerrorMessage(s->conn));
        send_msg(s->store_sock, STORE_DB_DOWN, NULL);
    }
    send_job(s->store_sock, job, 0);
}

static void *store_main(void *arg)
{
    store_t *s = arg;
    bool stop = false;
    s->backoff_ms = 100;
    while (!stop) {
        zmq_pollitem_t it = {s->store_sock, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&it, 1, conn_lost(s->conn) ? s->backoff_ms : -1);
        if (rc < 0 && zmq_errno() == ETERM)
            break;
        if (rc > 0) {
            store_msg_t m;
            if (zmq_recv(s->store_sock, &m, sizeof m, 0) != (int)sizeof m)
                continue;
            if (m.kind == 0)
                break;
            if (m.kind == STORE_JOB)
                run_job(s, m.job);
            else
                handle(s, m.batch, &stop);
        }
        if (!stop && conn_lost(s->conn)) {
            reconnect(s);
            if (s->conn)
                send_msg(s->store_sock, STORE_DB_UP, NULL);
        }
    }
    PQfinish(s->conn);
    s->conn = NULL;
    pb_buf_free(&s->copybuf);
    return NULL;
}

store_t *store_new(void *ctx, const char *conninfo, char *err, size_t errlen)
{
    store_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->ctx = ctx;
    pthread_mutex_init(&s->cancel_mu, NULL);
    s->conninfo = strdup(conninfo);
    snprintf(s->endpoint, sizeof s->endpoint, STORE_ENDPOINT_FMT, (void *)s);
    s->store_sock = zmq_socket(ctx, ZMQ_PAIR);
    s->core_sock = zmq_socket(ctx, ZMQ_PAIR);
    if (!s->conninfo || !s->store_sock || !s->core_sock ||
        zmq_bind(s->store_sock, s->endpoint) < 0 || zmq_connect(s->core_sock, s->endpoint) < 0) {
        snprintf(err, errlen, "cannot set up the store pipe: %s", zmq_strerror(zmq_errno()));
        store_destroy(&s);
        return NULL;
    }
    s->conn = store_connect(conninfo, 30000, err, errlen);
    if (!s->conn) {
        store_destroy(&s);
        return NULL;
    }
    if (pthread_create(&s->thread, NULL, store_main, s) != 0) {
        snprintf(err, errlen, "cannot start the store thread");
        store_destroy(&s);
        return NULL;
    }
    s->started = true;
    return s;
}

void store_destroy(store_t **sp)
{
    if (!sp || !*sp)
        return;
    store_t *s = *sp;
    if (s->started) {
        pthread_mutex_lock(&s->cancel_mu);
        s->stopping = true;
        if (s->cancel) {
            char err[256];
            PQcancel(s->cancel, err, sizeof err);
        }
        pthread_mutex_unlock(&s->cancel_mu);
        send_msg(s->core_sock, 0, NULL);
        pthread_join(s->thread, NULL);
        /* What the thread handed back that nobody received, and what it never
         * took: each batch and job is freed once, here. */
        store_msg_t m;
        while (zmq_recv(s->core_sock, &m, sizeof m, ZMQ_DONTWAIT) == (int)sizeof m)
            if (m.kind == STORE_JOB)
                m.job->drop(m.job);
            else if (m.batch)
                jbatch_release(&m.batch);
        while (zmq_recv(s->store_sock, &m, sizeof m, ZMQ_DONTWAIT) == (int)sizeof m)
            if (m.kind == STORE_JOB)
                m.job->drop(m.job);
            else if (m.batch)
                jbatch_release(&m.batch);
    } else {
        PQfinish(s->conn);
    }
    if (s->core_sock)
        zmq_close(s->core_sock);
    if (s->store_sock)
        zmq_close(s->store_sock);
    forget_prepared(s);
    pthread_mutex_destroy(&s->cancel_mu);
    free(s->conninfo);
    free(s);
    *sp = NULL;
}

void *store_socket(store_t *s)
{
    return s->core_sock;
}

int store_submit(store_t *s, jbatch_t *b)
{
    store_msg_t m = {STORE_BATCH, b, NULL};
    return zmq_send(s->core_sock, &m, sizeof m, ZMQ_DONTWAIT) == (int)sizeof m ? 0 : -1;
}

int store_submit_job(store_t *s, store_job_t *job)
{
    return send_job(s->core_sock, job, ZMQ_DONTWAIT);
}

int store_receive(store_t *s, store_event_t *ev, jbatch_t **b, store_job_t **job)
{
    store_msg_t m;
    if (zmq_recv(s->core_sock, &m, sizeof m, ZMQ_DONTWAIT) != (int)sizeof m)
        return -1;
    *ev = (store_event_t)m.kind;
    *b = m.batch;
    *job = m.job;
    return 0;
}

/* ---- start-up reads ---- */

int store_head(PGconn *c, uint64_t *head, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, "SELECT coalesce(max(seq), 0) FROM journal");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "read journal head: %s", PQerrorMessage(c));
        PQclear(r);
        return -1;
    }
    *head = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

/* Splits a text[] literal like {"a","b"} or {a,b}; elements are patterns,
 * which never contain quotes, commas or braces. */
static int split_array(const char *lit, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t len = strlen(lit);
    if (len < 2 || lit[0] != '{' || lit[len - 1] != '}')
        return -1;
    char *copy = strndup(lit + 1, len - 2);
    if (!copy)
        return -1;
    char **items = calloc(len / 2 + 1, sizeof *items);
    if (!items) {
        free(copy);
        return -1;
    }
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        size_t tl = strlen(tok);
        if (tl >= 2 && tok[0] == '"') {
            tok++;
            tl -= 2;
        }
        items[(*n)++] = strndup(tok, tl);
    }
    free(copy);
    *out = items;
    return 0;
}

/* The row of ADAPTER/NAME in ROWS (sorted by adapter, then name, byte-wise). */
static store_sub_row_t *find_sub_row(store_sub_row_t *rows, size_t n, const char *adapter,
                                     const char *name)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(rows[mid].adapter, adapter);
        if (cmp == 0)
            cmp = strcmp(rows[mid].name, name);
        if (cmp == 0)
            return &rows[mid];
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int add_sub_attempt(store_sub_row_t *row, uint64_t seq, uint32_t attempts)
{
    jattempt_t *a = realloc(row->attempts, (row->nattempts + 1) * sizeof *a);
    if (!a)
        return -1;
    row->attempts = a;
    a[row->nattempts++] = (jattempt_t){seq, attempts};
    return 0;
}

/* Each subscription's delivery counts above its floor, into ROWS. At start-up
 * only, and the table holds at most what was in flight. */
static int load_attempts(PGconn *c, store_sub_row_t *rows, size_t n, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, "SELECT a.adapter, a.subscription, a.seq, a.attempts "
                            "FROM delivery_attempt a JOIN subscription s ON s.adapter = a.adapter "
                            "AND s.name = a.subscription WHERE a.seq > s.acked_seq");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "read delivery attempts: %s", PQerrorMessage(c));
        PQclear(r);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        store_sub_row_t *row = find_sub_row(rows, n, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
        char *end;
        unsigned long long seq = strtoull(PQgetvalue(r, i, 2), &end, 10);
        unsigned long att = strtoul(PQgetvalue(r, i, 3), &end, 10);
        if (row && att > 0 && att <= UINT32_MAX && add_sub_attempt(row, seq, (uint32_t)att) < 0) {
            snprintf(err, errlen, "out of memory reading delivery attempts");
            rc = -1;
        }
    }
    PQclear(r);
    return rc;
}

static int sub_row_cmp(const void *a, const void *b)
{
    const store_sub_row_t *x = a, *y = b;
    int cmp = strcmp(x->adapter, y->adapter);
    return cmp ? cmp : strcmp(x->name, y->name);
}

int store_subscriptions(PGconn *c, store_sub_row_t **rows, size_t *n, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, "SELECT adapter, name, patterns, acked_seq FROM subscription "
                            "ORDER BY adapter, name");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "read subscriptions: %s", PQerrorMessage(c));
        PQclear(r);
        return -1;
    }
    int nt = PQntuples(r);
    *rows = calloc((size_t)nt + 1, sizeof **rows);
    *n = 0;
    if (!*rows) {
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < nt; i++) {
        store_sub_row_t *row = &(*rows)[(*n)++];
        row->adapter = strdup(PQgetvalue(r, i, 0));
        row->name = strdup(PQgetvalue(r, i, 1));
        split_array(PQgetvalue(r, i, 2), &row->patterns, &row->npatterns);
        row->acked_seq = strtoull(PQgetvalue(r, i, 3), NULL, 10);
        if (!row->adapter || !row->name || !row->patterns) {
            snprintf(err, errlen, "out of memory reading subscriptions");
            PQclear(r);
            return -1;
        }
    }
    PQclear(r);
    /* The database's collation orders the names; the search wants bytes. */
    qsort(*rows, *n, sizeof **rows, sub_row_cmp);
    return load_attempts(c, *rows, *n, err, errlen);
}

void store_sub_rows_free(store_sub_row_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].adapter);
        free(rows[i].name);
        for (size_t j = 0; j < rows[i].npatterns; j++)
            free(rows[i].patterns[j]);
        free(rows[i].patterns);
        free(rows[i].attempts);
    }
    free(rows);
}

/* The first seq above AFTER from which the journal's newest entries fit in
 * MAX_BYTES (at least the newest; 0: AFTER + 1): what is older would be evicted as soon as it was
 * read, and reading it could take as long as the journal is big. */
static int window_start(PGconn *c, uint64_t after, size_t max_bytes, uint64_t *start, char *err,
                        size_t errlen)
{
    *start = after + 1;
    if (!max_bytes)
        return 0;
    char from[24], bytes[24];
    snprintf(from, sizeof from, "%llu", (unsigned long long)after);
    snprintf(bytes, sizeof bytes, "%zu", max_bytes);
    const char *vals[2] = {from, bytes};
    PGresult *r = PQexecParams(c,
                               "SELECT coalesce(min(seq) FILTER (WHERE upto <= $2::bigint), "
                               "max(seq)) FROM (SELECT seq, sum(octet_length(envelope)) OVER "
                               "(ORDER BY seq DESC) AS upto FROM journal WHERE seq > $1) t",
                               2, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "size the journal window: %s", PQerrorMessage(c));
        PQclear(r);
        return -1;
    }
    if (!PQgetisnull(r, 0, 0))
        *start = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

int store_load_window(PGconn *c, uint64_t after, window_t *w, char *err, size_t errlen)
{
    size_t max_bytes = window_max_bytes(w);
    uint64_t from;
    if (window_start(c, after, max_bytes, &from, err, errlen) < 0)
        return -1;
    for (;;) {
        jbatch_t *b = jbatch_new(JB_FETCH);
        if (!b)
            return -1;
        b->fetch_from = from;
        b->fetch_limit = 8192;
        /* Several reads per window, so that each batch is a small part of it. */
        b->fetch_max_bytes = max_bytes ? max_bytes / 8 + 1 : 0;
        if (store_fetch(c, b, err, errlen) < 0) {
            jbatch_release(&b);
            return -1;
        }
        size_t got = b->n;
        if (got) {
            from = b->e[got - 1].seq + 1;
            window_push(w, b);
        }
        jbatch_release(&b);
        if (!got)
            return 0;
    }
}

int store_load_dedup(PGconn *c, uint64_t after, dedup_t *d, char *err, size_t errlen)
{
    char from[24];
    snprintf(from, sizeof from, "%llu", (unsigned long long)after);
    const char *vals[1] = {from};
    PGresult *r = PQexecParams(c,
                               "SELECT source, event_id, seq FROM journal WHERE seq > $1 "
                               "ORDER BY seq",
                               1, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "read dedup keys: %s", PQerrorMessage(c));
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        dedup_key_t k = dedup_key(PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0),
                                  PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1));
        dedup_put(d, k, strtoull(PQgetvalue(r, i, 2), NULL, 10));
    }
    PQclear(r);
    return 0;
}

/* ---- refused input ---- */

#define EXPIRE_CHUNK 10000 /* rows per DELETE */
#define EXPIRE_CHUNKS 20   /* DELETEs per run */
#define UTC_DAY_SQL "(to_timestamp($1::bigint / 1000000.0) AT TIME ZONE 'UTC')::date"

static int exec_params(PGconn *c, const char *sql, int n, const char *const *vals, long long *rows,
                       char *err, size_t errlen)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, vals, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        snprintf(err, errlen, "%.60s: %s", sql, PQerrorMessage(c));
    else if (rows)
        *rows = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return ok ? 0 : -1;
}

static int save_dropped(PGconn *c, store_refusals_t *r, char *err, size_t errlen)
{
    char day[24], n[24];
    snprintf(day, sizeof day, "%lld", (long long)r->day_start_us);
    for (size_t i = 0; i < r->n; i++) {
        if (r->dropped[i] == 0)
            continue;
        snprintf(n, sizeof n, "%llu", (unsigned long long)r->dropped[i]);
        const char *vals[3] = {day, r->names[i], n};
        if (exec_params(c,
                        "INSERT INTO rejected_dropped (day, adapter, dropped) VALUES (" UTC_DAY_SQL
                        ", $2, $3) ON CONFLICT (day, adapter) DO UPDATE SET dropped = "
                        "rejected_dropped.dropped + EXCLUDED.dropped",
                        3, vals, NULL, err, errlen) < 0)
            return -1;
    }
    return 0;
}

static int expire(PGconn *c, store_refusals_t *r, char *err, size_t errlen)
{
    char before[24];
    snprintf(before, sizeof before, "%lld", (long long)r->expire_before_us);
    const char *vals[1] = {before};
    r->deleted = 0;
    for (int i = 0; i < EXPIRE_CHUNKS; i++) {
        long long n = 0;
        if (exec_params(c,
                        "DELETE FROM rejected_event WHERE id IN (SELECT id FROM rejected_event "
                        "WHERE received_at < $1::bigint LIMIT " STORE_STR(EXPIRE_CHUNK) ")",
                        1, vals, &n, err, errlen) < 0)
            return -1;
        r->deleted += n;
        if (n < EXPIRE_CHUNK)
            break;
    }
    return exec_params(c, "DELETE FROM rejected_dropped WHERE day < " UTC_DAY_SQL, 1, vals, NULL,
                       err, errlen);
}

static int read_usage(PGconn *c, store_refusals_t *r, char *err, size_t errlen)
{
    char from[24];
    snprintf(from, sizeof from, "%lld", (long long)r->day_start_us);
    const char *vals[1] = {from};
    PGresult *res = PQexecParams(c,
                                 "SELECT adapter, sum(octet_length(bytes)), count(*) FROM "
                                 "rejected_event WHERE received_at >= $1::bigint GROUP BY adapter",
                                 1, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "read the day's refusals: %s", PQerrorMessage(c));
        PQclear(res);
        return -1;
    }
    /* Rows of adapters no longer configured count for nobody. */
    for (int row = 0; row < PQntuples(res); row++)
        for (size_t i = 0; i < r->n; i++)
            if (strcmp(PQgetvalue(res, row, 0), r->names[i]) == 0) {
                r->bytes[i] = strtoull(PQgetvalue(res, row, 1), NULL, 10);
                r->rows[i] = strtoull(PQgetvalue(res, row, 2), NULL, 10);
            }
    PQclear(res);
    return 0;
}

int store_refusals_maintain(PGconn *c, store_refusals_t *r, char *err, size_t errlen)
{
    /* All the counts or none, so the core knows whether to count them again. */
    r->dropped_saved = false;
    if (exec_ok(c, "BEGIN", err, errlen) < 0 || save_dropped(c, r, err, errlen) < 0 ||
        exec_ok(c, "COMMIT", err, errlen) < 0)
        return -1;
    r->dropped_saved = true;
    return expire(c, r, err, errlen) < 0 || read_usage(c, r, err, errlen) < 0 ? -1 : 0;
}

/* ---- the admin API's operations (hub/admin/admin_core.c's jobs) ---- */

int store_stored_counts(PGconn *c, uint64_t *dead, uint64_t *rejected, char *err, size_t errlen)
{
    /* Refusals past the row quota were only counted (rejected_dropped); they
     * were refused all the same. */
    PGresult *r = PQexec(c, "SELECT (SELECT count(*) FROM dead_letter), "
                            "(SELECT count(*) FROM rejected_event) + "
                            "(SELECT coalesce(sum(dropped), 0) FROM rejected_dropped)");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        snprintf(err, errlen, "count dead letters and refusals: %s", PQerrorMessage(c));
        PQclear(r);
        return -1;
    }
    *dead = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    *rejected = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);
    return 0;
}

int store_replays_waiting(PGconn *c, store_replay_t **out, size_t *n, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, "SELECT adapter, subscription, seq FROM dead_letter_replay "
                            "WHERE settled_at IS NULL ORDER BY seq");
    *out = NULL;
    *n = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "read replays waiting: %s", PQerrorMessage(c));
        PQclear(r);
        return -1;
    }
    int rc = store_replay_rows(r, 0, out, n);
    if (rc < 0)
        snprintf(err, errlen, "out of memory reading replays");
    PQclear(r);
    return rc;
}

int store_replay_rows(PGresult *r, int first_col, store_replay_t **out, size_t *n)
{
    int nt = PQntuples(r);
    *out = calloc((size_t)nt + 1, sizeof **out);
    *n = 0;
    if (!*out)
        return -1;
    for (int i = 0; i < nt; i++) {
        store_replay_t *p = &(*out)[i];
        snprintf(p->adapter, sizeof p->adapter, "%s", PQgetvalue(r, i, first_col));
        snprintf(p->subscription, sizeof p->subscription, "%s", PQgetvalue(r, i, first_col + 1));
        p->seq = strtoull(PQgetvalue(r, i, first_col + 2), NULL, 10);
        p->id = first_col > 0 ? strtoll(PQgetvalue(r, i, 0), NULL, 10) : 0;
    }
    *n = (size_t)nt;
    return 0;
}

/* The dead letters IDS (a Postgres array literal of ids) of subscriptions that
 * still exist leave dead_letter for dead_letter_replay in one commit: the row
 * that says "deliver this again" is written in the same transaction that
 * removes the dead letter, so a crash leaves one or the other. */
int store_replay_dead_letters(PGconn *c, const char *ids, const char *who, int64_t now_us,
                              store_replay_t **out, size_t *n, char *err, size_t errlen)
{
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)now_us);
    const char *vals[3] = {ids, who, now};
    PGresult *r = PQexecParams(
        c,
        "WITH d AS (DELETE FROM dead_letter d USING subscription s WHERE d.id = ANY($1::bigint[]) "
        "AND s.adapter = d.adapter AND s.name = d.subscription AND NOT EXISTS (SELECT 1 FROM "
        "dead_letter_replay w WHERE w.adapter = d.adapter AND w.subscription = d.subscription AND "
        "w.seq = d.seq AND w.settled_at IS NULL) RETURNING d.*) "
        "INSERT INTO dead_letter_replay (id, adapter, subscription, seq, event_id, type, reason, "
        "dead_at, replayed_by, replayed_at) SELECT id, adapter, subscription, seq, event_id, type, "
        "reason, dead_at, $2, $3::bigint FROM d RETURNING id, adapter, subscription, seq",
        3, NULL, vals, NULL, NULL, 0);
    *out = NULL;
    *n = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "replay dead letters: %s", PQerrorMessage(c));
        PQclear(r);
        return -1;
    }
    int rc = store_replay_rows(r, 1, out, n);
    if (rc < 0)
        snprintf(err, errlen, "out of memory reading replayed dead letters");
    PQclear(r);
    return rc;
}

int store_discard_dead_letter(PGconn *c, long long id, const char *who, const char *reason,
                              int64_t now_us, long long *rows, char *err, size_t errlen)
{
    char sid[24], now[24];
    snprintf(sid, sizeof sid, "%lld", id);
    snprintf(now, sizeof now, "%lld", (long long)now_us);
    const char *vals[4] = {sid, who, reason, now};
    return exec_params(c,
                       "WITH d AS (DELETE FROM dead_letter WHERE id = $1::bigint RETURNING *) "
                       "INSERT INTO dead_letter_discarded (id, adapter, subscription, seq, "
                       "event_id, type, attempts, reason, dead_at, envelope, discarded_by, "
                       "discarded_at, discard_reason) SELECT id, adapter, subscription, seq, "
                       "event_id, type, attempts, reason, dead_at, envelope, $2, $4::bigint, $3 "
                       "FROM d",
                       4, vals, rows, err, errlen);
}

int store_replay_settled(PGconn *c, const char *adapter, const char *subscription, uint64_t seq,
                         int64_t now_us, char *err, size_t errlen)
{
    char sseq[24], now[24];
    snprintf(sseq, sizeof sseq, "%llu", (unsigned long long)seq);
    snprintf(now, sizeof now, "%lld", (long long)now_us);
    const char *vals[4] = {adapter, subscription, sseq, now};
    return exec_params(c,
                       "UPDATE dead_letter_replay SET settled_at = $4::bigint WHERE adapter = $1 "
                       "AND subscription = $2 AND seq = $3::bigint AND settled_at IS NULL",
                       4, vals, NULL, err, errlen);
}

int store_delete_subscription(PGconn *c, const char *adapter, const char *name, char *err,
                              size_t errlen)
{
    const char *vals[2] = {adapter, name};
    /* Its replays still waiting go with it; their audit rows say so. */
    if (exec_ok(c, "BEGIN", err, errlen) < 0 ||
        exec_params(c, "DELETE FROM subscription WHERE adapter = $1 AND name = $2", 2, vals, NULL,
                    err, errlen) < 0 ||
        exec_params(c, "DELETE FROM delivery_attempt WHERE adapter = $1 AND subscription = $2", 2,
                    vals, NULL, err, errlen) < 0 ||
        exec_params(c,
                    "UPDATE dead_letter_replay SET settled_at = -1 WHERE adapter = $1 AND "
                    "subscription = $2 AND settled_at IS NULL",
                    2, vals, NULL, err, errlen) < 0 ||
        exec_ok(c, "COMMIT", err, errlen) < 0)
        return -1;
    return 0;
}
