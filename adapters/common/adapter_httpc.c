/* adapter_httpc.c - libcurl's multi interface run from the adapter's own loop.
 *
 * The integration is curl_multi_socket_action: libcurl tells us which sockets it wants watched
 * (the socket callback) and when it next needs time (the timer callback). The sockets go into one
 * epoll set, so the loop polls a single descriptor however many connections libcurl keeps, and
 * nothing here needs a table of sockets sized in advance. (curl_multi_fdset is select-bound, and
 * curl_multi_waitfds is newer than Debian 12's libcurl.)
 *
 * Requests live in a fixed pool of slots made at creation, each with its own easy handle and
 * buffers that are kept and reused; a slot is FREE, WAITING (for its due time and a free transfer)
 * or RUNNING (added to the multi handle). */
#include "common/adapter_httpc.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_MS 30000u
#define DEFAULT_CONNECT_MS 10000u
#define DEFAULT_RETRY_MIN 500u
#define DEFAULT_RETRY_MAX 60000u
#define DEFAULT_ATTEMPTS 5u
#define DEFAULT_IN_FLIGHT 8u
#define DEFAULT_QUEUED 64u
#define DEFAULT_BODY (1u << 20)
#define DEFAULT_RESPONSE (64u << 10)
#define MAX_RETRY_AFTER_MS 3600000 /* a bogus Retry-After must not park a slot for days */
#define MAX_HEADER_LINE 4096
#define MAX_METHOD 16
#define EPOLL_BATCH 16

enum slot_state { SLOT_FREE, SLOT_WAITING, SLOT_RUNNING };

typedef struct {
    adapter_httpc_t *c;
    CURL *easy;
    enum slot_state state;
    uint64_t seq;   /* queue order among slots due at the same time */
    int64_t due_ms; /* WAITING: not started before */
    char method[MAX_METHOD + 1];
    char *url;  /* owned; replaced per request */
    char *body; /* owned; kept across requests, grown up to max_body */
    size_t body_len, body_cap;
    struct curl_slist *req_headers; /* owned; this request's own lines */
    struct curl_slist *sent;        /* owned; the lines of the running attempt */
    char *resp;                     /* owned; max_response bytes, made on first use */
    size_t resp_len;
    int resp_truncated;
    long status;
    unsigned attempts;
    char error[CURL_ERROR_SIZE];   /* the last attempt's failure */
    char curlerr[CURL_ERROR_SIZE]; /* libcurl's detail for the running attempt */
    adapter_httpc_done_fn done;
    void *ud;
} slot_t;

