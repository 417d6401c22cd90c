/* cli_status.c - `joinery status [--table]`: the hub's STATUS-REPLY, as JSON or a table; with
 * --admin URL the same picture from the admin API instead (no operator adapter or Curve keys
 * needed, events waiting rather than journal positions, rates, retries and stored dead
 * letters), as a table or with --json. */
#include "cli_admin.h"
#include "cli_commands.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "Usage: joinery status [--table] [--timeout MS] [connection options]\n"
    "       joinery status --admin URL [--token-file FILE] [--json]\n"
    "\n"
    "Prints the hub's status (adapters, subscriptions and their lag, journal head, dead\n"
    "letters) as one JSON object, or as tables with --table. Needs an adapter marked\n"
    "operator in the hub's configuration.\n"
    "\n"
    "With --admin, asks the hub's admin API instead (read role): per adapter whether it is\n"
    "connected, when it was last seen and its events per second each way (published to the\n"
    "hub, delivered from it, over the last 10 s); per subscription its acked position, events\n"
    "waiting for it, deliveries in flight, retries, and dead letters (stored now; and\n"
    "dead-lettered since the hub started). Tables by default, the API's answers with --json.\n"
    "\n"
    "  --table        human-readable tables instead of JSON (without --admin)\n"
    "  --timeout MS   how long to wait for the hub (default 10000)\n"
    "  --admin URL    the hub's admin API, e.g. http://127.0.0.1:7680\n"
    "  --token-file FILE  a file holding a bearer token (default $JOINERY_ADMIN_TOKEN_FILE)\n"
    "  --json         with --admin: {\"ready\", \"adapters\", \"subscriptions\"} as the API\n"
    "                 answered them\n"
    "\n" CLI_COMMON_HELP;

static long long num(json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static const char *yes(json_t *o, const char *key)
{
    return json_is_true(json_object_get(o, key)) ? "yes" : "no";
}

static void print_table(json_t *st)
{
    /* database_state says how long and why ("failing for 12 s (7 failed
     * commits): ..."); a hub older than the field sends "". */
    const char *state = str(st, "database_state");
    printf("hub %s   database %s   head_seq %lld   dead letters %lld   rejected %lld\n\n",
           str(st, "hub_version"),
           *state                                             ? state
           : json_is_true(json_object_get(st, "database_up")) ? "up"
                                                              : "DOWN",
           num(st, "head_seq"), num(st, "dead_letters"), num(st, "rejected"));
    printf("%-24s %-9s %12s %12s  %s\n", "ADAPTER", "CONNECTED", "PUBLISHED", "DELIVERED",
           "LAST SEEN (UTC)");
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(st, "adapters"), i, a)
    {
        char when[32] = "never";
        long long us = num(a, "last_seen_us");
        if (us > 0) {
            time_t t = (time_t)(us / 1000000);
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
        }
        printf("%-24s %-9s %12lld %12lld  %s\n", str(a, "name"), yes(a, "connected"),
               num(a, "published"), num(a, "delivered"), when);
    }
    printf("\n%-32s %-9s %12s %10s %9s  %s\n", "SUBSCRIPTION", "CONNECTED", "ACKED_SEQ", "LAG",
           "IN_FLIGHT", "PATTERNS");
    json_array_foreach(json_object_get(st, "subscriptions"), i, a)
    {
        char name[256], patterns[512] = "";
        snprintf(name, sizeof name, "%s/%s", str(a, "adapter"), str(a, "subscription"));
        size_t k, used = 0;
        json_t *p;
        json_array_foreach(json_object_get(a, "patterns"), k, p)
        {
            int n = snprintf(patterns + used, sizeof patterns - used, "%s%s", k ? "," : "",
                             json_string_value(p) ? json_string_value(p) : "");
            if (n < 0 || (size_t)n >= sizeof patterns - used) {
                break;
            }
            used += (size_t)n;
        }
        printf("%-32s %-9s %12lld %10lld %9lld  %s\n", name, yes(a, "connected"),
               num(a, "acked_seq"), num(a, "lag"), num(a, "in_flight"), patterns);
    }
}

/* "12.5" events per second, "0" for none. */
static const char *rate(json_t *o, const char *key, char *out, size_t len)
{
    double v = json_number_value(json_object_get(o, key));
    (void)snprintf(out, len, v == 0 ? "0" : "%.1f", v);
    return out;
}

static void admin_table(json_t *ready, json_t *adapters, json_t *subs)
{
    long long stored = 0;
    size_t i;
    json_t *a;
    json_array_foreach(subs, i, a)
    {
        stored += num(a, "dead_letters");
    }
    const char *reason = str(ready, "reason");
    printf("database %s%s%s   dead letters %lld\n\n",
           json_is_true(json_object_get(ready, "ready")) ? "ready" : "NOT READY",
           *reason ? ": " : "", reason, stored);
    printf("%-24s %-9s %-19s %10s %10s %12s %12s %9s\n", "ADAPTER", "CONNECTED", "LAST SEEN (UTC)",
           "IN/S", "OUT/S", "PUBLISHED", "DELIVERED", "REJECTED");
    json_array_foreach(adapters, i, a)
    {
        char when[32] = "never", in[32], out[32];
        if (num(a, "last_seen_us") > 0) {
            cli_admin_time((json_int_t)num(a, "last_seen_us"), when, sizeof when);
        }
        printf("%-24s %-9s %-19s %10s %10s %12lld %12lld %9lld\n", str(a, "name"),
               yes(a, "connected"), when, rate(a, "published_per_s", in, sizeof in),
               rate(a, "delivered_per_s", out, sizeof out), num(a, "published"),
               num(a, "delivered"), num(a, "rejected"));
    }
    printf("\n%-40s %-9s %12s %10s %9s %8s %8s %12s  %s\n", "SUBSCRIPTION", "CONNECTED",
           "ACKED_SEQ", "WAITING", "IN_FLIGHT", "RETRYING", "RETRIES", "DEAD_LETTERS", "PATTERNS");
    json_array_foreach(subs, i, a)
    {
        char name[160];
        (void)snprintf(name, sizeof name, "%s/%s", str(a, "adapter"), str(a, "name"));
        char *patterns = json_dumps(json_object_get(a, "patterns"), JSON_COMPACT);
        /* "~": the hub estimated the count (the subscription is behind its memory window). */
        printf("%-40s %-9s %12lld %9lld%s %9lld %8lld %8lld %12lld  %s\n", name,
               yes(a, "connected"), num(a, "acked_seq"), num(a, "events_waiting"),
               json_is_false(json_object_get(a, "events_waiting_exact")) ? "~" : " ",
               num(a, "in_flight"), num(a, "retrying"), num(a, "retries"), num(a, "dead_letters"),
               patterns != NULL ? patterns : "?");
        free(patterns);
    }
}

