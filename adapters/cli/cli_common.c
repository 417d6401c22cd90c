/* cli_common.c - shared option handling and connection set-up for the CLI. */
#include "cli_common.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return (v != NULL && v[0] != '\0') ? v : fallback;
}

void cli_common_init(cli_common_t *o)
{
    o->endpoint = env_or("JOINERY_ENDPOINT", "tcp://127.0.0.1:7600");
    o->adapter = env_or("JOINERY_ADAPTER", "ops");
    o->keys = env_or("JOINERY_KEYS", NULL);
    o->insecure = 0;
}

int cli_common_option(cli_common_t *o, int opt, const char *arg)
{
    switch (opt) {
    case 'E':
        o->endpoint = arg;
        return 1;
    case 'A':
        o->adapter = arg;
        return 1;
    case 'K':
        o->keys = arg;
        return 1;
    case 'I':
        o->insecure = 1;
        return 1;
    default:
        return 0;
    }
}

joinery_client_t *cli_connect(const cli_common_t *o)
{
    if (o->keys == NULL && !o->insecure) {
        /* Never fall back to plain text silently: an operator tool must not leak by default. */
        fprintf(stderr, "joinery: give --keys DIR (or set JOINERY_KEYS), or --insecure for a "
                        "hub without Curve\n");
        return NULL;
    }
    joinery_options_t opts = {
        .endpoint = o->endpoint,
        .adapter = o->adapter,
        .keys_dir = o->insecure ? NULL : o->keys,
    };
    char err[512];
    joinery_client_t *c = joinery_connect(&opts, err, sizeof err);
    if (c == NULL) {
        fprintf(stderr, "joinery: %s\n", err);
    }
    return c;
}

/* Short: it is asked after a publish already waited its whole timeout. */
#define STATUS_PROBE_MS 3000

int cli_hub_database_down(joinery_client_t *c)
{
    char *text = NULL;
    if (joinery_status(c, &text, STATUS_PROBE_MS) != 0) {
        return 0;
    }
    json_t *st = json_loads(text, 0, NULL);
    free(text);
    int down = st != NULL && json_is_false(json_object_get(st, "database_up"));
    json_decref(st);
    return down;
}

int cli_parse_ull(const char *name, const char *s, unsigned long long min, unsigned long long max,
                  unsigned long long *out)
{
    if (s == NULL || *s < '0' || *s > '9') {
        fprintf(stderr, "joinery: --%s needs a whole number, not \"%s\"\n", name, s ? s : "");
        return -1;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "joinery: --%s must be a number from %llu to %llu, not \"%s\"\n", name, min,
                max, s);
        return -1;
    }
    *out = v;
    return 0;
}

char *cli_read_all(const char *path, size_t max, size_t *len)
{
    int use_stdin = path == NULL || strcmp(path, "-") == 0;
    FILE *f = use_stdin ? stdin : fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "joinery: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (cap - n < 2) {
            char *bigger = cap < max ? realloc(buf, cap * 2) : NULL;
            if (bigger == NULL) {
                fprintf(stderr, "joinery: %s is larger than %zu bytes\n",
                        use_stdin ? "input" : path, max);
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                fprintf(stderr, "joinery: cannot read %s\n", use_stdin ? "input" : path);
                free(buf);
                buf = NULL;
            }
            break;
        }
    }
    if (!use_stdin) {
        fclose(f);
    }
    if (buf != NULL) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}