struct adapter_httpc {
    adapter_httpc_opts_t o; /* strings below are our copies */
    CURLM *multi;
    int epfd;
    int64_t timer_ms; /* libcurl's next timeout, absolute; -1: none */
    slot_t *slots;
    size_t nslots, running, held;
    uint64_t next_seq;
    uint64_t rng;
    struct curl_slist *fixed; /* owned; the option headers */
    char bearer[MAX_HEADER_LINE];
    char *ca_file, *ca_path; /* owned */
    int stopping, global_ok;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* xorshift64: jitter needs spread, not secrecy. */
static uint64_t next_random(adapter_httpc_t *c)
{
    uint64_t x = c->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c->rng = x;
    return x;
}

static int has_line_break(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

/* Appends "NAME: VALUE" to *LIST; -1 for a malformed pair or no memory. */
static int append_header(struct curl_slist **list, const char *name, const char *value)
{
    char line[MAX_HEADER_LINE];
    if (name[0] == '\0' || strpbrk(name, ": \t\r\n") != NULL || has_line_break(value))
        return -1;
    int n = snprintf(line, sizeof line, "%s: %s", name, value);
    if (n < 0 || (size_t)n >= sizeof line)
        return -1;
    struct curl_slist *l = curl_slist_append(*list, line);
    if (l == NULL)
        return -1;
    *list = l;
    return 0;
}

static int append_pairs(struct curl_slist **list, const char *const *pairs, int *content_type)
{
    for (size_t i = 0; pairs && pairs[i]; i += 2) {
        if (pairs[i + 1] == NULL || append_header(list, pairs[i], pairs[i + 1]) != 0)
            return -1;
        if (content_type && strcasecmp(pairs[i], "Content-Type") == 0)
            *content_type = 1;
    }
    return 0;
}

/* ---- libcurl's callbacks: they only record; the work happens in adapter_httpc_handle -------- */

static int on_socket(CURL *e, curl_socket_t s, int what, void *cls, void *sockp)
{
    (void)e;
    (void)sockp;
    adapter_httpc_t *c = cls;
    if (what == CURL_POLL_REMOVE) {
        /* ENOENT/EBADF: libcurl closed it first, which took it out of the set already */
        (void)epoll_ctl(c->epfd, EPOLL_CTL_DEL, s, NULL);
        return 0;
    }
    struct epoll_event ev = {.data.fd = s};
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        ev.events |= EPOLLIN;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        ev.events |= EPOLLOUT;
    if (epoll_ctl(c->epfd, EPOLL_CTL_MOD, s, &ev) != 0 &&
        epoll_ctl(c->epfd, EPOLL_CTL_ADD, s, &ev) != 0)
        return -1;
    return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *cls)
{
    (void)m;
    adapter_httpc_t *c = cls;
    c->timer_ms = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    return 0;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *cls)
{
    slot_t *s = cls;
    size_t n = size * nmemb, cap = s->c->o.max_response;
    if (s->resp == NULL && (s->resp = malloc(cap)) == NULL) {
        s->resp_truncated = 1; /* the answer still counts; only its body is lost */
        return n;
    }
    size_t take = n < cap - s->resp_len ? n : cap - s->resp_len;
    memcpy(s->resp + s->resp_len, ptr, take);
    s->resp_len += take;
    if (take < n)
        s->resp_truncated = 1;
    return n; /* the rest is read and dropped, so the connection stays usable */
}

/* ---- one attempt ----------------------------------------------------------------------------- */

/* Appends a copy of LINE to *L; 0 when memory is short, leaving *L as it was. */
static int slist_add(struct curl_slist **l, const char *line)
{
    struct curl_slist *n = curl_slist_append(*l, line);
    if (n == NULL)
        return 0;
    *l = n;
    return 1;
}

/* The attempt's header lines: the client's, the request's, the token read now (it may have been
 * refreshed since the request was queued) and the defaults the request did not override. */
static int build_sent(slot_t *s)
{
    struct curl_slist *l = NULL;
    const struct curl_slist *lists[2] = {s->c->fixed, s->req_headers};
    int content_type = 0, ok = 1;
    for (int k = 0; k < 2; k++)
        for (const struct curl_slist *h = lists[k]; ok && h; h = h->next) {
            content_type |= strncasecmp(h->data, "Content-Type:", 13) == 0;
            ok = slist_add(&l, h->data);
        }
    if (ok && s->c->bearer[0])
        ok = slist_add(&l, s->c->bearer);
    if (ok && s->body_len > 0 && !content_type)
        ok = slist_add(&l, "Content-Type: application/json");
    /* libcurl would otherwise wait up to a second for "100 Continue" before a large body */
    if (ok)
        ok = slist_add(&l, "Expect:");
    s->sent = l; /* the slot owns it, even half built, until the next attempt or release */
    return ok ? 0 : -1;
}

static int set_method(slot_t *s)
{
    CURL *e = s->easy;
    int has_body = s->body_len > 0 || strcmp(s->method, "POST") == 0 ||
                   strcmp(s->method, "PUT") == 0 || strcmp(s->method, "PATCH") == 0;
    if (!has_body && strcmp(s->method, "GET") == 0)
        return curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) == CURLE_OK ? 0 : -1;
    if (!has_body && strcmp(s->method, "HEAD") == 0)
        return curl_easy_setopt(e, CURLOPT_NOBODY, 1L) == CURLE_OK ? 0 : -1;
    if (has_body &&
        (curl_easy_setopt(e, CURLOPT_POSTFIELDS, s->body ? s->body : "") != CURLE_OK ||
         curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->body_len) != CURLE_OK))
        return -1;
    return curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, s->method) == CURLE_OK ? 0 : -1;
}

static int setup_attempt(slot_t *s)
{
    adapter_httpc_t *c = s->c;
    CURL *e = s->easy;
    curl_easy_reset(e);
    curl_slist_free_all(s->sent);
    s->sent = NULL;
    s->resp_len = 0;
    s->resp_truncated = 0;
    s->status = 0;
    s->curlerr[0] = '\0';
    if (build_sent(s) != 0)
        return -1;
    int bad = 0;
    bad |= curl_easy_setopt(e, CURLOPT_URL, s->url) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->o.timeout_ms) != CURLE_OK;
    bad |=
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->o.connect_timeout_ms) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->sent) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, s) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, s) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->curlerr) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "joinery-adapter") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, c->o.tls_no_verify ? 0L : 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, c->o.tls_no_verify ? 0L : 2L) != CURLE_OK;
    if (c->ca_file)
        bad |= curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file) != CURLE_OK;
    if (c->ca_path)
        bad |= curl_easy_setopt(e, CURLOPT_CAPATH, c->ca_path) != CURLE_OK;
    return bad || set_method(s) != 0 ? -1 : 0;
}

