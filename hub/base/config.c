/* config.c - loads and checks the hub's YAML configuration (contract in config.h).
 *
 * The file is read whole into a libyaml document and then walked section by
 * section. Each section is a table of key -> setter, so the keys a section
 * accepts are written down once and serve both the parser and the "expected
 * one of" hint. The first problem found ends the load: one precise message
 * that names the file, the line and the fix beats a cascade of consequences. */
#include "base/config.h"
#include "base/log.h"
#include "match/match.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define Z85_KEY_LEN 40
#define ADAPTER_NAME_MAX 64
#define KEY_PATH_MAX 128
#define EXPECTED_MAX 256
#define SHOWN_VALUE_MAX 80
#define KEY_LINE_MAX 128
#define PORT_MAX 65535UL

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__GNUC__)
#define CONFIG_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CONFIG_PRINTF(f, a)
#endif

typedef struct loader loader_t;
typedef struct field field_t;

/* The mapping being walked: its dotted name for messages ("" at the top level,
 * "adapters[2]" for an entry) and the struct the field offsets point into. */
typedef struct {
    const char *where;
    void *target;
} scope_t;

typedef int (*setter_fn)(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val);

struct field {
    const char *key;
    setter_fn set;
    size_t offset;
};

/* Key material one adapter entry names. Checked only once the whole file is
 * read: whether a key is required depends on security.curve, which may come
 * later in the file, and public_key and public_key_file exclude each other. */
typedef struct {
    yaml_node_t *name;
    yaml_node_t *key;
    yaml_node_t *key_file;
} adapter_seen_t;

struct loader {
    const char *file; /* as the caller spelled it: messages should echo the user */
    char *dir;        /* absolute directory of the file, base of relative paths */
    yaml_document_t doc;
    config_t *cfg;
    char *err;
    size_t errlen;
    /* Remembered while sections are walked, for the checks made at the end. */
    yaml_node_t *security;
    yaml_node_t *adapters;
    yaml_node_t *hub_key_file;
    adapter_seen_t *seen; /* one per entry, parallel to cfg->adapters */
    size_t current;       /* the adapter entry being walked */
};

/* Messages ---------------------------------------------------------------- */

static unsigned long line_of(const yaml_node_t *node)
{
    return node ? (unsigned long)node->start_mark.line + 1 : 1;
}

static int vfail_line(loader_t *ld, unsigned long line, const char *fmt, va_list ap)
{
    if (ld->err == NULL || ld->errlen == 0)
        return -1;
    int n = snprintf(ld->err, ld->errlen, "%s:%lu: ", ld->file, line);
    if (n >= 0 && (size_t)n < ld->errlen)
        (void)vsnprintf(ld->err + n, ld->errlen - (size_t)n, fmt, ap);
    return -1;
}

static int fail_line(loader_t *ld, unsigned long line, const char *fmt, ...) CONFIG_PRINTF(3, 4);
static int fail_line(loader_t *ld, unsigned long line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_line(ld, line, fmt, ap);
    va_end(ap);
    return -1;
}

static int fail(loader_t *ld, const yaml_node_t *node, const char *fmt, ...) CONFIG_PRINTF(3, 4);
static int fail(loader_t *ld, const yaml_node_t *node, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_line(ld, line_of(node), fmt, ap);
    va_end(ap);
    return -1;
}

static void key_path(const scope_t *sc, const char *key, char *buf, size_t len)
{
    (void)snprintf(buf, len, "%s%s%s", sc->where, sc->where[0] ? "." : "", key);
}

static const char *kind_name(const yaml_node_t *node)
{
    switch (node->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a list";
    default:
        return "a single value";
    }
}

/* Node helpers ------------------------------------------------------------ */

static const char *scalar_text(const yaml_node_t *node)
{
    return (const char *)node->data.scalar.value;
}

/* YAML's null spellings; only plain scalars, since "~" in quotes is a string. */
static int is_null(const yaml_node_t *node)
{
    if (node == NULL)
        return 1;
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *s = scalar_text(node);
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/* The text of a scalar value, or NULL after reporting why there is none. */
static const char *expect_scalar(loader_t *ld, const char *path, yaml_node_t *val, const char *what)
{
    if (val->type != YAML_SCALAR_NODE) {
        fail(ld, val, "'%s' must be %s, got %s", path, what, kind_name(val));
        return NULL;
    }
    if (is_null(val)) {
        fail(ld, val, "'%s' has no value; it must be %s (or remove the key)", path, what);
        return NULL;
    }
    if (strlen(scalar_text(val)) != val->data.scalar.length) {
        fail(ld, val, "'%s' contains a NUL character; it must be %s", path, what);
        return NULL;
    }
    return scalar_text(val);
}

static void *field_ptr(const scope_t *sc, const field_t *f)
{
    return (char *)sc->target + f->offset;
}

static char *dup_or_fail(loader_t *ld, const yaml_node_t *node, const char *s)
{
    char *copy = strdup(s);
    if (copy == NULL)
        fail(ld, node, "out of memory");
    return copy;
}

/* Paths ------------------------------------------------------------------- */

static char *join_path(const char *dir, const char *rel)
{
    while (rel[0] == '.' && rel[1] == '/') {
        rel += 2;
        while (*rel == '/')
            rel++;
    }
    if (rel[0] == '\0' || strcmp(rel, ".") == 0)
        return strdup(dir);
    size_t len = strlen(dir) + 1 + strlen(rel) + 1;
    char *out = malloc(len);
    if (out != NULL) {
        int slash = dir[0] != '\0' && dir[strlen(dir) - 1] != '/';
        (void)snprintf(out, len, "%s%s%s", dir, slash ? "/" : "", rel);
    }
    return out;
}

static char *resolve_path(const loader_t *ld, const char *p)
{
    return p[0] == '/' ? strdup(p) : join_path(ld->dir, p);
}

/* The file's absolute path without resolving symlinks, so that a config that
 * is a symlink finds its key files next to the link, where the admin put them. */
static char *absolute_file(const char *path)
{
    if (path[0] == '/')
        return strdup(path);
    char *cwd = getcwd(NULL, 0);
    if (cwd == NULL)
        return NULL;
    char *out = join_path(cwd, path);
    free(cwd);
    return out;
}

static char *dir_of(const char *abs)
{
    const char *slash = strrchr(abs, '/');
    size_t len = slash == abs ? 1 : (size_t)(slash - abs);
    return strndup(abs, len);
}

/* Value checks ------------------------------------------------------------ */

/* Digits only, so "-1" (which strtoul would wrap) and " 5" are refused. */
static int parse_positive(const char *s, unsigned *out)
{
    if (*s < '0' || *s > '9')
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v == 0 || v > UINT_MAX)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO"};
    for (size_t i = 0; i < COUNT_OF(yes); i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* ASCII tests of our own: names are ASCII whatever the locale, and <ctype.h>
 * is undefined for negative chars from UTF-8 input. */
static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > ADAPTER_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_name_char(s[i]))
            return 0;
    return 1;
}

static int segment_ok(const char *seg, size_t len)
{
    if (len == 1 && seg[0] == '*')
        return 1;
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_name_char(seg[i]))
            return 0;
    return 1;
}

static int pattern_ok(const char *p)
{
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (!segment_ok(p, len))
            return 0;
        if (dot == NULL)
            return 1;
        p = dot + 1;
    }
}

