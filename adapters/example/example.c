/* example.c - the smallest complete Joinery adapter, as a template for system owners: connect
 * with Curve keys, publish one event and wait for the hub's confirmation, subscribe with a
 * handler that acknowledges, retries or rejects, run the poll loop, and shut down cleanly on
 * SIGINT/SIGTERM. Uses nothing but <joinery/joinery.h>.
 *
 *   joinery-example [ENDPOINT [ADAPTER [KEYS_DIR]]]
 *
 * Defaults come from $JOINERY_ENDPOINT, $JOINERY_ADAPTER and $JOINERY_KEYS; without a key
 * directory it connects without Curve, which only a hub with security.curve: false accepts. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* sigaction, when built alone with -std=c11 */
#endif
#include <joinery/joinery.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static const char *arg_or_env(int argc, char **argv, int i, const char *env, const char *dflt)
{
    if (argc > i) {
        return argv[i];
    }
    const char *v = getenv(env);
    return (v != NULL && v[0] != '\0') ? v : dflt;
}

/* Called once per delivered event, in order. A real adapter writes to its system here; the
 * verdict tells the hub what happened: ACK (done), RETRY (try again later: e.g. the system is
 * down) or REJECT (this event can never be applied: it goes to the dead-letter queue). */
static joinery_verdict_t on_person(void *ud, const joinery_event_t *ev, uint64_t seq,
                                   unsigned attempt, char *reason, size_t reason_len)
{
    const int *system_up = ud;
    printf("seq %llu (attempt %u): %s from %s, record %s, master %s, %zu bytes of %s\n",
           (unsigned long long)seq, attempt, ev->type, ev->source, ev->source_record_id,
           ev->master_id[0] ? ev->master_id : "-", ev->payload_len,
           ev->payload_type[0] ? ev->payload_type : "untyped payload");
    if (ev->source_record_id[0] == '\0') {
        snprintf(reason, reason_len, "no source_record_id: cannot tell which person");
        return JOINERY_REJECT;
    }
    if (!*system_up) {
        snprintf(reason, reason_len, "system of record unavailable");
        return JOINERY_RETRY;
    }
    return JOINERY_ACK;
}

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        printf("usage: %s [ENDPOINT [ADAPTER [KEYS_DIR]]]\n", argv[0]);
        return 0;
    }
    joinery_options_t opts = {
        .endpoint = arg_or_env(argc, argv, 1, "JOINERY_ENDPOINT", "tcp://127.0.0.1:7600"),
        .adapter = arg_or_env(argc, argv, 2, "JOINERY_ADAPTER", "example"),
        .keys_dir = arg_or_env(argc, argv, 3, "JOINERY_KEYS", NULL),
    };
    if (opts.keys_dir == NULL) {
        fprintf(stderr, "warning: no key directory, connecting without Curve\n");
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    char err[512];
    joinery_client_t *c = joinery_connect(&opts, err, sizeof err);
    if (c == NULL) {
        fprintf(stderr, "cannot connect: %s\n", err);
        return 1;
    }

    /* Publish: the SDK makes the event_id (a ULID) and keeps resending the same event until
     * the hub has it journaled, so OK or DUPLICATE both mean "safely stored". Entity events
     * (person.*, address.*, case.*) carry a schemas/joinery/v1 message; a real adapter builds
     * it with protobuf-c, here it is spelled out: Person{name{given "Ada", family "Lovelace"},
     * birth_date "1815-12-10"}. Other event types may carry any bytes (JSON, say). */
    static const char payload[] = "\x22\x0f"
                                  "\x1a\x03"
                                  "Ada"
                                  "\x22\x08"
                                  "Lovelace"
                                  "\x32\x0a"
                                  "1815-12-10";
    joinery_attr_t attrs[] = {{"origin", "joinery-example"}};
    joinery_event_t ev = {
        .type = "person.updated",
        .source_record_id = "P-0001",
        .payload_type = "joinery.v1.Person",
        .payload = payload,
        .payload_len = sizeof payload - 1,
        .attrs = attrs,
        .nattrs = 1,
    };
    joinery_confirm_t cf;
    if (joinery_publish(c, &ev, &cf, 10000) != 0) {
        fprintf(stderr, "publish: %s (event %s: resend it with that id)\n", joinery_last_error(c),
                cf.event_id);
    } else if (cf.status == JOINERY_REJECTED) {
        fprintf(stderr, "publish: event %s rejected: %s\n", cf.event_id, cf.reason);
    } else {
        printf("published %s as seq %llu%s\n", cf.event_id, (unsigned long long)cf.seq,
               cf.status == JOINERY_DUPLICATE ? " (already there)" : "");
    }

    /* Subscribe: durable, so after a restart delivery resumes where this adapter stopped. */
    const char *patterns[] = {"person.*"};
    static int system_up = 1; /* what on_person gets as ud: here, our system's state */
    if (joinery_subscribe(c, "example-people", patterns, 1, 0, on_person, &system_up) != 0) {
        fprintf(stderr, "subscribe: %s\n", joinery_last_error(c));
        joinery_close(&c);
        return 1;
    }

    /* The loop: all I/O, handlers, heartbeats and reconnects happen inside joinery_poll. */
    int status = 0;
    while (!stopping) {
        if (joinery_poll(c, 1000) < 0) {
            fprintf(stderr, "hub refused us: %s\n", joinery_last_error(c));
            status = 1;
            break;
        }
    }
    joinery_flush(c, 5000); /* let anything still unconfirmed reach the journal */
    joinery_close(&c);
    return status;
}