/* ---- outcomes -------------------------------------------------------------------------------- */

/* Failures that another try cannot mend: the request or this client's setup is wrong. */
static int curl_error_final(CURLcode rc)
{
    switch (rc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_OUT_OF_MEMORY:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_FUNCTION_NOT_FOUND:
        return 1;
    default:
        return 0;
    }
}

static int status_retried(long status)
{
    return status == 408 || status == 429 || status >= 500;
}

/* The pause the server asked for, in ms; -1 when it gave none we can read. */
static int64_t retry_after_ms(slot_t *s)
{
    struct curl_header *h = NULL;
    if (curl_easy_header(s->easy, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
        return -1;
    const char *v = h->value;
    char *end;
    errno = 0;
    unsigned long secs = strtoul(v, &end, 10);
    if (end != v && *end == '\0' && errno == 0 && v[0] != '-')
        return secs >= (unsigned long)MAX_RETRY_AFTER_MS / 1000 ? MAX_RETRY_AFTER_MS
                                                                : (int64_t)secs * 1000;
    time_t at = curl_getdate(v, NULL);
    if (at == (time_t)-1)
        return -1;
    int64_t ms = ((int64_t)at - (int64_t)time(NULL)) * 1000;
    return ms < 0 ? 0 : ms > MAX_RETRY_AFTER_MS ? MAX_RETRY_AFTER_MS : ms;
}

static int64_t backoff_ms(adapter_httpc_t *c, unsigned attempts)
{
    uint64_t d = c->o.retry_min_ms;
    for (unsigned i = 1; i < attempts && d < c->o.retry_max_ms; i++)
        d *= 2;
    if (d > c->o.retry_max_ms)
        d = c->o.retry_max_ms;
    return (int64_t)(d + next_random(c) % (d / 4 + 1));
}

static void slot_release(slot_t *s)
{
    curl_slist_free_all(s->req_headers);
    curl_slist_free_all(s->sent);
    s->req_headers = s->sent = NULL;
    free(s->url);
    s->url = NULL;
    s->state = SLOT_FREE;
    s->done = NULL;
    s->ud = NULL;
    s->c->held--;
}

static void slot_finish(slot_t *s, int ok, int stopped, const char *why)
{
    char error[sizeof s->error + 64];
    if (ok)
        error[0] = '\0';
    else if (why != NULL)
        (void)snprintf(error, sizeof error, "%s", why);
    else
        (void)snprintf(error, sizeof error, "gave up after %u attempt%s: %s", s->attempts,
                       s->attempts == 1 ? "" : "s", s->error);
    adapter_httpc_result_t r = {.ok = ok,
                                .status = s->status,
                                .body = s->resp ? s->resp : "",
                                .len = s->resp_len,
                                .truncated = s->resp_truncated,
                                .attempts = s->attempts,
                                .error = error,
                                .stopped = stopped};
    adapter_httpc_done_fn done = s->done;
    void *ud = s->ud;
    /* released first, so DONE may queue a request into this very slot: the body is in s->resp,
     * which only a new attempt's write overwrites, and none runs before DONE returns */
    slot_release(s);
    done(ud, &r);
}

static void slot_ended(slot_t *s, CURLcode rc)
{
    adapter_httpc_t *c = s->c;
    if (rc == CURLE_OK) {
        (void)curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &s->status);
        if (s->status >= 200 && s->status < 300) {
            slot_finish(s, 1, 0, NULL);
            return;
        }
        (void)snprintf(s->error, sizeof s->error, "HTTP %ld", s->status);
        if (!status_retried(s->status)) {
            slot_finish(s, 0, 0, s->error);
            return;
        }
    } else {
        (void)snprintf(s->error, sizeof s->error, "%s",
                       s->curlerr[0] ? s->curlerr : curl_easy_strerror(rc));
        if (curl_error_final(rc)) {
            slot_finish(s, 0, 0, s->error);
            return;
        }
    }
    if (s->attempts >= c->o.max_attempts) {
        slot_finish(s, 0, 0, NULL);
        return;
    }
    int64_t pause = backoff_ms(c, s->attempts);
    int64_t asked = rc == CURLE_OK ? retry_after_ms(s) : -1;
    s->state = SLOT_WAITING;
    s->due_ms = now_ms() + (asked > pause ? asked : pause);
}

/* ---- the pump -------------------------------------------------------------------------------- */

static void collect_done(adapter_httpc_t *c)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *e = m->easy_handle;
        CURLcode rc = m->data.result;
        char *priv = NULL;
        (void)curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
        slot_t *s = (slot_t *)(void *)priv; /* set by setup_attempt */
        (void)curl_multi_remove_handle(c->multi, e);
        c->running--;
        slot_ended(s, rc);
    }
}

