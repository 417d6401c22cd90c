/* master_util.h - the master-data engine's small tools (hub/master/): growable text
 * buffers, decimal text without printf, ULIDs, the loaders' PostgreSQL helpers and the
 * configuration's systems. Internal to hub/master/; engine.h includes it. */
#ifndef JOINERY_MASTER_UTIL_H
#define JOINERY_MASTER_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "base/config.h"
#include "base/err.h"
#include "base/rows.h"

/* Buffers (master_util.c). The text is always NUL-terminated once anything was
 * added. */
typedef struct {
    char *p;
    size_t len, cap;
} mbuf_t;

int master_buf_reserve(mbuf_t *b, size_t more);
int master_buf_add(mbuf_t *b, const void *p, size_t n);
int master_buf_str(mbuf_t *b, const char *s);
/* A JSON string with its quotes; control characters, '"' and '\' escaped. */
int master_buf_json_str(mbuf_t *b, const char *s);
/* Decimal digits of V, without printf. */
int master_buf_i64(mbuf_t *b, int64_t v);
/* One field of a golden record's stored JSON, compact:
 * "NAME":{"v":VALUE,"s":SOURCE,"n":VERSION,"t":AT_US}. */
int master_buf_field_json(mbuf_t *out, const char *name, const char *value, const char *source,
                          uint64_t version, int64_t at_us);
int master_buf_printf(mbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void master_buf_free(mbuf_t *b);

/* Decimal text of integers, written by hand: several go into every event's
 * rows, and snprintf was a tenth of the person engine's time. Inline, so the
 * hot path pays no call. BUF holds MASTER_NUM_LEN; returns BUF. */
#define MASTER_NUM_LEN 24 /* "-9223372036854775808" or 20 digits, and NUL */

static inline const char *master_num_u(char *buf, uint64_t v)
{
    char tmp[MASTER_NUM_LEN];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
    return buf;
}

static inline const char *master_num_i(char *buf, int64_t v)
{
    if (v < 0) {
        buf[0] = '-';
        (void)master_num_u(buf + 1, (uint64_t)0 - (uint64_t)v);
    } else {
        (void)master_num_u(buf, (uint64_t)v);
    }
    return buf;
}

/* Is SYSTEM in SUBS, the systems subscribed to a derived event type? */
static inline bool master_subscribes(const uint16_t *subs, size_t n, int system)
{
    for (size_t i = 0; i < n; i++)
        if (subs[i] == system)
            return true;
    return false;
}

/* The audit row both engines write: (at, event_id, source, master_id,
 * action, detail), copied in bulk or inserted (master_util.c). */
extern const row_desc_t MASTER_ROW_AUDIT;
extern const char MASTER_SQL_AUDIT[];

/* Ids (master_util.c). A ULID with a monotonic random part: ids made in one
 * millisecond, or while the clock steps back, still sort in creation order
 * and never repeat. */
#define MASTER_ULID_LEN 28 /* prefix, 26 characters, NUL */
typedef struct {
    uint64_t ms; /* of the last id */
    uint8_t rand[10];
} master_ulid_t;

/* Random start (the clock if getrandom fails: uniqueness does not depend on
 * it, ids are checked before use). */
void master_ulid_seed(master_ulid_t *u);
/* PREFIX and the next ULID for NOW_US (the clock when <= 0) into OUT. */
void master_ulid_next(master_ulid_t *u, char prefix, int64_t now_us, char out[MASTER_ULID_LEN]);

/* Loading (master_util.c). Each returns 0, or -1 with a message in ERR. */
/* Decimal text, the whole of S. */
int master_parse_u64(const char *s, uint64_t *out);
int master_parse_i64(const char *s, int64_t *out);
/* Streams the rows of SQL to FN one at a time (single-row mode): many
 * records need not sit in one result as well as in the engine. FN's -1
 * stops the rows; its message is its own. */
typedef int (*master_row_fn)(void *ctx, const PGresult *r);
int master_each_row(PGconn *conn, const char *sql, master_row_fn fn, void *ctx, char *err,
                    size_t errlen);
/* A statement that returns no rows. */
int master_exec_ok(PGconn *conn, const char *sql, char *err, size_t errlen);
/* Ends the load's transaction: COMMIT when RC is 0, else ROLLBACK. Returns RC,
 * or -1 when the COMMIT fails. */
int master_load_end(PGconn *conn, int rc, char *err, size_t errlen);

/* Configuration, as each engine's system ids (master_util.c). ID interns a
 * system name: its id, or -1 (out of memory, or too many systems). */
typedef int (*master_system_fn)(void *ctx, const char *name);
/* The systems whose adapters subscribe to TYPE, into *OUT (malloc'd, the
 * caller frees it) and *N. -1 if an id cannot be had. */
int master_subscribers(const config_t *cfg, const char *type, master_system_fn id, void *ctx,
                       uint16_t **out, size_t *n);
/* Field rule F's owner (-1 if none) and fallback systems (*FALLBACK malloc'd,
 * the caller frees it). -1 if an id cannot be had. */
int master_rule_systems(const config_master_field_t *f, master_system_fn id, void *ctx, int *owner,
                        uint16_t **fallback, size_t *nfallback);

#endif
