/* master_util.c - ids and loading helpers shared by the master-data engines
 * (contract in master_util.h): text buffers, ids and loading helpers. */
#include "master/master_util.h"
#include "base/route.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

const row_desc_t MASTER_ROW_AUDIT = {"master_audit",
                                     6,
                                     {{"at", ROW_INT8},
                                      {"event_id", ROW_TEXT},
                                      {"source", ROW_TEXT},
                                      {"master_id", ROW_TEXT},
                                      {"action", ROW_TEXT},
                                      {"detail", ROW_JSON}}};
const char MASTER_SQL_AUDIT[] =
    "INSERT INTO master_audit (at, event_id, source, master_id, action, detail) "
    "VALUES ($1::bigint, $2, $3, $4, $5, $6::json)";

/* Buffers ------------------------------------------------------------------------ */

int master_buf_reserve(mbuf_t *b, size_t more)
{
    if (b->len + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

int master_buf_add(mbuf_t *b, const void *p, size_t n)
{
    if (master_buf_reserve(b, n + 1) != 0)
        return -1;
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int master_buf_str(mbuf_t *b, const char *s)
{
    return master_buf_add(b, s, strlen(s));
}

int master_buf_printf(mbuf_t *b, const char *fmt, ...)
{
    for (int pass = 0; pass < 2; pass++) {
        size_t room = b->cap - b->len;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(room ? b->p + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0)
            return -1;
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return 0;
        }
        if (pass == 1 || master_buf_reserve(b, (size_t)n + 1) != 0)
            return -1;
    }
    return -1;
}

/* JSON string with quotes. Values are UTF-8 without control characters
 * (master_flatten refuses others), but escape them anyway: names of systems
 * and fields come from elsewhere. */
int master_buf_json_str(mbuf_t *b, const char *s)
{
    if (master_buf_reserve(b, strlen(s) * 6 + 3) != 0)
        return -1;
    char *o = b->p + b->len;
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            *o++ = '\\';
            *o++ = (char)*p;
        } else if (*p < 0x20) {
            static const char hex[] = "0123456789abcdef";
            memcpy(o, "\\u00", 4);
            o[4] = hex[*p >> 4];
            o[5] = hex[*p & 15];
            o += 6;
        } else {
            *o++ = (char)*p;
        }
    }
    *o++ = '"';
    *o = '\0';
    b->len = (size_t)(o - b->p);
    return 0;
}

void master_buf_free(mbuf_t *b)
{
    free(b->p);
    *b = (mbuf_t){0};
}

/* Decimal digits without printf: this runs for every field of every
 * changed record. */
int master_buf_i64(mbuf_t *b, int64_t v)
{
    char tmp[24];
    size_t n = sizeof tmp;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--n] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        tmp[--n] = '-';
    return master_buf_add(b, tmp + n, sizeof tmp - n);
}

int master_buf_field_json(mbuf_t *out, const char *name, const char *value, const char *source,
                          uint64_t version, int64_t at_us)
{
    int rc = master_buf_json_str(out, name);
    rc |= master_buf_str(out, ":{\"v\":");
    rc |= master_buf_json_str(out, value);
    rc |= master_buf_str(out, ",\"s\":");
    rc |= master_buf_json_str(out, source);
    rc |= master_buf_str(out, ",\"n\":");
    rc |= master_buf_i64(out, (int64_t)version);
    rc |= master_buf_str(out, ",\"t\":");
    rc |= master_buf_i64(out, at_us);
    return rc | master_buf_str(out, "}");
}

/* Ids ------------------------------------------------------------------------------ */

static void base32(uint64_t v, int chars, char *out)
{
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    for (int i = chars - 1; i >= 0; i--) {
        out[i] = alphabet[v & 31];
        v >>= 5;
    }
}

void master_ulid_seed(master_ulid_t *u)
{
    u->ms = 0;
    if (getrandom(u->rand, sizeof u->rand, 0) != (ssize_t)sizeof u->rand) {
        uint64_t t = (uint64_t)time(NULL);
        memcpy(u->rand, &t, sizeof t);
    }
    u->rand[0] &= 0x7f; /* room to count up without wrapping */
}

