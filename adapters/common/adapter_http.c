/* adapter_http.c - libmicrohttpd run from the adapter's own loop: one epoll descriptor, bodies
 * collected up to a limit, routes, and answers that may wait (suspend, then resume). */
#include "common/adapter_http.h"
#include "common/adapter_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROUTES 16
#define DEFAULT_BODY (1u << 20)
#define STOP_RUNS 8 /* MHD runs at a stop, to send the 503s of suspended requests */

typedef struct {
    const char *method, *prefix;
    size_t prefix_len;
    adapter_http_handler_fn fn;
    void *ud;
} route_t;

struct adapter_http_req {
    adapter_http_t *h;
    struct MHD_Connection *conn;
    uint64_t id;
    const char *method, *path; /* libmicrohttpd's, valid for the whole request */
    char *body;                /* owned; grows up to max_body */
    size_t len, cap;
    int too_large, dispatched, in_handler, suspended, answered, queued;
    struct MHD_Response *resp; /* a deferred answer, owned until queued */
    unsigned status;
    adapter_http_req_t *prev, *next; /* the suspended list */
};

struct adapter_http {
    struct MHD_Daemon *d;
    adapter_http_opts_t o;
    size_t max_body;
    route_t routes[MAX_ROUTES];
    size_t nroutes;
    uint64_t next_id;
    adapter_http_req_t *suspended;
    size_t nsuspended;
    int port, fd;
};

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    (void)vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    adapter_log(ADAPTER_LOG_WARN, "http: %s", line);
}

static int parse_listen(const char *listen, struct sockaddr_in *sa, char *err, size_t errlen)
{
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    char host[64];
    if (colon == NULL || (size_t)(colon - listen) >= sizeof host) {
        (void)snprintf(err, errlen, "'%s' is not HOST:PORT (e.g. 127.0.0.1:8080)",
                       listen ? listen : "");
        return -1;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    if (errno != 0 || end == colon + 1 || *end != '\0' || port > 65535 ||
        inet_pton(AF_INET, host, &sa->sin_addr) != 1) {
        (void)snprintf(err, errlen,
                       "'%s' is not HOST:PORT with an IPv4 address and a port up to 65535", listen);
        return -1;
    }
    sa->sin_port = htons((uint16_t)port);
    return 0;
}

/* ---- answers --------------------------------------------------------------------------------- */

static struct MHD_Response *make_response(const char *content_type, const void *body, size_t len,
                                          const char *const *headers)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return NULL;
    int ok = content_type == NULL ||
             MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) == MHD_YES;
    for (size_t i = 0; ok && headers && headers[i] && headers[i + 1]; i += 2)
        ok = MHD_add_response_header(resp, headers[i], headers[i + 1]) == MHD_YES;
    if (!ok) {
        MHD_destroy_response(resp);
        return NULL;
    }
    return resp;
}

static enum MHD_Result queue(adapter_http_req_t *r, unsigned status, struct MHD_Response *resp)
{
    enum MHD_Result rc = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp); /* MHD keeps its own reference once queued */
    r->queued = 1;
    return rc;
}

static enum MHD_Result queue_text(adapter_http_req_t *r, unsigned status, const char *text)
{
    r->answered = 1;
    struct MHD_Response *resp = make_response("text/plain", text, strlen(text), NULL);
    return resp ? queue(r, status, resp) : MHD_NO;
}

static void unlink_suspended(adapter_http_req_t *r)
{
    if (!r->suspended)
        return;
    adapter_http_t *h = r->h;
    if (r->prev)
        r->prev->next = r->next;
    else
        h->suspended = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    r->suspended = 0;
    h->nsuspended--;
}

int adapter_http_respond(adapter_http_req_t *r, unsigned status, const char *content_type,
                         const void *body, size_t len, const char *const *headers)
{
    if (r->answered)
        return -1;
    struct MHD_Response *resp = make_response(content_type, body, len, headers);
    if (resp == NULL)
        return -1;
    r->answered = 1;
    if (r->in_handler)
        return queue(r, status, resp) == MHD_YES ? 0 : -1;
    /* Suspended: the answer waits for MHD to call on_request again after the resume. */
    r->resp = resp;
    r->status = status;
    if (r->suspended) {
        unlink_suspended(r);
        MHD_resume_connection(r->conn);
    }
    return 0;
}

void adapter_http_suspend(adapter_http_req_t *r)
{
    if (!r->answered && r->in_handler)
        r->suspended = 1; /* done by on_request once the handler returns */
}

/* ---- requests -------------------------------------------------------------------------------- */

