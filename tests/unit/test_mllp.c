/* test_mllp.c - the MLLP framer against the ways a TCP stream really arrives: a frame split at
 * every possible byte, several frames in one read, noise between frames, a frame over the limit
 * (refused without being buffered, the next frame intact), a sender that starts again mid-frame,
 * and a connection closed mid-frame. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "health/mllp.h"

#define MAXEV 32

typedef struct {
    mllp_kind_t kind;
    char data[512];
    size_t len, total;
} rec_t;

typedef struct {
    rec_t ev[MAXEV];
    size_t n;
    size_t garbage; /* garbage reports are summed: how a run of noise is split depends on reads */
    int stop_after;
} log_t;

static int record(void *ctx, const mllp_event_t *ev)
{
    log_t *l = ctx;
    if (ev->kind == MLLP_GARBAGE) {
        l->garbage += ev->total;
        return 0;
    }
    assert_true(l->n < MAXEV);
    rec_t *r = &l->ev[l->n++];
    r->kind = ev->kind;
    assert_true(ev->len <= sizeof r->data);
    memcpy(r->data, ev->data, ev->len);
    r->len = ev->len;
    r->total = ev->total;
    return l->stop_after && (int)l->n == l->stop_after ? 42 : 0;
}

static void expect(const log_t *l, size_t i, mllp_kind_t kind, const char *data, size_t total)
{
    assert_true(i < l->n);
    assert_int_equal(l->ev[i].kind, kind);
    assert_int_equal(l->ev[i].len, strlen(data));
    assert_memory_equal(l->ev[i].data, data, strlen(data));
    assert_int_equal(l->ev[i].total, total);
}

static const char STREAM[] = "noise\x0bMSH|^~\\&|A\rPID|1\r\x1c\r\r\n\x0bMSH|^~\\&|B\r\x1c\rxx";

static void check_stream(const log_t *l)
{
    assert_int_equal(l->n, 2);
    expect(l, 0, MLLP_FRAME, "MSH|^~\\&|A\rPID|1\r", 17);
    expect(l, 1, MLLP_FRAME, "MSH|^~\\&|B\r", 11);
    assert_int_equal(l->garbage, 5 + 2 + 2); /* "noise", "\r\n", "xx" */
}

static void split_at_every_byte(void **state)
{
    (void)state;
    size_t n = sizeof STREAM - 1;
    for (size_t k = 0; k <= n; k++) {
        mllp_t *f = mllp_new(64);
        log_t l = {0};
        assert_int_equal(mllp_feed(f, STREAM, k, record, &l), 0);
        assert_int_equal(mllp_feed(f, STREAM + k, n - k, record, &l), 0);
        check_stream(&l);
        mllp_destroy(&f);
        assert_null(f);
    }
}

static void one_byte_per_read_and_all_in_one(void **state)
{
    (void)state;
    size_t n = sizeof STREAM - 1;
    mllp_t *f = mllp_new(64);
    log_t l = {0};
    for (size_t i = 0; i < n; i++)
        assert_int_equal(mllp_feed(f, STREAM + i, 1, record, &l), 0);
    check_stream(&l);
    log_t all = {0};
    assert_int_equal(mllp_feed(f, STREAM, n, record, &all), 0);
    check_stream(&all);
    mllp_destroy(&f);
}

static void several_frames_in_one_read(void **state)
{
    (void)state;
    char buf[400];
    size_t n = 0;
    for (int i = 0; i < 20; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "\x0bMSH|%02d\x1c\r", i);
    mllp_t *f = mllp_new(64);
    log_t l = {0};
    assert_int_equal(mllp_feed(f, buf, n, record, &l), 0);
    assert_int_equal(l.n, 20);
    assert_int_equal(l.garbage, 0);
    expect(&l, 0, MLLP_FRAME, "MSH|00", 6);
    expect(&l, 19, MLLP_FRAME, "MSH|19", 6);
    mllp_destroy(&f);
}

/* Over the limit: nothing past the limit is stored, the first bytes are reported with the true
 * length, and the frame after it arrives whole, whatever the reads. */
static void oversize_frame_is_refused_and_the_next_one_kept(void **state)
{
    (void)state;
    char big[1000];
    big[0] = MLLP_START;
    for (size_t i = 1; i < 901; i++)
        big[i] = (char)('a' + i % 26);
    memcpy(big + 901, "\x1c\r\x0bok\x1c\r", 7);
    size_t n = 908;
    for (size_t chunk = 1; chunk <= n; chunk = chunk * 3 + 1) {
        mllp_t *f = mllp_new(16);
        log_t l = {0};
        for (size_t off = 0; off < n; off += chunk)
            assert_int_equal(mllp_feed(f, big + off, n - off < chunk ? n - off : chunk, record, &l),
                             0);
        assert_int_equal(l.n, 2);
        assert_int_equal(l.ev[0].kind, MLLP_OVERSIZE);
        assert_int_equal(l.ev[0].total, 900);
        assert_int_equal(l.ev[0].len, 16);
        assert_memory_equal(l.ev[0].data, big + 1, 16);
        expect(&l, 1, MLLP_FRAME, "ok", 2);
        mllp_destroy(&f);
    }
}

