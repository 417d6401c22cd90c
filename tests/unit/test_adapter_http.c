/* test_adapter_http.c - adapters/common/adapter_http against a real HTTP client over loopback
 * (a plain socket speaking HTTP/1.1, driven between runs of the server in this thread): routing
 * by method and path prefix, the body limit (413, declared or chunked), answers deferred past
 * the handler (suspend, then respond from the loop), the 503 a stop gives a deferred request,
 * the closed callback, and the bearer check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/adapter_http.h"

typedef struct {
    adapter_http_req_t *held; /* the suspended request */
    int calls, closed;
    uint64_t closed_id, held_id;
    char body[256];
    size_t body_len;
} seen_t;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_closed(void *ud, adapter_http_req_t *r, uint64_t id)
{
    (void)r;
    seen_t *s = ud;
    s->closed++;
    s->closed_id = id;
}

static void on_echo(void *ud, adapter_http_req_t *r)
{
    seen_t *s = ud;
    s->calls++;
    size_t len;
    const char *body = adapter_http_body(r, &len);
    s->body_len = len;
    memcpy(s->body, body, len < sizeof s->body ? len : sizeof s->body);
    char out[512];
    const char *q = adapter_http_query(r, "identifier");
    const char *h = adapter_http_header(r, "X-Test");
    int n = snprintf(out, sizeof out, "%s %s q=%s h=%s len=%zu", adapter_http_method(r),
                     adapter_http_path(r), q ? q : "-", h ? h : "-", len);
    const char *const headers[] = {"X-Answer", "yes", NULL};
    assert_int_equal(adapter_http_respond(r, 200, "application/fhir+json", out, (size_t)n, headers),
                     0);
    assert_int_equal(adapter_http_respond(r, 200, NULL, "", 0, NULL), -1); /* once only */
}

static void on_hold(void *ud, adapter_http_req_t *r)
{
    seen_t *s = ud;
    s->calls++;
    s->held = r;
    s->held_id = adapter_http_req_id(r);
    adapter_http_suspend(r);
}

static void on_forget(void *ud, adapter_http_req_t *r)
{
    (void)ud;
    (void)r; /* neither answers nor suspends: the server must still answer */
}

static void on_auth(void *ud, adapter_http_req_t *r)
{
    (void)ud;
    const char *ok = adapter_http_bearer_ok(r, "s3cret-key") ? "in" : "out";
    assert_int_equal(adapter_http_respond(r, 200, "text/plain", ok, strlen(ok), NULL), 0);
}

static adapter_http_t *server(seen_t *s, size_t max_body)
{
    char err[256];
    adapter_http_opts_t o = {
        .listen = "127.0.0.1:0", .max_body = max_body, .on_closed = on_closed, .closed_ud = s};
    adapter_http_t *h = adapter_http_new(&o, err, sizeof err);
    assert_non_null(h);
    assert_true(adapter_http_port(h) > 0);
    assert_true(adapter_http_fd(h) >= 0);
    assert_int_equal(adapter_http_route(h, "GET", "/Patient", on_echo, s), 0);
    assert_int_equal(adapter_http_route(h, "POST", "/Patient", on_echo, s), 0);
    assert_int_equal(adapter_http_route(h, "PUT", "/hold", on_hold, s), 0);
    assert_int_equal(adapter_http_route(h, "GET", "/forget", on_forget, s), 0);
    assert_int_equal(adapter_http_route(h, NULL, "/auth", on_auth, s), 0);
    return h;
}

static int connect_to(const adapter_http_t *h)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)adapter_http_port(h))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* Polls the server's one descriptor, as an adapter's loop does, for up to MS. */
static void serve(adapter_http_t *h, int ms)
{
    struct pollfd p = {.fd = adapter_http_fd(h), .events = POLLIN};
    int t = adapter_http_timeout_ms(h);
    (void)poll(&p, 1, t >= 0 && t < ms ? t : ms);
    adapter_http_run(h);
}

static void send_all(int fd, const char *req, size_t len)
{
    while (len > 0) {
        ssize_t w = send(fd, req, len, MSG_NOSIGNAL);
        assert_true(w > 0);
        req += w;
        len -= (size_t)w;
    }
}

/* Reads the answer (the server closes: Connection: close) while running the server, for up to
 * MS. Returns the bytes read; 0 when nothing came in time. */
static size_t answer(adapter_http_t *h, int fd, char *out, size_t cap, int ms)
{
    size_t n = 0;
    int64_t end = now_ms() + ms;
    while (now_ms() < end) {
        serve(h, 10);
        ssize_t r = recv(fd, out + n, cap - 1 - n, MSG_DONTWAIT);
        if (r == 0)
            break;
        if (r > 0)
            n += (size_t)r;
        else
            assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
    }
    out[n] = '\0';
    return n;
}

