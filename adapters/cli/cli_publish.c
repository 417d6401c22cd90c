/* cli_publish.c - `joinery publish`: one JSON event with its confirmation, or N synthetic events
 * published asynchronously (for smoke tests and rough throughput numbers). */
#include "cli_commands.h"
#include "cli_event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "Usage: joinery publish [FILE|-] [--timeout MS] [connection options]\n"
    "       joinery publish --type TYPE --count N [--size BYTES] [--entities K] [--timeout MS]\n"
    "\n"
    "First form: reads one JSON event from FILE (or standard input) and prints the hub's\n"
    "confirmation as JSON: {event_id, status, seq, master_id, reason}. The event is\n"
    "  {\"type\": \"person.updated\", \"source_record_id\": \"C-42\", \"payload\": {...},\n"
    "   \"event_id\"?, \"payload_type\"?, \"payload_b64\"?, \"attributes\"?: {\"k\": \"v\"},\n"
    "   \"correlation_id\"?, \"causation_id\"?, \"occurred_at\"?: microseconds,\n"
    "   \"base_version\"?, \"schema_version\"?}\n"
    "A payload that is not a string is sent as its JSON text with payload_type\n"
    "application/json unless payload_type says otherwise. Without event_id a ULID is made.\n"
    "Exit status 1 if the hub rejected the event or did not answer in time.\n"
    "\n"
    "Second form: publishes N synthetic events of TYPE asynchronously, their\n"
    "source_record_id cycling over K entities (default 100), each payload a JSON object of\n"
    "about BYTES bytes (default 100), and prints a summary: {published, confirmed,\n"
    "duplicates, rejected, unconfirmed, elapsed_s, events_per_s}. Exit status 1 unless\n"
    "every event was confirmed.\n"
    "\n"
    "  --timeout MS   how long to wait for the hub to answer the connection (default 10000)\n"
    "                 and for confirmations (default 30000; synthetic: 300000)\n"
    "\n" CLI_COMMON_HELP;

typedef struct {
    unsigned long long ok, dup, rejected, unconfirmed;
    char first_reason[256];
} tally_t;

static void on_confirm(void *ud, const joinery_confirm_t *cf)
{
    tally_t *t = ud;
    switch (cf->status) {
    case JOINERY_OK:
        t->ok++;
        break;
    case JOINERY_DUPLICATE:
        t->dup++;
        break;
    case JOINERY_REJECTED:
        if (t->rejected++ == 0) {
            snprintf(t->first_reason, sizeof t->first_reason, "%s", cf->reason);
        }
        break;
    case JOINERY_UNCONFIRMED:
        t->unconfirmed++;
        break;
    }
}

/* A timeout alone hides the usual cause: the hub is up but its database is not, and it
 * answers RETRY until it is back. Ask it, and say so when that is the reason. */
static void report_unconfirmed(joinery_client_t *c, const char *what)
{
    char why[512];
    snprintf(why, sizeof why, "%s", joinery_last_error(c));
    if (cli_hub_database_down(c)) {
        fprintf(stderr,
                "joinery publish: the hub's database is unavailable: %s not accepted; retry "
                "later (%s)\n",
                what, why);
    } else {
        fprintf(stderr, "joinery publish: %s\n", why);
    }
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int publish_synthetic(joinery_client_t *c, const char *type, unsigned long long count,
                             unsigned long long size, unsigned long long entities, int timeout)
{
    /* One payload buffer reused for every event: the SDK copies on publish. */
    char *payload = malloc(size + 128);
    char *pad = malloc(size + 1);
    if (payload == NULL || pad == NULL) {
        fprintf(stderr, "joinery publish: out of memory\n");
        free(payload);
        free(pad);
        return CLI_FAIL;
    }
    memset(pad, 'x', size);
    tally_t t = {0};
    unsigned long long published = 0;
    double t0 = seconds_now();
    for (unsigned long long i = 0; i < count; i++) {
        char rec[32];
        snprintf(rec, sizeof rec, "entity-%llu", i % entities);
        int head = snprintf(payload, 128, "{\"n\":%llu,\"entity\":\"%s\",\"pad\":\"", i, rec);
        size_t padlen = size > (size_t)head + 2 ? size - (size_t)head - 2 : 0;
        memcpy(payload + head, pad, padlen);
        memcpy(payload + head + padlen, "\"}", 2);
        joinery_event_t ev = {.type = type,
                              .source_record_id = rec,
                              .payload_type = "application/json",
                              .payload = payload,
                              .payload_len = (size_t)head + padlen + 2};
        if (joinery_publish_async(c, &ev, on_confirm, &t, NULL) != 0) {
            fprintf(stderr, "joinery publish: event %llu: %s\n", i, joinery_last_error(c));
            break;
        }
        published++;
    }
    int flushed = joinery_flush(c, timeout);
    double elapsed = seconds_now() - t0;
    if (flushed != 0) {
        report_unconfirmed(c, "some events were");
    }
    free(payload);
    free(pad);
    joinery_close(&c); /* reports the still unconfirmed ones to on_confirm */
    if (t.rejected > 0) {
        fprintf(stderr, "joinery publish: %llu rejected, first because: %s\n", t.rejected,
                t.first_reason);
    }
    json_t *summary =
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:f, s:f}", "published", (json_int_t)published,
                  "confirmed", (json_int_t)t.ok, "duplicates", (json_int_t)t.dup, "rejected",
                  (json_int_t)t.rejected, "unconfirmed", (json_int_t)t.unconfirmed, "elapsed_s",
                  elapsed, "events_per_s", elapsed > 0 ? (double)(t.ok + t.dup) / elapsed : 0.0);
    cli_print_line(summary);
    int all = published == count && t.ok + t.dup == count;
    return all ? CLI_OK : CLI_FAIL;
}

