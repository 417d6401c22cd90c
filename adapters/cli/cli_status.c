/* cli_status.c - `joinery status [--table]`: the hub's STATUS-REPLY, as JSON or a table. */
#include "cli_commands.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static const char usage[] =
    "Usage: joinery status [--table] [--timeout MS] [connection options]\n"
    "\n"
    "Prints the hub's status (adapters, subscriptions and their lag, journal head, dead\n"
    "letters) as one JSON object, or as tables with --table. Needs an adapter marked\n"
    "operator in the hub's configuration.\n"
    "\n"
    "  --table        human-readable tables instead of JSON\n"
    "  --timeout MS   how long to wait for the hub (default 10000)\n"
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

int cli_status_main(int argc, char **argv, cli_common_t *common)
{
    static const struct option opts[] = {{"table", no_argument, NULL, 't'},
                                         {"timeout", required_argument, NULL, 'T'},
                                         {"help", no_argument, NULL, 'h'},
                                         CLI_COMMON_OPTIONS,
                                         {0}};
    int table = 0, opt;
    unsigned long long timeout = 10000;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (cli_common_option(common, opt, optarg)) {
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
