/* test_admin_request.c - what the admin API makes of a request before the core or the database
 * (hub/admin/admin_request.h): the order of its checks (path, /healthz without a token, token
 * and role, then the endpoint's arguments), the arguments it hands on and their defaults, and
 * the refusals with their status and reason. tests/fuzz/fuzz_admin.c drives the same function
 * with any bytes; this pins the answers a person would expect. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "admin/admin_request.h"

#define READ "Bearer read-token-0123456789"
#define OPERATE "Bearer operate-token-0123456789"
#define STEWARD "Bearer steward-token-0123456789"

static config_admin_token_t tokens[] = {
    {"reader", "read-token-0123456789", ADMIN_ROLE_READ},
    {"operator", "operate-token-0123456789", ADMIN_ROLE_OPERATE},
    {"steward", "steward-token-0123456789", ADMIN_ROLE_STEWARD},
};

/* METHOD PATH with AUTH and BODY (may be NULL), the query's NARGS arguments in ARGS, parsed
 * against the three tokens into *OUT; returns the status. */
static int parse(admin_request_t *out, const char *method, const char *path, const char *auth,
                 const admin_arg_t *args, size_t nargs, const char *body)
{
    config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.admin_tokens = tokens;
    cfg.nadmin_tokens = 3;
    admin_request_in_t in = {method, path, args, nargs, auth, body, body ? strlen(body) : 0, false};
    return admin_request_parse(&cfg, &in, out);
}

static void test_order_of_checks(void **state)
{
    (void)state;
    admin_request_t r;
    /* no token for /healthz, but only GET */
    assert_int_equal(parse(&r, "GET", "/healthz", NULL, NULL, 0, NULL), 0);
    assert_int_equal(r.ep, ADMIN_EP_HEALTHZ);
    assert_int_equal(parse(&r, "POST", "/readyz", NULL, NULL, 0, NULL), 405);
    /* too many segments: 404 before the token is looked at */
    assert_int_equal(parse(&r, "GET", "/a/b/c/d/e/f/g", NULL, NULL, 0, NULL), 404);
    assert_int_equal(parse(&r, "GET", "/api/v1/adapters", NULL, NULL, 0, NULL), 401);
    assert_string_equal(r.why, "an Authorization: Bearer token is required");
    assert_int_equal(
        parse(&r, "GET", "/api/v1/adapters", "Bearer nope-nope-nope-nope", NULL, 0, NULL), 401);
    /* the role before the body: a read token replaying gets 403, not 400 */
    assert_int_equal(parse(&r, "POST", "/api/v1/dead-letters/replay", READ, NULL, 0, "{"), 403);
    assert_int_equal(parse(&r, "POST", "/api/v1/steward/link", OPERATE, NULL, 0, NULL), 403);
    assert_int_equal(parse(&r, "GET", "/api/v1/nothing", READ, NULL, 0, NULL), 404);
    assert_int_equal(parse(&r, "PUT", "/api/v1/dead-letters/7/replay", OPERATE, NULL, 0, NULL),
                     405);
    /* /metrics: any token may read it, but only with GET */
    assert_int_equal(parse(&r, "GET", "/metrics", READ, NULL, 0, NULL), 0);
    assert_int_equal(r.ep, ADMIN_EP_METRICS);
    assert_int_equal(parse(&r, "POST", "/metrics", STEWARD, NULL, 0, NULL), 405);
    assert_string_equal(r.why, "use GET");
    assert_null(r.ids);
    admin_request_clear(&r);
}

