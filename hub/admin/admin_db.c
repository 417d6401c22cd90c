/* admin_db.c - see admin_db.h. */
#include "admin/admin_db.h"

#include "admin/admin_decode.h"
#include "store/migrate.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

PGconn *admin_db_connect(const char *conninfo, char *err, size_t errlen)
{
    PGconn *c = store_connect(conninfo, 2000, err, errlen);
    if (!c)
        return NULL;
    /* The API writes nothing itself (replay and discard go through the core);
     * a statement that runs away is cut off rather than left holding locks. */
    PGresult *r = PQexec(c, "SET default_transaction_read_only = on; "
                            "SET statement_timeout = '10s'; "
                            "SET application_name = 'joineryd admin'");
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        snprintf(err, errlen, "admin connection set-up: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

static json_int_t num(const PGresult *r, int row, int col)
{
    return (json_int_t)strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static json_t *row_json(const PGresult *r, int i)
{
    return json_pack("{sI ss ss sI ss ss sI ss sI}", "id", num(r, i, 0), "adapter",
                     PQgetvalue(r, i, 1), "subscription", PQgetvalue(r, i, 2), "seq", num(r, i, 3),
                     "event_id", PQgetvalue(r, i, 4), "type", PQgetvalue(r, i, 5), "attempts",
                     num(r, i, 6), "reason", PQgetvalue(r, i, 7), "dead_at_us", num(r, i, 8));
}

#define DL_COLUMNS "id, adapter, subscription, seq, event_id, type, attempts, reason, dead_at"

json_t *admin_db_dead_letters(PGconn *c, const admin_dl_filter_t *f, char *err, size_t errlen)
{
    char after[24], limit[16];
    snprintf(after, sizeof after, "%lld", f->after);
    snprintf(limit, sizeof limit, "%d", f->limit);
    const char *vals[5] = {f->adapter, f->subscription, f->type, after, limit};
    PGresult *r = PQexecParams(c,
                               "SELECT " DL_COLUMNS " FROM dead_letter WHERE ($1 = '' OR adapter "
                               "= $1) AND ($2 = '' OR subscription = $2) AND ($3 = '' OR type = "
                               "$3) AND id > $4::bigint ORDER BY id LIMIT $5::int",
                               5, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQerrorMessage(c));
        PQclear(r);
        return NULL;
    }
    json_t *list = json_array();
    int n = PQntuples(r);
    for (int i = 0; list && i < n; i++)
        json_array_append_new(list, row_json(r, i));
    /* A full page may have more after it. */
    json_t *next = n == f->limit && n > 0 ? json_integer(num(r, n - 1, 0)) : json_null();
    PQclear(r);
    return json_pack("{so so}", "dead_letters", list ? list : json_array(), "next_after", next);
}

json_t *admin_db_dead_letter(PGconn *c, long long id, bool *found, char *err, size_t errlen)
{
    char sid[24];
    snprintf(sid, sizeof sid, "%lld", id);
    const char *vals[1] = {sid};
    PGresult *r = PQexecParams(c,
                               "SELECT " DL_COLUMNS ", envelope FROM dead_letter WHERE id = "
                               "$1::bigint",
                               1, NULL, vals, NULL, NULL, 0);
    *found = false;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQerrorMessage(c));
        PQclear(r);
        return NULL;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        snprintf(err, errlen, "no such dead letter");
        return NULL;
    }
    *found = true;
    json_t *j = row_json(r, 0);
    size_t len = 0;
    unsigned char *env = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 9), &len);
    PQclear(r);
    if (j && env)
        json_object_set_new(j, "envelope", admin_decode_envelope(env, len));
    PQfreemem(env);
    if (!j)
        snprintf(err, errlen, "out of memory");
    return j;
}

int admin_db_add_counts(PGconn *c, json_t *subs, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, "SELECT adapter, subscription, count(*) FROM dead_letter "
                            "GROUP BY adapter, subscription");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQerrorMessage(c));
        PQclear(r);
        return -1;
    }
    for (size_t i = 0; i < json_array_size(subs); i++) {
        json_t *s = json_array_get(subs, i);
        json_int_t n = 0;
        const char *a = json_string_value(json_object_get(s, "adapter"));
        const char *name = json_string_value(json_object_get(s, "name"));
        for (int k = 0; a && name && k < PQntuples(r); k++)
            if (strcmp(PQgetvalue(r, k, 0), a) == 0 && strcmp(PQgetvalue(r, k, 1), name) == 0)
                n = num(r, k, 2);
        json_object_set_new(s, "dead_letters", json_integer(n));
    }
    PQclear(r);
    return 0;
}

bool admin_db_ready(PGconn *c, char *err, size_t errlen)
{
    int v = migrate_current(c, err, errlen);
    if (v < 0)
        return false;
    if (v < ADMIN_SCHEMA_VERSION) {
        snprintf(err, errlen, "database schema at version %d; this hub needs %d", v,
                 ADMIN_SCHEMA_VERSION);
        return false;
    }
    return true;
}