void master_ulid_next(master_ulid_t *u, char prefix, int64_t now_us, char out[MASTER_ULID_LEN])
{
    uint64_t ms = now_us > 0 ? (uint64_t)now_us / 1000 : (uint64_t)time(NULL) * 1000;
    if (ms < u->ms)
        ms = u->ms;
    u->ms = ms;
    int carry = 9;
    while (carry >= 0 && ++u->rand[carry] == 0)
        carry--;
    uint64_t hi = 0, lo = 0; /* 80 bits as 40 + 40 */
    for (int i = 0; i < 5; i++)
        hi = hi << 8 | u->rand[i];
    for (int i = 5; i < 10; i++)
        lo = lo << 8 | u->rand[i];
    out[0] = prefix;
    base32(ms & 0xffffffffffffULL, 10, out + 1);
    base32(hi, 8, out + 11);
    base32(lo, 8, out + 19);
    out[27] = '\0';
}

/* Loading ------------------------------------------------------------------------- */

int master_parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = (uint64_t)v;
    return 0;
}

int master_parse_i64(const char *s, int64_t *out)
{
    if (s == NULL || *s == '\0')
        return -1;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = (int64_t)v;
    return 0;
}

int master_each_row(PGconn *conn, const char *sql, master_row_fn fn, void *ctx, char *err,
                    size_t errlen)
{
    if (!PQsendQuery(conn, sql))
        return err_set(err, errlen, "%s: %s", sql, PQerrorMessage(conn));
    (void)PQsetSingleRowMode(conn);
    int rc = 0;
    PGresult *r;
    while ((r = PQgetResult(conn)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        if (rc == 0 && st == PGRES_SINGLE_TUPLE)
            rc = fn(ctx, r);
        else if (rc == 0 && st != PGRES_TUPLES_OK)
            rc = err_set(err, errlen, "%s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
    }
    return rc;
}

int master_exec_ok(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(conn, sql);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK
                 ? 0
                 : err_set(err, errlen, "%s: %s", sql, PQerrorMessage(conn));
    PQclear(r);
    return rc;
}

int master_load_end(PGconn *conn, int rc, char *err, size_t errlen)
{
    PGresult *r = PQexec(conn, rc == 0 ? "COMMIT" : "ROLLBACK");
    if (rc == 0 && PQresultStatus(r) != PGRES_COMMAND_OK)
        rc = err_set(err, errlen, "COMMIT: %s", PQerrorMessage(conn));
    PQclear(r);
    return rc;
}

int master_subscribers(const config_t *cfg, const char *type, master_system_fn id, void *ctx,
                       uint16_t **out, size_t *n)
{
    *out = calloc(cfg->nadapters ? cfg->nadapters : 1, sizeof **out);
    if (*out == NULL)
        return -1;
    for (size_t i = 0; i < cfg->nadapters; i++) {
        const config_adapter_t *a = &cfg->adapters[i];
        if (!route_match_any(a->subscribe.items, a->subscribe.count, type, strlen(type)))
            continue;
        int s = id(ctx, a->name);
        if (s < 0)
            return -1;
        (*out)[(*n)++] = (uint16_t)s;
    }
    return 0;
}

int master_rule_systems(const config_master_field_t *f, master_system_fn id, void *ctx, int *owner,
                        uint16_t **fallback, size_t *nfallback)
{
    *owner = f->owner ? id(ctx, f->owner) : -1;
    *fallback = calloc(f->fallback.count ? f->fallback.count : 1, sizeof **fallback);
    if (*fallback == NULL || (f->owner && *owner < 0))
        return -1;
    for (size_t k = 0; k < f->fallback.count; k++) {
        int s = id(ctx, f->fallback.items[k]);
        if (s < 0)
            return -1;
        (*fallback)[(*nfallback)++] = (uint16_t)s;
    }
    return 0;
}
