/* e2e_subscriber - subscribes with libjoinery and writes one line per handled
 * event to OUT, in the order handled: "event_id seq source_record_id payload"
 * (the payload as it came: e2e_publisher's one-line JSON). Exits 0 once its
 * handler has run COUNT times (the SDK drops redeliveries, so the test's
 * checker can compare sets), 1 after TIMEOUT seconds without. Prints "subscribed"
 * on stdout once the subscription is open, so a test can start publishing.
 *
 *   e2e_subscriber ENDPOINT ADAPTER KEYDIR|- SUBSCRIPTION PATTERN COUNT TIMEOUT OUT */
#include <joinery/joinery.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    FILE *out;
    size_t handled;
} state_t;

static joinery_verdict_t on_event(void *ud, const joinery_event_t *ev, uint64_t seq,
                                  unsigned attempt, char *reason, size_t reason_len)
{
    (void)attempt;
    (void)reason;
    (void)reason_len;
    state_t *st = ud;
    fprintf(st->out, "%s %llu %s %.*s\n", ev->event_id, (unsigned long long)seq,
            ev->source_record_id ? ev->source_record_id : "", (int)ev->payload_len,
            ev->payload ? (const char *)ev->payload : "");
    st->handled++;
    return JOINERY_ACK;
}

int main(int argc, char **argv)
{
    if (argc != 9) {
        fprintf(stderr, "usage: e2e_subscriber ENDPOINT ADAPTER KEYDIR|- SUBSCRIPTION PATTERN "
                        "COUNT TIMEOUT OUT\n");
        return 2;
    }
    size_t count = strtoul(argv[6], NULL, 10);
    time_t deadline = time(NULL) + strtol(argv[7], NULL, 10);
    state_t st = {fopen(argv[8], "a"), 0};
    if (!st.out) {
        perror(argv[8]);
        return 1;
    }
    setvbuf(st.out, NULL, _IOLBF, 0);
    joinery_options_t o = {.endpoint = argv[1],
                           .adapter = argv[2],
                           .keys_dir = strcmp(argv[3], "-") ? argv[3] : NULL,
                           .heartbeat_ms = 500,
                           .reconnect_min_ms = 50,
                           .reconnect_max_ms = 500,
                           .connect_timeout_ms = 30000};
    char err[512];
    joinery_client_t *c = joinery_connect(&o, err, sizeof err);
    if (!c) {
        fprintf(stderr, "e2e_subscriber: %s\n", err);
        return 1;
    }
    const char *patterns[] = {argv[5]};
    if (joinery_subscribe(c, argv[4], patterns, 1, 200, on_event, &st) < 0) {
        fprintf(stderr, "e2e_subscriber: %s\n", joinery_last_error(c));
        return 1;
    }
    printf("subscribed\n");
    fflush(stdout);
    while (st.handled < count && time(NULL) < deadline)
        joinery_poll(c, 100);
    joinery_close(&c);
    fclose(st.out);
    printf("e2e_subscriber: handled %zu events\n", st.handled);
    return st.handled >= count ? 0 : 1;
}
