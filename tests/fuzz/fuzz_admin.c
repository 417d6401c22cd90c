/* fuzz_admin.c - libFuzzer harness for what the admin API does with a request before it reaches
 * the core or the database (hub/admin/admin_request.c: route, bearer token and role, query
 * arguments, JSON bodies). The decoders that show a stored envelope have their own harness,
 * fuzz_admin_decode.c.
 *
 * An input is a request as it comes over the wire, which the harness splits as libmicrohttpd
 * would (it %-decodes the path and the arguments, '+' is a space in the arguments, a %00 ends
 * the string):
 *
 *     METHOD SP TARGET [SP VERSION] LF   TARGET is PATH[?KEY[=VALUE]&...]
 *     NAME: VALUE LF ...                 headers; the first Authorization counts; a
 *     LF                                 Content-Length above 64 KiB marks the body too big
 *     BODY                               the rest
 *
 * Each request is checked against a configuration with three tokens (read, operate, steward)
 * and one with none (loopback). Beyond "no crash, no leak, nothing out of bounds": a refusal is
 * a 4xx (500 only out of memory) with a reason of the hub's own and holds no JSON; a taken
 * request came with a method and a token (exactly, after "Bearer ") whose role allow its
 * endpoint, and each of its arguments lies within what was given and within the documented
 * bounds; the same bytes give the same answer twice. */
#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin/admin_request.h"

#define MAX_ARGS 64

static const char *const token_value[] = {"read-token-0123456789abcdef",
                                          "operate-token-0123456789abcdef",
                                          "steward-token-0123456789abcdef"};
static char *token_name[] = {"dashboard", "ops", "steward"};

/* The pieces of one input, NUL-terminated copies (so a read past any of them is caught). */
typedef struct {
    char *method, *path, *auth, *body;
    admin_arg_t args[MAX_ARGS];
    char *arg_text[2 * MAX_ARGS];
    size_t nargs, narg_text, body_len;
    bool too_big;
} req_t;

static char *copy(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s == NULL)
        abort();
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static int hex(int c)
{
    return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1;
}

/* N bytes at P %-decoded (and '+' as a space if PLUS), a new string cut at any NUL. */
static char *decode(const uint8_t *p, size_t n, bool plus)
{
    char *s = copy(p, n);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '%' && i + 2 < n && hex(p[i + 1]) >= 0 && hex(p[i + 2]) >= 0) {
            s[o++] = (char)(hex(p[i + 1]) * 16 + hex(p[i + 2]));
            i += 2;
        } else {
            s[o++] = plus && p[i] == '+' ? ' ' : (char)p[i];
        }
    }
    s[o] = '\0';
    return s;
}

static const uint8_t *find(const uint8_t *p, const uint8_t *end, uint8_t c)
{
    const uint8_t *q = memchr(p, c, (size_t)(end - p));
    return q ? q : end;
}

static void split_query(req_t *r, const uint8_t *p, const uint8_t *end)
{
    while (p < end && r->nargs < MAX_ARGS) {
        const uint8_t *amp = find(p, end, '&'), *eq = find(p, amp, '=');
        char *key = decode(p, (size_t)(eq - p), true);
        char *value = eq < amp ? decode(eq + 1, (size_t)(amp - eq - 1), true) : NULL;
        r->arg_text[r->narg_text++] = key;
        if (value)
            r->arg_text[r->narg_text++] = value;
        r->args[r->nargs++] = (admin_arg_t){key, value};
        p = amp < end ? amp + 1 : end;
    }
}

static void split_headers(req_t *r, const uint8_t *p, const uint8_t *end, const uint8_t **body)
{
    while (p < end && *p != '\n') {
        const uint8_t *eol = find(p, end, '\n'), *colon = find(p, eol, ':');
        const uint8_t *v = colon < eol ? colon + 1 : eol, *ve = eol;
        while (v < ve && *v == ' ')
            v++;
        while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
            ve--;
        size_t nlen = (size_t)(colon - p);
        if (nlen == 13 && strncasecmp((const char *)p, "Authorization", 13) == 0 && !r->auth)
            r->auth = copy(v, (size_t)(ve - v));
        if (nlen == 14 && strncasecmp((const char *)p, "Content-Length", 14) == 0) {
            unsigned long long n = 0;
            for (const uint8_t *d = v; d < ve && isdigit(*d) && n <= ADMIN_MAX_BODY; d++)
                n = n * 10 + (unsigned)(*d - '0');
            r->too_big = n > ADMIN_MAX_BODY;
        }
        p = eol < end ? eol + 1 : end;
    }
    *body = p < end ? p + 1 : end;
}