static const route_t *find_route(const adapter_http_t *h, const char *method, const char *path)
{
    for (size_t i = 0; i < h->nroutes; i++) {
        const route_t *rt = &h->routes[i];
        if (rt->method && strcmp(rt->method, method) != 0)
            continue;
        if (strncmp(path, rt->prefix, rt->prefix_len) != 0)
            continue;
        char next = path[rt->prefix_len];
        if (next == '\0' || next == '/' ||
            (rt->prefix_len > 0 && rt->prefix[rt->prefix_len - 1] == '/'))
            return rt;
    }
    return NULL;
}

/* Over-long bodies are refused from their Content-Length before a byte is read. */
static int declared_too_large(const adapter_http_req_t *r)
{
    const char *cl =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl == NULL)
        return 0;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(cl, &end, 10);
    return errno != 0 || end == cl || n > r->h->max_body;
}

static void take_body(adapter_http_req_t *r, const char *data, size_t n)
{
    if (r->too_large)
        return;
    if (n > r->h->max_body - r->len) {
        r->too_large = 1;
        free(r->body);
        r->body = NULL;
        r->len = r->cap = 0;
        return;
    }
    if (r->len + n > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n)
            cap *= 2;
        if (cap > r->h->max_body)
            cap = r->h->max_body;
        char *p = realloc(r->body, cap);
        if (p == NULL) {
            r->too_large = 1; /* answered 413: the body cannot be kept either way */
            return;
        }
        r->body = p; /* the request owns it */
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
}