static void frame_of_exactly_the_limit_is_delivered(void **state)
{
    (void)state;
    mllp_t *f = mllp_new(4);
    log_t l = {0};
    assert_int_equal(mllp_feed(f,
                               "\x0b"
                               "abcd\x1c\r\x0b"
                               "abcde\x1c\r",
                               15, record, &l),
                     0);
    assert_int_equal(l.n, 2);
    expect(&l, 0, MLLP_FRAME, "abcd", 4);
    assert_int_equal(l.ev[1].kind, MLLP_OVERSIZE);
    assert_int_equal(l.ev[1].total, 5);
    /* and split, through the buffered path */
    log_t s = {0};
    assert_int_equal(mllp_feed(f,
                               "\x0b"
                               "ab",
                               3, record, &s),
                     0);
    assert_int_equal(mllp_feed(f, "cd\x1c", 3, record, &s), 0);
    assert_int_equal(mllp_feed(f, "\r", 1, record, &s), 0);
    assert_int_equal(s.n, 1);
    expect(&s, 0, MLLP_FRAME, "abcd", 4);
    mllp_destroy(&f);
}

static void restart_mid_frame_aborts_it(void **state)
{
    (void)state;
    mllp_t *f = mllp_new(64);
    log_t l = {0};
    assert_int_equal(mllp_feed(f, "\x0bMSH|half\x0bMSH|whole\x1c\r", 22, record, &l), 0);
    assert_int_equal(l.n, 2);
    expect(&l, 0, MLLP_ABORTED, "MSH|half", 8);
    expect(&l, 1, MLLP_FRAME, "MSH|whole", 9);
    mllp_destroy(&f);
}

static void end_without_carriage_return_and_empty_frame(void **state)
{
    (void)state;
    mllp_t *f = mllp_new(64);
    log_t l = {0};
    assert_int_equal(mllp_feed(f,
                               "\x0b"
                               "a\x1c\x0b"
                               "b\x1c\r\x0b\x1c\r",
                               10, record, &l),
                     0);
    assert_int_equal(l.n, 3);
    expect(&l, 0, MLLP_FRAME, "a", 1);
    expect(&l, 1, MLLP_FRAME, "b", 1);
    expect(&l, 2, MLLP_FRAME, "", 0);
    assert_int_equal(l.garbage, 0);
    mllp_destroy(&f);
}

static void reset_reports_an_unfinished_frame(void **state)
{
    (void)state;
    mllp_t *f = mllp_new(8);
    log_t l = {0};
    assert_int_equal(mllp_feed(f, "\x0bMSH|", 5, record, &l), 0);
    assert_int_equal(mllp_reset(f), 4);
    assert_int_equal(mllp_feed(f,
                               "\x0b"
                               "0123456789",
                               11, record, &l),
                     0);
    assert_int_equal(mllp_reset(f), 10);
    assert_int_equal(mllp_reset(f), 0);
    assert_int_equal(mllp_feed(f, "\x0bok\x1c\r", 5, record, &l), 0);
    assert_int_equal(l.n, 1);
    expect(&l, 0, MLLP_FRAME, "ok", 2);
    mllp_destroy(&f);
}

static void handler_can_stop_the_feed(void **state)
{
    (void)state;
    mllp_t *f = mllp_new(8);
    log_t l = {.stop_after = 1};
    assert_int_equal(mllp_feed(f,
                               "\x0b"
                               "a\x1c\r\x0b"
                               "b\x1c\r",
                               8, record, &l),
                     42);
    assert_int_equal(l.n, 1);
    mllp_destroy(&f);
}

typedef struct {
    size_t reports, total, len;
    char first;
} noise_t;

static int on_noise(void *ctx, const mllp_event_t *ev)
{
    noise_t *n = ctx;
    assert_int_equal(ev->kind, MLLP_GARBAGE);
    n->reports++;
    n->total = ev->total;
    n->len = ev->len;
    n->first = (char)ev->data[0];
    return 0;
}

static void garbage_keeps_its_first_bytes(void **state)
{
    (void)state;
    mllp_t *f = mllp_new(8);
    char noise[600];
    memset(noise, 'z', sizeof noise);
    noise[0] = 'Q';
    noise_t n = {0};
    assert_int_equal(mllp_feed(f, noise, sizeof noise, on_noise, &n), 0);
    assert_int_equal(n.reports, 1);
    assert_int_equal(n.total, 600);
    assert_int_equal(n.len, MLLP_KEEP);
    assert_int_equal(n.first, 'Q');
    mllp_destroy(&f);
}

static void wrap_frames_a_message(void **state)
{
    (void)state;
    char out[16];
    size_t n = 0;
    assert_int_equal(mllp_wrap("MSA|AA", 6, out, sizeof out, &n), 0);
    assert_int_equal(n, 9);
    assert_memory_equal(out, "\x0bMSA|AA\x1c\r", 9);
    assert_int_equal(mllp_wrap("MSA|AA", 6, out, 8, &n), -1);
    assert_null(mllp_new(0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(split_at_every_byte),
        cmocka_unit_test(one_byte_per_read_and_all_in_one),
        cmocka_unit_test(several_frames_in_one_read),
        cmocka_unit_test(oversize_frame_is_refused_and_the_next_one_kept),
        cmocka_unit_test(frame_of_exactly_the_limit_is_delivered),
        cmocka_unit_test(restart_mid_frame_aborts_it),
        cmocka_unit_test(end_without_carriage_return_and_empty_frame),
        cmocka_unit_test(reset_reports_an_unfinished_frame),
        cmocka_unit_test(handler_can_stop_the_feed),
        cmocka_unit_test(garbage_keeps_its_first_bytes),
        cmocka_unit_test(wrap_frames_a_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