static int z85_ok(const char *s)
{
    static const char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz"
                                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    if (strlen(s) != Z85_KEY_LEN)
        return 0;
    for (const char *c = s; *c; c++)
        if (strchr(alphabet, *c) == NULL)
            return 0;
    return 1;
}

static int endpoint_ok(const char *s)
{
    static const char *const transports[] = {"tcp://", "ipc://", "inproc://"};
    for (size_t i = 0; i < COUNT_OF(transports); i++) {
        size_t n = strlen(transports[i]);
        if (strncmp(s, transports[i], n) == 0 && s[n] != '\0')
            return 1;
    }
    return 0;
}

/* HOST:PORT, split at the last colon so "[::1]:7680" works. */
static int hostport_ok(const char *s)
{
    const char *colon = strrchr(s, ':');
    if (colon == NULL || colon == s || colon[1] < '0' || colon[1] > '9')
        return 0;
    char *end = NULL;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    return errno == 0 && *end == '\0' && port >= 1 && port <= PORT_MAX;
}

/* Setters ----------------------------------------------------------------- */

static int store_string(loader_t *ld, char **slot, const yaml_node_t *val, const char *s)
{
    char *copy = dup_or_fail(ld, val, s);
    if (copy == NULL)
        return -1;
    free(*slot);
    *slot = copy;
    return 0;
}

static int set_string(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    char path[KEY_PATH_MAX];
    key_path(sc, f->key, path, sizeof path);
    const char *s = expect_scalar(ld, path, val, "a non-empty string");
    if (s == NULL)
        return -1;
    return store_string(ld, field_ptr(sc, f), val, s);
}

static int set_path(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    char path[KEY_PATH_MAX];
    key_path(sc, f->key, path, sizeof path);
    const char *s = expect_scalar(ld, path, val, "a path");
    if (s == NULL)
        return -1;
    char *abs = resolve_path(ld, s);
    if (abs == NULL)
        return fail(ld, val, "out of memory");
    char **slot = field_ptr(sc, f);
    free(*slot);
    *slot = abs;
    return 0;
}

static int set_endpoint(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    char path[KEY_PATH_MAX];
    key_path(sc, f->key, path, sizeof path);
    const char *s = expect_scalar(ld, path, val, "a ZeroMQ endpoint");
    if (s == NULL)
        return -1;
    if (!endpoint_ok(s))
        return fail(ld, val,
                    "'%s' must be a ZeroMQ endpoint such as 'tcp://127.0.0.1:7600' or "
                    "'ipc:///run/joinery/hub.sock', got '%.*s'",
                    path, SHOWN_VALUE_MAX, s);
    return store_string(ld, field_ptr(sc, f), val, s);
}

static int set_hostport(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    char path[KEY_PATH_MAX];
    key_path(sc, f->key, path, sizeof path);
    const char *s = expect_scalar(ld, path, val, "HOST:PORT");
    if (s == NULL)
        return -1;
    if (!hostport_ok(s))
        return fail(ld, val, "'%s' must be HOST:PORT such as '127.0.0.1:7680', got '%.*s'", path,
                    SHOWN_VALUE_MAX, s);
    return store_string(ld, field_ptr(sc, f), val, s);
}

static int set_uint(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    char path[KEY_PATH_MAX];
    key_path(sc, f->key, path, sizeof path);
    const char *s = expect_scalar(ld, path, val, "a positive integer");
    if (s == NULL)
        return -1;
    if (parse_positive(s, field_ptr(sc, f)) != 0)
        return fail(ld, val, "'%s' must be a positive integer (1 to %u), got '%.*s'", path,
                    UINT_MAX, SHOWN_VALUE_MAX, s);
    return 0;
}

static int set_bool(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    char path[KEY_PATH_MAX];
    key_path(sc, f->key, path, sizeof path);
    const char *s = expect_scalar(ld, path, val, "true or false");
    if (s == NULL)
        return -1;
    if (parse_bool(s, field_ptr(sc, f)) != 0)
        return fail(ld, val, "'%s' must be true or false (or yes/no), got '%.*s'", path,
                    SHOWN_VALUE_MAX, s);
    return 0;
}

static int set_enum(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val,
                    int (*parse)(const char *), const char *choices)
{
    char path[KEY_PATH_MAX];
    key_path(sc, f->key, path, sizeof path);
    const char *s = expect_scalar(ld, path, val, choices);
    if (s == NULL)
        return -1;
    int v = parse(s);
    if (v < 0)
        return fail(ld, val, "'%s' must be one of %s; got '%.*s'", path, choices, SHOWN_VALUE_MAX,
                    s);
    *(int *)field_ptr(sc, f) = v;
    return 0;
}

static int set_log_level(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    return set_enum(ld, sc, f, val, log_level_parse, "debug, info, warn, error");
}

static int set_log_format(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    return set_enum(ld, sc, f, val, log_format_parse, "text, json");
}

static void strings_free(config_strings_t *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->items[i]);
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

static int add_pattern(loader_t *ld, const char *path, config_strings_t *out, yaml_node_t *item)
{
    const char *s = expect_scalar(ld, path, item, "a list of event-type patterns");
    if (s == NULL)
        return -1;
    if (!pattern_ok(s))
        return fail(ld, item,
                    "'%s': pattern '%.*s' is not valid; use dot-separated segments of a-z, 0-9, "
                    "'_' and '-', or '*' for a whole segment (e.g. 'person.*', "
                    "'case.referral.created', '*')",
                    path, SHOWN_VALUE_MAX, s);
    char *copy = dup_or_fail(ld, item, s);
    if (copy == NULL)
        return -1;
    out->items[out->count++] = copy;
    return 0;
}

static int set_patterns(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    char path[KEY_PATH_MAX];
    key_path(sc, f->key, path, sizeof path);
    if (val->type != YAML_SEQUENCE_NODE)
        return fail(ld, val,
                    "'%s' must be a list of event-type patterns such as [\"person.*\"] "
                    "(write [] for none), got %s",
                    path, is_null(val) ? "nothing" : kind_name(val));
    config_strings_t *out = field_ptr(sc, f);
    strings_free(out);
    size_t n = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
    if (n == 0)
        return 0;
    out->items = calloc(n, sizeof *out->items);
    if (out->items == NULL)
        return fail(ld, val, "out of memory");
    for (yaml_node_item_t *it = val->data.sequence.items.start; it < val->data.sequence.items.top;
         it++)
        if (add_pattern(ld, path, out, yaml_document_get_node(&ld->doc, *it)) != 0)
            return -1;
    return 0;
}

/* Only remembered: whether the file is read depends on security.curve. */
static int set_hub_key_file(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    char path[KEY_PATH_MAX];
    key_path(sc, f->key, path, sizeof path);
    if (expect_scalar(ld, path, val, "the path of the hub's secret key file") == NULL)
        return -1;
    ld->hub_key_file = val;
    return 0;
}

static int set_adapter_name(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    char path[KEY_PATH_MAX];
    key_path(sc, f->key, path, sizeof path);
    const char *s = expect_scalar(ld, path, val, "an adapter name");
    if (s == NULL)
        return -1;
    if (!name_ok(s))
        return fail(ld, val,
                    "adapter name '%.*s' is not valid; use 1 to %d characters from a-z, 0-9, '_' "
                    "and '-' (e.g. 'crm', 'social-care')",
                    SHOWN_VALUE_MAX, s, ADAPTER_NAME_MAX);
    ld->seen[ld->current].name = val;
    return store_string(ld, field_ptr(sc, f), val, s);
}

