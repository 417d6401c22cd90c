/* adapter_httpc.h - an HTTP client for an adapter's own poll loop (libcurl's multi interface):
 * requests to a system's REST API (Dataverse, a case system) with retry, backoff and a final
 * answer once.
 *
 *     adapter_httpc_t *hc = adapter_httpc_new(&(adapter_httpc_opts_t){.bearer_token = key},
 *                                             err, sizeof err);
 *     ... in a JOINERY_DEFER subscription handler:
 *     const char *const hdr[] = {"Content-Type", "application/json", NULL};
 *     adapter_httpc_request(hc, "PATCH", url, hdr, json, len, on_done, delivery);
 *     ... in the loop: n = adapter_httpc_fds(hc, fds + k, 1); wait at most
 *     adapter_httpc_timeout_ms(hc); after adapter_loop_run_once: adapter_httpc_handle(hc, fds+k, n)
 *     ... on_done: joinery_settle(ACK) on r->ok, REJECT with r->body when r->status is a 4xx.
 *
 * No thread of its own and none of the loop's time: the transfers run when adapter_httpc_handle
 * is called, and the loop polls ONE descriptor (an epoll set of libcurl's sockets) and waits at
 * most adapter_httpc_timeout_ms. (libcurl itself resolves host names on a short-lived thread of
 * its own; an IP address needs none. It inherits the loop's blocked signals.)
 *
 * The outcome of each request, given to DONE exactly once:
 *   2xx                                  -> ok, with status and body;
 *   other status (4xx but 408 and 429)   -> final failure at once, with status and the body (the
 *                                           system's reason, e.g. Dataverse's JSON error), error
 *                                           "HTTP 404";
 *   5xx, 408, 429, no connection, a timeout, a connection cut
 *                                        -> tried again after a pause: retry_min_ms doubling up to
 *                                           retry_max_ms, plus up to a quarter more at random (so
 *                                           clients that failed together do not return together);
 *                                           a Retry-After (seconds or HTTP date, up to an hour)
 *                                           lengthens the pause to it. After max_attempts: failure
 *                                           "gave up after N attempts: LAST ERROR", with the last
 *                                           status and body when there was an answer;
 *   a URL, TLS certificate or option this client refuses -> final failure at once.
 *
 * Order: requests run concurrently (up to max_in_flight) and a retried one waits its pause while
 * later ones go ahead, so two requests for the same record may reach the system in either order.
 * Per-record order is the caller's business: send a record's next request from the previous
 * one's DONE (the hub helps: it delivers an entity's next event only once the previous is
 * settled).
 *
 * Memory is bounded: at most max_queued requests are held (running, waiting for a slot, or
 * pausing before a retry); adapter_httpc_request refuses more. Each slot keeps its buffers for
 * reuse: the request body (up to max_body) and up to max_response bytes of the answer (the rest
 * is read and dropped, r->truncated). Not thread-safe: use it from the loop's thread. */
#ifndef JOINERY_ADAPTER_HTTPC_H
#define JOINERY_ADAPTER_HTTPC_H

#include <poll.h>
#include <stddef.h>

typedef struct adapter_httpc adapter_httpc_t;

typedef struct {
    unsigned timeout_ms;         /* one attempt, connect to last byte; 0 -> 30000 */
    unsigned connect_timeout_ms; /* 0 -> 10000 */
    unsigned retry_min_ms;       /* the first pause; 0 -> 500 */
    unsigned retry_max_ms;       /* the pause doubles up to this; 0 -> 60000 */
    unsigned max_attempts;       /* tries of one request, the first included; 0 -> 5 */
    unsigned max_in_flight;      /* transfers at once; 0 -> 8 */
    unsigned max_queued;         /* requests held at once, in flight included; 0 -> 64 */
    size_t max_body;             /* a request body accepted; 0 -> 1 MiB */
    size_t max_response;         /* bytes of an answer's body kept; 0 -> 64 KiB */
    const char *bearer_token;    /* sent as "Authorization: Bearer ..."; NULL: none; copied */
    const char *const *headers;  /* name, value pairs ending NULL, sent every time; copied */
    const char *ca_file;         /* a PEM bundle of trusted CAs; NULL: the system's; copied */
    const char *ca_path;         /* a directory of hashed CA certificates; NULL: none; copied */
    int tls_no_verify;           /* 1: accept any certificate and host name (tests only) */
} adapter_httpc_opts_t;

typedef struct {
    int ok;            /* 1: a 2xx answer */
    long status;       /* the last answer's HTTP status; 0 when none came */
    const char *body;  /* the last answer's body (up to max_response bytes, not NUL-ended) */
    size_t len;        /* ... its length as kept */
    int truncated;     /* 1: the body was longer than max_response */
    unsigned attempts; /* how many tries were made */
    const char *error; /* "" when ok, else why (one line); valid during the callback only */
    int stopped;       /* 1: the client was destroyed before a final answer */
} adapter_httpc_result_t;

/* Called once per accepted request, from adapter_httpc_handle (or adapter_httpc_destroy, with
 * stopped 1). R and its strings are valid only during the call. It may queue new requests
 * (except when stopped), but must not destroy the client. */
typedef void (*adapter_httpc_done_fn)(void *ud, const adapter_httpc_result_t *r);

/* NULL and ERR when libcurl cannot start, an option is out of range (retry_min_ms over
 * retry_max_ms, max_in_flight over max_queued, a header with a line break) or memory is short. */
adapter_httpc_t *adapter_httpc_new(const adapter_httpc_opts_t *o, char *err, size_t errlen);
/* Ends every transfer; each request still held gets DONE with stopped 1. */
void adapter_httpc_destroy(adapter_httpc_t **c);

/* Replaces the bearer token (e.g. a refreshed OAuth token) for attempts started from now on;
 * NULL or "" sends none. -1 when it is too long (4 KiB) or has a line break. */
int adapter_httpc_set_bearer(adapter_httpc_t *c, const char *token);

/* Queues METHOD ("GET", "POST", "PATCH", ...) of URL (http or https) with HEADERS (NULL or name,
 * value pairs ending NULL; a body without a Content-Type goes as application/json) and LEN bytes
 * of BODY (BODY may be NULL when LEN is 0). URL, HEADERS and BODY are copied. DONE(UD, result)
 * is called once, later, never from here. 0, or -1 and ERR when the queue is full (max_queued),
 * the body is over max_body, the method or a header is malformed, or the client is stopping. */
int adapter_httpc_request(adapter_httpc_t *c, const char *method, const char *url,
                          const char *const *headers, const void *body, size_t len,
                          adapter_httpc_done_fn done, void *ud, char *err, size_t errlen);

/* The one descriptor to poll (POLLIN) into FDS; returns how many were written (1, or 0 when
 * CAP is 0). */
size_t adapter_httpc_fds(adapter_httpc_t *c, struct pollfd *fds, size_t cap);
/* How long the loop may wait at most before adapter_httpc_handle (-1: no limit). */
int adapter_httpc_timeout_ms(const adapter_httpc_t *c);
/* Does the client's work without waiting: socket events, libcurl's timers, retries whose pause
 * is over, new transfers; calls DONE for requests that ended. FDS as adapter_httpc_fds wrote
 * them (N may be 0: the work is done anyway). */
void adapter_httpc_handle(adapter_httpc_t *c, const struct pollfd *fds, size_t n);

/* Requests held (running, waiting or pausing). */
size_t adapter_httpc_pending(const adapter_httpc_t *c);

#endif
