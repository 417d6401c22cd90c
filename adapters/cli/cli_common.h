/* cli_common.h - what every `joinery` command shares: the connection options (--endpoint,
 * --adapter, --keys, --insecure) with their environment defaults, connecting, and strict
 * number parsing for option values. */
#ifndef JOINERY_CLI_COMMON_H
#define JOINERY_CLI_COMMON_H

#include <joinery/joinery.h>

#include <jansson.h>

#include <getopt.h>

/* Exit statuses of every command. */
#define CLI_OK 0
#define CLI_FAIL 1  /* the operation failed (hub refused, timed out, event rejected...) */
#define CLI_USAGE 2 /* bad command line */

typedef struct {
    const char *endpoint;
    const char *adapter;
    const char *keys;
    int insecure;
    /* How long connecting may take, from the command's --timeout; 0: CLI_CONNECT_MS. */
    int timeout_ms;
} cli_common_t;

#define CLI_CONNECT_MS 10000

/* getopt_long entries for the common options; splice into each command's table. */
#define CLI_COMMON_OPTIONS                                                                         \
    {"endpoint", required_argument, NULL, 'E'}, {"adapter", required_argument, NULL, 'A'},         \
        {"keys", required_argument, NULL, 'K'},                                                    \
    {                                                                                              \
        "insecure", no_argument, NULL, 'I'                                                         \
    }

#define CLI_COMMON_HELP                                                                            \
    "Connection options:\n"                                                                        \
    "  --endpoint URL   hub endpoint (default $JOINERY_ENDPOINT or tcp://127.0.0.1:7600)\n"        \
    "  --adapter NAME   adapter name to connect as (default $JOINERY_ADAPTER or ops)\n"            \
    "  --keys DIR       Curve keys: DIR/NAME.key and DIR/hub.pub (default $JOINERY_KEYS)\n"        \
    "  --insecure       no Curve (hub running with security.curve: false)\n"

/* Fills defaults from the environment. */
void cli_common_init(cli_common_t *o);
/* Applies a common option returned by getopt_long: 1 if it was one, else 0. */
int cli_common_option(cli_common_t *o, int opt, const char *arg);
/* Connects and opens a session within o->timeout_ms; on failure prints why to stderr and returns
 * NULL. Nothing listening at the endpoint is said at once, not after the timeout. */
joinery_client_t *cli_connect(const cli_common_t *o);
/* The same, quiet: NULL with the reason in err. */
joinery_client_t *cli_connect_err(const cli_common_t *o, char *err, size_t errlen);

/* The names of the adapters the hub is configured with, from its STATUS (needs an operator
 * adapter): a JSON array of strings the caller owns, or NULL with the reason in err. */
json_t *cli_hub_adapters(const cli_common_t *o, char *err, size_t errlen);

/* Whether the hub says (STATUS) that its database is down: why a publish went unconfirmed
 * when the hub itself answers. 0 also when the hub does not tell (no answer, or the adapter
 * is not an operator). */
int cli_hub_database_down(joinery_client_t *c);

/* The candidate (NULL-terminated list) closest to word by edit distance, if a typing slip away
 * (at most 2 edits, and fewer than half of word's length); else NULL. For "did you mean". */
const char *cli_closest(const char *word, const char *const *candidates);

/* Parses a whole decimal number in [min, max]; on failure prints "--NAME: ..." to stderr. */
int cli_parse_ull(const char *name, const char *s, unsigned long long min, unsigned long long max,
                  unsigned long long *out);

/* Reads all of path ("-" or NULL: stdin), at most max bytes, NUL-terminated; NULL with a
 * message on stderr on failure. *len gets the length. Caller frees. */
char *cli_read_all(const char *path, size_t max, size_t *len);

#endif