static void request(adapter_http_t *h, const char *req, char *out, size_t cap)
{
    int fd = connect_to(h);
    send_all(fd, req, strlen(req));
    assert_true(answer(h, fd, out, cap, 3000) > 0);
    close(fd);
}

static void routes_and_requests(void **state)
{
    (void)state;
    seen_t s = {0};
    adapter_http_t *h = server(&s, 1024);
    char out[4096];
    request(h,
            "GET /Patient?identifier=https://fhir.nhs.uk/Id/nhs-number%7C9449305552 HTTP/1.1\r\n"
            "Host: x\r\nX-Test: hello\r\nConnection: close\r\n\r\n",
            out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 200"));
    assert_non_null(strstr(out, "Content-Type: application/fhir+json"));
    assert_non_null(strstr(out, "X-Answer: yes"));
    assert_non_null(
        strstr(out, "GET /Patient q=https://fhir.nhs.uk/Id/nhs-number|9449305552 h=hello len=0"));

    request(h, "GET /Patient/42 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", out, sizeof out);
    assert_non_null(strstr(out, "GET /Patient/42 q=- h=- len=0"));
    /* A prefix is a path segment, not any string start; a method without a route is not found. */
    request(h, "GET /Patients HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 404"));
    request(h, "DELETE /Patient/42 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", out,
            sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 404"));

    /* The body, whole, in one handler call. */
    s.calls = 0;
    request(h,
            "POST /Patient HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nConnection: close\r\n\r\n"
            "{\"a\":\"bcd\"}",
            out, sizeof out);
    assert_non_null(strstr(out, "POST /Patient q=- h=- len=11"));
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.body_len, 11);
    assert_memory_equal(s.body, "{\"a\":\"bcd\"}", 11);

    request(h, "GET /forget HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 500"));
    adapter_http_destroy(&h);
    assert_null(h);
}

