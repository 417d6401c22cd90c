/* test_adapter_httpc.c - adapters/common/adapter_httpc against a real HTTP server over loopback
 * (adapter_http, the shared server, answering from a script), both run in this thread by
 * adapter_loop_run_once as an adapter runs them: an answer with its body; a 4xx given back at once
 * with the system's reason; 503s, 429 with Retry-After, a refused connection and a timeout tried
 * again after the pause; giving up after max_attempts; a PATCH whose method, path, headers and
 * JSON body arrive intact; the queue limit; and the answer a stop gives held requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/adapter_http.h"
#include "common/adapter_httpc.h"
#include "common/adapter_loop.h"

#define MAX_SEEN 8

/* What the server answers to its Nth request; status 0 holds the request unanswered. */
typedef struct {
    unsigned status;
    const char *body;
    const char *retry_after;
} step_t;

typedef struct {
    const step_t *steps;
    size_t nsteps; /* requests past the script get its last step */
    int seen;
    int64_t at[MAX_SEEN];
    char method[16], path[128], content_type[64], auth[64], extra[64], if_match[64];
    char body[512];
    size_t body_len;
} server_t;

typedef struct {
    int calls;
    adapter_httpc_result_t r;
    char body[512], error[512];
} outcome_t;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void copy_header(adapter_http_req_t *r, const char *name, char *out, size_t cap)
{
    const char *v = adapter_http_header(r, name);
    (void)snprintf(out, cap, "%s", v ? v : "");
}

static void on_request(void *ud, adapter_http_req_t *r)
{
    server_t *s = ud;
    if (s->seen < MAX_SEEN)
        s->at[s->seen] = now_ms();
    const step_t *st = &s->steps[(size_t)s->seen < s->nsteps ? (size_t)s->seen : s->nsteps - 1];
    s->seen++;
    (void)snprintf(s->method, sizeof s->method, "%s", adapter_http_method(r));
    (void)snprintf(s->path, sizeof s->path, "%s", adapter_http_path(r));
    copy_header(r, "Content-Type", s->content_type, sizeof s->content_type);
    copy_header(r, "Authorization", s->auth, sizeof s->auth);
    copy_header(r, "X-Joinery-Test", s->extra, sizeof s->extra);
    copy_header(r, "If-Match", s->if_match, sizeof s->if_match);
    const void *body = adapter_http_body(r, &s->body_len);
    if (s->body_len > sizeof s->body)
        s->body_len = sizeof s->body;
    memcpy(s->body, body, s->body_len);
    if (st->status == 0) {
        adapter_http_suspend(r); /* never answered: the client's timeout must end it */
        return;
    }
    const char *const retry[] = {"Retry-After", st->retry_after, NULL};
    const char *b = st->body ? st->body : "";
    assert_int_equal(adapter_http_respond(r, st->status, "application/json", b, strlen(b),
                                          st->retry_after ? retry : NULL),
                     0);
}

static void on_done(void *ud, const adapter_httpc_result_t *r)
{
    outcome_t *o = ud;
    o->calls++;
    o->r = *r;
    size_t n = r->len < sizeof o->body - 1 ? r->len : sizeof o->body - 1;
    memcpy(o->body, r->body, n);
    o->body[n] = '\0';
    (void)snprintf(o->error, sizeof o->error, "%s", r->error);
    o->r.body = o->body;
    o->r.error = o->error;
}

static adapter_http_t *server_start(server_t *s, int port)
{
    char listen[32], err[256];
    (void)snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    adapter_http_t *h = adapter_http_new(&(adapter_http_opts_t){.listen = listen}, err, sizeof err);
    assert_non_null(h);
    assert_int_equal(adapter_http_route(h, NULL, "/", on_request, s), 0);
    return h;
}

