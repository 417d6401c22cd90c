/* cli_trace.c - `joinery trace`: one event, the events of a correlation id, or a golden record,
 * as the hub's admin API traces them (GET /api/v1/trace): each event, where it was delivered and
 * how that went (attempts, acked, dead-lettered with the NACK's reason), what the master-data
 * engine decided on it, and the events it caused; then refusals and the golden record. */
#include "cli_admin.h"
#include "cli_commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

static json_int_t num(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static void print_deliveries(const json_t *list, int indent)
{
    size_t i;
    json_t *d;
    json_array_foreach(list, i, d)
    {
        char who[160], attempts[32] = "attempts ?";
        json_t *a = json_object_get(d, "attempts");
        if (json_is_integer(a)) {
            (void)snprintf(attempts, sizeof attempts, "attempts %lld",
                           (long long)json_integer_value(a));
        }
        (void)snprintf(who, sizeof who, "%s/%s", str(d, "adapter"), str(d, "subscription"));
        json_t *dls = json_object_get(d, "dead_letters");
        const json_t *last = json_array_get(dls, json_array_size(dls) - 1);
        printf("%*s%-32s  %-13s  %-10s  %s\n", indent, "", who, str(d, "state"), attempts,
               last != NULL ? str(last, "reason") : "");
    }
    if (json_array_size(list) == 0) {
        printf("%*s(delivered to no subscription)\n", indent, "");
    }
}

static void print_decisions(const json_t *md)
{
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(md, "audit"), i, a)
    {
        char *detail = json_dumps(json_object_get(a, "detail"), JSON_COMPACT);
        printf("  master data: %s %s %.200s\n", str(a, "action"), str(a, "master_id"),
               detail != NULL ? detail : "");
        free(detail);
    }
    json_array_foreach(json_object_get(md, "steward_queue"), i, a)
    {
        printf("  steward queue item %lld: %s, %s and %s, score %.2f\n", (long long)num(a, "id"),
               str(a, "state"), str(a, "master_a"), str(a, "master_b"),
               json_number_value(json_object_get(a, "score")));
    }
}

static void print_event(const json_t *e)
{
    char when[32];
    printf("seq %lld  %s  %s  %s  received %s UTC\n", (long long)num(e, "seq"), str(e, "source"),
           str(e, "type"), str(e, "event_id"),
           cli_admin_time(num(e, "received_at_us"), when, sizeof when));
    const json_t *env = json_object_get(e, "envelope");
    if (*str(env, "master_id") != '\0' || *str(env, "correlation_id") != '\0') {
        printf("  master id %s  correlation id %s  target %s\n",
               *str(env, "master_id") ? str(env, "master_id") : "-",
               *str(env, "correlation_id") ? str(env, "correlation_id") : "-",
               *str(e, "target") ? str(e, "target") : "everyone");
    }
    print_deliveries(json_object_get(e, "deliveries"), 2);
    print_decisions(json_object_get(e, "master_data"));
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(e, "derived"), i, d)
    {
        printf("  caused: seq %lld %s %s -> %s\n", (long long)num(d, "seq"), str(d, "type"),
               str(d, "event_id"), *str(d, "target") ? str(d, "target") : "everyone");
        print_deliveries(json_object_get(d, "deliveries"), 4);
    }
}

static void print_master(const json_t *m)
{
    const json_t *g = json_object_get(m, "golden");
    if (json_is_object(g)) {
        printf("golden record %s  version %lld  %s\n", str(g, "master_id"),
               (long long)num(g, "version"), str(g, "state"));
    }
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(m, "xref"), i, x)
    {
        printf("  %-16s  %-24s  %-14s  %s\n", str(x, "system"), str(x, "local_id"),
               str(x, "link_state"), str(x, "how"));
    }
    json_array_foreach(json_object_get(m, "steward_queue"), i, x)
    {
        printf("  steward queue item %lld: %s, %s and %s\n", (long long)num(x, "id"),
               str(x, "state"), str(x, "master_a"), str(x, "master_b"));
    }
}

