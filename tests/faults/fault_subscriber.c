/* fault_subscriber - the fault suite's subscriber: subscribes with libjoinery and writes one
 * line per event its handler is given, in the order given: "event_id seq source type
 * source_record_id". The SDK drops redeliveries it has already handled, so the checker sees
 * what an adapter's code would see. Runs until SIGTERM or SIGINT (then exits 0), so a test can
 * freeze it with SIGSTOP and let the hub expire its session; prints "subscribed" once the
 * subscription is open.
 *
 *   fault_subscriber ENDPOINT ADAPTER SUBSCRIPTION OUT PATTERN... */
#include <joinery/joinery.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static joinery_verdict_t on_event(void *ud, const joinery_event_t *ev, uint64_t seq,
                                  unsigned attempt, char *reason, size_t reason_len)
{
    (void)attempt;
    (void)reason;
    (void)reason_len;
    FILE *out = ud;
    /* Ids hold no spaces (the adapters' and the hub's): one line per event, five fields. */
    fprintf(out, "%s %llu %s %s %s\n", ev->event_id, (unsigned long long)seq,
            ev->source ? ev->source : "-", ev->type ? ev->type : "-",
            ev->source_record_id && ev->source_record_id[0] ? ev->source_record_id : "-");
    return JOINERY_ACK;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: fault_subscriber ENDPOINT ADAPTER SUBSCRIPTION OUT PATTERN...\n");
        return 2;
    }
    FILE *out = fopen(argv[4], "a");
    if (!out) {
        perror(argv[4]);
        return 1;
    }
    setvbuf(out, NULL, _IOLBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    joinery_options_t o = {.endpoint = argv[1],
                           .adapter = argv[2],
                           .heartbeat_ms = 500,
                           .reconnect_min_ms = 50,
                           .reconnect_max_ms = 500,
                           .connect_timeout_ms = 30000};
    char err[512];
    joinery_client_t *c = joinery_connect(&o, err, sizeof err);
    if (!c) {
        fprintf(stderr, "fault_subscriber: %s\n", err);
        fclose(out);
        return 1;
    }
    const char *const *patterns = (const char *const *)&argv[5];
    if (joinery_subscribe(c, argv[3], patterns, (size_t)(argc - 5), 200, on_event, out) < 0) {
        fprintf(stderr, "fault_subscriber: %s\n", joinery_last_error(c));
        joinery_close(&c);
        fclose(out);
        return 1;
    }
    printf("subscribed\n");
    fflush(stdout);
    while (!stop)
        joinery_poll(c, 100);
    joinery_close(&c);
    fclose(out);
    return 0;
}
