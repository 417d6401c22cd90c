/* cli_tail.c - `joinery tail PATTERN...`: subscribes and prints each delivered event as one JSON
 * line, acknowledging it - the operator's way to watch traffic and the e2e tests' consumer.
 *
 * Payloads of the hub's schema types are printed decoded (joinery_payload_json). An ephemeral
 * tail leaves no subscription behind: the protocol has only durable subscriptions, so it takes
 * a name of its own and deletes it through the admin API once its session has ended (after the
 * count, a timeout, an error, SIGINT or SIGTERM alike). */
#include "cli_admin.h"
#include "cli_commands.h"
#include "cli_event.h"

#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "Usage: joinery tail PATTERN... [--subscription NAME | --ephemeral] [--from-beginning]\n"
    "                    [--durable] [--raw] [--count N] [--credit C] [--timeout MS]\n"
    "                    [--reject-seq S] [--admin URL] [--token-file FILE]\n"
    "                    [connection options]\n"
    "\n"
    "Subscribes to the event-type patterns (\"person.*\", \"case.referral.created\", \"*\")\n"
    "and prints each delivered event as one JSON line:\n"
    "  {seq, attempt, event_id, type, source, source_record_id, master_id, occurred_at,\n"
    "   received_at, payload_type, payload | payload_b64, attributes, correlation_id,\n"
    "   causation_id}\n"
    "Times are UTC microseconds. A payload of one of the hub's schema types (payload_type\n"
    "joinery.v1.Person, ...) is printed as a JSON object with the message's fields; any other\n"
    "payload as text when it is readable UTF-8, otherwise payload_b64 holds it in base64.\n"
    "Each printed event is acknowledged.\n"
    "\n"
    "  --subscription NAME  durable subscription to use (default tail); it resumes where\n"
    "                       the last run with that name stopped\n"
    "  --ephemeral          leave no subscription behind: subscribe under a name of its own\n"
    "                       (tail-eph-...) and delete it through the hub's admin API on exit\n"
    "                       (count reached, timeout, Ctrl-C or SIGTERM). Needs the admin API\n"
    "                       (--admin or $JOINERY_ADMIN) and a token of the operate role\n"
    "  --durable            with --from-beginning: keep the subscription (see below)\n"
    "  --raw                payloads as they came (text or payload_b64), not decoded\n"
    "  --count N            exit after printing N events (credit defaults to 1 then, so no\n"
    "                       event beyond the N-th is taken from the hub)\n"
    "  --credit C           deliveries the hub may have outstanding (default: the hub's)\n"
    "  --from-beginning     start from the oldest journaled event rather than after the\n"
    "                       newest. Ephemeral unless --subscription or --durable is given:\n"
    "                       a durable subscription starts from the beginning only the first\n"
    "                       time, so a reader of the whole journal would otherwise leave one\n"
    "                       behind that the next run merely resumes\n"
    "  --timeout MS         with --count: exit 1 if N events did not come within MS; also\n"
    "                       bounds connecting (default 10000)\n"
    "  --reject-seq S       (for tests) reject the event with seq S instead of printing it:\n"
    "                       the hub dead-letters it with reason \"rejected by tail\"\n"
    "  --admin URL          the hub's admin API, for --ephemeral (default $JOINERY_ADMIN)\n"
    "  --token-file FILE    its bearer token, operate role (default\n"
    "                       $JOINERY_ADMIN_TOKEN_FILE)\n"
    "\n" CLI_COMMON_HELP;

/* How long an ephemeral tail tries to delete its subscription: the hub refuses (409) until it
 * has seen the session end, which takes a heartbeat at most after a lost connection. */
#define DELETE_WAIT_MS 15000

typedef struct {
    unsigned long long printed;
    unsigned long long count; /* 0: no limit */
    unsigned long long reject_seq;
    int reject;
    int failed;
    int raw; /* --raw: no decoding */
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
    char *decoded = line != NULL && !t->raw
                        ? joinery_payload_json(ev->payload_type, ev->payload, ev->payload_len)
                        : NULL;
    json_t *payload = decoded != NULL ? json_loads(decoded, 0, NULL) : NULL;
    free(decoded);
    if (payload != NULL) {
        /* The decoded message replaces the bytes' text or base64 form. */
        json_object_del(line, "payload_b64");
        json_object_set_new(line, "payload", payload);
    }
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

static long long ms_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000LL + (now.tv_nsec - start->tv_nsec) / 1000000LL;
}

/* "tail-eph-" and a ULID in lower case: unique per run, sortable by when it ran, and within
 * the protocol's subscription names (a-z 0-9 _ - ., 64 at most). */
static void ephemeral_name(char *out, size_t len)
{
    char id[27];
    joinery_event_id_new(id);
    for (char *p = id; *p != '\0'; p++) {
        *p = (char)tolower((unsigned char)*p);
    }
    (void)snprintf(out, len, "tail-eph-%s", id);
}

/* Before subscribing: an admin API that cannot be reached now will not delete the subscription
 * later, so say so before there is one. */
static int ephemeral_check(const cli_admin_t *admin)
{
    char err[512];
    long http;
    json_t *j =
        cli_admin_request(admin, "GET", "/api/v1/subscriptions", NULL, &http, err, sizeof err);
    if (j == NULL) {
        fprintf(stderr,
                "joinery tail: the admin API is needed to delete the ephemeral "
                "subscription on exit, and %s\n",
                err);
        return -1;
    }
    json_decref(j);
    return 0;
}