static void print_trace(const json_t *t)
{
    const json_t *m = json_object_get(t, "master");
    if (json_is_object(m)) {
        print_master(m);
    }
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(t, "events"), i, e)
    {
        print_event(e);
    }
    json_array_foreach(json_object_get(t, "refusals"), i, e)
    {
        char when[32];
        printf("refused: %s from %s (%s) at %s UTC: %s\n", str(e, "event_id"), str(e, "adapter"),
               str(e, "type"), cli_admin_time(num(e, "received_at_us"), when, sizeof when),
               str(e, "reason"));
    }
    if (json_array_size(json_object_get(t, "events")) == 0 &&
        json_array_size(json_object_get(t, "refusals")) == 0) {
        printf("No event found.\n");
    }
    if (json_is_true(json_object_get(t, "truncated"))) {
        printf("(more events than --limit; the newest shown)\n");
    }
}

static const char trace_usage[] =
    "Usage: joinery trace (--event-id ID [--source ADAPTER] | --correlation-id ID |\n"
    "                      --master-id ID) [--limit N] [--json] [--admin URL] [--token-file F]\n"
    "\n"
    "Traces through the hub's admin API (GET /api/v1/trace): the event(s), where each was\n"
    "delivered (attempts; acked, or dead-lettered with the subscriber's NACK reason), what the\n"
    "master-data engine decided on it, the events it caused and their deliveries, refusals, and\n"
    "for --master-id the golden record with its local ids. Needs a token with the read role.\n"
    "  --limit N          events at most (1-100, default 20)\n"
    "\n" CLI_ADMIN_HELP;

/* "?event_id=...&source=...&limit=..." for the options given; NULL out of memory. */
static char *trace_query(const char *key, const char *value, const char *source, const char *limit)
{
    char *v = cli_admin_escape(value), *s = source ? cli_admin_escape(source) : NULL;
    char *l = limit ? cli_admin_escape(limit) : NULL;
    size_t n = 64 + strlen(v ? v : "") + strlen(s ? s : "") + strlen(l ? l : "");
    char *q = v != NULL ? malloc(n) : NULL;
    if (q != NULL) {
        (void)snprintf(q, n, "/api/v1/trace?%s=%s%s%s%s%s", key, v, s ? "&source=" : "", s ? s : "",
                       l ? "&limit=" : "", l ? l : "");
    }
    free(v);
    free(s);
    free(l);
    return q;
}

int cli_trace_main(int argc, char **argv, cli_common_t *common)
{
    static const struct option opts[] = {{"event-id", required_argument, NULL, 'e'},
                                         {"correlation-id", required_argument, NULL, 'c'},
                                         {"master-id", required_argument, NULL, 'm'},
                                         {"source", required_argument, NULL, 's'},
                                         {"limit", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         CLI_ADMIN_OPTIONS,
                                         {0}};
    (void)common;
    cli_admin_t a;
    cli_admin_init(&a);
    const char *key = NULL, *value = NULL, *source = NULL, *limit = NULL;
    int opt, keys = 0;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (cli_admin_option(&a, opt, optarg)) {
            continue;
        }
        switch (opt) {
        case 'e':
        case 'c':
        case 'm':
            key = opt == 'e' ? "event_id" : opt == 'c' ? "correlation_id" : "master_id";
            value = optarg;
            keys++;
            break;
        case 's':
            source = optarg;
            break;
        case 'l':
            limit = optarg;
            break;
        case 'h':
            fputs(trace_usage, stdout);
            return CLI_OK;
        default:
            fputs(trace_usage, stderr);
            return CLI_USAGE;
        }
    }
    if (keys != 1 || optind != argc) {
        fputs(trace_usage, stderr);
        return CLI_USAGE;
    }
    char *path = trace_query(key, value, source, limit);
    json_t *t = path != NULL ? cli_admin_call(&a, "GET", path, NULL) : NULL;
    free(path);
    if (t == NULL) {
        return CLI_FAIL;
    }
    int rc = CLI_OK;
    if (a.json) {
        rc = cli_admin_print_json(t);
    } else {
        print_trace(t);
    }
    json_decref(t);
    return rc;
}
