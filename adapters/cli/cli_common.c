/* cli_common.c - shared option handling and connection set-up for the CLI. */
#include "cli_common.h"
#include "cli_probe.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    o->timeout_ms = 0;
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

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

joinery_client_t *cli_connect_err(const cli_common_t *o, char *err, size_t errlen)
{
    if (o->keys == NULL && !o->insecure) {
        /* Never fall back to plain text silently: an operator tool must not leak by default. */
        snprintf(err, errlen,
                 "give --keys DIR (or set JOINERY_KEYS), or --insecure for a hub "
                 "without Curve");
        return NULL;
    }
    int budget = o->timeout_ms > 0 ? o->timeout_ms : CLI_CONNECT_MS;
    long long start = now_ms();
    if (cli_probe(o->endpoint, budget, err, errlen) != 0) {
        return NULL;
    }
    long long left = budget - (now_ms() - start);
    joinery_options_t opts = {
        .endpoint = o->endpoint,
        .adapter = o->adapter,
        .keys_dir = o->insecure ? NULL : o->keys,
        .connect_timeout_ms = left > 0 ? (int)left : 1,
    };
    return joinery_connect(&opts, err, errlen);
}

joinery_client_t *cli_connect(const cli_common_t *o)
{
    char err[512];
    joinery_client_t *c = cli_connect_err(o, err, sizeof err);
    if (c == NULL) {
        fprintf(stderr, "joinery: %s\n", err);
    }
    return c;
}

json_t *cli_hub_adapters(const cli_common_t *o, char *err, size_t errlen)
{
    joinery_client_t *c = cli_connect_err(o, err, errlen);
    if (c == NULL) {
        return NULL;
    }
    char *text = NULL;
    int rc = joinery_status(c, &text, o->timeout_ms > 0 ? o->timeout_ms : CLI_CONNECT_MS);
    if (rc != 0) {
        snprintf(err, errlen, "%s", joinery_last_error(c));
    }
    joinery_close(&c);
    json_t *st = rc == 0 ? json_loads(text, 0, NULL) : NULL;
    free(text);
    json_t *names = st != NULL ? json_array() : NULL;
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(st, "adapters"), i, a)
    {
        json_t *name = json_object_get(a, "name");
        if (names != NULL && json_is_string(name)) {
            json_array_append(names, name);
        }
    }
    if (rc == 0 && names == NULL) {
        snprintf(err, errlen, "the hub's status is not JSON");
    }
    json_decref(st);
    return names;
}

/* Levenshtein distance, capped: anything over cap counts as cap + 1. Words here are keys and
 * event types, so a row on the stack is enough; longer ones are never close. */
static size_t edit_distance(const char *a, const char *b, size_t cap)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[65];
    if (la > 64 || lb > 64 || (la > lb ? la - lb : lb - la) > cap) {
        return cap + 1;
    }
    for (size_t j = 0; j <= lb; j++) {
        row[j] = j;
    }
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            best = up + 1 < best ? up + 1 : best;
            best = row[j - 1] + 1 < best ? row[j - 1] + 1 : best;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb] > cap ? cap + 1 : row[lb];
}

const char *cli_closest(const char *word, const char *const *candidates)
{
    size_t len = strlen(word);
    size_t cap = len / 2 > 2 ? 2 : (len > 1 ? (len - 1) / 2 : 0);
    const char *best = NULL;
    size_t best_d = cap + 1;
    for (size_t i = 0; cap > 0 && candidates[i] != NULL; i++) {
        size_t d = edit_distance(word, candidates[i], cap);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    return best;
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