static void split(req_t *r, const uint8_t *data, size_t size)
{
    memset(r, 0, sizeof *r);
    const uint8_t *end = data + size, *eol = find(data, end, '\n');
    const uint8_t *sp = find(data, eol, ' ');
    r->method = copy(data, (size_t)(sp - data));
    const uint8_t *t = sp < eol ? sp + 1 : eol, *te = find(t, eol, ' ');
    while (te > t && te[-1] == '\r')
        te--;
    const uint8_t *q = find(t, te, '?');
    r->path = decode(t, (size_t)(q - t), false);
    if (q < te)
        split_query(r, q + 1, te);
    const uint8_t *body = end;
    if (eol < end)
        split_headers(r, eol + 1, end, &body);
    r->body_len = (size_t)(end - body);
    r->body = copy(body, r->body_len);
}

static void req_free(req_t *r)
{
    free(r->method);
    free(r->path);
    free(r->auth);
    free(r->body);
    for (size_t i = 0; i < r->narg_text; i++)
        free(r->arg_text[i]);
}

/* ---- what a taken request may hold ---- */

static void check(bool ok)
{
    if (!ok)
        abort();
}

static bool is_name(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= ADMIN_NAME_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-.") == n;
}

static bool printable(const char *s, size_t max)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return n >= 1 && n <= max;
}

/* S is "" or one of the query's values itself, not a copy or a part. */
static bool given(const req_t *r, const char *s)
{
    if (*s == '\0')
        return true;
    for (size_t i = 0; i < r->nargs; i++)
        if (s == r->args[i].value)
            return true;
    return false;
}

/* The role of the token WHO names: 0 without tokens ("local" holds every role). */
static admin_role_t role_of(const char *who, bool tokens)
{
    if (!tokens)
        return strcmp(who, "local") == 0 ? ADMIN_ROLE_STEWARD : 0;
    for (int i = 0; i < 3; i++)
        if (who == token_name[i])
            return (admin_role_t)(i + 1);
    return 0;
}