static slot_t *next_due(adapter_httpc_t *c, int64_t now)
{
    slot_t *best = NULL;
    for (size_t i = 0; i < c->nslots; i++) {
        slot_t *s = &c->slots[i];
        if (s->state == SLOT_WAITING && s->due_ms <= now &&
            (best == NULL || s->due_ms < best->due_ms ||
             (s->due_ms == best->due_ms && s->seq < best->seq)))
            best = s;
    }
    return best;
}

static void start_due(adapter_httpc_t *c)
{
    int64_t now = now_ms();
    slot_t *s;
    while (c->running < c->o.max_in_flight && (s = next_due(c, now)) != NULL) {
        s->attempts++;
        if (setup_attempt(s) != 0) {
            (void)snprintf(s->error, sizeof s->error, "cannot set up the request (out of memory)");
            slot_finish(s, 0, 0, s->error);
            continue;
        }
        if (curl_multi_add_handle(c->multi, s->easy) != CURLM_OK) {
            (void)snprintf(s->error, sizeof s->error, "libcurl refused the transfer");
            slot_finish(s, 0, 0, s->error);
            continue;
        }
        s->state = SLOT_RUNNING;
        c->running++;
    }
}

static void socket_action(adapter_httpc_t *c, curl_socket_t fd, int flags)
{
    int still;
    (void)curl_multi_socket_action(c->multi, fd, flags, &still);
    collect_done(c);
}

void adapter_httpc_handle(adapter_httpc_t *c, const struct pollfd *fds, size_t n)
{
    (void)fds;
    (void)n;      /* the epoll set says which sockets are ready; asking it costs one call */
    start_due(c); /* first, so a new transfer's immediate timer is served below, not next turn */
    struct epoll_event ev[EPOLL_BATCH];
    int k;
    while ((k = epoll_wait(c->epfd, ev, EPOLL_BATCH, 0)) > 0) {
        for (int i = 0; i < k; i++) {
            int flags = 0;
            if (ev[i].events & EPOLLIN)
                flags |= CURL_CSELECT_IN;
            if (ev[i].events & EPOLLOUT)
                flags |= CURL_CSELECT_OUT;
            if (ev[i].events & (EPOLLERR | EPOLLHUP))
                flags |= CURL_CSELECT_ERR;
            socket_action(c, ev[i].data.fd, flags);
        }
        if (k < EPOLL_BATCH)
            break;
    }
    if (c->timer_ms >= 0 && now_ms() >= c->timer_ms) {
        c->timer_ms = -1;
        socket_action(c, CURL_SOCKET_TIMEOUT, 0);
    }
    start_due(c); /* transfers that ended above made room for waiting requests */
}

size_t adapter_httpc_fds(adapter_httpc_t *c, struct pollfd *fds, size_t cap)
{
    if (cap == 0)
        return 0;
    fds[0] = (struct pollfd){.fd = c->epfd, .events = POLLIN};
    return 1;
}

