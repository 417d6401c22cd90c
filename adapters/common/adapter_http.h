/* adapter_http.h - a small HTTP server for an adapter's own poll loop (libmicrohttpd).
 *
 *     adapter_http_t *h = adapter_http_new(&(adapter_http_opts_t){.listen = "127.0.0.1:8080",
 *                                          .max_body = 1 << 20}, err, sizeof err);
 *     adapter_http_route(h, "GET", "/metadata", on_metadata, ud);
 *     adapter_http_route(h, "POST", "/Patient", on_create, ud);
 *     ... in the loop: fds[i] = {adapter_http_fd(h), POLLIN}; after poll, adapter_http_run(h)
 *
 * The daemon has no thread of its own: it runs when adapter_http_run is called, and gives the
 * loop ONE descriptor (its epoll set) and a timeout. A request's body is collected up to
 * max_body bytes (beyond that: 413, and the body is not kept). When the whole request is in, the
 * handler of the first route whose method and path prefix match is called once. It either
 * answers at once (adapter_http_respond) or defers the answer (adapter_http_suspend, and
 * adapter_http_respond later, e.g. once the hub has confirmed what the request published): a
 * deferred request holds no thread, only its connection.
 *
 * Ownership: the request (adapter_http_req_t) belongs to this module. It is valid from the
 * handler call until the request is finished; its owner id (adapter_http_req_id) outlives it,
 * so an adapter that keeps a deferred request elsewhere (adapter_pending) drops it by that id
 * from the on_closed callback, which is called for every request that was handed to a handler,
 * answered or not. Not thread-safe: use it from the thread that runs the loop. */
#ifndef JOINERY_ADAPTER_HTTP_H
#define JOINERY_ADAPTER_HTTP_H

#include <stddef.h>
#include <stdint.h>

typedef struct adapter_http adapter_http_t;
typedef struct adapter_http_req adapter_http_req_t;

/* Called once per request, when its whole body is in. Must answer or suspend R before it
 * returns; a handler that does neither gets a 500 sent for it. */
typedef void (*adapter_http_handler_fn)(void *ud, adapter_http_req_t *r);
/* R is finished (answered and sent, the client went away, or the server is stopping): R and
 * its id must no longer be used after this returns. */
typedef void (*adapter_http_closed_fn)(void *ud, adapter_http_req_t *r, uint64_t id);

typedef struct {
    const char *listen;               /* "HOST:PORT" (IPv4); port 0 picks a free one */
    size_t max_body;                  /* bytes of a request body taken; 0 -> 1 MiB */
    unsigned max_connections;         /* 0 -> 256 */
    unsigned idle_timeout_s;          /* an idle connection is closed after it; 0 -> 60 */
    adapter_http_closed_fn on_closed; /* may be NULL */
    void *closed_ud;
} adapter_http_opts_t;

/* Binds and starts listening; NULL and ERR when the address is wrong or cannot be bound. */
adapter_http_t *adapter_http_new(const adapter_http_opts_t *o, char *err, size_t errlen);
/* Every request still suspended is answered 503 first; then the connections are closed. */
void adapter_http_destroy(adapter_http_t **h);

/* Adds a route: METHOD ("GET", ...; NULL: any) and a path PREFIX that matches the path itself
 * or the path followed by '/' or more ("/Patient" matches "/Patient" and "/Patient/42", not
 * "/Patients"). Routes are tried in the order added. -1 when the table (16) is full. The
 * strings are kept by pointer. */
int adapter_http_route(adapter_http_t *h, const char *method, const char *prefix,
                       adapter_http_handler_fn fn, void *ud);

int adapter_http_port(const adapter_http_t *h);
/* The one descriptor to poll for POLLIN, and how long the loop may wait at most (-1: no
 * limit). */
int adapter_http_fd(const adapter_http_t *h);
int adapter_http_timeout_ms(const adapter_http_t *h);
/* Does the server's work without waiting: accepts, reads, calls handlers, sends answers. Call
 * when the descriptor is readable, after the timeout, and after answering deferred requests. */
void adapter_http_run(adapter_http_t *h);
/* Requests suspended and not yet answered. */
size_t adapter_http_suspended(const adapter_http_t *h);

/* The request. Strings are valid while R is; the path has no query string; query values and
 * headers are already URL-decoded by libmicrohttpd (NULL when absent). */
uint64_t adapter_http_req_id(const adapter_http_req_t *r);
const char *adapter_http_method(const adapter_http_req_t *r);
const char *adapter_http_path(const adapter_http_req_t *r);
const char *adapter_http_header(const adapter_http_req_t *r, const char *name);
const char *adapter_http_query(const adapter_http_req_t *r, const char *name);
const void *adapter_http_body(const adapter_http_req_t *r, size_t *len);

/* 1 when the request carries "Authorization: Bearer TOKEN" with exactly TOKEN (compared in
 * time independent of where they differ), else 0. For a shared key between a system and its
 * adapter; TOKEN NULL or "" never matches. */
int adapter_http_bearer_ok(const adapter_http_req_t *r, const char *token);
/* The same for a key sent as the whole value of header NAME (e.g. "x-joinery-key"). */
int adapter_http_key_ok(const adapter_http_req_t *r, const char *name, const char *key);

/* Answers R with STATUS, CONTENT_TYPE (NULL: none) and LEN bytes of BODY (copied). HEADERS is
 * NULL or name, value pairs ending with NULL. From the handler the answer is queued at once; for
 * a suspended request the connection is resumed and the answer goes out at the next
 * adapter_http_run. 0, or -1 when R was answered already or out of memory. */
int adapter_http_respond(adapter_http_req_t *r, unsigned status, const char *content_type,
                         const void *body, size_t len, const char *const *headers);
/* Defers the answer: called from the handler, which then returns without answering. */
void adapter_http_suspend(adapter_http_req_t *r);

#endif
