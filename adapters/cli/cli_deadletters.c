/* cli_deadletters.c - `joinery dead-letters list|show|replay|discard` through the hub's admin
 * API: reading needs a token with the read role, replay and discard the operate role (the hub
 * carries them out and records who did it under the token's name). */
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

static const char dl_usage[] =
    "Usage: joinery dead-letters list [--adapter A] [--subscription S] [--type T] [--limit N]\n"
    "                                 [--after ID]\n"
    "       joinery dead-letters show ID\n"
    "       joinery dead-letters replay ID...\n"
    "       joinery dead-letters discard ID --reason TEXT\n"
    "\n"
    "Dead letters through the hub's admin API. list and show need the read role; replay (the\n"
    "event is delivered again to its subscription) and discard (kept for audit, never\n"
    "delivered) the operate role. Every command takes --json.\n"
    "\n" CLI_ADMIN_HELP;

static void print_row(const json_t *d)
{
    char who[160], when[32];
    (void)snprintf(who, sizeof who, "%s/%s", str(d, "adapter"), str(d, "subscription"));
    printf("%-8lld  %-28s  %-8lld  %-28s  %-8lld  %-19s  %s\n", (long long)num(d, "id"), who,
           (long long)num(d, "seq"), str(d, "type"), (long long)num(d, "attempts"),
           cli_admin_time(num(d, "dead_at_us"), when, sizeof when), str(d, "reason"));
}

/* Appends "&KEY=VALUE" (escaped) to Q of capacity CAP; -1 if it does not fit. */
static int add_param(char *q, size_t cap, const char *key, const char *value)
{
    if (value == NULL) {
        return 0;
    }
    char *v = cli_admin_escape(value);
    size_t used = strlen(q);
    int n = v ? snprintf(q + used, cap - used, "%s%s=%s", strchr(q, '?') ? "&" : "?", key, v) : -1;
    free(v);
    return n < 0 || (size_t)n >= cap - used ? -1 : 0;
}

static int dl_list(cli_admin_t *a, int argc, char **argv)
{
    static const struct option opts[] = {{"adapter", required_argument, NULL, 'a'},
                                         {"subscription", required_argument, NULL, 's'},
                                         {"type", required_argument, NULL, 't'},
                                         {"limit", required_argument, NULL, 'l'},
                                         {"after", required_argument, NULL, 'f'},
                                         CLI_ADMIN_OPTIONS,
                                         {0}};
    static const char *const keys[] = {"adapter", "subscription", "type", "limit", "after"};
    static const char letters[] = "astlf";
    const char *vals[5] = {NULL};
    int opt;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        const char *k = opt > 0 && opt < 128 ? strchr(letters, opt) : NULL;
        if (k != NULL) {
            vals[k - letters] = optarg;
        } else if (!cli_admin_option(a, opt, optarg)) {
            fputs(dl_usage, stderr);
            return CLI_USAGE;
        }
    }
    char path[2048] = "/api/v1/dead-letters";
    for (size_t i = 0; i < 5; i++) {
        if (add_param(path, sizeof path, keys[i], vals[i]) < 0) {
            fprintf(stderr, "joinery: the filters are too long\n");
            return CLI_USAGE;
        }
    }
    json_t *j = cli_admin_call(a, "GET", path, NULL);
    if (j == NULL) {
        return CLI_FAIL;
    }
    int rc = CLI_OK;
    if (a->json) {
        rc = cli_admin_print_json(j);
    } else {
        json_t *list = json_object_get(j, "dead_letters"), *d;
        size_t i;
        if (json_array_size(list) == 0) {
            printf("No dead letters.\n");
        } else {
            printf("%-8s  %-28s  %-8s  %-28s  %-8s  %-19s  %s\n", "ID", "SUBSCRIPTION", "SEQ",
                   "TYPE", "ATTEMPTS", "DEAD (UTC)", "REASON");
        }
        json_array_foreach(list, i, d)
        {
            print_row(d);
        }
        if (json_is_integer(json_object_get(j, "next_after"))) {
            printf("(more: --after %lld)\n", (long long)num(j, "next_after"));
        }
    }
    json_decref(j);
    return rc;
}

/* The ID argument checked: digits only, so it cannot change the path. */
static int dl_id(const char *s, unsigned long long *id)
{
    return cli_parse_ull("ID", s, 1, 999999999999999999ULL, id);
}

static int dl_one(cli_admin_t *a, int argc, char **argv, const char *verb)
{
    static const struct option opts[] = {
        {"reason", required_argument, NULL, 'r'}, CLI_ADMIN_OPTIONS, {0}};
    const char *reason = NULL;
    int opt;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == 'r' && strcmp(verb, "discard") == 0) {
            reason = optarg;
        } else if (!cli_admin_option(a, opt, optarg)) {
            fputs(dl_usage, stderr);
            return CLI_USAGE;
        }
    }
    int nids = argc - optind;
    unsigned long long id = 0;
    if (nids < 1 || (strcmp(verb, "replay") != 0 && nids != 1) ||
        (strcmp(verb, "discard") == 0 && reason == NULL)) {
        fputs(dl_usage, stderr);
        return CLI_USAGE;
    }
    json_t *body = NULL, *ids = json_array();
    for (int i = optind; i < argc; i++) {
        if (dl_id(argv[i], &id) != 0) {
            json_decref(ids);
            return CLI_USAGE;
        }
        json_array_append_new(ids, json_integer((json_int_t)id));
    }
    char path[96];
    if (strcmp(verb, "show") == 0) {
        (void)snprintf(path, sizeof path, "/api/v1/dead-letters/%llu", id);
    } else if (strcmp(verb, "discard") == 0) {
        (void)snprintf(path, sizeof path, "/api/v1/dead-letters/%llu/discard", id);
        body = json_pack("{ss}", "reason", reason);
    } else {
        (void)snprintf(path, sizeof path, "/api/v1/dead-letters/replay");
        body = json_pack("{sO}", "ids", ids);
    }
    json_decref(ids);
    json_t *j = cli_admin_call(a, strcmp(verb, "show") == 0 ? "GET" : "POST", path, body);
    json_decref(body);
    if (j == NULL) {
        return CLI_FAIL;
    }
    int rc = CLI_OK;
    if (a->json || strcmp(verb, "show") != 0) {
        rc = cli_admin_print_json(j);
    } else {
        print_row(j);
        char *env = json_dumps(json_object_get(j, "envelope"), JSON_INDENT(2));
        printf("envelope: %s\n", env != NULL ? env : "?");
        free(env);
    }
    if (strcmp(verb, "replay") == 0 && json_array_size(json_object_get(j, "not_replayed")) > 0) {
        rc = CLI_FAIL; /* some were not there: the JSON says which */
    }
    json_decref(j);
    return rc;
}

int cli_deadletters_main(int argc, char **argv, cli_common_t *common)
{
    (void)common;
    cli_admin_t a;
    cli_admin_init(&a);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(dl_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "list") == 0) {
        return dl_list(&a, argc - 1, argv + 1);
    }
    if (strcmp(verb, "show") == 0 || strcmp(verb, "replay") == 0 || strcmp(verb, "discard") == 0) {
        return dl_one(&a, argc - 1, argv + 1, verb);
    }
    fprintf(stderr, "joinery dead-letters: unknown action \"%s\"\n\n%s", verb, dl_usage);
    return CLI_USAGE;
}