int adapter_httpc_timeout_ms(const adapter_httpc_t *c)
{
    int64_t at = c->timer_ms;
    for (size_t i = 0; c->running < c->o.max_in_flight && i < c->nslots; i++) {
        const slot_t *s = &c->slots[i];
        if (s->state == SLOT_WAITING && (at < 0 || s->due_ms < at))
            at = s->due_ms;
    }
    if (at < 0)
        return -1;
    int64_t left = at - now_ms();
    return left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

size_t adapter_httpc_pending(const adapter_httpc_t *c)
{
    return c->held;
}

/* ---- requests -------------------------------------------------------------------------------- */

static int valid_method(const char *m)
{
    size_t n = strlen(m);
    if (n == 0 || n > MAX_METHOD)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (m[i] < 'A' || m[i] > 'Z')
            return 0;
    return 1;
}

static slot_t *free_slot(adapter_httpc_t *c)
{
    for (size_t i = 0; i < c->nslots; i++)
        if (c->slots[i].state == SLOT_FREE)
            return &c->slots[i];
    return NULL;
}

static int copy_body(slot_t *s, const void *body, size_t len)
{
    if (len > s->body_cap) {
        char *b = realloc(s->body, len);
        if (b == NULL)
            return -1;
        s->body = b;
        s->body_cap = len;
    }
    if (len > 0)
        memcpy(s->body, body, len);
    s->body_len = len;
    return 0;
}

int adapter_httpc_request(adapter_httpc_t *c, const char *method, const char *url,
                          const char *const *headers, const void *body, size_t len,
                          adapter_httpc_done_fn done, void *ud, char *err, size_t errlen)
{
    if (c->stopping) {
        (void)snprintf(err, errlen, "the HTTP client is stopping");
        return -1;
    }
    if (method == NULL || !valid_method(method) || url == NULL || done == NULL ||
        (body == NULL && len > 0)) {
        (void)snprintf(err, errlen, "a request needs an upper-case method, a URL and a callback");
        return -1;
    }
    if (len > c->o.max_body) {
        (void)snprintf(err, errlen, "the body (%zu bytes) is over the %zu-byte limit", len,
                       c->o.max_body);
        return -1;
    }
    slot_t *s = free_slot(c);
    if (s == NULL) {
        (void)snprintf(err, errlen, "%zu requests are held already (max_queued)", c->nslots);
        return -1;
    }
    struct curl_slist *hl = NULL;
    if (append_pairs(&hl, headers, NULL) != 0) {
        curl_slist_free_all(hl);
        (void)snprintf(err, errlen, "a header is malformed (name, value pairs; no line breaks)");
        return -1;
    }
    char *u = strdup(url);
    if (u == NULL || copy_body(s, body, len) != 0) {
        free(u);
        curl_slist_free_all(hl);
        (void)snprintf(err, errlen, "out of memory");
        return -1;
    }
    (void)snprintf(s->method, sizeof s->method, "%s", method);
    s->url = u;          /* the slot owns it until released */
    s->req_headers = hl; /* likewise */
    s->attempts = 0;
    s->status = 0;
    s->error[0] = '\0';
    s->resp_len = 0;
    s->resp_truncated = 0;
    s->done = done;
    s->ud = ud;
    s->seq = c->next_seq++;
    s->due_ms = now_ms();
    s->state = SLOT_WAITING;
    c->held++;
    return 0;
}

int adapter_httpc_set_bearer(adapter_httpc_t *c, const char *token)
{
    if (token == NULL || token[0] == '\0') {
        c->bearer[0] = '\0';
        return 0;
    }
    if (has_line_break(token))
        return -1;
    int n = snprintf(c->bearer, sizeof c->bearer, "Authorization: Bearer %s", token);
    if (n < 0 || (size_t)n >= sizeof c->bearer) {
        c->bearer[0] = '\0';
        return -1;
    }
    return 0;
}

/* ---- life ------------------------------------------------------------------------------------ */

static void apply_defaults(adapter_httpc_opts_t *o)
{
    if (o->timeout_ms == 0)
        o->timeout_ms = DEFAULT_TIMEOUT_MS;
    if (o->connect_timeout_ms == 0)
        o->connect_timeout_ms = DEFAULT_CONNECT_MS;
    if (o->retry_min_ms == 0)
        o->retry_min_ms = DEFAULT_RETRY_MIN;
    if (o->retry_max_ms == 0)
        o->retry_max_ms = o->retry_min_ms > DEFAULT_RETRY_MAX ? o->retry_min_ms : DEFAULT_RETRY_MAX;
    if (o->max_attempts == 0)
        o->max_attempts = DEFAULT_ATTEMPTS;
    if (o->max_queued == 0)
        o->max_queued = DEFAULT_QUEUED;
    if (o->max_in_flight == 0)
        o->max_in_flight = o->max_queued < DEFAULT_IN_FLIGHT ? o->max_queued : DEFAULT_IN_FLIGHT;
    if (o->max_body == 0)
        o->max_body = DEFAULT_BODY;
    if (o->max_response == 0)
        o->max_response = DEFAULT_RESPONSE;
}

static int check_opts(const adapter_httpc_opts_t *o, char *err, size_t errlen)
{
    if (o->retry_min_ms > o->retry_max_ms) {
        (void)snprintf(err, errlen, "retry_min_ms (%u) is over retry_max_ms (%u)", o->retry_min_ms,
                       o->retry_max_ms);
        return -1;
    }
    if (o->max_in_flight > o->max_queued) {
        (void)snprintf(err, errlen, "max_in_flight (%u) is over max_queued (%u)", o->max_in_flight,
                       o->max_queued);
        return -1;
    }
    return 0;
}

static int make_slots(adapter_httpc_t *c)
{
    c->slots = calloc(c->o.max_queued, sizeof *c->slots);
    if (c->slots == NULL)
        return -1;
    c->nslots = c->o.max_queued;
    for (size_t i = 0; i < c->nslots; i++) {
        c->slots[i].c = c;
        if ((c->slots[i].easy = curl_easy_init()) == NULL)
            return -1;
    }
    return 0;
}

static int make_multi(adapter_httpc_t *c)
{
    if ((c->multi = curl_multi_init()) == NULL)
        return -1;
    int bad = 0;
    bad |= curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK;
    bad |= curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) != CURLM_OK;
    bad |= curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer) != CURLM_OK;
    bad |= curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c) != CURLM_OK;
    return bad ? -1 : 0;
}