static void test_dead_letters(void **state)
{
    (void)state;
    admin_request_t r;
    admin_arg_t none[] = {{"subscription", "casework"}};
    assert_int_equal(parse(&r, "GET", "/api/v1/dead-letters", READ, none, 1, NULL), 0);
    assert_int_equal(r.ep, ADMIN_EP_DEAD_LETTERS);
    assert_string_equal(r.who, "reader");
    assert_string_equal(r.dl.subscription, "casework");
    assert_int_equal(r.dl.limit, ADMIN_DL_LIMIT_DEFAULT);
    assert_int_equal(r.dl.after, 0);
    admin_arg_t page[] = {{"limit", "1000"}, {"after", "4711"}, {"limit", "5000"}};
    assert_int_equal(parse(&r, "GET", "/api/v1/dead-letters", READ, page, 3, NULL), 0);
    assert_int_equal(r.dl.limit, 1000); /* the first of a repeated argument */
    assert_int_equal(r.dl.after, 4711);
    admin_arg_t big[] = {{"limit", "1001"}};
    assert_int_equal(parse(&r, "GET", "/api/v1/dead-letters", READ, big, 1, NULL), 400);
    assert_string_equal(r.why, "limit must be a whole number from 1 to 1000");
    admin_arg_t unknown[] = {{"Limit", "5"}};
    assert_int_equal(parse(&r, "GET", "/api/v1/dead-letters", READ, unknown, 1, NULL), 400);
    admin_arg_t upper[] = {{"adapter", "CRM"}};
    assert_int_equal(parse(&r, "GET", "/api/v1/dead-letters", READ, upper, 1, NULL), 400);
    assert_int_equal(parse(&r, "GET", "/api/v1/dead-letters/42", READ, NULL, 0, NULL), 0);
    assert_int_equal(r.ep, ADMIN_EP_DEAD_LETTER);
    assert_int_equal(r.id, 42);
    assert_int_equal(parse(&r, "GET", "/api/v1/dead-letters/0", READ, NULL, 0, NULL), 400);
    assert_int_equal(
        parse(&r, "GET", "/api/v1/dead-letters/1234567890123456789", READ, NULL, 0, NULL), 400);
}

static void test_bodies(void **state)
{
    (void)state;
    admin_request_t r;
    assert_int_equal(
        parse(&r, "POST", "/api/v1/dead-letters/replay", OPERATE, NULL, 0, "{\"ids\":[43,44]}"), 0);
    assert_int_equal(r.ep, ADMIN_EP_REPLAY);
    assert_int_equal(json_array_size(r.ids), 2);
    admin_request_clear(&r);
    assert_null(r.ids);
    assert_int_equal(parse(&r, "POST", "/api/v1/dead-letters/9/replay", OPERATE, NULL, 0, NULL), 0);
    assert_int_equal(json_integer_value(json_array_get(r.ids, 0)), 9);
    admin_request_clear(&r);
    assert_int_equal(
        parse(&r, "POST", "/api/v1/dead-letters/replay", OPERATE, NULL, 0, "{\"ids\":[0]}"), 400);
    assert_null(r.ids); /* a refusal holds nothing */
    assert_int_equal(parse(&r, "POST", "/api/v1/dead-letters/45/discard", OPERATE, NULL, 0,
                           "{\"reason\":\"sent twice by the CRM\"}"),
                     0);
    assert_string_equal(r.reason, "sent twice by the CRM");
    assert_string_equal(r.who, "operator");
    admin_request_clear(&r);
    assert_int_equal(
        parse(&r, "POST", "/api/v1/dead-letters/45/discard", OPERATE, NULL, 0, "{\"reason\":\"\"}"),
        400);
    /* too big: refused whatever the bytes kept */
    config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    admin_request_in_t in = {
        "POST", "/api/v1/dead-letters/replay", NULL, 0, NULL, "{\"ids\":[1]}", 11, true};
    assert_int_equal(admin_request_parse(&cfg, &in, &r), 400);
    assert_string_equal(r.why, "the request body is larger than 64 KiB");
    assert_string_equal(r.who, "local"); /* no tokens configured */
}