static void check_limits(const req_t *r, const admin_request_t *a)
{
    switch (a->ep) {
    case ADMIN_EP_DELETE_SUBSCRIPTION:
        check(is_name(a->adapter) && is_name(a->name) && strstr(r->path, a->adapter) &&
              strstr(r->path, a->name));
        break;
    case ADMIN_EP_DEAD_LETTERS:
        check(a->dl.limit >= 1 && a->dl.limit <= ADMIN_DL_LIMIT_MAX && a->dl.after >= 0);
        check((!*a->dl.adapter || is_name(a->dl.adapter)) &&
              (!*a->dl.subscription || is_name(a->dl.subscription)) &&
              strlen(a->dl.type) <= ADMIN_TYPE_MAX);
        check(given(r, a->dl.adapter) && given(r, a->dl.subscription) && given(r, a->dl.type));
        break;
    case ADMIN_EP_DEAD_LETTER:
    case ADMIN_EP_DISCARD:
        check(a->id > 0 && a->id <= 999999999999999999LL);
        if (a->ep == ADMIN_EP_DISCARD)
            check(a->reason && *a->reason && strlen(a->reason) <= ADMIN_MAX_REASON &&
                  a->reason == json_string_value(json_object_get(a->body, "reason")));
        break;
    case ADMIN_EP_REPLAY:
        check(json_array_size(a->ids) >= 1 && json_array_size(a->ids) <= 1000);
        for (size_t i = 0; i < json_array_size(a->ids); i++)
            check(json_integer_value(json_array_get(a->ids, i)) > 0);
        break;
    case ADMIN_EP_TRACE:
        check(a->trace.key <= TRACE_MASTER_ID && printable(a->trace.value, TRACE_ID_MAX) &&
              given(r, a->trace.value) && given(r, a->trace.source));
        check(!*a->trace.source ||
              (a->trace.key == TRACE_EVENT_ID && printable(a->trace.source, 80)));
        check(a->trace.limit >= 1 && a->trace.limit <= TRACE_LIMIT_MAX);
        break;
    case ADMIN_EP_STEWARD_QUEUE:
        check(strstr("OPEN LINKED KEPT_APART MERGED ALL", a->queue.state) && a->queue.after >= 0 &&
              a->queue.limit >= 1 && a->queue.limit <= STEWARD_LIMIT_MAX);
        break;
    case ADMIN_EP_GOLDEN_SEARCH: {
        const admin_golden_search_t *g = &a->golden;
        check(*g->name || *g->birth_date || *g->postcode || *g->nhs_number);
        check(strlen(g->name) <= GOLDEN_TERM_MAX && strlen(g->postcode) <= GOLDEN_TERM_MAX &&
              strlen(g->nhs_number) <= GOLDEN_TERM_MAX &&
              (!*g->birth_date || strlen(g->birth_date) == 10));
        check(given(r, g->name) && given(r, g->birth_date) && given(r, g->postcode) &&
              given(r, g->nhs_number) && g->limit >= 1 && g->limit <= GOLDEN_LIMIT_MAX);
        break;
    }
    case ADMIN_EP_GOLDEN:
        check(printable(a->master_id, TRACE_ID_MAX) && strstr(r->path, a->master_id));
        break;
    case ADMIN_EP_DECIDE: {
        const char *action = json_string_value(json_object_get(a->decision, "action"));
        const char *ma = json_string_value(json_object_get(a->decision, "master_id_a"));
        const char *mb = json_string_value(json_object_get(a->decision, "master_id_b"));
        const char *why = json_string_value(json_object_get(a->decision, "reason"));
        json_int_t q = json_integer_value(json_object_get(a->decision, "queue_id"));
        check(action && ma && mb && why && strlen(ma) <= ADMIN_MASTER_ID_MAX &&
              strlen(mb) <= ADMIN_MASTER_ID_MAX && *why && strlen(why) <= ADMIN_MAX_REASON);
        check(strcmp(json_string_value(json_object_get(a->decision, "who")), a->who) == 0);
        bool by_queue = strcmp(action, "link") == 0 || strcmp(action, "keep_apart") == 0;
        check(by_queue || strcmp(action, "merge") == 0 || strcmp(action, "unmerge") == 0);
        /* a queue item, or two records: never both, never neither */
        check(q >= 0 && (q > 0) == !*ma && !*ma == !*mb && (by_queue || q == 0));
        break;
    }
    default:
        break;
    }
}

/* The method and the role a taken request must have come with. */
static void check_admitted(const req_t *r, const admin_request_t *a, bool tokens)
{
    bool get = strcmp(r->method, "GET") == 0, post = strcmp(r->method, "POST") == 0;
    check(a->ep > ADMIN_EP_NONE && a->ep <= ADMIN_EP_RELOAD && a->why == NULL);
    if (a->ep == ADMIN_EP_HEALTHZ || a->ep == ADMIN_EP_READYZ) {
        check(get);
        return;
    }
    check(a->who != NULL);
    admin_role_t role = role_of(a->who, tokens);
    check(role >= ADMIN_ROLE_READ);
    if (tokens) { /* "Bearer", spaces, and exactly that token */
        check(r->auth && strncasecmp(r->auth, "Bearer ", 7) == 0);
        const char *t = r->auth + 7;
        while (*t == ' ')
            t++;
        check(strcmp(t, token_value[role - 1]) == 0);
    }
    switch (a->ep) {
    case ADMIN_EP_METRICS: /* any token */
        check(get);
        break;
    case ADMIN_EP_DELETE_SUBSCRIPTION:
        check(strcmp(r->method, "DELETE") == 0 && role >= ADMIN_ROLE_OPERATE);
        break;
    case ADMIN_EP_REPLAY: /* one id in the path, or many in a body */
    case ADMIN_EP_RELOAD: /* no body read */
        check(post && role >= ADMIN_ROLE_OPERATE);
        break;
    case ADMIN_EP_DISCARD:
        check(post && role >= ADMIN_ROLE_OPERATE && !r->too_big);
        break;
    case ADMIN_EP_DECIDE:
        check(post && role == ADMIN_ROLE_STEWARD && !r->too_big);
        break;
    default:
        check(get);
    }
    check_limits(r, a);
}