static int set_adapter_key(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    char path[KEY_PATH_MAX];
    key_path(sc, f->key, path, sizeof path);
    const char *s = expect_scalar(ld, path, val, "a 40-character Z85 Curve public key");
    if (s == NULL)
        return -1;
    if (!z85_ok(s))
        return fail(ld, val,
                    "'%s' must be a Curve public key of exactly %d Z85 characters, got '%.*s' "
                    "(%zu characters)",
                    path, Z85_KEY_LEN, SHOWN_VALUE_MAX, s, strlen(s));
    ld->seen[ld->current].key = val;
    return store_string(ld, field_ptr(sc, f), val, s);
}

static int set_adapter_key_file(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    char path[KEY_PATH_MAX];
    key_path(sc, f->key, path, sizeof path);
    if (expect_scalar(ld, path, val, "the path of a public key file") == NULL)
        return -1;
    ld->seen[ld->current].key_file = val;
    return 0;
}

/* Section tables ---------------------------------------------------------- */

static const field_t hub_fields[] = {
    {"listen", set_endpoint, offsetof(config_t, listen)},
    {"data_dir", set_path, offsetof(config_t, data_dir)},
    {"log_level", set_log_level, offsetof(config_t, log_level)},
    {"log_format", set_log_format, offsetof(config_t, log_format)},
    {"heartbeat_ms", set_uint, offsetof(config_t, heartbeat_ms)},
    {"heartbeat_misses", set_uint, offsetof(config_t, heartbeat_misses)},
    {"max_message_bytes", set_uint, offsetof(config_t, max_message_bytes)},
    {"max_batch", set_uint, offsetof(config_t, max_batch)},
};

static const field_t database_fields[] = {
    {"conninfo", set_string, offsetof(config_t, database)},
    {"pg_bindir", set_path, offsetof(config_t, pg_bindir)},
};

static const field_t security_fields[] = {
    {"curve", set_bool, offsetof(config_t, curve)},
    {"hub_key_file", set_hub_key_file, 0},
};

static const field_t delivery_fields[] = {
    {"max_attempts", set_uint, offsetof(config_t, max_attempts)},
    {"retry_base_ms", set_uint, offsetof(config_t, retry_base_ms)},
    {"retry_max_ms", set_uint, offsetof(config_t, retry_max_ms)},
    {"window_events", set_uint, offsetof(config_t, window_events)},
    {"default_credit", set_uint, offsetof(config_t, default_credit)},
    {"transient", set_patterns, offsetof(config_t, transient)},
};

static const field_t adapter_fields[] = {
    {"name", set_adapter_name, offsetof(config_adapter_t, name)},
    {"public_key", set_adapter_key, offsetof(config_adapter_t, public_key)},
    {"public_key_file", set_adapter_key_file, 0},
    {"publish", set_patterns, offsetof(config_adapter_t, publish)},
    {"subscribe", set_patterns, offsetof(config_adapter_t, subscribe)},
    {"operator", set_bool, offsetof(config_adapter_t, is_operator)},
};

static const field_t admin_fields[] = {
    {"enabled", set_bool, offsetof(config_t, admin_enabled)},
    {"listen", set_hostport, offsetof(config_t, admin_listen)},
};

/* Mapping walker ---------------------------------------------------------- */

static void expected_keys(const field_t *fields, size_t n, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < len; i++) {
        int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", fields[i].key);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

static int unknown_key(loader_t *ld, const scope_t *sc, const yaml_node_t *key,
                       const field_t *fields, size_t n)
{
    char expected[EXPECTED_MAX];
    expected_keys(fields, n, expected, sizeof expected);
    if (sc->where[0] == '\0')
        return fail(ld, key, "unknown key '%.*s' at the top level (expected one of: %s)",
                    SHOWN_VALUE_MAX, scalar_text(key), expected);
    return fail(ld, key, "unknown key '%.*s' in '%s' (expected one of: %s)", SHOWN_VALUE_MAX,
                scalar_text(key), sc->where, expected);
}

/* libyaml's document API keeps every pair, so repeated keys are ours to catch:
 * silently letting the last one win hides a copy-and-paste mistake. */
static int check_duplicate(loader_t *ld, const scope_t *sc, const yaml_node_t *map,
                           const yaml_node_pair_t *pair, const yaml_node_t *key)
{
    for (const yaml_node_pair_t *p = map->data.mapping.pairs.start; p < pair; p++) {
        const yaml_node_t *prev = yaml_document_get_node(&ld->doc, p->key);
        if (prev->type == YAML_SCALAR_NODE && strcmp(scalar_text(prev), scalar_text(key)) == 0)
            return fail(ld, key, "duplicate key '%.*s' in '%s' (first on line %lu); keep only one",
                        SHOWN_VALUE_MAX, scalar_text(key), sc->where[0] ? sc->where : "top level",
                        line_of(prev));
    }
    return 0;
}

static int walk_pair(loader_t *ld, const scope_t *sc, const yaml_node_t *map,
                     const yaml_node_pair_t *pair, const field_t *fields, size_t n)
{
    yaml_node_t *key = yaml_document_get_node(&ld->doc, pair->key);
    yaml_node_t *val = yaml_document_get_node(&ld->doc, pair->value);
    if (key->type != YAML_SCALAR_NODE)
        return fail(ld, key, "keys in '%s' must be plain names, got %s",
                    sc->where[0] ? sc->where : "the top level", kind_name(key));
    if (check_duplicate(ld, sc, map, pair, key) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(scalar_text(key), fields[i].key) == 0)
            return fields[i].set(ld, sc, &fields[i], val);
    return unknown_key(ld, sc, key, fields, n);
}

/* An absent or empty section (a key with nothing after it) keeps the defaults. */
static int walk_mapping(loader_t *ld, const scope_t *sc, const yaml_node_t *map,
                        const field_t *fields, size_t n)
{
    if (is_null(map))
        return 0;
    if (map->type != YAML_MAPPING_NODE)
        return fail(ld, map, "'%s' must be a mapping of 'key: value' lines, got %s", sc->where,
                    kind_name(map));
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++)
        if (walk_pair(ld, sc, map, p, fields, n) != 0)
            return -1;
    return 0;
}

/* Key files --------------------------------------------------------------- */

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    size_t lead = strspn(s, " \t");
    memmove(s, s + lead, n - lead + 1);
}

/* Reads the Z85 key on the first line of the file NODE names into *out. */
static int read_key_file(loader_t *ld, const yaml_node_t *node, const char *what, char **out)
{
    char *path = resolve_path(ld, scalar_text(node));
    if (path == NULL)
        return fail(ld, node, "out of memory");
    int rc = 0;
    FILE *f = fopen(path, "r");
    char line[KEY_LINE_MAX] = "";
    if (f == NULL) {
        rc = fail(ld, node, "cannot read %s '%s': %s", what, path, strerror(errno));
    } else if (fgets(line, sizeof line, f) == NULL || (strchr(line, '\n') == NULL && !feof(f))) {
        rc = fail(ld, node, "%s '%s' must hold a %d-character Z85 key on its first line", what,
                  path, Z85_KEY_LEN);
    } else {
        trim(line);
        if (!z85_ok(line))
            rc = fail(ld, node,
                      "%s '%s' does not hold a %d-character Z85 key on its first line (found %zu "
                      "characters)",
                      what, path, Z85_KEY_LEN, strlen(line));
        else
            *out = dup_or_fail(ld, node, line);
        if (rc == 0 && *out == NULL)
            rc = -1;
    }
    if (f != NULL)
        fclose(f);
    explicit_bzero(line, sizeof line); /* it may have held the hub's secret key */
    free(path);
    return rc;
}