static void body_limit(void **state)
{
    (void)state;
    seen_t s = {0};
    adapter_http_t *h = server(&s, 64);
    char out[4096], req[1024];
    /* Declared too long: refused before the body is read, the handler never called. */
    (void)snprintf(req, sizeof req,
                   "POST /Patient HTTP/1.1\r\nHost: x\r\nContent-Length: 65\r\nConnection: "
                   "close\r\n\r\n%065d",
                   0);
    request(h, req, out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 413"));
    /* Chunked, so the length shows only as it comes. */
    (void)snprintf(req, sizeof req,
                   "POST /Patient HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                   "Connection: close\r\n\r\n28\r\n%040d\r\n28\r\n%040d\r\n0\r\n\r\n",
                   1, 2);
    request(h, req, out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 413"));
    assert_int_equal(s.calls, 0);
    /* Exactly the limit is taken. */
    (void)snprintf(req, sizeof req,
                   "POST /Patient HTTP/1.1\r\nHost: x\r\nContent-Length: 64\r\nConnection: "
                   "close\r\n\r\n%064d",
                   0);
    request(h, req, out, sizeof out);
    assert_non_null(strstr(out, "len=64"));
    adapter_http_destroy(&h);
}

static void deferred_answer(void **state)
{
    (void)state;
    seen_t s = {0};
    adapter_http_t *h = server(&s, 1024);
    static const char req[] = "PUT /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                              "Connection: close\r\n\r\n{}";
    int fd = connect_to(h);
    send_all(fd, req, sizeof req - 1);
    char out[4096];
    /* The handler ran and suspended: nothing comes back while it waits. */
    assert_int_equal(answer(h, fd, out, sizeof out, 300), 0);
    assert_int_equal(s.calls, 1);
    assert_non_null(s.held);
    assert_int_equal(adapter_http_suspended(h), 1);
    /* Another request is served meanwhile: a waiting one holds up nothing. */
    request(h, "GET /Patient/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", out, sizeof out);
    assert_non_null(strstr(out, "HTTP/1.1 200"));

    const char *const headers[] = {"Location", "/Patient/P1", NULL};
    assert_int_equal(
        adapter_http_respond(s.held, 201, "application/fhir+json", "{\"ok\":1}", 8, headers), 0);
    assert_int_equal(adapter_http_suspended(h), 0);
    assert_true(answer(h, fd, out, sizeof out, 3000) > 0);
    close(fd);
    assert_non_null(strstr(out, "HTTP/1.1 201"));
    assert_non_null(strstr(out, "Location: /Patient/P1"));
    assert_non_null(strstr(out, "{\"ok\":1}"));
    for (int i = 0; i < 20 && s.closed == 0; i++)
        serve(h, 10);
    assert_true(s.closed >= 1);
    adapter_http_destroy(&h);
}

/* An answer made outside the handler (after the hub's CONFIRM) goes out in the one
 * adapter_http_run the adapter's loop makes after it, also for the second request of a
 * keep-alive connection, as Dataverse sends them. The loop may then sleep up to its timeout,
 * and an answer left for a later run waited that long (nearly a second per webhook in
 * joinery-crm, whose loop waits up to 1000 ms). */
static void deferred_answer_at_once(void **state)
{
    (void)state;
    seen_t s = {0};
    adapter_http_t *h = server(&s, 1024);
    static const char req[] = "PUT /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
    int fd = connect_to(h);
    for (int k = 0; k < 3; k++) {
        s.held = NULL;
        send_all(fd, req, sizeof req - 1);
        for (int i = 0; i < 100 && s.held == NULL; i++)
            serve(h, 10);
        assert_non_null(s.held);
        for (int i = 0; i < 3; i++)
            serve(h, 10); /* the loop turns while the hub commits */
        assert_int_equal(adapter_http_respond(s.held, 200, "application/json", "{}", 2, NULL), 0);
        adapter_http_run(h); /* once, as the loop does after answering */
        struct pollfd p = {.fd = fd, .events = POLLIN};
        assert_int_equal(poll(&p, 1, 1000), 1); /* no further run of the server */
        char out[1024];
        ssize_t n = recv(fd, out, sizeof out - 1, MSG_DONTWAIT);
        assert_true(n > 0);
        out[n] = '\0';
        assert_non_null(strstr(out, "HTTP/1.1 200"));
    }
    close(fd);
    adapter_http_destroy(&h);
}

static void stop_answers_waiting(void **state)
{
    (void)state;
    seen_t s = {0};
    adapter_http_t *h = server(&s, 1024);
    static const char req[] = "PUT /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                              "Connection: close\r\n\r\n";
    int fd = connect_to(h);
    send_all(fd, req, sizeof req - 1);
    char out[4096];
    assert_int_equal(answer(h, fd, out, sizeof out, 300), 0);
    assert_non_null(s.held);
    int closed_before = s.closed;
    adapter_http_destroy(&h);
    /* The stop sent a 503 with Retry-After and reported the request closed, by its id. */
    assert_int_equal(s.closed, closed_before + 1);
    assert_int_equal(s.closed_id, s.held_id);
    size_t n = 0;
    for (int i = 0; i < 100; i++) {
        ssize_t r = recv(fd, out + n, sizeof out - 1 - n, MSG_DONTWAIT);
        if (r == 0)
            break;
        if (r > 0)
            n += (size_t)r;
        else
            usleep(10000);
    }
    out[n] = '\0';
    close(fd);
    assert_non_null(strstr(out, "HTTP/1.1 503"));
    assert_non_null(strstr(out, "Retry-After: 5"));
}

static void bearer(void **state)
{
    (void)state;
    seen_t s = {0};
    adapter_http_t *h = server(&s, 1024);
    char out[4096];
    request(h,
            "GET /auth HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret-key\r\n"
            "Connection: close\r\n\r\n",
            out, sizeof out);
    assert_non_null(strstr(out, "\r\n\r\nin"));
    static const char *const wrong[] = {"Bearer s3cret-kez", "Bearer s3cret-key2", "Bearer s3cret",
                                        "Basic s3cret-key", "Bearer "};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        char req[256];
        (void)snprintf(req, sizeof req,
                       "POST /auth HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Length: "
                       "0\r\nConnection: close\r\n\r\n",
                       wrong[i]);
        request(h, req, out, sizeof out);
        assert_non_null(strstr(out, "\r\n\r\nout"));
    }
    request(h, "GET /auth HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", out, sizeof out);
    assert_non_null(strstr(out, "\r\n\r\nout"));
    adapter_http_destroy(&h);
}

static void bad_listen(void **state)
{
    (void)state;
    char err[256];
    static const char *const bad[] = {"localhost", "127.0.0.1:99999", "nohost:80", "1.2.3.4:x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        adapter_http_opts_t o = {.listen = bad[i]};
        assert_null(adapter_http_new(&o, err, sizeof err));
        assert_non_null(strstr(err, "HOST:PORT"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(routes_and_requests),  cmocka_unit_test(body_limit),
        cmocka_unit_test(deferred_answer),      cmocka_unit_test(deferred_answer_at_once),
        cmocka_unit_test(stop_answers_waiting), cmocka_unit_test(bearer),
        cmocka_unit_test(bad_listen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