static enum MHD_Result dispatch(adapter_http_req_t *r)
{
    adapter_http_t *h = r->h;
    r->dispatched = 1;
    if (r->too_large) {
        char msg[96];
        (void)snprintf(msg, sizeof msg, "the body is over the %zu-byte limit\n", h->max_body);
        return queue_text(r, MHD_HTTP_CONTENT_TOO_LARGE, msg);
    }
    const route_t *rt = find_route(h, r->method, r->path);
    if (rt == NULL)
        return queue_text(r, MHD_HTTP_NOT_FOUND, "no such resource\n");
    r->in_handler = 1;
    rt->fn(rt->ud, r);
    r->in_handler = 0;
    if (r->answered) {
        r->suspended = 0;
        return MHD_YES;
    }
    if (!r->suspended) {
        adapter_log(ADAPTER_LOG_ERROR, "http: %s %s was neither answered nor suspended", r->method,
                    r->path);
        return queue_text(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n");
    }
    r->next = h->suspended;
    if (h->suspended)
        h->suspended->prev = r;
    h->suspended = r;
    h->nsuspended++;
    MHD_suspend_connection(r->conn);
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **con_cls)
{
    (void)version;
    adapter_http_t *h = cls;
    adapter_http_req_t *r = *con_cls;
    if (r == NULL) {
        r = calloc(1, sizeof *r); /* owned by the connection until on_completed */
        if (r == NULL)
            return MHD_NO;
        *r = (adapter_http_req_t){
            .h = h, .conn = conn, .id = ++h->next_id, .method = method, .path = url};
        *con_cls = r;
        if (declared_too_large(r)) {
            r->too_large = 1;
            r->dispatched = 1;
            char msg[96];
            (void)snprintf(msg, sizeof msg, "the body is over the %zu-byte limit\n", h->max_body);
            return queue_text(r, MHD_HTTP_CONTENT_TOO_LARGE, msg);
        }
        return MHD_YES;
    }
    if (r->queued) {
        *size = 0;
        return MHD_YES;
    }
    if (*size > 0) {
        take_body(r, data, *size);
        *size = 0;
        return MHD_YES;
    }
    if (r->resp != NULL) { /* resumed with its answer */
        struct MHD_Response *resp = r->resp;
        r->resp = NULL;
        return queue(r, r->status, resp);
    }
    if (r->dispatched)
        return MHD_YES;
    return dispatch(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    adapter_http_t *h = cls;
    adapter_http_req_t *r = *con_cls;
    if (r == NULL)
        return;
    unlink_suspended(r);
    if (r->dispatched && h->o.on_closed)
        h->o.on_closed(h->o.closed_ud, r, r->id);
    if (r->resp)
        MHD_destroy_response(r->resp);
    free(r->body);
    free(r);
    *con_cls = NULL;
}

/* ---- the server ------------------------------------------------------------------------------ */

adapter_http_t *adapter_http_new(const adapter_http_opts_t *o, char *err, size_t errlen)
{
    struct sockaddr_in sa;
    if (parse_listen(o->listen, &sa, err, errlen) != 0)
        return NULL;
    adapter_http_t *h = calloc(1, sizeof *h);
    if (h == NULL) {
        (void)snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->o = *o;
    h->max_body = o->max_body ? o->max_body : DEFAULT_BODY;
    unsigned conns = o->max_connections ? o->max_connections : 256;
    unsigned idle = o->idle_timeout_s ? o->idle_timeout_s : 60;
    /* The logger first: options before it would still log through MHD's own. */
    h->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL,
                            NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_CONNECTION_LIMIT, conns, MHD_OPTION_CONNECTION_TIMEOUT, idle,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_END);
    if (h->d == NULL) {
        (void)snprintf(err, errlen, "cannot listen for HTTP on %s (in use, or not this host's)",
                       o->listen);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *port = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    const union MHD_DaemonInfo *fd = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
    h->port = port ? port->port : -1;
    h->fd = fd ? fd->epoll_fd : -1;
    if (h->fd < 0) {
        (void)snprintf(err, errlen, "libmicrohttpd gave no epoll descriptor");
        MHD_stop_daemon(h->d);
        free(h);
        return NULL;
    }
    return h;
}

void adapter_http_destroy(adapter_http_t **hp)
{
    adapter_http_t *h = *hp;
    if (h == NULL)
        return;
    static const char stopping[] = "the service is stopping; send it again later\n";
    static const char *const retry[] = {MHD_HTTP_HEADER_RETRY_AFTER, "5", NULL};
    while (h->suspended)
        if (adapter_http_respond(h->suspended, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", stopping,
                                 sizeof stopping - 1, retry) != 0)
            unlink_suspended(h->suspended); /* no memory for a 503: it is only closed */
    for (int i = 0; i < STOP_RUNS; i++)
        (void)MHD_run(h->d);
    MHD_stop_daemon(h->d);
    free(h);
    *hp = NULL;
}

int adapter_http_route(adapter_http_t *h, const char *method, const char *prefix,
                       adapter_http_handler_fn fn, void *ud)
{
    if (h->nroutes >= MAX_ROUTES)
        return -1;
    h->routes[h->nroutes++] = (route_t){method, prefix, strlen(prefix), fn, ud};
    return 0;
}

int adapter_http_port(const adapter_http_t *h)
{
    return h->port;
}

int adapter_http_fd(const adapter_http_t *h)
{
    return h->fd;
}

int adapter_http_timeout_ms(const adapter_http_t *h)
{
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(h->d, &ms) != MHD_YES)
        return -1;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* A resumed connection is only taken up again by the next MHD_run, and writing the answer may
 * need one more: until MHD says it has nothing due now, run it again, so an answer made after
 * the hub's CONFIRM goes out at once instead of at the loop's next timeout. Bounded, so a storm
 * of new connections cannot hold the loop here. */
#define RUN_ROUNDS 4
void adapter_http_run(adapter_http_t *h)
{
    for (int i = 0; i < RUN_ROUNDS; i++) {
        (void)MHD_run(h->d);
        MHD_UNSIGNED_LONG_LONG ms;
        if (MHD_get_timeout(h->d, &ms) != MHD_YES || ms > 0)
            break;
    }
}

size_t adapter_http_suspended(const adapter_http_t *h)
{
    return h->nsuspended;
}

uint64_t adapter_http_req_id(const adapter_http_req_t *r)
{
    return r->id;
}

const char *adapter_http_method(const adapter_http_req_t *r)
{
    return r->method;
}

const char *adapter_http_path(const adapter_http_req_t *r)
{
    return r->path;
}

const char *adapter_http_header(const adapter_http_req_t *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *adapter_http_query(const adapter_http_req_t *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const void *adapter_http_body(const adapter_http_req_t *r, size_t *len)
{
    *len = r->len;
    return r->body ? r->body : "";
}

/* GOT equals TOKEN, in a time that depends on TOKEN's length only. */
static int same_secret(const char *got, const char *token)
{
    if (token == NULL || token[0] == '\0' || got == NULL)
        return 0;
    size_t n = strlen(token), m = strlen(got);
    unsigned char diff = (unsigned char)(n != m);
    /* Every byte of the expected token is looked at, whatever the given one is. */
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(token[i] ^ (i < m ? got[i] : 0));
    return diff == 0;
}

int adapter_http_bearer_ok(const adapter_http_req_t *r, const char *token)
{
    static const char scheme[] = "Bearer ";
    const char *got = adapter_http_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    if (got == NULL || strncmp(got, scheme, sizeof scheme - 1) != 0)
        return 0;
    return same_secret(got + sizeof scheme - 1, token);
}

int adapter_http_key_ok(const adapter_http_req_t *r, const char *name, const char *key)
{
    return same_secret(adapter_http_header(r, name), key);
}
