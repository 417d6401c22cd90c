/* cli_admin.h - the commands that go through the hub's admin HTTP API (trace, dead-letters,
 * subscriptions, and the steward's and golden reads when given --admin): where the API is
 * (--admin URL or $JOINERY_ADMIN), the bearer token (--token-file FILE or
 * $JOINERY_ADMIN_TOKEN_FILE; none for a hub on loopback without tokens), and one call with its
 * JSON answer. libcurl: the API may be served over TLS (admin.tls), which a hand-made client
 * would have to re-implement; the SDK's adapter library links it already. */
#ifndef JOINERY_CLI_ADMIN_H
#define JOINERY_CLI_ADMIN_H

#include <jansson.h>

#include <getopt.h>

typedef struct {
    const char *url;        /* "http://127.0.0.1:7680", no trailing slash needed */
    const char *token_file; /* NULL: no Authorization header */
    int json;               /* --json: print the API's answer as it is */
} cli_admin_t;

#define CLI_ADMIN_OPT_URL 0x1A0
#define CLI_ADMIN_OPT_TOKEN 0x1A1
#define CLI_ADMIN_OPT_JSON 0x1A2

/* getopt_long entries for the admin options; splice into a command's table. */
#define CLI_ADMIN_OPTIONS                                                                          \
    {"admin", required_argument, NULL, CLI_ADMIN_OPT_URL},                                         \
        {"token-file", required_argument, NULL, CLI_ADMIN_OPT_TOKEN},                              \
    {                                                                                              \
        "json", no_argument, NULL, CLI_ADMIN_OPT_JSON                                              \
    }

#define CLI_ADMIN_HELP                                                                             \
    "Admin API options:\n"                                                                         \
    "  --admin URL        the hub's admin API (default $JOINERY_ADMIN), e.g.\n"                    \
    "                     http://127.0.0.1:7680\n"                                                 \
    "  --token-file FILE  a file holding the bearer token (default $JOINERY_ADMIN_TOKEN_FILE)\n"   \
    "  --json             the API's JSON answer instead of a table\n"

/* Fills defaults from the environment. */
void cli_admin_init(cli_admin_t *a);
/* Applies an admin option returned by getopt_long: 1 if it was one, else 0. */
int cli_admin_option(cli_admin_t *a, int opt, const char *arg);
/* Calls METHOD on PATH ("/api/v1/...", query included) with BODY (not taken; NULL for none).
 * The answer's JSON (the caller's) on a 2xx; NULL otherwise, with what went wrong printed to
 * stderr (the HTTP status and the API's reason). */
json_t *cli_admin_call(const cli_admin_t *a, const char *method, const char *path,
                       const json_t *body);
/* The same, printing nothing: on failure NULL with *STATUS the HTTP status (0 when there was no
 * answer: unreachable, no URL, no token) and the reason in ERR. For callers that retry. */
json_t *cli_admin_request(const cli_admin_t *a, const char *method, const char *path,
                          const json_t *body, long *status, char *err, size_t errlen);
/* S percent-encoded for a query value or a path segment (the caller frees), NULL out of
 * memory. */
char *cli_admin_escape(const char *s);
/* Prints J as indented JSON on stdout: CLI_OK, or CLI_FAIL. */
int cli_admin_print_json(const json_t *j);
/* "2026-12-07 06:54:09" from microseconds since the epoch, UTC. */
const char *cli_admin_time(json_int_t us, char *out, size_t len);

#endif
