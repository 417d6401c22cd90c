/* cli_reload.c - `joinery reload` through the hub's admin API (POST /api/v1/reload, operate
 * role): the hub reads its configuration file again and applies what may change while it runs
 * (docs/operations.md "Reloading the configuration"), or refuses the whole reload and says why.
 * Prints what changed; exit 0 when applied, 1 when refused or the API could not be reached (the
 * refusal's reasons are printed by cli_admin_call, from the API's answer). */
#include "cli_admin.h"
#include "cli_commands.h"

#include <stdio.h>
#include <string.h>

static const char reload_usage[] =
    "Usage: joinery reload [--admin URL] [--token-file FILE] [--json]\n"
    "\n"
    "Has the hub read its configuration file again and apply it without a restart: adapters\n"
    "(added, removed, changed keys and permissions), delivery.transient, delivery's retry\n"
    "settings, refusals, admin tokens. A file that does not validate, or that changes what\n"
    "needs a restart (database.conninfo, hub.listen, the hub's key, partners, master_data,\n"
    "admin.listen, admin.tls, ...), is refused as a whole: nothing is applied, and each reason\n"
    "is printed. The same as `kill -HUP` of joineryd (or `systemctl reload joineryd`).\n"
    "\n" CLI_ADMIN_HELP;

static void print_list(const char *what, const json_t *list)
{
    size_t i;
    json_t *v;
    printf("  %-18s", what);
    if (json_array_size(list) == 0) {
        printf(" none");
    }
    json_array_foreach(list, i, v)
    {
        printf("%s %s", i ? "," : "", json_string_value(v));
    }
    putchar('\n');
}

static void print_changes(const json_t *ch)
{
    printf("configuration reloaded\n");
    print_list("adapters added:", json_object_get(ch, "adapters_added"));
    print_list("adapters removed:", json_object_get(ch, "adapters_removed"));
    json_t *changed = json_object_get(ch, "adapters_changed");
    printf("  %-18s", "adapters changed:");
    if (json_object_size(changed) == 0) {
        printf(" none");
    }
    const char *name;
    json_t *what;
    int first = 1;
    json_object_foreach(changed, name, what)
    {
        size_t i;
        json_t *w;
        printf("%s %s (", first ? "" : ",", name);
        json_array_foreach(what, i, w)
        {
            printf("%s%s", i ? ", " : "", json_string_value(w));
        }
        putchar(')');
        first = 0;
    }
    putchar('\n');
    static const char *const flags[][2] = {{"transient", "transient routes:"},
                                           {"delivery", "delivery settings:"},
                                           {"refusals", "refusals:"},
                                           {"admin_tokens", "admin tokens:"}};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        printf("  %-18s %s\n", flags[i][1],
               json_is_true(json_object_get(ch, flags[i][0])) ? "changed" : "unchanged");
    }
    printf("  %-18s %lld\n", "sessions closed:",
           (long long)json_integer_value(json_object_get(ch, "sessions_closed")));
    if (json_is_true(json_object_get(ch, "master_data_rebuilt"))) {
        printf("  the master-data engine is rebuilt for its new subscribers\n");
    }
}

int cli_reload_main(int argc, char **argv, cli_common_t *common)
{
    static const struct option opts[] = {CLI_ADMIN_OPTIONS, {"help", no_argument, NULL, 'h'}, {0}};
    (void)common;
    cli_admin_t a;
    cli_admin_init(&a);
    int opt;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (opt == 'h') {
            fputs(reload_usage, stdout);
            return CLI_OK;
        }
        if (!cli_admin_option(&a, opt, optarg)) {
            fputs(reload_usage, stderr);
            return CLI_USAGE;
        }
    }
    if (optind != argc) {
        fputs(reload_usage, stderr);
        return CLI_USAGE;
    }
    json_t *j = cli_admin_call(&a, "POST", "/api/v1/reload", NULL);
    if (j == NULL) {
        return CLI_FAIL; /* a refusal: its reasons were printed */
    }
    int rc = CLI_OK;
    if (a.json) {
        rc = cli_admin_print_json(j);
    } else {
        print_changes(json_object_get(j, "changes"));
    }
    json_decref(j);
    return rc;
}
