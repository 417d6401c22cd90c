/* bench_throughput - publisher -> hub -> subscriber through libjoinery, one
 * client per thread, and reports events/s and latency percentiles.
 *
 *   bench_throughput ENDPOINT KEYDIR|- TYPE COUNT SIZE [ENTITIES [RATE [INFLIGHT]]]
 *
 * Without RATE (or with 0) the publisher goes as fast as the hub confirms
 * (throughput; latency is then mostly queueing behind INFLIGHT unconfirmed
 * events, 20,000 unless given). With RATE events/s it paces itself, which
 * shows latency under a steady load.
 *
 * Paced, the publisher spins in joinery_poll(c, 0) between events unless
 * BENCH_PACE_TICK_MS=N is set: then, when ahead of its schedule, it waits in
 * joinery_poll(c, N) and sends what fell due meanwhile together. On two cores
 * the spinning publisher takes a whole core from the hub and PostgreSQL.
 *
 * BENCH_TRACE=FILE writes one line per event received, after the run (no
 * I/O while measuring): the time it was queued and its publish -> subscriber
 * latency, both in microseconds, to line the slow ones up with the hub's
 * commits (bench/compare/tail.py).
 *
 * Publish-to-confirm latency is measured per event from the moment it was
 * queued to its CONFIRM; end-to-end latency from occurred_at (stamped when
 * queued) to the subscriber's handler, on the same clock. TYPE decides
 * durable (journaled) or transient, per the hub's configuration. */
#include <joinery/joinery.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const char *endpoint, *keys, *type;
    size_t count, size, entities, inflight;
    double rate;
    int tick_ms;         /* paced: wait this long when ahead (0: spin) */
    int64_t *queued_us;  /* per event index */
    int64_t *confirm_us; /* latency, per event */
    int64_t *deliver_us; /* latency, per received event */
    int64_t *sent_us;    /* occurred_at, per received event, for BENCH_TRACE */
    atomic_size_t received;
    size_t confirmed;
    int64_t pub_start, pub_end, sub_end;
    atomic_int subscribed;
} bench_t;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static joinery_client_t *connect_as(const bench_t *b, const char *adapter)
{
    joinery_options_t o = {.endpoint = b->endpoint,
                           .adapter = adapter,
                           .keys_dir = strcmp(b->keys, "-") ? b->keys : NULL,
                           .max_unconfirmed = (unsigned)b->inflight};
    char err[512];
    joinery_client_t *c = joinery_connect(&o, err, sizeof err);
    if (!c)
        fprintf(stderr, "bench: %s: %s\n", adapter, err);
    return c;
}

static size_t index_of(const char *event_id)
{
    const char *dash = strrchr(event_id, '-');
    return dash ? strtoul(dash + 1, NULL, 10) : 0;
}

static void on_confirm(void *ud, const joinery_confirm_t *c)
{
    bench_t *b = ud;
    size_t i = index_of(c->event_id);
    if (i < b->count)
        b->confirm_us[i] = now_us() - b->queued_us[i];
    b->confirmed++;
}

static joinery_verdict_t on_event(void *ud, const joinery_event_t *ev, uint64_t seq,
                                  unsigned attempt, char *reason, size_t reason_len)
{
    (void)seq;
    (void)attempt;
    (void)reason;
    (void)reason_len;
    bench_t *b = ud;
    size_t n = atomic_fetch_add(&b->received, 1);
    if (n < b->count) {
        b->deliver_us[n] = now_us() - ev->occurred_at_us;
        b->sent_us[n] = ev->occurred_at_us;
    }
    return JOINERY_ACK;
}

static void *subscriber(void *arg)
{
    bench_t *b = arg;
    joinery_client_t *c = connect_as(b, "bench-sub");
    if (!c) {
        atomic_store(&b->subscribed, -1);
        return NULL;
    }
    const char *patterns[] = {"bench.*"};
    if (joinery_subscribe(c, "bench", patterns, 1, 5000, on_event, b) < 0) {
        fprintf(stderr, "bench: subscribe: %s\n", joinery_last_error(c));
        atomic_store(&b->subscribed, -1);
        return NULL;
    }
    atomic_store(&b->subscribed, 1);
    int64_t idle_since = now_us();
    size_t last = 0;
    while (atomic_load(&b->received) < b->count) {
        joinery_poll(c, 100);
        size_t got = atomic_load(&b->received);
        if (got != last) {
            last = got;
            idle_since = now_us();
        } else if (now_us() - idle_since > 5 * 1000000) {
            break; /* transient events may be dropped: stop after 5 s without one */
        }
    }
    b->sub_end = idle_since;
    if (atomic_load(&b->received) >= b->count)
        b->sub_end = now_us();
    joinery_close(&c);
    return NULL;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void report_latency(const char *what, int64_t *v, size_t n)
{
    if (!n)
        return;
    qsort(v, n, sizeof *v, cmp64);
    printf("  %-22s p50 %8.2f ms   p99 %8.2f ms   p99.9 %8.2f ms   max %8.2f ms\n", what,
           (double)v[n / 2] / 1000.0, (double)v[(size_t)((double)n * 0.99)] / 1000.0,
           (double)v[(size_t)((double)n * 0.999)] / 1000.0, (double)v[n - 1] / 1000.0);
}

/* Before the latencies are sorted: line i is still event i's pair. */
static void write_trace(const bench_t *b, size_t n)
{
    const char *path = getenv("BENCH_TRACE");
    if (!path || !*path)
        return;
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return;
    }
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%lld %lld\n", (long long)b->sent_us[i], (long long)b->deliver_us[i]);
    fclose(f);
}

