/* cli_subs.c - `joinery subscriptions list|delete` through the hub's admin API: the live state
 * of every durable subscription (from the hub's core), and deleting one whose adapter is gone
 * (operate role; the hub refuses while the adapter is connected to it). */
#include "cli_admin.h"
#include "cli_commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char subs_usage[] =
    "Usage: joinery subscriptions list\n"
    "       joinery subscriptions delete ADAPTER NAME\n"
    "\n"
    "Durable subscriptions through the hub's admin API: list (read role) shows each with\n"
    "whether its adapter is connected, events waiting, in flight, dead letters stored and its\n"
    "patterns; delete (operate role) forgets one and its cursor. Both take --json.\n"
    "\n" CLI_ADMIN_HELP;

static void print_sub(const json_t *s)
{
    char who[160], dead[24] = "?";
    (void)snprintf(who, sizeof who, "%s/%s", json_string_value(json_object_get(s, "adapter")),
                   json_string_value(json_object_get(s, "name")));
    json_t *d = json_object_get(s, "dead_letters");
    if (json_is_integer(d)) {
        (void)snprintf(dead, sizeof dead, "%lld", (long long)json_integer_value(d));
    }
    char *patterns = json_dumps(json_object_get(s, "patterns"), JSON_COMPACT);
    printf("%-32s  %-9s  %-10lld  %-9lld  %-12s  %s\n", who,
           json_is_true(json_object_get(s, "connected")) ? "yes" : "no",
           (long long)json_integer_value(json_object_get(s, "events_waiting")),
           (long long)json_integer_value(json_object_get(s, "in_flight")), dead,
           patterns != NULL ? patterns : "?");
    free(patterns);
}

int cli_subs_main(int argc, char **argv, cli_common_t *common)
{
    static const struct option opts[] = {CLI_ADMIN_OPTIONS, {0}};
    (void)common;
    cli_admin_t a;
    cli_admin_init(&a);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(subs_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    const char *verb = argv[1];
    int opt;
    while ((opt = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
        if (!cli_admin_option(&a, opt, optarg)) {
            fputs(subs_usage, stderr);
            return CLI_USAGE;
        }
    }
    int rest = argc - 1 - optind;
    char **args = argv + 1 + optind;
    json_t *j = NULL;
    if (strcmp(verb, "list") == 0 && rest == 0) {
        j = cli_admin_call(&a, "GET", "/api/v1/subscriptions", NULL);
    } else if (strcmp(verb, "delete") == 0 && rest == 2) {
        char *ad = cli_admin_escape(args[0]), *name = cli_admin_escape(args[1]);
        size_t n = (ad ? strlen(ad) : 0) + (name ? strlen(name) : 0) + 32;
        char *path = ad && name ? malloc(n) : NULL;
        if (path != NULL) {
            (void)snprintf(path, n, "/api/v1/subscriptions/%s/%s", ad, name);
            j = cli_admin_call(&a, "DELETE", path, NULL);
        }
        free(path);
        free(ad);
        free(name);
    } else {
        fputs(subs_usage, stderr);
        return CLI_USAGE;
    }
    if (j == NULL) {
        return CLI_FAIL;
    }
    int rc = CLI_OK;
    if (a.json || strcmp(verb, "delete") == 0) {
        rc = cli_admin_print_json(j);
    } else {
        json_t *list = json_object_get(j, "subscriptions"), *s;
        size_t i;
        printf("%-32s  %-9s  %-10s  %-9s  %-12s  %s\n", "SUBSCRIPTION", "CONNECTED", "WAITING",
               "IN FLIGHT", "DEAD LETTERS", "PATTERNS");
        json_array_foreach(list, i, s)
        {
            print_sub(s);
        }
    }
    json_decref(j);
    return rc;
}