static int copy_opt_string(char **dst, const char *src)
{
    if (src == NULL)
        return 0;
    return (*dst = strdup(src)) == NULL ? -1 : 0;
}

adapter_httpc_t *adapter_httpc_new(const adapter_httpc_opts_t *o, char *err, size_t errlen)
{
    adapter_httpc_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        (void)snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->o = *o;
    c->o.headers = NULL; /* copied into c->fixed below; the caller's may go away */
    c->o.bearer_token = c->o.ca_file = c->o.ca_path = NULL;
    c->epfd = -1;
    c->timer_ms = -1;
    apply_defaults(&c->o);
    if (check_opts(&c->o, err, errlen) != 0) {
        free(c);
        return NULL;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        (void)snprintf(err, errlen, "libcurl cannot start");
        free(c);
        return NULL;
    }
    c->global_ok = 1;
    if (getrandom(&c->rng, sizeof c->rng, GRND_NONBLOCK) != (ssize_t)sizeof c->rng || c->rng == 0)
        c->rng = (uint64_t)now_ms() * 2654435761u + (uint64_t)getpid() + 1;
    if (append_pairs(&c->fixed, o->headers, NULL) != 0 ||
        adapter_httpc_set_bearer(c, o->bearer_token) != 0) {
        (void)snprintf(err, errlen, "a header or the bearer token is malformed or too long");
        adapter_httpc_destroy(&c);
        return NULL;
    }
    if (copy_opt_string(&c->ca_file, o->ca_file) != 0 ||
        copy_opt_string(&c->ca_path, o->ca_path) != 0 || make_slots(c) != 0 || make_multi(c) != 0) {
        (void)snprintf(err, errlen, "libcurl cannot start (out of memory)");
        adapter_httpc_destroy(&c);
        return NULL;
    }
    if ((c->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        (void)snprintf(err, errlen, "epoll_create1: %s", strerror(errno));
        adapter_httpc_destroy(&c);
        return NULL;
    }
    return c;
}

void adapter_httpc_destroy(adapter_httpc_t **cp)
{
    adapter_httpc_t *c = cp ? *cp : NULL;
    if (c == NULL)
        return;
    c->stopping = 1;
    for (size_t i = 0; i < c->nslots; i++) {
        slot_t *s = &c->slots[i];
        if (s->state == SLOT_RUNNING)
            (void)curl_multi_remove_handle(c->multi, s->easy);
        if (s->state != SLOT_FREE)
            slot_finish(s, 0, 1, "stopped before a final answer");
    }
    for (size_t i = 0; i < c->nslots; i++) {
        curl_easy_cleanup(c->slots[i].easy);
        free(c->slots[i].body);
        free(c->slots[i].resp);
    }
    free(c->slots);
    if (c->multi)
        (void)curl_multi_cleanup(c->multi);
    if (c->epfd >= 0)
        close(c->epfd);
    curl_slist_free_all(c->fixed);
    free(c->ca_file);
    free(c->ca_path);
    if (c->global_ok)
        curl_global_cleanup();
    free(c);
    *cp = NULL;
}