/* Reads and parses the event before connecting: a mistake in it is said at once, with or
 * without a hub. 0, or -1 having said why on stderr. */
static int read_event(const char *path, cli_event_t *e)
{
    size_t len = 0;
    char *text = cli_read_all(path, 64u << 20, &len);
    if (text == NULL) {
        return -1;
    }
    char err[1024];
    int rc = cli_event_parse(text, e, err, sizeof err);
    free(text);
    if (rc != 0) {
        fprintf(stderr, "joinery publish: %s: %s\n", path, err);
    }
    return rc;
}

static int publish_one(const cli_common_t *common, const char *path, int timeout)
{
    cli_event_t e;
    if (read_event(path, &e) != 0) {
        return CLI_FAIL;
    }
    joinery_client_t *c = cli_connect(common);
    if (c == NULL) {
        cli_event_free(&e);
        return CLI_FAIL;
    }
    joinery_confirm_t cf;
    int rc = joinery_publish(c, &e.ev, &cf, timeout);
    cli_event_free(&e);
    if (rc != 0) {
        report_unconfirmed(c, "the event was");
        joinery_close(&c);
        return CLI_FAIL;
    }
    cli_print_line(cli_confirm_json(&cf));
    int status = cf.status == JOINERY_REJECTED ? CLI_FAIL : CLI_OK;
    if (cf.status == JOINERY_REJECTED) {
        fprintf(stderr, "joinery publish: rejected: %s\n", cf.reason);
    }
    joinery_close(&c);
    return status;
}

int cli_publish_main(int argc, char **argv, cli_common_t *common)
{
    static const struct option opts[] = {{"type", required_argument, NULL, 't'},
                                         {"count", required_argument, NULL, 'n'},
                                         {"size", required_argument, NULL, 's'},
                                         {"entities", required_argument, NULL, 'e'},
                                         {"timeout", required_argument, NULL, 'T'},
                                         {"help", no_argument, NULL, 'h'},
                                         CLI_COMMON_OPTIONS,
                                         {0}};
    const char *type = NULL;
    unsigned long long count = 0, size = 100, entities = 100, timeout = 0;
    int synthetic = 0, opt;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (cli_common_option(common, opt, optarg)) {
            continue;
        }
        int bad = 0;
        switch (opt) {
        case 't':
            type = optarg;
            synthetic = 1;
            break;
        case 'n':
            bad = cli_parse_ull("count", optarg, 1, 1000000000ull, &count);
            synthetic = 1;
            break;
        case 's':
            bad = cli_parse_ull("size", optarg, 0, 64u << 20, &size);
            break;
        case 'e':
            bad = cli_parse_ull("entities", optarg, 1, 1000000000ull, &entities);
            break;
        case 'T':
            bad = cli_parse_ull("timeout", optarg, 1, 86400000, &timeout);
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
    if ((synthetic && (type == NULL || count == 0 || optind != argc)) ||
        (!synthetic && argc - optind > 1)) {
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    common->timeout_ms = (int)timeout;
    if (!synthetic) {
        return publish_one(common, optind < argc ? argv[optind] : "-",
                           timeout ? (int)timeout : 30000);
    }
    joinery_client_t *c = cli_connect(common);
    if (c == NULL) {
        return CLI_FAIL;
    }
    return publish_synthetic(c, type, count, size, entities, timeout ? (int)timeout : 300000);
}