/* status --admin: /readyz, /api/v1/adapters and /api/v1/subscriptions. */
static int admin_status(const cli_admin_t *admin)
{
    char err[512];
    long http = 0;
    /* 503 is an answer too: not ready, and why. */
    json_t *ready = cli_admin_request(admin, "GET", "/readyz", NULL, &http, err, sizeof err);
    if (ready == NULL && http != 503) {
        fprintf(stderr, "joinery status: %s\n", err);
        return CLI_FAIL;
    }
    if (ready == NULL) {
        const char *why = strstr(err, "HTTP 503: ");
        ready = json_pack("{sb ss}", "ready", 0, "reason", why != NULL ? why + 10 : err);
    }
    json_t *adapters = cli_admin_call(admin, "GET", "/api/v1/adapters", NULL);
    json_t *subs =
        adapters != NULL ? cli_admin_call(admin, "GET", "/api/v1/subscriptions", NULL) : NULL;
    int rc = CLI_FAIL;
    if (ready != NULL && adapters != NULL && subs != NULL) {
        if (admin->json) {
            json_t *all = json_pack("{sO sO sO}", "ready", ready, "adapters",
                                    json_object_get(adapters, "adapters"), "subscriptions",
                                    json_object_get(subs, "subscriptions"));
            rc = all != NULL ? cli_admin_print_json(all) : CLI_FAIL;
            json_decref(all);
        } else {
            admin_table(ready, json_object_get(adapters, "adapters"),
                        json_object_get(subs, "subscriptions"));
            rc = CLI_OK;
        }
    }
    json_decref(ready);
    json_decref(adapters);
    json_decref(subs);
    return rc;
}

int cli_status_main(int argc, char **argv, cli_common_t *common)
{
    static const struct option opts[] = {{"table", no_argument, NULL, 't'},
                                         {"timeout", required_argument, NULL, 'T'},
                                         {"help", no_argument, NULL, 'h'},
                                         CLI_COMMON_OPTIONS,
                                         CLI_ADMIN_OPTIONS,
                                         {0}};
    int table = 0, opt, via_admin = 0;
    unsigned long long timeout = 10000;
    cli_admin_t admin;
    cli_admin_init(&admin);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (cli_common_option(common, opt, optarg)) {
            continue;
        }
        /* Only an explicit --admin switches to the API: scripts that set $JOINERY_ADMIN for
         * other commands keep the protocol STATUS JSON they parse. */
        via_admin |= opt == CLI_ADMIN_OPT_URL;
        if (cli_admin_option(&admin, opt, optarg)) {
            continue;
        }
        switch (opt) {
        case 't':
            table = 1;
            break;
        case 'T':
            if (cli_parse_ull("timeout", optarg, 1, 86400000, &timeout) != 0) {
                return CLI_USAGE;
            }
            break;
        case 'h':
            fputs(usage, stdout);
            return CLI_OK;
        default:
            fputs(usage, stderr);
            return CLI_USAGE;
        }
    }
    if (optind != argc) {
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    if (via_admin && table) {
        fprintf(stderr, "joinery status: with --admin the answer is a table already (--json "
                        "for JSON); --table is for the protocol STATUS\n");
        return CLI_USAGE;
    }
    if (!via_admin && admin.json) {
        fprintf(stderr, "joinery status: --json is for --admin; without it the answer is JSON "
                        "already (--table for tables)\n");
        return CLI_USAGE;
    }
    if (via_admin) {
        return admin_status(&admin);
    }
    common->timeout_ms = (int)timeout;
    joinery_client_t *c = cli_connect(common);
    if (c == NULL) {
        return CLI_FAIL;
    }
    char *json = NULL;
    int rc = joinery_status(c, &json, (int)timeout);
    if (rc != 0) {
        fprintf(stderr, "joinery status: %s\n", joinery_last_error(c));
        joinery_close(&c);
        return CLI_FAIL;
    }
    joinery_close(&c);
    json_t *st = json_loads(json, 0, NULL);
    if (st == NULL) {
        free(json);
        fprintf(stderr, "joinery status: the SDK returned unreadable JSON\n");
        return CLI_FAIL;
    }
    /* On stderr, so the JSON on stdout stays what scripts parse. */
    if (json_is_false(json_object_get(st, "database_up"))) {
        fprintf(stderr,
                "joinery status: the hub's database is unavailable (%s): publishes are "
                "answered RETRY until it is back\n",
                str(st, "database_state"));
    }
    if (!table) {
        printf("%s\n", json);
    } else {
        print_table(st);
    }
    free(json);
    json_decref(st);
    return CLI_OK;
}