/* Sections ---------------------------------------------------------------- */

/* Each top-level key's handler; called in file order so the first error in
 * the file is the one reported. Content is checked here, requirements that
 * span sections at the end (finish). */

static int section_hub(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    (void)sc;
    (void)f;
    scope_t inner = {"hub", ld->cfg};
    return walk_mapping(ld, &inner, val, hub_fields, COUNT_OF(hub_fields));
}

static int section_database(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    (void)sc;
    (void)f;
    scope_t inner = {"database", ld->cfg};
    return walk_mapping(ld, &inner, val, database_fields, COUNT_OF(database_fields));
}

static int section_security(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    (void)sc;
    (void)f;
    scope_t inner = {"security", ld->cfg};
    ld->security = val;
    return walk_mapping(ld, &inner, val, security_fields, COUNT_OF(security_fields));
}

static int section_delivery(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    (void)sc;
    (void)f;
    scope_t inner = {"delivery", ld->cfg};
    if (walk_mapping(ld, &inner, val, delivery_fields, COUNT_OF(delivery_fields)) != 0)
        return -1;
    if (ld->cfg->retry_max_ms < ld->cfg->retry_base_ms)
        return fail(ld, val,
                    "'delivery.retry_max_ms' (%u) is smaller than 'delivery.retry_base_ms' (%u); "
                    "raise retry_max_ms or lower retry_base_ms",
                    ld->cfg->retry_max_ms, ld->cfg->retry_base_ms);
    return 0;
}

static int section_admin(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    (void)sc;
    (void)f;
    scope_t inner = {"admin", ld->cfg};
    return walk_mapping(ld, &inner, val, admin_fields, COUNT_OF(admin_fields));
}

/* master_data: who owns which field of the golden record, the order in which
 * sources win otherwise, and the matching thresholds. Adapter names are
 * checked against the adapters list wherever it stands in the file, so a typo
 * in an owner is caught at start-up rather than silently making a field
 * ownerless. */

#define MASTER_NAMES_MAX 256

/* The adapters: node of the document, found directly because master_data may
 * come before it in the file. */
static const yaml_node_t *adapters_node(loader_t *ld)
{
    const yaml_node_t *root = yaml_document_get_root_node(&ld->doc);
    if (root == NULL || root->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = yaml_document_get_node(&ld->doc, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp(scalar_text(k), "adapters") == 0)
            return yaml_document_get_node(&ld->doc, p->value);
    }
    return NULL;
}

/* Calls FN on each adapter name written in the file; stops when FN returns non-zero. */
static int each_adapter_name(loader_t *ld, int (*fn)(const char *name, void *arg), void *arg)
{
    const yaml_node_t *seq = adapters_node(ld);
    if (seq == NULL || seq->type != YAML_SEQUENCE_NODE)
        return 0;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        const yaml_node_t *item = yaml_document_get_node(&ld->doc, *it);
        if (item->type != YAML_MAPPING_NODE)
            continue;
        for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top;
             p++) {
            const yaml_node_t *k = yaml_document_get_node(&ld->doc, p->key);
            const yaml_node_t *v = yaml_document_get_node(&ld->doc, p->value);
            if (k->type == YAML_SCALAR_NODE && strcmp(scalar_text(k), "name") == 0 &&
                v->type == YAML_SCALAR_NODE) {
                int rc = fn(scalar_text(v), arg);
                if (rc != 0)
                    return rc;
            }
        }
    }
    return 0;
}

static int name_equals(const char *name, void *arg)
{
    return strcmp(name, arg) == 0;
}

typedef struct {
    char *buf;
    size_t len, used;
} names_list_t;

static int name_append(const char *name, void *arg)
{
    names_list_t *l = arg;
    if (l->used >= l->len)
        return 1;
    int w = snprintf(l->buf + l->used, l->len - l->used, "%s%s", l->used ? ", " : "", name);
    if (w > 0)
        l->used += (size_t)w;
    return 0;
}

/* Checks that S names a configured adapter; PATH is the key for the message. */
static int expect_adapter(loader_t *ld, const char *path, yaml_node_t *val, const char *s)
{
    if (each_adapter_name(ld, name_equals, (void *)s) != 0)
        return 0;
    char names[MASTER_NAMES_MAX] = "";
    names_list_t list = {names, sizeof names, 0};
    (void)each_adapter_name(ld, name_append, &list);
    return fail(ld, val, "'%s': '%.*s' is not a configured adapter (adapters: %s)", path,
                SHOWN_VALUE_MAX, s, names[0] ? names : "none");
}

/* A list of distinct adapter names, e.g. survivorship or fallback. */
static int set_adapter_list(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    char path[KEY_PATH_MAX];
    key_path(sc, f->key, path, sizeof path);
    if (val->type != YAML_SEQUENCE_NODE)
        return fail(ld, val,
                    "'%s' must be a list of adapter names such as [health, socialcare], got %s",
                    path, is_null(val) ? "nothing" : kind_name(val));
    config_strings_t *out = field_ptr(sc, f);
    strings_free(out);
    size_t n = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
    if (n == 0)
        return 0;
    out->items = calloc(n, sizeof *out->items);
    if (out->items == NULL)
        return fail(ld, val, "out of memory");
    for (yaml_node_item_t *it = val->data.sequence.items.start; it < val->data.sequence.items.top;
         it++) {
        yaml_node_t *item = yaml_document_get_node(&ld->doc, *it);
        const char *s = expect_scalar(ld, path, item, "a list of adapter names");
        if (s == NULL || expect_adapter(ld, path, item, s) != 0)
            return -1;
        for (size_t j = 0; j < out->count; j++)
            if (strcmp(out->items[j], s) == 0)
                return fail(ld, item, "'%s' names '%.*s' twice; list each adapter once", path,
                            SHOWN_VALUE_MAX, s);
        char *copy = dup_or_fail(ld, item, s);
        if (copy == NULL)
            return -1;
        out->items[out->count++] = copy;
    }
    return 0;
}

static int set_owner(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    char path[KEY_PATH_MAX];
    key_path(sc, f->key, path, sizeof path);
    const char *s = expect_scalar(ld, path, val, "an adapter name");
    if (s == NULL || expect_adapter(ld, path, val, s) != 0)
        return -1;
    return store_string(ld, field_ptr(sc, f), val, s);
}

static int set_on_conflict(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    char path[KEY_PATH_MAX];
    key_path(sc, f->key, path, sizeof path);
    const char *s = expect_scalar(ld, path, val, "correct or propose");
    if (s == NULL)
        return -1;
    bool *propose = field_ptr(sc, f);
    if (strcmp(s, "correct") == 0)
        *propose = false;
    else if (strcmp(s, "propose") == 0)
        *propose = true;
    else
        return fail(ld, val,
                    "'%s' must be 'correct' (send the sender the owner's value) or 'propose' "
                    "(forward the change to the owner), got '%.*s'",
                    path, SHOWN_VALUE_MAX, s);
    return 0;
}

