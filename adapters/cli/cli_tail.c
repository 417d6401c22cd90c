/* cli_tail.c - `joinery tail PATTERN...`: subscribes and prints each delivered event as one JSON
 * line, acknowledging it - the operator's way to watch traffic and the e2e tests' consumer. */
#include "cli_commands.h"
#include "cli_event.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "Usage: joinery tail PATTERN... [--subscription NAME] [--count N] [--credit C]\n"
    "                    [--from-beginning] [--timeout MS] [--reject-seq S]\n"
    "                    [connection options]\n"
    "\n"
    "Subscribes to the event-type patterns (\"person.*\", \"case.referral.created\", \"*\")\n"
    "and prints each delivered event as one JSON line:\n"
    "  {seq, attempt, event_id, type, source, source_record_id, master_id, occurred_at,\n"
    "   received_at, payload_type, payload | payload_b64, attributes, correlation_id,\n"
    "   causation_id}\n"
    "Times are UTC microseconds. payload is the payload as text when it is readable UTF-8,\n"
    "otherwise payload_b64 holds it in base64. Each printed event is acknowledged.\n"
    "\n"
    "  --subscription NAME  durable subscription to use (default tail); it resumes where\n"
    "                       the last run with that name stopped\n"
    "  --count N            exit after printing N events (credit defaults to 1 then, so no\n"
    "                       event beyond the N-th is taken from the hub)\n"
    "  --credit C           deliveries the hub may have outstanding (default: the hub's)\n"
    "  --from-beginning     a new subscription starts from the oldest journaled event\n"
    "                       rather than after the newest\n"
    "  --timeout MS         with --count: exit 1 if N events did not come within MS; also\n"
    "                       bounds connecting (default 10000)\n"
    "  --reject-seq S       (for tests) reject the event with seq S instead of printing it:\n"
    "                       the hub dead-letters it with reason \"rejected by tail\"\n"
    "\n" CLI_COMMON_HELP;

typedef struct {
    unsigned long long printed;
    unsigned long long count; /* 0: no limit */
    unsigned long long reject_seq;
    int reject;
    int failed;
} tail_t;

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static joinery_verdict_t on_event(void *ud, const joinery_event_t *ev, uint64_t seq,
                                  unsigned attempt, char *reason, size_t reason_len)
{
    tail_t *t = ud;
    if (t->reject && seq == t->reject_seq) {
        snprintf(reason, reason_len, "rejected by tail");
        return JOINERY_REJECT;
    }
    if (t->count > 0 && t->printed >= t->count) {
        /* Only reachable with an explicit --credit above 1: hand it back for later. */
        snprintf(reason, reason_len, "tail stopped after %llu events", t->count);
        return JOINERY_RETRY;
    }
    json_t *line = cli_event_json(ev, seq, attempt);
    if (line == NULL) {
        line = json_pack("{s:I, s:i, s:s}", "seq", (json_int_t)seq, "attempt", (int)attempt,
                         "error", "event has text fields that are not UTF-8");
    }
    if (cli_print_line(line) != 0) {
        t->failed = 1;
        snprintf(reason, reason_len, "tail could not print it");
        return JOINERY_RETRY;
    }
    t->printed++;
    return JOINERY_ACK;
}

int cli_tail_main(int argc, char **argv, cli_common_t *common)
{
    static const struct option opts[] = {{"subscription", required_argument, NULL, 's'},
                                         {"count", required_argument, NULL, 'n'},
                                         {"credit", required_argument, NULL, 'c'},
                                         {"timeout", required_argument, NULL, 'T'},
                                         {"reject-seq", required_argument, NULL, 'r'},
                                         {"from-beginning", no_argument, NULL, 'b'},
                                         {"help", no_argument, NULL, 'h'},
                                         CLI_COMMON_OPTIONS,
                                         {0}};
    const char *name = "tail";
    unsigned long long credit = 0, timeout = 0;
    int credit_given = 0, from_beginning = 0, opt;
    tail_t t = {0};
    /* No "+": patterns and options may be mixed, as in `tail person.* --count 3`. */
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (cli_common_option(common, opt, optarg)) {
            continue;
        }
        int bad = 0;
        switch (opt) {
        case 's':
            name = optarg;
            break;
        case 'n':
            bad = cli_parse_ull("count", optarg, 1, 1000000000ull, &t.count);
            break;
        case 'c':
            bad = cli_parse_ull("credit", optarg, 1, 1000000, &credit);
            credit_given = 1;
            break;
        case 'T':
            bad = cli_parse_ull("timeout", optarg, 1, 86400000, &timeout);
            break;
        case 'b':
            from_beginning = 1;
            break;
        case 'r':
            bad = cli_parse_ull("reject-seq", optarg, 1, UINT64_MAX, &t.reject_seq);
            t.reject = 1;
            break;
        case 'h':
            fputs(usage, stdout);
            return CLI_OK;
        default:
            fputs(usage, stderr);
            return CLI_USAGE;
        }
        if (bad) {
            return CLI_USAGE;
        }
    }
    if (optind >= argc) {
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    if (t.count > 0 && !credit_given) {
        credit = 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    common->timeout_ms = (int)timeout;
    joinery_client_t *c = cli_connect(common);
    if (c == NULL) {
        return CLI_FAIL;
    }
    joinery_subscription_t sub = {.name = name,
                                  .patterns = (const char *const *)&argv[optind],
                                  .npatterns = (size_t)(argc - optind),
                                  .credit = (unsigned)credit,
                                  .from_beginning = from_beginning,
                                  .handler = on_event,
                                  .ud = &t};
    if (joinery_subscribe_with(c, &sub) != 0) {
        fprintf(stderr, "joinery tail: %s\n", joinery_last_error(c));
        joinery_close(&c);
        return CLI_FAIL;
    }
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int status = CLI_OK;
    while (!stopping && !t.failed && (t.count == 0 || t.printed < t.count)) {
        if (joinery_poll(c, 200) < 0) {
            fprintf(stderr, "joinery tail: %s\n", joinery_last_error(c));
            status = CLI_FAIL;
            break;
        }
        if (timeout > 0) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            long long ms =
                (now.tv_sec - start.tv_sec) * 1000LL + (now.tv_nsec - start.tv_nsec) / 1000000LL;
            if (ms >= (long long)timeout) {
                fprintf(stderr, "joinery tail: %llu of %llu events in %llu ms\n", t.printed,
                        t.count, timeout);
                status = CLI_FAIL;
                break;
            }
        }
    }
    joinery_close(&c); /* sends the last acknowledgements */
    return t.failed ? CLI_FAIL : status;
}
