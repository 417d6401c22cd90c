/* admin_request.h - what the admin API makes of a request before anything reaches the core or
 * the database: the endpoint its method and path name, the caller's bearer token and whether its
 * role allows that endpoint, the query arguments and the JSON body, each checked. No socket,
 * libmicrohttpd or database here: admin_server.c hands over what libmicrohttpd read and acts on
 * the answer, and tests/fuzz/fuzz_admin.c hands over any bytes. The dashboard's own files
 * (admin_static_owns) are served before this and never come here.
 *
 * The limits below are the ones docs/operations.md ("Admin API") documents. */
#ifndef JOINERY_ADMIN_REQUEST_H
#define JOINERY_ADMIN_REQUEST_H

#include "admin/admin_db.h"
#include "admin/admin_steward.h"
#include "admin/admin_trace.h"
#include "base/config.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define ADMIN_MAX_BODY 65536       /* bytes of a request body; a longer one is refused */
#define ADMIN_MAX_REASON 1000      /* bytes of a discard's or a decision's reason */
#define ADMIN_NAME_MAX 64          /* an adapter's or a subscription's name: a-z 0-9 _ - . */
#define ADMIN_TYPE_MAX 128         /* the dead-letter list's type filter */
#define ADMIN_DL_LIMIT_DEFAULT 100 /* dead letters in one page */
#define ADMIN_DL_LIMIT_MAX 1000
#define ADMIN_MASTER_ID_MAX 128 /* a master id in a steward decision */

typedef enum {
    ADMIN_EP_NONE = 0,
    ADMIN_EP_HEALTHZ,
    ADMIN_EP_READYZ,
    ADMIN_EP_METRICS,
    ADMIN_EP_ADAPTERS,
    ADMIN_EP_SUBSCRIPTIONS,
    ADMIN_EP_DELETE_SUBSCRIPTION, /* adapter, name */
    ADMIN_EP_DEAD_LETTERS,        /* dl */
    ADMIN_EP_DEAD_LETTER,         /* id */
    ADMIN_EP_REPLAY,              /* ids (one for .../{id}/replay) */
    ADMIN_EP_DISCARD,             /* id, reason */
    ADMIN_EP_TRACE,               /* trace */
    ADMIN_EP_STEWARD_QUEUE,       /* queue */
    ADMIN_EP_GOLDEN_SEARCH,       /* golden */
    ADMIN_EP_GOLDEN,              /* master_id */
    ADMIN_EP_DECIDE,              /* decision */
    ADMIN_EP_RELOAD,
} admin_endpoint_t;

/* One query argument as libmicrohttpd decodes it: VALUE is NULL for "?key" without "=". */
typedef struct {
    const char *key, *value;
} admin_arg_t;

typedef struct {
    const char *method;      /* "GET", "POST", ... */
    const char *path;        /* decoded, without the query */
    const admin_arg_t *args; /* in the order given; the first of a repeated key counts */
    size_t nargs;
    const char *authorization; /* the header's value; NULL if there is none */
    const char *body;          /* BODY_LEN bytes, no NUL needed */
    size_t body_len;
    bool body_too_big; /* more than ADMIN_MAX_BODY bytes came (and were not kept) */
} admin_request_in_t;

typedef struct {
    int status;      /* 0: taken; else the refusal's HTTP status (401, 403, 404, 405, 400) */
    const char *why; /* the refusal's reason: the hub's own text, never the caller's bytes */
    admin_endpoint_t ep;
    const char *who; /* the token's name, or "local" without tokens (CFG's; set once admitted) */
    /* The endpoint's arguments (see admin_endpoint_t). Strings point into IN, which must
     * outlive them; JSON values are this request's, freed by admin_request_clear. */
    long long id;
    json_t *ids;
    const char *reason;
    char adapter[ADMIN_NAME_MAX + 1], name[ADMIN_NAME_MAX + 1];
    char master_id[TRACE_ID_MAX + 1];
    admin_dl_filter_t dl;
    admin_trace_query_t trace;
    struct {
        const char *state; /* OPEN, LINKED, KEPT_APART, MERGED or ALL */
        long long after;
        int limit;
    } queue;
    admin_golden_search_t golden;
    json_t *decision; /* {action, master_id_a, master_id_b, queue_id, reason, who}: the core's */
    json_t *body;     /* the parsed body REASON points into */
} admin_request_t;

/* Checks IN against CFG's tokens and fills *OUT. Returns 0 when the request is taken, else the
 * HTTP status of the refusal (OUT->status, with OUT->why), which holds no JSON then. 500 only
 * when out of memory. Either way admin_request_clear(OUT) after. */
int admin_request_parse(const config_t *cfg, const admin_request_in_t *in, admin_request_t *out);

/* Frees the JSON values OUT still holds (one taken away and set to NULL is not freed). */
void admin_request_clear(admin_request_t *out);

#endif