static int publish_all(bench_t *b)
{
    joinery_client_t *c = connect_as(b, "bench-pub");
    if (!c)
        return -1;
    char *payload = malloc(b->size);
    memset(payload, 'x', b->size);
    char id[48], rec[32];
    b->pub_start = now_us();
    for (size_t i = 0; i < b->count; i++) {
        snprintf(id, sizeof id, "b%lld-%zu", (long long)b->pub_start, i);
        snprintf(rec, sizeof rec, "r%zu", i % b->entities);
        b->queued_us[i] = now_us();
        joinery_event_t ev = {.event_id = id,
                              .type = b->type,
                              .source_record_id = rec,
                              .payload_type = "application/octet-stream",
                              .payload = payload,
                              .payload_len = b->size,
                              .occurred_at_us = b->queued_us[i]};
        if (joinery_publish_async(c, &ev, on_confirm, b, NULL) < 0) {
            fprintf(stderr, "bench: publish: %s\n", joinery_last_error(c));
            return -1;
        }
        while (b->rate > 0 && now_us() - b->pub_start < (int64_t)((double)(i + 1) * 1e6 / b->rate))
            joinery_poll(c, b->tick_ms);
    }
    joinery_flush(c, -1);
    b->pub_end = now_us();
    joinery_close(&c);
    free(payload);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: bench_throughput ENDPOINT KEYDIR|- TYPE COUNT SIZE "
                        "[ENTITIES [RATE [INFLIGHT]]]\n");
        return 2;
    }
    bench_t b = {.endpoint = argv[1], .keys = argv[2], .type = argv[3]};
    b.count = strtoul(argv[4], NULL, 10);
    b.size = strtoul(argv[5], NULL, 10);
    b.entities = argc > 6 ? strtoul(argv[6], NULL, 10) : b.count;
    b.rate = argc > 7 ? strtod(argv[7], NULL) : 0;
    b.inflight = argc > 8 ? strtoul(argv[8], NULL, 10) : 20000;
    const char *tick = getenv("BENCH_PACE_TICK_MS");
    if (tick && *tick) {
        char *end;
        long t = strtol(tick, &end, 10);
        if (*end || t < 0 || t > 1000) {
            fprintf(stderr, "bench: BENCH_PACE_TICK_MS: 0 to 1000\n");
            return 2;
        }
        b.tick_ms = (int)t;
    }
    if (!b.count || !b.size || !b.entities || !b.inflight || b.inflight > 1000000)
        return 2;
    b.queued_us = calloc(b.count, sizeof(int64_t));
    b.confirm_us = calloc(b.count, sizeof(int64_t));
    b.deliver_us = calloc(b.count, sizeof(int64_t));
    b.sent_us = calloc(b.count, sizeof(int64_t));
    pthread_t sub;
    pthread_create(&sub, NULL, subscriber, &b);
    while (atomic_load(&b.subscribed) == 0) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (atomic_load(&b.subscribed) < 0 || publish_all(&b) < 0)
        return 1;
    pthread_join(sub, NULL);
    size_t got = atomic_load(&b.received);
    double pub_s = (double)(b.pub_end - b.pub_start) / 1e6;
    double e2e_s = (double)(b.sub_end - b.pub_start) / 1e6;
    printf("%s: %zu events of %zu bytes payload, %zu entities, %zu unconfirmed, %s\n", b.type,
           b.count, b.size, b.entities, b.inflight, b.rate > 0 ? "paced" : "as fast as confirmed");
    if (b.rate > 0)
        printf("  offered rate          %10.0f events/s\n", b.rate);
    printf("  published+confirmed   %10.0f events/s (%.2f s)\n", (double)b.confirmed / pub_s,
           pub_s);
    printf("  end to end (acked)    %10.0f events/s (%.2f s), %zu of %zu received\n",
           (double)got / e2e_s, e2e_s, got, b.count);
    write_trace(&b, got < b.count ? got : b.count);
    report_latency("publish -> confirm", b.confirm_us,
                   b.confirmed < b.count ? b.confirmed : b.count);
    report_latency("publish -> subscriber", b.deliver_us, got < b.count ? got : b.count);
    free(b.queued_us);
    free(b.confirm_us);
    free(b.deliver_us);
    free(b.sent_us);
    return got == b.count ? 0 : 1;
}
