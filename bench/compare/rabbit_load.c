/* rabbit_load - the workload of bench_throughput, given to RabbitMQ instead:
 * one publisher and one consumer, each on its own thread and connection
 * (librabbitmq), one durable queue, persistent messages (delivery_mode 2),
 * publisher confirms with up to INFLIGHT unconfirmed, manual acks (one
 * basic.ack per message) with a prefetch of PREFETCH.
 *
 *   rabbit_load HOST PORT QUEUE COUNT SIZE INFLIGHT PREFETCH [RATE]
 *
 * The queue is declared durable and purged first. Each body starts with the
 * time it was published and its index, so publish -> consumer latency is on
 * one clock, as in bench_throughput; the figures are printed in its format
 * so bench/compare/run-compare.sh reads both alike. */
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

typedef struct {
    const char *host, *queue;
    int port;
    size_t count, size, inflight, prefetch;
    double rate;
    int64_t *queued_us;  /* per message index */
    int64_t *confirm_us; /* latency per message index, 0 until confirmed */
    int64_t *deliver_us; /* latency per received message, in arrival order */
    size_t confirmed, nacked;
    atomic_size_t received;
    int64_t pub_start, pub_end, sub_end;
    atomic_int consuming;
} load_t;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* librabbitmq reports a failed RPC in the last reply, not in a return code. */
static int rpc_ok(amqp_connection_state_t conn, const char *what)
{
    amqp_rpc_reply_t r = amqp_get_rpc_reply(conn);
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return 0;
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
        fprintf(stderr, "rabbit_load: %s: %s\n", what, amqp_error_string2(r.library_error));
    else
        fprintf(stderr, "rabbit_load: %s: server refused (method 0x%08x)\n", what,
                (unsigned)r.reply.id);
    return -1;
}

static amqp_connection_state_t open_channel(const load_t *l)
{
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *sock = amqp_tcp_socket_new(conn);
    if (!sock || amqp_socket_open(sock, l->host, l->port) != AMQP_STATUS_OK) {
        fprintf(stderr, "rabbit_load: cannot connect to %s:%d\n", l->host, l->port);
        amqp_destroy_connection(conn);
        return NULL;
    }
    amqp_rpc_reply_t r =
        amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        fprintf(stderr, "rabbit_load: login refused\n");
        amqp_destroy_connection(conn);
        return NULL;
    }
    amqp_channel_open(conn, 1);
    if (rpc_ok(conn, "channel.open") < 0) {
        amqp_destroy_connection(conn);
        return NULL;
    }
    return conn;
}

static void close_channel(amqp_connection_state_t conn)
{
    amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
}

/* Delivery tags of a confirm channel count from 1 in publishing order. */
static void confirm_one(load_t *l, uint64_t tag, int64_t at)
{
    if (tag == 0 || tag > l->count || l->confirm_us[tag - 1])
        return;
    l->confirm_us[tag - 1] = at - l->queued_us[tag - 1];
    if (l->confirm_us[tag - 1] == 0)
        l->confirm_us[tag - 1] = 1; /* 0 means "not yet" */
    l->confirmed++;
}

/* Reads every frame already there, or waits up to wait_us for one. */
static int read_confirms(load_t *l, amqp_connection_state_t conn, uint64_t *low, long wait_us)
{
    for (;;) {
        struct timeval tv = {wait_us / 1000000, wait_us % 1000000};
        amqp_frame_t f;
        int rc = amqp_simple_wait_frame_noblock(conn, &f, &tv);
        if (rc == AMQP_STATUS_TIMEOUT)
            return 0;
        if (rc != AMQP_STATUS_OK) {
            fprintf(stderr, "rabbit_load: reading confirms: %s\n", amqp_error_string2(rc));
            return -1;
        }
        wait_us = 0;
        if (f.frame_type != AMQP_FRAME_METHOD)
            continue;
        int64_t at = now_us();
        uint64_t tag;
        int multiple;
        if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
            const amqp_basic_ack_t *a = f.payload.method.decoded;
            tag = a->delivery_tag;
            multiple = a->multiple;
        } else if (f.payload.method.id == AMQP_BASIC_NACK_METHOD) {
            const amqp_basic_nack_t *n = f.payload.method.decoded;
            tag = n->delivery_tag;
            multiple = n->multiple;
            l->nacked++; /* counted as settled but reported: the broker lost it */
        } else {
            fprintf(stderr, "rabbit_load: unexpected method 0x%08x on the publisher\n",
                    (unsigned)f.payload.method.id);
            return -1;
        }
        if (multiple)
            for (uint64_t t = *low; t <= tag; t++)
                confirm_one(l, t, at);
        else
            confirm_one(l, tag, at);
        while (*low <= l->count && l->confirm_us[*low - 1])
            (*low)++;
    }
}