/* Whether P points into one of the pieces the caller sent. */
static bool inside(const req_t *r, const char *p)
{
    const char *piece[] = {r->method, r->path, r->auth, r->body};
    const size_t len[] = {strlen(r->method), strlen(r->path), r->auth ? strlen(r->auth) : 0,
                          r->body_len};
    for (size_t i = 0; i < 4; i++)
        if (piece[i] && p >= piece[i] && p <= piece[i] + len[i])
            return true;
    for (size_t i = 0; i < r->narg_text; i++)
        if (p >= r->arg_text[i] && p <= r->arg_text[i] + strlen(r->arg_text[i]))
            return true;
    return false;
}

static void check_refused(const req_t *r, const admin_request_t *a, bool tokens)
{
    bool oom = a->status == 500 && a->why && strcmp(a->why, "out of memory") == 0;
    check((a->status >= 400 && a->status < 500) || oom);
    check(a->why != NULL && *a->why != '\0' && a->ep == ADMIN_EP_NONE);
    check(a->ids == NULL && a->decision == NULL && a->body == NULL);
    check(!inside(r, a->why)); /* the hub's own words, never the caller's bytes */
    if (!tokens)
        check(a->status != 401 && a->status != 403);
}

static bool json_same(const json_t *x, const json_t *y)
{
    return (x == NULL && y == NULL) || (x && y && json_equal(x, y));
}

static bool text_same(const char *x, const char *y)
{
    return (x == NULL && y == NULL) || (x && y && strcmp(x, y) == 0);
}

/* Two parses of the same request: the same answer, pointing at the same given strings. */
static bool same(const admin_request_t *x, const admin_request_t *y)
{
    return x->status == y->status && x->ep == y->ep && x->who == y->who &&
           text_same(x->why, y->why) && x->id == y->id && json_same(x->ids, y->ids) &&
           json_same(x->decision, y->decision) && text_same(x->reason, y->reason) &&
           strcmp(x->adapter, y->adapter) == 0 && strcmp(x->name, y->name) == 0 &&
           strcmp(x->master_id, y->master_id) == 0 && memcmp(&x->dl, &y->dl, sizeof x->dl) == 0 &&
           memcmp(&x->trace, &y->trace, sizeof x->trace) == 0 &&
           memcmp(&x->queue, &y->queue, sizeof x->queue) == 0 &&
           memcmp(&x->golden, &y->golden, sizeof x->golden) == 0;
}

static void parse_checked(const req_t *r, const config_t *cfg)
{
    admin_request_in_t in = {r->method, r->path, r->args,     r->nargs,
                             r->auth,   r->body, r->body_len, r->too_big};
    admin_request_t a, b;
    int rc = admin_request_parse(cfg, &in, &a);
    check(rc == a.status);
    bool tokens = cfg->nadmin_tokens > 0;
    if (rc == 0)
        check_admitted(r, &a, tokens);
    else
        check_refused(r, &a, tokens);
    check(admin_request_parse(cfg, &in, &b) == rc && same(&a, &b));
    admin_request_clear(&a);
    admin_request_clear(&b);
    check(a.ids == NULL && a.decision == NULL && a.body == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static config_admin_token_t tokens[3];
    static config_t with_tokens, local;
    if (with_tokens.nadmin_tokens == 0) {
        for (int i = 0; i < 3; i++)
            tokens[i] = (config_admin_token_t){token_name[i], (char *)token_value[i],
                                               (admin_role_t)(i + 1)};
        with_tokens.admin_tokens = tokens;
        with_tokens.nadmin_tokens = 3;
    }
    req_t r;
    split(&r, data, size);
    parse_checked(&r, &with_tokens);
    parse_checked(&r, &local);
    req_free(&r);
    return 0;
}