static void test_decisions(void **state)
{
    (void)state;
    admin_request_t r;
    assert_int_equal(parse(&r, "POST", "/api/v1/steward/keep-apart", STEWARD, NULL, 0,
                           "{\"queue_id\":7,\"reason\":\"two people\"}"),
                     0);
    assert_string_equal(json_string_value(json_object_get(r.decision, "action")), "keep_apart");
    assert_int_equal(json_integer_value(json_object_get(r.decision, "queue_id")), 7);
    assert_string_equal(json_string_value(json_object_get(r.decision, "who")), "steward");
    admin_request_clear(&r);
    assert_int_equal(parse(&r, "POST", "/api/v1/steward/merge", STEWARD, NULL, 0,
                           "{\"master_id_a\":\"P1\",\"master_id_b\":\"P2\",\"reason\":\"x\"}"),
                     0);
    assert_string_equal(json_string_value(json_object_get(r.decision, "master_id_b")), "P2");
    admin_request_clear(&r);
    /* a queue item with a stray master id beside it (found by fuzz_admin.c's invariant) */
    assert_int_equal(parse(&r, "POST", "/api/v1/steward/link", STEWARD, NULL, 0,
                           "{\"queue_id\":7,\"master_id_a\":\"\\u0001\",\"reason\":\"x\"}"),
                     400);
    assert_null(r.decision);
    assert_int_equal(parse(&r, "POST", "/api/v1/steward/merge", STEWARD, NULL, 0,
                           "{\"queue_id\":7,\"reason\":\"x\"}"),
                     400);
    assert_int_equal(parse(&r, "POST", "/api/v1/steward/adopt", STEWARD, NULL, 0,
                           "{\"queue_id\":7,\"reason\":\"x\"}"),
                     404);
}

static void test_reads(void **state)
{
    (void)state;
    admin_request_t r;
    admin_arg_t ev[] = {{"event_id", "crm-8299-3"}, {"source", "crm"}};
    assert_int_equal(parse(&r, "GET", "/api/v1/trace", READ, ev, 2, NULL), 0);
    assert_int_equal(r.trace.key, TRACE_EVENT_ID);
    assert_string_equal(r.trace.source, "crm");
    assert_int_equal(r.trace.limit, TRACE_LIMIT_DEFAULT);
    admin_arg_t two[] = {{"event_id", "a"}, {"master_id", "b"}};
    assert_int_equal(parse(&r, "GET", "/api/v1/trace", READ, two, 2, NULL), 400);
    admin_arg_t q[] = {{"state", "ALL"}, {"after", "0"}};
    assert_int_equal(parse(&r, "GET", "/api/v1/steward/queue", READ, q, 2, NULL), 0);
    assert_string_equal(r.queue.state, "ALL");
    assert_int_equal(r.queue.limit, STEWARD_LIMIT_DEFAULT);
    assert_int_equal(parse(&r, "GET", "/api/v1/steward/queue", READ, NULL, 0, NULL), 0);
    assert_string_equal(r.queue.state, "OPEN");
    admin_arg_t g[] = {{"name", "ann smith"}, {"birth_date", "1960-1-05"}};
    assert_int_equal(parse(&r, "GET", "/api/v1/golden", READ, g, 2, NULL), 400);
    assert_string_equal(r.why, "birth_date is YYYY-MM-DD");
    assert_int_equal(
        parse(&r, "GET", "/api/v1/golden/P01M97MSSTC9RB7Z1EVJZCTSSZ8", READ, NULL, 0, NULL), 0);
    assert_string_equal(r.master_id, "P01M97MSSTC9RB7Z1EVJZCTSSZ8");
    assert_int_equal(
        parse(&r, "DELETE", "/api/v1/subscriptions/crm/old-feed", OPERATE, NULL, 0, NULL), 0);
    assert_string_equal(r.adapter, "crm");
    assert_string_equal(r.name, "old-feed");
    assert_int_equal(parse(&r, "DELETE", "/api/v1/subscriptions/crm/Old", OPERATE, NULL, 0, NULL),
                     400);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_of_checks), cmocka_unit_test(test_dead_letters),
        cmocka_unit_test(test_bodies),          cmocka_unit_test(test_decisions),
        cmocka_unit_test(test_reads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