static int publish_all(load_t *l)
{
    amqp_connection_state_t conn = open_channel(l);
    if (!conn)
        return -1;
    amqp_confirm_select(conn, 1);
    char *body = rpc_ok(conn, "confirm.select") == 0 ? malloc(l->size) : NULL;
    if (!body) {
        close_channel(conn);
        return -1;
    }
    memset(body, 'x', l->size);
    amqp_basic_properties_t props = {
        ._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG,
        .delivery_mode = 2,
        .content_type = amqp_cstring_bytes("application/octet-stream")};
    uint64_t low = 1;
    int rc = 0;
    l->pub_start = now_us();
    for (size_t i = 0; i < l->count && rc == 0; i++) {
        while (rc == 0 && i - l->confirmed >= l->inflight)
            rc = read_confirms(l, conn, &low, 100000);
        l->queued_us[i] = now_us();
        uint64_t idx = i;
        memcpy(body, &l->queued_us[i], sizeof(int64_t));
        memcpy(body + sizeof(int64_t), &idx, sizeof idx);
        amqp_bytes_t b = {.len = l->size, .bytes = body};
        if (amqp_basic_publish(conn, 1, amqp_empty_bytes, amqp_cstring_bytes(l->queue), 0, 0,
                               &props, b) != AMQP_STATUS_OK) {
            fprintf(stderr, "rabbit_load: basic.publish failed\n");
            rc = -1;
        }
        if (rc == 0)
            rc = read_confirms(l, conn, &low, 0);
        while (rc == 0 && l->rate > 0 &&
               now_us() - l->pub_start < (int64_t)((double)(i + 1) * 1e6 / l->rate))
            rc = read_confirms(l, conn, &low, 1000); /* as bench_throughput's 1 ms tick */
    }
    while (rc == 0 && l->confirmed < l->count)
        rc = read_confirms(l, conn, &low, 100000);
    l->pub_end = now_us();
    free(body);
    close_channel(conn);
    return rc;
}

static void *consumer(void *arg)
{
    load_t *l = arg;
    amqp_connection_state_t conn = open_channel(l);
    if (!conn) {
        atomic_store(&l->consuming, -1);
        return NULL;
    }
    amqp_basic_qos(conn, 1, 0, (uint16_t)(l->prefetch > 65535 ? 65535 : l->prefetch), 0);
    amqp_basic_consume(conn, 1, amqp_cstring_bytes(l->queue), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    if (rpc_ok(conn, "basic.consume") < 0) {
        close_channel(conn);
        atomic_store(&l->consuming, -1);
        return NULL;
    }
    atomic_store(&l->consuming, 1);
    int64_t idle_since = now_us();
    while (atomic_load(&l->received) < l->count) {
        amqp_envelope_t env;
        struct timeval tv = {0, 100000};
        amqp_maybe_release_buffers(conn);
        amqp_rpc_reply_t r = amqp_consume_message(conn, &env, &tv, 0);
        if (r.reply_type == AMQP_RESPONSE_NORMAL) {
            int64_t sent = 0;
            if (env.message.body.len >= sizeof sent)
                memcpy(&sent, env.message.body.bytes, sizeof sent);
            size_t n = atomic_fetch_add(&l->received, 1);
            if (n < l->count)
                l->deliver_us[n] = now_us() - sent;
            amqp_basic_ack(conn, 1, env.delivery_tag, 0);
            amqp_destroy_envelope(&env);
            idle_since = now_us();
        } else if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
                   r.library_error == AMQP_STATUS_TIMEOUT) {
            if (now_us() - idle_since > 10 * 1000000)
                break; /* nothing for 10 s: report what came */
        } else {
            fprintf(stderr, "rabbit_load: consuming failed\n");
            break;
        }
    }
    l->sub_end = now_us();
    close_channel(conn);
    return NULL;
}