/* A finite decimal number; "nan" and "inf" would make every comparison false. */
static int set_double(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    char path[KEY_PATH_MAX];
    key_path(sc, f->key, path, sizeof path);
    const char *s = expect_scalar(ld, path, val, "a number");
    if (s == NULL)
        return -1;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v > -1e9 && v < 1e9))
        return fail(ld, val, "'%s' must be a number such as 32.0, got '%.*s'", path,
                    SHOWN_VALUE_MAX, s);
    *(double *)field_ptr(sc, f) = v;
    return 0;
}

static const field_t master_rule_fields[] = {
    {"owner", set_owner, offsetof(config_master_field_t, owner)},
    {"fallback", set_adapter_list, offsetof(config_master_field_t, fallback)},
    {"on_conflict", set_on_conflict, offsetof(config_master_field_t, propose)},
};

/* A rule's field path is kept as written: the engine knows the fields (master_check_config). */
static int load_master_rule(loader_t *ld, const char *where, yaml_node_t *key, yaml_node_t *val,
                            config_master_field_t *rule)
{
    const char *name = scalar_text(key);
    rule->line = (unsigned)line_of(key);
    rule->path = dup_or_fail(ld, key, name);
    if (rule->path == NULL)
        return -1;
    char path[KEY_PATH_MAX];
    int w = snprintf(path, sizeof path, "%s.%s", where, name);
    if (w < 0 || (size_t)w >= sizeof path)
        return fail(ld, key, "field path '%.*s' is too long", SHOWN_VALUE_MAX, name);
    if (val->type != YAML_MAPPING_NODE)
        return fail(ld, val,
                    "'%s' must be a mapping such as {owner: health, fallback: [crm]}, got %s", path,
                    is_null(val) ? "nothing" : kind_name(val));
    scope_t sc = {path, rule};
    if (walk_mapping(ld, &sc, val, master_rule_fields, COUNT_OF(master_rule_fields)) != 0)
        return -1;
    if (rule->owner != NULL)
        for (size_t i = 0; i < rule->fallback.count; i++)
            if (strcmp(rule->fallback.items[i], rule->owner) == 0)
                return fail(ld, val, "'%s.fallback' names the owner '%s'; list only the others",
                            path, rule->owner);
    if (rule->propose && rule->owner == NULL)
        return fail(ld, val, "'%s' says on_conflict: propose but has no owner to propose to", path);
    return 0;
}

/* A mapping of field path -> rule into the scope's config_entity_rules_t. */
static int set_rules(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    config_entity_rules_t *rules = sc->target;
    config_master_field_t **fields = &rules->fields;
    size_t *nfields = &rules->nfields;
    char path[KEY_PATH_MAX];
    key_path(sc, f->key, path, sizeof path);
    if (is_null(val))
        return 0;
    if (val->type != YAML_MAPPING_NODE)
        return fail(ld, val,
                    "'%s' must be a mapping of field path -> rule, such as "
                    "'birth_date: {owner: socialcare}', got %s",
                    path, kind_name(val));
    size_t n = (size_t)(val->data.mapping.pairs.top - val->data.mapping.pairs.start);
    if (n == 0)
        return 0;
    *fields = calloc(n, sizeof **fields);
    if (*fields == NULL)
        return fail(ld, val, "out of memory");
    scope_t inner = {path, sc->target};
    for (yaml_node_pair_t *p = val->data.mapping.pairs.start; p < val->data.mapping.pairs.top;
         p++) {
        yaml_node_t *key = yaml_document_get_node(&ld->doc, p->key);
        yaml_node_t *rule = yaml_document_get_node(&ld->doc, p->value);
        if (key->type != YAML_SCALAR_NODE)
            return fail(ld, key, "keys in '%s' must be field paths, got %s", path, kind_name(key));
        if (check_duplicate(ld, &inner, val, p, key) != 0)
            return -1;
        /* Counted before it is filled so config_destroy frees a half-read rule. */
        (*nfields)++;
        if (load_master_rule(ld, path, key, rule, &(*fields)[*nfields - 1]) != 0)
            return -1;
    }
    return 0;
}

static const field_t master_rules_fields[] = {
    {"fields", set_rules, 0},
    {"survivorship", set_adapter_list, offsetof(config_entity_rules_t, survivorship)},
};

/* One level's {m: .., u: ..}: probabilities, so in (0, 1]. */
static int load_level_mu(loader_t *ld, const char *path, yaml_node_t *val, double *m, double *u)
{
    if (val->type != YAML_MAPPING_NODE)
        return fail(ld, val, "'%s' must be a mapping such as {m: 0.9, u: 0.01}, got %s", path,
                    is_null(val) ? "nothing" : kind_name(val));
    bool seen[2] = {false, false};
    for (yaml_node_pair_t *p = val->data.mapping.pairs.start; p < val->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&ld->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&ld->doc, p->value);
        const char *name = k->type == YAML_SCALAR_NODE ? scalar_text(k) : "";
        int which = strcmp(name, "m") == 0 ? 0 : strcmp(name, "u") == 0 ? 1 : -1;
        if (which < 0)
            return fail(ld, k, "'%s' takes only 'm' and 'u', not '%.*s'", path, SHOWN_VALUE_MAX,
                        name);
        const char *s = v->type == YAML_SCALAR_NODE ? scalar_text(v) : "";
        char *end = NULL;
        errno = 0;
        double x = strtod(s, &end);
        if (errno != 0 || end == s || *end != '\0' || !(x > 0.0 && x <= 1.0))
            return fail(ld, v,
                        "'%s.%s' must be a probability above 0 and at most 1, such as 0.95, "
                        "got '%.*s'",
                        path, name, SHOWN_VALUE_MAX, s);
        *(which ? u : m) = x;
        seen[which] = true;
    }
    if (!seen[0] || !seen[1])
        return fail(ld, val, "'%s' needs both m and u", path);
    return 0;
}

static int match_field_index(const char *name)
{
    for (int f = 0; f < MATCH_FIELD_COUNT; f++)
        if (strcmp(match_field_name((match_field_t)f), name) == 0)
            return f;
    return -1;
}

static int match_level_index(int field, int nlevels, const char *name)
{
    for (int k = 1; k < nlevels; k++)
        if (strcmp(match_level_name((match_field_t)field, k), name) == 0)
            return k;
    return -1;
}