static int min_wait(int a, int b)
{
    return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

/* One turn of an adapter's loop over the server (H may be NULL) and the client. */
static void turn(adapter_loop_t *l, adapter_http_t *h, adapter_httpc_t *c, int cap_ms)
{
    struct pollfd fds[2];
    size_t n = 0;
    int wait = cap_ms;
    if (h) {
        fds[n++] = (struct pollfd){.fd = adapter_http_fd(h), .events = POLLIN};
        wait = min_wait(wait, adapter_http_timeout_ms(h));
    }
    size_t k = n;
    n += adapter_httpc_fds(c, fds + n, 1);
    wait = min_wait(wait, adapter_httpc_timeout_ms(c));
    char err[256];
    assert_true(adapter_loop_run_once(l, NULL, fds, n, wait, err, sizeof err) >= 0);
    if (h)
        adapter_http_run(h);
    adapter_httpc_handle(c, fds + k, n - k);
}

static void run_until_done(adapter_loop_t *l, adapter_http_t *h, adapter_httpc_t *c,
                           const outcome_t *o, int limit_ms)
{
    int64_t end = now_ms() + limit_ms;
    while (o->calls == 0 && now_ms() < end)
        turn(l, h, c, 50);
    assert_int_equal(o->calls, 1);
}

static void run_for(adapter_loop_t *l, adapter_http_t *h, adapter_httpc_t *c, int ms)
{
    int64_t end = now_ms() + ms;
    while (now_ms() < end)
        turn(l, h, c, (int)(end - now_ms()));
}

typedef struct {
    adapter_loop_t *loop;
    server_t srv;
    adapter_http_t *h;
    adapter_httpc_t *c;
    outcome_t out;
    char url[256];
} fixture_t;

/* A server playing STEPS and a client with O; the URL is the server's PATH. */
static void start(fixture_t *f, const step_t *steps, size_t nsteps, adapter_httpc_opts_t o,
                  const char *path)
{
    char err[256];
    memset(f, 0, sizeof *f);
    f->loop = adapter_loop_new(err, sizeof err);
    assert_non_null(f->loop);
    f->srv.steps = steps;
    f->srv.nsteps = nsteps;
    f->h = server_start(&f->srv, 0);
    f->c = adapter_httpc_new(&o, err, sizeof err);
    assert_non_null(f->c);
    (void)snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d%s", adapter_http_port(f->h), path);
}

static void request(fixture_t *f, const char *method, const char *const *headers, const char *body)
{
    char err[256];
    assert_int_equal(adapter_httpc_request(f->c, method, f->url, headers, body,
                                           body ? strlen(body) : 0, on_done, &f->out, err,
                                           sizeof err),
                     0);
}

static void stop(fixture_t *f)
{
    adapter_httpc_destroy(&f->c);
    assert_null(f->c);
    adapter_http_destroy(&f->h);
    adapter_loop_destroy(&f->loop);
}

static void test_200_with_body(void **state)
{
    (void)state;
    static const step_t steps[] = {{200, "{\"hello\":1}", NULL}};
    fixture_t f;
    start(&f, steps, 1, (adapter_httpc_opts_t){.retry_min_ms = 20}, "/thing");
    request(&f, "GET", NULL, NULL);
    assert_int_equal(adapter_httpc_pending(f.c), 1);
    run_until_done(f.loop, f.h, f.c, &f.out, 3000);
    assert_int_equal(f.out.r.ok, 1);
    assert_int_equal(f.out.r.status, 200);
    assert_string_equal(f.out.body, "{\"hello\":1}");
    assert_int_equal(f.out.r.attempts, 1);
    assert_string_equal(f.out.error, "");
    assert_string_equal(f.srv.method, "GET");
    assert_string_equal(f.srv.path, "/thing");
    assert_int_equal(adapter_httpc_pending(f.c), 0);
    stop(&f);
}

static void test_404_final_with_body(void **state)
{
    (void)state;
    static const step_t steps[] = {{404, "{\"error\":{\"message\":\"no such contact\"}}", NULL}};
    fixture_t f;
    start(&f, steps, 1, (adapter_httpc_opts_t){.retry_min_ms = 20}, "/api/data/v9.2/contacts(x)");
    request(&f, "PATCH", NULL, "{}");
    run_until_done(f.loop, f.h, f.c, &f.out, 3000);
    run_for(f.loop, f.h, f.c, 200); /* a retry would come within this */
    assert_int_equal(f.out.calls, 1);
    assert_int_equal(f.out.r.ok, 0);
    assert_int_equal(f.out.r.status, 404);
    assert_string_equal(f.out.body, "{\"error\":{\"message\":\"no such contact\"}}");
    assert_string_equal(f.out.error, "HTTP 404");
    assert_int_equal(f.out.r.attempts, 1);
    assert_int_equal(f.srv.seen, 1);
    stop(&f);
}

static void test_503_twice_then_200(void **state)
{
    (void)state;
    static const step_t steps[] = {{503, "busy", NULL}, {503, "busy", NULL}, {200, "done", NULL}};
    fixture_t f;
    start(&f, steps, 3, (adapter_httpc_opts_t){.retry_min_ms = 100, .retry_max_ms = 1000}, "/x");
    request(&f, "POST", NULL, "{\"a\":1}");
    run_until_done(f.loop, f.h, f.c, &f.out, 4000);
    assert_int_equal(f.out.r.ok, 1);
    assert_int_equal(f.out.r.status, 200);
    assert_string_equal(f.out.body, "done");
    assert_int_equal(f.out.r.attempts, 3);
    assert_int_equal(f.srv.seen, 3);
    /* the pauses: retry_min_ms, then double it (jitter only adds) */
    assert_true(f.srv.at[1] - f.srv.at[0] >= 100);
    assert_true(f.srv.at[2] - f.srv.at[1] >= 200);
    assert_true(f.srv.at[2] - f.srv.at[0] < 1500); /* and not much more: max 125 + 250 */
    stop(&f);
}

static void test_retry_after_honoured(void **state)
{
    (void)state;
    static const step_t steps[] = {{429, "slow down", "1"}, {200, "ok", NULL}};
    fixture_t f;
    start(&f, steps, 2, (adapter_httpc_opts_t){.retry_min_ms = 10, .retry_max_ms = 50}, "/x");
    request(&f, "GET", NULL, NULL);
    run_until_done(f.loop, f.h, f.c, &f.out, 4000);
    assert_int_equal(f.out.r.ok, 1);
    assert_int_equal(f.out.r.attempts, 2);
    assert_true(f.srv.at[1] - f.srv.at[0] >= 1000); /* not the 10-50 ms of the backoff */
    stop(&f);
}

static void test_refused_then_up(void **state)
{
    (void)state;
    static const step_t steps[] = {{201, "made", NULL}};
    fixture_t f;
    start(&f, steps, 1, (adapter_httpc_opts_t){.retry_min_ms = 600, .retry_max_ms = 600}, "/x");
    int port = adapter_http_port(f.h);
    adapter_http_destroy(&f.h); /* nothing listens on the port now */
    request(&f, "POST", NULL, "{}");
    run_for(f.loop, NULL, f.c, 300); /* the first attempt is refused at once, the next waits */
    assert_int_equal(f.out.calls, 0);
    f.h = server_start(&f.srv, port);
    run_until_done(f.loop, f.h, f.c, &f.out, 3000);
    assert_int_equal(f.out.r.ok, 1);
    assert_int_equal(f.out.r.status, 201);
    assert_int_equal(f.out.r.attempts, 2);
    assert_int_equal(f.srv.seen, 1);
    stop(&f);
}

static void test_timeout_retried(void **state)
{
    (void)state;
    static const step_t steps[] = {{0, NULL, NULL}, {200, "late but fine", NULL}};
    fixture_t f;
    start(&f, steps, 2,
          (adapter_httpc_opts_t){.timeout_ms = 300, .retry_min_ms = 50, .retry_max_ms = 50}, "/x");
    request(&f, "GET", NULL, NULL);
    run_until_done(f.loop, f.h, f.c, &f.out, 3000);
    assert_int_equal(f.out.r.ok, 1);
    assert_string_equal(f.out.body, "late but fine");
    assert_int_equal(f.out.r.attempts, 2);
    assert_int_equal(f.srv.seen, 2);
    /* the 300 ms timeout ran from before the request reached the server, the pause after it */
    assert_true(f.srv.at[1] - f.srv.at[0] >= 300);
    stop(&f);
}

static void test_gives_up(void **state)
{
    (void)state;
    static const step_t steps[] = {{503, "{\"error\":\"down\"}", NULL}};
    fixture_t f;
    start(&f, steps, 1,
          (adapter_httpc_opts_t){.retry_min_ms = 20, .retry_max_ms = 40, .max_attempts = 3}, "/x");
    request(&f, "GET", NULL, NULL);
    run_until_done(f.loop, f.h, f.c, &f.out, 3000);
    run_for(f.loop, f.h, f.c, 150);
    assert_int_equal(f.out.calls, 1);
    assert_int_equal(f.out.r.ok, 0);
    assert_int_equal(f.out.r.attempts, 3);
    assert_int_equal(f.out.r.status, 503);
    assert_string_equal(f.out.body, "{\"error\":\"down\"}");
    assert_string_equal(f.out.error, "gave up after 3 attempts: HTTP 503");
    assert_int_equal(f.srv.seen, 3);
    stop(&f);
}

static void test_gives_up_on_refused(void **state)
{
    (void)state;
    static const step_t steps[] = {{200, NULL, NULL}};
    fixture_t f;
    start(&f, steps, 1,
          (adapter_httpc_opts_t){.retry_min_ms = 20, .retry_max_ms = 20, .max_attempts = 2}, "/x");
    adapter_http_destroy(&f.h);
    request(&f, "GET", NULL, NULL);
    run_until_done(f.loop, NULL, f.c, &f.out, 3000);
    assert_int_equal(f.out.r.ok, 0);
    assert_int_equal(f.out.r.status, 0);
    assert_int_equal(f.out.r.attempts, 2);
    assert_non_null(strstr(f.out.error, "gave up after 2 attempts: "));
    assert_non_null(strstr(f.out.error, "onnect")); /* libcurl's "Failed to connect ..." */
    stop(&f);
}

static void test_patch_json_intact(void **state)
{
    (void)state;
    static const step_t steps[] = {{204, NULL, NULL}};
    const char *const fixed[] = {"X-Joinery-Test", "fixed", NULL};
    fixture_t f;
    start(&f, steps, 1, (adapter_httpc_opts_t){.bearer_token = "tok-123", .headers = fixed},
          "/api/data/v9.2/contacts(00000000-0000-0000-0000-000000000001)");
    const char *json = "{\"firstname\":\"Zo\xc3\xab\",\"emailaddress1\":\"zoe@example.org\"}";
    const char *const hdr[] = {"If-Match", "*", NULL}; /* no Content-Type: JSON by default */
    request(&f, "PATCH", hdr, json);
    run_until_done(f.loop, f.h, f.c, &f.out, 3000);
    assert_int_equal(f.out.r.ok, 1);
    assert_int_equal(f.out.r.status, 204);
    assert_int_equal(f.out.r.len, 0);
    assert_string_equal(f.srv.method, "PATCH");
    assert_string_equal(f.srv.path,
                        "/api/data/v9.2/contacts(00000000-0000-0000-0000-000000000001)");
    assert_string_equal(f.srv.content_type, "application/json");
    assert_string_equal(f.srv.auth, "Bearer tok-123");
    assert_string_equal(f.srv.extra, "fixed");
    assert_string_equal(f.srv.if_match, "*");
    assert_int_equal(f.srv.body_len, strlen(json));
    assert_memory_equal(f.srv.body, json, strlen(json));
    stop(&f);
}

static void test_queue_limit_and_stop(void **state)
{
    (void)state;
    static const step_t steps[] = {{0, NULL, NULL}};
    fixture_t f;
    start(&f, steps, 1, (adapter_httpc_opts_t){.max_queued = 2, .max_in_flight = 1}, "/x");
    outcome_t second = {0};
    char err[256];
    const char *const bad[] = {"X-Bad", "a\r\nInjected: 1", NULL};
    assert_int_equal(
        adapter_httpc_request(f.c, "GET", f.url, bad, NULL, 0, on_done, &second, err, sizeof err),
        -1);
    assert_int_equal(adapter_httpc_pending(f.c), 0);
    request(&f, "GET", NULL, NULL);
    assert_int_equal(
        adapter_httpc_request(f.c, "GET", f.url, NULL, NULL, 0, on_done, &second, err, sizeof err),
        0);
    assert_int_equal(
        adapter_httpc_request(f.c, "GET", f.url, NULL, NULL, 0, on_done, &second, err, sizeof err),
        -1);
    assert_non_null(strstr(err, "max_queued"));
    run_for(f.loop, f.h, f.c, 200); /* the first is held by the server, the second waits */
    assert_int_equal(f.srv.seen, 1);
    assert_int_equal(f.out.calls + second.calls, 0);
    adapter_httpc_destroy(&f.c);
    assert_int_equal(f.out.calls, 1);
    assert_int_equal(f.out.r.stopped, 1);
    assert_int_equal(second.calls, 1);
    assert_int_equal(second.r.stopped, 1);
    assert_int_equal(second.r.attempts, 0);
    stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_200_with_body),      cmocka_unit_test(test_404_final_with_body),
        cmocka_unit_test(test_503_twice_then_200), cmocka_unit_test(test_retry_after_honoured),
        cmocka_unit_test(test_refused_then_up),    cmocka_unit_test(test_timeout_retried),
        cmocka_unit_test(test_gives_up),           cmocka_unit_test(test_gives_up_on_refused),
        cmocka_unit_test(test_patch_json_intact),  cmocka_unit_test(test_queue_limit_and_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