static int declare_queue(const load_t *l)
{
    amqp_connection_state_t conn = open_channel(l);
    if (!conn)
        return -1;
    amqp_queue_declare(conn, 1, amqp_cstring_bytes(l->queue), 0, 1, 0, 0, amqp_empty_table);
    int rc = rpc_ok(conn, "queue.declare");
    if (rc == 0) {
        amqp_queue_purge(conn, 1, amqp_cstring_bytes(l->queue));
        rc = rpc_ok(conn, "queue.purge");
    }
    close_channel(conn);
    return rc;
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

static int parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v == 0)
        return -1;
    *out = (size_t)v;
    return 0;
}

int main(int argc, char **argv)
{
    load_t l = {.host = argc > 1 ? argv[1] : "", .queue = argc > 3 ? argv[3] : ""};
    size_t port = 0;
    if (argc < 8 || parse_size(argv[2], &port) < 0 || port > 65535 ||
        parse_size(argv[4], &l.count) < 0 || parse_size(argv[5], &l.size) < 0 ||
        parse_size(argv[6], &l.inflight) < 0 || parse_size(argv[7], &l.prefetch) < 0 ||
        l.size < 2 * sizeof(int64_t)) {
        fprintf(stderr,
                "usage: rabbit_load HOST PORT QUEUE COUNT SIZE(>=16) INFLIGHT PREFETCH [RATE]\n");
        return 2;
    }
    l.port = (int)port;
    l.rate = argc > 8 ? strtod(argv[8], NULL) : 0;
    if (declare_queue(&l) < 0)
        return 1;
    l.queued_us = calloc(l.count, sizeof(int64_t));
    l.confirm_us = calloc(l.count, sizeof(int64_t));
    l.deliver_us = calloc(l.count, sizeof(int64_t));
    if (!l.queued_us || !l.confirm_us || !l.deliver_us)
        return 1;
    pthread_t sub;
    pthread_create(&sub, NULL, consumer, &l);
    while (atomic_load(&l.consuming) == 0) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (atomic_load(&l.consuming) < 0 || publish_all(&l) < 0)
        return 1;
    pthread_join(sub, NULL);
    size_t got = atomic_load(&l.received);
    double pub_s = (double)(l.pub_end - l.pub_start) / 1e6;
    double e2e_s = (double)(l.sub_end - l.pub_start) / 1e6;
    printf("rabbitmq %s: %zu persistent messages of %zu bytes, %zu unconfirmed, prefetch %zu, "
           "%s\n",
           l.queue, l.count, l.size, l.inflight, l.prefetch,
           l.rate > 0 ? "paced" : "as fast as confirmed");
    if (l.rate > 0)
        printf("  offered rate          %10.0f events/s\n", l.rate);
    printf("  published+confirmed   %10.0f events/s (%.2f s), %zu nacked\n",
           (double)l.confirmed / pub_s, pub_s, l.nacked);
    printf("  end to end (acked)    %10.0f events/s (%.2f s), %zu of %zu received\n",
           (double)got / e2e_s, e2e_s, got, l.count);
    report_latency("publish -> confirm", l.confirm_us, l.confirmed);
    report_latency("publish -> subscriber", l.deliver_us, got < l.count ? got : l.count);
    free(l.queued_us);
    free(l.confirm_us);
    free(l.deliver_us);
    return got == l.count && l.nacked == 0 ? 0 : 1;
}