/* Names the levels of FIELD (FIELD < 0: the fields themselves), for a message. */
static void level_names(int field, int nlevels, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    int from = field < 0 ? 0 : 1, to = field < 0 ? MATCH_FIELD_COUNT : nlevels;
    for (int k = from; k < to && used < len; k++) {
        const char *name = field < 0 ? match_field_name((match_field_t)k)
                                     : match_level_name((match_field_t)field, k);
        int w = field < 0
                    ? snprintf(out + used, len - used, "%s%s", k > from ? ", " : "", name)
                    : snprintf(out + used, len - used, "%s\"%s\"", k > from ? ", " : "", name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

/* One field's levels: all of them, so that m and u are whole distributions. */
static int load_match_field(loader_t *ld, const char *where, yaml_node_t *key, yaml_node_t *val,
                            const match_params_t *defaults)
{
    const char *name = scalar_text(key);
    int f = match_field_index(name);
    char path[KEY_PATH_MAX], names[256];
    if (f < 0) {
        level_names(-1, 0, names, sizeof names);
        return fail(ld, key, "'%s': unknown field '%.*s' (fields: %s)", where, SHOWN_VALUE_MAX,
                    name, names);
    }
    int w = snprintf(path, sizeof path, "%s.%s", where, name);
    if (w < 0 || (size_t)w >= sizeof path)
        return fail(ld, key, "field name '%.*s' is too long", SHOWN_VALUE_MAX, name);
    int nlevels = defaults->nlevels[f];
    level_names(f, nlevels, names, sizeof names);
    if (val->type != YAML_MAPPING_NODE)
        return fail(ld, val, "'%s' must be a mapping of level -> {m: .., u: ..} for %s, got %s",
                    path, names, is_null(val) ? "nothing" : kind_name(val));
    config_master_t *mc = &ld->cfg->master;
    bool given[MATCH_MAX_LEVELS] = {false};
    double msum = 0, usum = 0;
    for (yaml_node_pair_t *p = val->data.mapping.pairs.start; p < val->data.mapping.pairs.top;
         p++) {
        yaml_node_t *lk = yaml_document_get_node(&ld->doc, p->key);
        yaml_node_t *lv = yaml_document_get_node(&ld->doc, p->value);
        const char *lname = lk->type == YAML_SCALAR_NODE ? scalar_text(lk) : "";
        int k = match_level_index(f, nlevels, lname);
        if (k < 0)
            return fail(ld, lk, "'%s': unknown level '%.*s' (levels: %s)", path, SHOWN_VALUE_MAX,
                        lname, names);
        if (given[k])
            return fail(ld, lk, "'%s': level '%s' is given twice", path, lname);
        char lpath[KEY_PATH_MAX];
        w = snprintf(lpath, sizeof lpath, "%s.\"%s\"", path, lname);
        if (w < 0 || (size_t)w >= sizeof lpath)
            return fail(ld, lk, "level name '%.*s' is too long", SHOWN_VALUE_MAX, lname);
        config_match_level_t *l = &mc->levels[mc->nlevels];
        *l = (config_match_level_t){.field = f, .level = k};
        if (load_level_mu(ld, lpath, lv, &l->m, &l->u) != 0)
            return -1;
        mc->nlevels++;
        given[k] = true;
        msum += l->m;
        usum += l->u;
    }
    for (int k = 1; k < nlevels; k++)
        if (!given[k])
            return fail(ld, val, "'%s' must give every level (%s); '%s' is missing", path, names,
                        match_level_name((match_field_t)f, k));
    /* Trained values are printed to six digits, so their sums can be off by a little. */
    if (msum < 0.99 || msum > 1.01 || usum < 0.99 || usum > 1.01)
        return fail(ld, val,
                    "'%s': m and u are each a distribution over the levels and must add up to 1 "
                    "(m adds up to %.4f, u to %.4f)",
                    path, msum, usum);
    return 0;
}

static int set_match_fields(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    char path[KEY_PATH_MAX];
    key_path(sc, f->key, path, sizeof path);
    if (is_null(val))
        return 0;
    if (val->type != YAML_MAPPING_NODE)
        return fail(ld, val,
                    "'%s' must be a mapping of matching field -> levels, as `joinery match "
                    "train` writes it, got %s",
                    path, kind_name(val));
    config_master_t *mc = &ld->cfg->master;
    match_params_t defaults;
    match_params_default(&defaults);
    mc->levels = calloc((size_t)MATCH_FIELD_COUNT * MATCH_MAX_LEVELS, sizeof *mc->levels);
    if (mc->levels == NULL)
        return fail(ld, val, "out of memory");
    scope_t inner = {path, mc};
    for (yaml_node_pair_t *p = val->data.mapping.pairs.start; p < val->data.mapping.pairs.top;
         p++) {
        yaml_node_t *key = yaml_document_get_node(&ld->doc, p->key);
        yaml_node_t *levels = yaml_document_get_node(&ld->doc, p->value);
        if (key->type != YAML_SCALAR_NODE)
            return fail(ld, key, "keys in '%s' must be matching fields, got %s", path,
                        kind_name(key));
        if (check_duplicate(ld, &inner, val, p, key) != 0 ||
            load_match_field(ld, path, key, levels, &defaults) != 0)
            return -1;
    }
    return 0;
}

/* What `joinery match train` records about its run: kept in the file for the
 * people who review it, not used by the hub. */
static int skip_trained(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    (void)ld;
    (void)sc;
    (void)f;
    (void)val;
    return 0;
}

static const field_t master_matching_fields[] = {
    {"upper", set_double, offsetof(config_master_t, match_upper)},
    {"lower", set_double, offsetof(config_master_t, match_lower)},
    {"fields", set_match_fields, 0},
    {"trained", skip_trained, 0},
};

static int master_person(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    (void)sc;
    (void)f;
    scope_t inner = {"master_data.person", &ld->cfg->master.person};
    return walk_mapping(ld, &inner, val, master_rules_fields, COUNT_OF(master_rules_fields));
}

static int master_matching(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    (void)sc;
    (void)f;
    scope_t inner = {"master_data.matching", &ld->cfg->master};
    if (walk_mapping(ld, &inner, val, master_matching_fields, COUNT_OF(master_matching_fields)) !=
        0)
        return -1;
    if (!(ld->cfg->master.match_upper > ld->cfg->master.match_lower))
        return fail(ld, val,
                    "'master_data.matching.upper' (%g) must be greater than "
                    "'master_data.matching.lower' (%g): pairs between them go to the steward queue",
                    ld->cfg->master.match_upper, ld->cfg->master.match_lower);
    return 0;
}

static int master_address(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    (void)sc;
    (void)f;
    scope_t inner = {"master_data.address", &ld->cfg->master.address};
    return walk_mapping(ld, &inner, val, master_rules_fields, COUNT_OF(master_rules_fields));
}

static int master_case(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    (void)sc;
    (void)f;
    scope_t inner = {"master_data.case", &ld->cfg->master.case_};
    return walk_mapping(ld, &inner, val, master_rules_fields, COUNT_OF(master_rules_fields));
}

static const field_t master_data_fields[] = {
    {"person", master_person, 0},
    {"address", master_address, 0},
    {"case", master_case, 0},
    {"matching", master_matching, 0},
};

static int section_master_data(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    (void)sc;
    (void)f;
    scope_t inner = {"master_data", ld->cfg};
    return walk_mapping(ld, &inner, val, master_data_fields, COUNT_OF(master_data_fields));
}

static void rules_free(config_master_field_t **fields, size_t *nfields)
{
    for (size_t i = 0; i < *nfields; i++) {
        free((*fields)[i].path);
        free((*fields)[i].owner);
        strings_free(&(*fields)[i].fallback);
    }
    free(*fields);
    *fields = NULL;
    *nfields = 0;
}

static void master_config_free(config_master_t *mc)
{
    rules_free(&mc->fields, &mc->nfields);
    strings_free(&mc->survivorship);
    rules_free(&mc->address.fields, &mc->address.nfields);
    strings_free(&mc->address.survivorship);
    rules_free(&mc->case_.fields, &mc->case_.nfields);
    strings_free(&mc->case_.survivorship);
    free(mc->levels);
    mc->levels = NULL;
    mc->nlevels = 0;
}

/* partners belongs to later work; only its shape is held to now, so a file
 * written for that work already loads. */
static int section_partners(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    (void)sc;
    (void)f;
    if (is_null(val) || val->type == YAML_SEQUENCE_NODE)
        return 0;
    return fail(ld, val, "'partners' must be a list (write [] for none), got %s", kind_name(val));
}

static int check_unique_name(loader_t *ld, const yaml_node_t *seq, size_t i)
{
    const config_adapter_t *a = &ld->cfg->adapters[i];
    for (size_t j = 0; j < i; j++) {
        if (strcmp(ld->cfg->adapters[j].name, a->name) == 0) {
            const yaml_node_t *first =
                yaml_document_get_node(&ld->doc, seq->data.sequence.items.start[j]);
            return fail(ld, ld->seen[i].name,
                        "adapter name '%s' is used twice (first by the adapter on line %lu); "
                        "give each adapter its own name",
                        a->name, line_of(first));
        }
    }
    return 0;
}

static int load_adapter(loader_t *ld, const yaml_node_t *seq, size_t i)
{
    yaml_node_t *item = yaml_document_get_node(&ld->doc, seq->data.sequence.items.start[i]);
    char where[KEY_PATH_MAX];
    (void)snprintf(where, sizeof where, "adapters[%zu]", i);
    if (item->type != YAML_MAPPING_NODE)
        return fail(ld, item, "'%s' must be a mapping with at least 'name', got %s", where,
                    kind_name(item));
    ld->current = i;
    scope_t sc = {where, &ld->cfg->adapters[i]};
    if (walk_mapping(ld, &sc, item, adapter_fields, COUNT_OF(adapter_fields)) != 0)
        return -1;
    const adapter_seen_t *seen = &ld->seen[i];
    if (ld->cfg->adapters[i].name == NULL)
        return fail(ld, item, "'%s' has no 'name'; add one such as 'name: crm'", where);
    if (seen->key != NULL && seen->key_file != NULL)
        return fail(ld, seen->key_file,
                    "adapter '%s' sets both 'public_key' and 'public_key_file'; keep only one",
                    ld->cfg->adapters[i].name);
    return check_unique_name(ld, seq, i);
}

static int section_adapters(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    (void)sc;
    (void)f;
    ld->adapters = val;
    if (is_null(val))
        return 0; /* reported by finish(), with the other missing things */
    if (val->type != YAML_SEQUENCE_NODE)
        return fail(ld, val,
                    "'adapters' must be a list of entries each starting '- name: ...', got %s",
                    kind_name(val));
    size_t n = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
    if (n == 0)
        return fail(ld, val, "'adapters' is empty; configure at least one adapter");
    ld->cfg->adapters = calloc(n, sizeof *ld->cfg->adapters);
    ld->seen = calloc(n, sizeof *ld->seen);
    if (ld->cfg->adapters == NULL || ld->seen == NULL)
        return fail(ld, val, "out of memory");
    /* Counted as they are started so config_destroy frees a half-read entry. */
    for (size_t i = 0; i < n; i++) {
        ld->cfg->nadapters = i + 1;
        if (load_adapter(ld, val, i) != 0)
            return -1;
    }
    return 0;
}

static const field_t root_fields[] = {
    {"hub", section_hub, 0},           {"database", section_database, 0},
    {"security", section_security, 0}, {"delivery", section_delivery, 0},
    {"adapters", section_adapters, 0}, {"master_data", section_master_data, 0},
    {"partners", section_partners, 0}, {"admin", section_admin, 0},
};

/* Requirements ------------------------------------------------------------ */

static int check_unique_key(loader_t *ld, const yaml_node_t *key_node, size_t i)
{
    const config_adapter_t *a = &ld->cfg->adapters[i];
    for (size_t j = 0; j < i; j++)
        if (ld->cfg->adapters[j].public_key != NULL &&
            strcmp(ld->cfg->adapters[j].public_key, a->public_key) == 0)
            return fail(ld, key_node,
                        "adapter '%s' has the same public key as adapter '%s'; each adapter "
                        "needs its own key pair",
                        a->name, ld->cfg->adapters[j].name);
    return 0;
}

/* With curve off no key is needed, so a missing key file must not stop a
 * development hub; an inline key was still checked for form while walking. */
static int finish_adapter_key(loader_t *ld, size_t i)
{
    config_adapter_t *a = &ld->cfg->adapters[i];
    const adapter_seen_t *seen = &ld->seen[i];
    if (!ld->cfg->curve) {
        free(a->public_key);
        a->public_key = NULL;
        return 0;
    }
    if (seen->key == NULL && seen->key_file == NULL) {
        const yaml_node_t *item =
            yaml_document_get_node(&ld->doc, ld->adapters->data.sequence.items.start[i]);
        return fail(ld, item,
                    "adapter '%s' needs 'public_key' or 'public_key_file' because "
                    "security.curve is true (or set 'curve: false' for development)",
                    a->name);
    }
    if (seen->key_file != NULL &&
        read_key_file(ld, seen->key_file, "public key file", &a->public_key) != 0)
        return -1;
    return check_unique_key(ld, seen->key_file ? seen->key_file : seen->key, i);
}

static int finish_hub_key(loader_t *ld, const yaml_node_t *root)
{
    if (!ld->cfg->curve)
        return 0;
    if (ld->hub_key_file == NULL)
        return fail(ld, ld->security ? ld->security : root,
                    "'security.hub_key_file' is required when security.curve is true: point it at "
                    "a file holding the hub's 40-character Z85 secret key (or set 'curve: false' "
                    "for development without encryption)");
    return read_key_file(ld, ld->hub_key_file, "hub key file", &ld->cfg->hub_secret_key);
}

static int finish(loader_t *ld, const yaml_node_t *root)
{
    if (finish_hub_key(ld, root) != 0)
        return -1;
    if (ld->cfg->nadapters == 0)
        return fail(ld, ld->adapters ? ld->adapters : root,
                    "no adapters configured; add an 'adapters:' list with at least one entry "
                    "(name, public_key_file, publish, subscribe)");
    for (size_t i = 0; i < ld->cfg->nadapters; i++)
        if (finish_adapter_key(ld, i) != 0)
            return -1;
    return 0;
}

/* Whole file -------------------------------------------------------------- */

static void set_defaults(config_t *cfg)
{
    cfg->log_level = LOG_INFO;
    cfg->log_format = LOG_FORMAT_TEXT;
    cfg->heartbeat_ms = 1000;
    cfg->heartbeat_misses = 5;
    cfg->max_message_bytes = 1048576;
    cfg->max_batch = 1000;
    cfg->curve = true;
    cfg->max_attempts = 5;
    cfg->retry_base_ms = 200;
    cfg->retry_max_ms = 30000;
    cfg->window_events = 262144;
    cfg->default_credit = 1000;
    cfg->admin_enabled = false;
    match_params_t mp;
    match_params_default(&mp);
    cfg->master.match_upper = mp.upper;
    cfg->master.match_lower = mp.lower;
}

/* String defaults go in after parsing, so a value from the file never has to
 * replace (and free) a default. */
static int set_string_defaults(loader_t *ld)
{
    config_t *cfg = ld->cfg;
    if (cfg->listen == NULL)
        cfg->listen = strdup("tcp://127.0.0.1:7600");
    if (cfg->data_dir == NULL)
        cfg->data_dir = resolve_path(ld, "./var/joinery");
    if (cfg->admin_listen == NULL)
        cfg->admin_listen = strdup("127.0.0.1:7680");
    if (cfg->listen == NULL || cfg->data_dir == NULL || cfg->admin_listen == NULL)
        return fail_line(ld, 1, "out of memory");
    return 0;
}

static int load_root(loader_t *ld, const yaml_node_t *root)
{
    if (root->type != YAML_MAPPING_NODE)
        return fail(ld, root,
                    "the top level must be a mapping of sections (hub, security, adapters, ...), "
                    "got %s",
                    kind_name(root));
    scope_t sc = {"", ld->cfg};
    if (walk_mapping(ld, &sc, root, root_fields, COUNT_OF(root_fields)) != 0 ||
        finish(ld, root) != 0)
        return -1;
    return set_string_defaults(ld);
}

/* Line (0-based) of byte OFFSET of the file, by counting newlines before it. */
static size_t line_at_offset(FILE *f, size_t offset)
{
    size_t line = 0;
    rewind(f);
    for (size_t i = 0; i < offset; i++) {
        int c = fgetc(f);
        if (c == EOF)
            break;
        if (c == '\n')
            line++;
    }
    return line;
}

static int syntax_error(loader_t *ld, const yaml_parser_t *parser, FILE *f)
{
    if (parser->error == YAML_MEMORY_ERROR)
        return fail_line(ld, 1, "out of memory while reading YAML");
    /* Reader errors (bad encoding) carry a byte offset rather than a mark. */
    size_t line = parser->error == YAML_READER_ERROR ? line_at_offset(f, parser->problem_offset)
                                                     : parser->problem_mark.line;
    const char *problem = parser->problem ? parser->problem : "unknown problem";
    /* Running off the end of the file (an unclosed quote or bracket) is fixed
     * where the construct began, not at the last line. */
    if (parser->context != NULL && strstr(problem, "end of stream") != NULL)
        line = parser->context_mark.line;
    if (parser->context != NULL)
        return fail_line(ld, (unsigned long)line + 1, "YAML syntax error: %s (%s on line %lu)",
                         problem, parser->context, (unsigned long)parser->context_mark.line + 1);
    return fail_line(ld, (unsigned long)line + 1, "YAML syntax error: %s", problem);
}

/* A second document would be silently ignored by a single load, so look for one. */
static int check_single_document(loader_t *ld, yaml_parser_t *parser, FILE *f)
{
    yaml_document_t extra;
    if (!yaml_parser_load(parser, &extra))
        return syntax_error(ld, parser, f);
    const yaml_node_t *root = yaml_document_get_root_node(&extra);
    int rc = 0;
    if (root != NULL)
        rc = fail(ld, root,
                  "a second YAML document starts here; the configuration must be one document "
                  "(remove the extra '---')");
    yaml_document_delete(&extra);
    return rc;
}

/* Parses the open file into ld->doc; on success the caller deletes the document. */
static int parse_file(loader_t *ld, FILE *f)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return fail_line(ld, 1, "out of memory");
    yaml_parser_set_input_file(&parser, f);
    int rc = 0;
    if (!yaml_parser_load(&parser, &ld->doc))
        rc = syntax_error(ld, &parser, f);
    else if (check_single_document(ld, &parser, f) != 0) {
        yaml_document_delete(&ld->doc);
        rc = -1;
    }
    yaml_parser_delete(&parser);
    return rc;
}

static int open_config(loader_t *ld, const char *path, FILE **out)
{
    FILE *f = fopen(path, "r");
    struct stat st;
    if (f == NULL) {
        int e = errno;
        if (ld->err && ld->errlen)
            (void)snprintf(ld->err, ld->errlen, "%s: cannot read: %s", path, strerror(e));
        return -1;
    }
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        if (ld->err && ld->errlen)
            (void)snprintf(ld->err, ld->errlen, "%s: cannot read: %s", path, strerror(EISDIR));
        return -1;
    }
    *out = f;
    return 0;
}

static int load_document(loader_t *ld)
{
    const yaml_node_t *root = yaml_document_get_root_node(&ld->doc);
    if (root == NULL)
        return fail_line(ld, 1,
                         "the file is empty; it needs at least 'security' and 'adapters' "
                         "sections (see deploy/joinery.example.yaml)");
    return load_root(ld, root);
}

config_t *config_load(const char *path, char *err, size_t errlen)
{
    loader_t ld = {.file = path, .err = err, .errlen = errlen};
    if (err && errlen)
        err[0] = '\0';
    if (path == NULL) {
        if (err && errlen)
            (void)snprintf(err, errlen,
                           "no configuration file given; pass the path of a YAML file");
        return NULL;
    }
    FILE *f = NULL;
    if (open_config(&ld, path, &f) != 0)
        return NULL;
    int rc = parse_file(&ld, f);
    fclose(f);
    if (rc != 0)
        return NULL;
    ld.cfg = calloc(1, sizeof *ld.cfg);
    if (ld.cfg != NULL) {
        ld.cfg->path = absolute_file(path);
        ld.cfg->file = strdup(path);
    }
    if (ld.cfg == NULL || ld.cfg->path == NULL || ld.cfg->file == NULL || (ld.dir = dir_of(ld.cfg->path)) == NULL) {
        rc = fail_line(&ld, 1, "out of memory");
    } else {
        set_defaults(ld.cfg);
        rc = load_document(&ld);
    }
    yaml_document_delete(&ld.doc);
    free(ld.seen);
    free(ld.dir);
    if (rc != 0)
        config_destroy(&ld.cfg);
    return ld.cfg;
}

static void adapter_free(config_adapter_t *a)
{
    free(a->name);
    free(a->public_key);
    strings_free(&a->publish);
    strings_free(&a->subscribe);
}

void config_destroy(config_t **cfg)
{
    if (cfg == NULL || *cfg == NULL)
        return;
    config_t *c = *cfg;
    for (size_t i = 0; i < c->nadapters; i++)
        adapter_free(&c->adapters[i]);
    free(c->adapters);
    strings_free(&c->transient);
    free(c->path);
    free(c->file);
    free(c->listen);
    free(c->data_dir);
    free(c->database);
    free(c->pg_bindir);
    if (c->hub_secret_key != NULL)
        explicit_bzero(c->hub_secret_key, strlen(c->hub_secret_key));
    free(c->hub_secret_key);
    free(c->admin_listen);
    master_config_free(&c->master);
    free(c);
    *cfg = NULL;
}

const config_adapter_t *config_adapter(const config_t *cfg, const char *name)
{
    if (cfg == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < cfg->nadapters; i++)
        if (strcmp(cfg->adapters[i].name, name) == 0)
            return &cfg->adapters[i];
    return NULL;
}

const config_adapter_t *config_adapter_by_key(const config_t *cfg, const char *z85)
{
    if (cfg == NULL || z85 == NULL)
        return NULL;
    for (size_t i = 0; i < cfg->nadapters; i++)
        if (cfg->adapters[i].public_key != NULL && strcmp(cfg->adapters[i].public_key, z85) == 0)
            return &cfg->adapters[i];
    return NULL;
}