/* Deletes ADAPTER's subscription NAME, waiting for the hub to see the session gone. */
static int ephemeral_delete(const cli_admin_t *admin, const char *adapter, const char *name)
{
    char *a = cli_admin_escape(adapter), *n = cli_admin_escape(name);
    char path[512], err[512] = "out of memory";
    int rc = -1;
    if (a != NULL && n != NULL &&
        snprintf(path, sizeof path, "/api/v1/subscriptions/%s/%s", a, n) < (int)sizeof path) {
        struct timespec start;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
            long http;
            json_t *j = cli_admin_request(admin, "DELETE", path, NULL, &http, err, sizeof err);
            json_decref(j);
            if (j != NULL || http == 404) {
                rc = 0; /* deleted, or it never came to be */
                break;
            }
            /* 409: the hub has not yet seen the session end, or is still saving the
             * subscription; 503: its database is away for a moment. Anything else will not
             * change by asking again. */
            if ((http != 409 && http != 503) || ms_since(&start) >= DELETE_WAIT_MS) {
                break;
            }
            struct timespec pause = {0, 100 * 1000000L};
            nanosleep(&pause, NULL);
        }
    }
    if (rc != 0) {
        fprintf(stderr,
                "joinery tail: the ephemeral subscription %s/%s is left behind (%s); delete it "
                "with `joinery subscriptions delete %s %s`\n",
                adapter, name, err, adapter, name);
    }
    free(a);
    free(n);
    return rc;
}

int cli_tail_main(int argc, char **argv, cli_common_t *common)
{
    static const struct option opts[] = {
        {"subscription", required_argument, NULL, 's'},
        {"count", required_argument, NULL, 'n'},
        {"credit", required_argument, NULL, 'c'},
        {"timeout", required_argument, NULL, 'T'},
        {"reject-seq", required_argument, NULL, 'r'},
        {"from-beginning", no_argument, NULL, 'b'},
        {"ephemeral", no_argument, NULL, 'e'},
        {"durable", no_argument, NULL, 'd'},
        {"raw", no_argument, NULL, 'R'},
        {"admin", required_argument, NULL, CLI_ADMIN_OPT_URL},
        {"token-file", required_argument, NULL, CLI_ADMIN_OPT_TOKEN},
        {"help", no_argument, NULL, 'h'},
        CLI_COMMON_OPTIONS,
        {0}};
    const char *name = NULL;
    unsigned long long credit = 0, timeout = 0;
    int credit_given = 0, from_beginning = 0, ephemeral = 0, durable = 0, opt;
    tail_t t = {0};
    cli_admin_t admin;
    cli_admin_init(&admin);
    /* No "+": patterns and options may be mixed, as in `tail person.* --count 3`. */
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (cli_common_option(common, opt, optarg) || cli_admin_option(&admin, opt, optarg)) {
            continue;
        }
        int bad = 0;
        switch (opt) {
        case 'e':
            ephemeral = 1;
            break;
        case 'd':
            durable = 1;
            break;
        case 'R':
            t.raw = 1;
            break;
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
    if (ephemeral && (name != NULL || durable)) {
        fprintf(stderr, "joinery tail: --ephemeral makes a subscription of its own; it takes "
                        "neither --subscription nor --durable\n");
        return CLI_USAGE;
    }
    ephemeral |= from_beginning && name == NULL && !durable;
    char eph_name[48];
    if (ephemeral) {
        if (admin.url == NULL) {
            fprintf(stderr,
                    "joinery tail: %s deletes its subscription on exit through the hub's "
                    "admin API: give --admin URL (or set JOINERY_ADMIN), and --token-file with "
                    "an operate token if the API has tokens%s\n",
                    from_beginning ? "--from-beginning (ephemeral unless --durable or "
                                     "--subscription)"
                                   : "--ephemeral",
                    from_beginning ? "; or --durable to keep a subscription named tail" : "");
            return CLI_USAGE;
        }
        if (ephemeral_check(&admin) != 0) {
            return CLI_FAIL;
        }
        ephemeral_name(eph_name, sizeof eph_name);
        name = eph_name;
    } else if (name == NULL) {
        name = "tail";
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
    int status = CLI_OK;
    if (joinery_subscribe_with(c, &sub) != 0) {
        fprintf(stderr, "joinery tail: %s\n", joinery_last_error(c));
        status = CLI_FAIL;
    }
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (status == CLI_OK && !stopping && !t.failed && (t.count == 0 || t.printed < t.count)) {
        if (joinery_poll(c, 200) < 0) {
            fprintf(stderr, "joinery tail: %s\n", joinery_last_error(c));
            status = CLI_FAIL;
            break;
        }
        if (timeout > 0 && ms_since(&start) >= (long long)timeout) {
            fprintf(stderr, "joinery tail: %llu of %llu events in %llu ms\n", t.printed, t.count,
                    timeout);
            status = CLI_FAIL;
            break;
        }
    }
    joinery_close(&c); /* sends the last acknowledgements, and GOODBYE */
    /* Also when subscribing failed: a SUBSCRIBE the hub took before the answer was lost leaves
     * the subscription all the same (deleting one that is not there is a 404, and fine). */
    if (ephemeral && ephemeral_delete(&admin, common->adapter, name) != 0) {
        status = CLI_FAIL;
    }
    return t.failed ? CLI_FAIL : status;
}
