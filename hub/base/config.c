/* config.c - loads and checks the hub's YAML configuration (contract in config.h).
 *
 * The file is read whole into a libyaml document and then walked section by
 * section. Each section is a table of key -> setter, so the keys a section
 * accepts are written down once and serve both the parser and the "expected
 * one of" hint. The first problem found ends the load: one precise message
 * that names the file, the line and the fix beats a cascade of consequences. */
#include "base/config_int.h"
#include "base/log.h"
#include "base/secret.h"
#include "match/match.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define Z85_KEY_LEN 40
#define ADAPTER_NAME_MAX 64
#define EXPECTED_MAX 256
#define KEY_LINE_MAX 128
#define PORT_MAX 65535UL

/* Messages ---------------------------------------------------------------- */

unsigned long cfg_line_of(const yaml_node_t *node)
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

int cfg_fail(loader_t *ld, const yaml_node_t *node, const char *fmt, ...) CONFIG_PRINTF(3, 4);
int cfg_fail(loader_t *ld, const yaml_node_t *node, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_line(ld, cfg_line_of(node), fmt, ap);
    va_end(ap);
    return -1;
}

void cfg_key_path(const scope_t *sc, const char *key, char *buf, size_t len)
{
    (void)snprintf(buf, len, "%s%s%s", sc->where, sc->where[0] ? "." : "", key);
}

const char *cfg_kind_name(const yaml_node_t *node)
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

const char *cfg_scalar_text(const yaml_node_t *node)
{
    return (const char *)node->data.scalar.value;
}

/* YAML's null spellings; only plain scalars, since "~" in quotes is a string. */
int cfg_is_null(const yaml_node_t *node)
{
    if (node == NULL)
        return 1;
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *s = cfg_scalar_text(node);
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/* The text of a scalar value, or NULL after reporting why there is none. */
const char *cfg_expect_scalar(loader_t *ld, const char *path, yaml_node_t *val, const char *what)
{
    if (val->type != YAML_SCALAR_NODE) {
        cfg_fail(ld, val, "'%s' must be %s, got %s", path, what, cfg_kind_name(val));
        return NULL;
    }
    if (cfg_is_null(val)) {
        cfg_fail(ld, val, "'%s' has no value; it must be %s (or remove the key)", path, what);
        return NULL;
    }
    if (strlen(cfg_scalar_text(val)) != val->data.scalar.length) {
        cfg_fail(ld, val, "'%s' contains a NUL character; it must be %s", path, what);
        return NULL;
    }
    return cfg_scalar_text(val);
}

/* The scalar value of key F in scope SC, with its dotted path in PATH (KEY_PATH_MAX), or NULL
 * after reporting why there is none. */
const char *cfg_scalar_at(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val,
                          const char *what, char *path)
{
    cfg_key_path(sc, f->key, path, KEY_PATH_MAX);
    return cfg_expect_scalar(ld, path, val, what);
}

void *cfg_field_ptr(const scope_t *sc, const field_t *f)
{
    return (char *)sc->target + f->offset;
}

char *cfg_dup_or_fail(loader_t *ld, const yaml_node_t *node, const char *s)
{
    char *copy = strdup(s);
    if (copy == NULL)
        cfg_fail(ld, node, "out of memory");
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

int cfg_store_string(loader_t *ld, char **slot, const yaml_node_t *val, const char *s)
{
    char *copy = cfg_dup_or_fail(ld, val, s);
    if (copy == NULL)
        return -1;
    free(*slot);
    *slot = copy;
    return 0;
}

static int set_path(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    char path[KEY_PATH_MAX];
    const char *s = cfg_scalar_at(ld, sc, f, val, "a path", path);
    if (s == NULL)
        return -1;
    char *abs = resolve_path(ld, s);
    if (abs == NULL)
        return cfg_fail(ld, val, "out of memory");
    char **slot = cfg_field_ptr(sc, f);
    free(*slot);
    *slot = abs;
    return 0;
}

static int set_enum(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val,
                    int (*parse)(const char *), const char *choices)
{
    char path[KEY_PATH_MAX];
    cfg_key_path(sc, f->key, path, sizeof path);
    const char *s = cfg_expect_scalar(ld, path, val, choices);
    if (s == NULL)
        return -1;
    int v = parse(s);
    if (v < 0)
        return cfg_fail(ld, val, "'%s' must be one of %s; got '%.*s'", path, choices,
                        SHOWN_VALUE_MAX, s);
    *(int *)cfg_field_ptr(sc, f) = v;
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

void cfg_strings_free(config_strings_t *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->items[i]);
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

static int add_pattern(loader_t *ld, const char *path, config_strings_t *out, yaml_node_t *item)
{
    const char *s = cfg_expect_scalar(ld, path, item, "a list of event-type patterns");
    if (s == NULL)
        return -1;
    if (!pattern_ok(s))
        return cfg_fail(
            ld, item,
            "'%s': pattern '%.*s' is not valid; use dot-separated segments of a-z, 0-9, "
            "'_' and '-', or '*' for a whole segment (e.g. 'person.*', "
            "'case.referral.created', '*')",
            path, SHOWN_VALUE_MAX, s);
    char *copy = cfg_dup_or_fail(ld, item, s);
    if (copy == NULL)
        return -1;
    out->items[out->count++] = copy;
    return 0;
}

/* A list value at PATH into OUT (emptied first): ITEM adds each element. HINT says what the
 * value must be when it is not a list. */
typedef int (*item_fn)(loader_t *ld, const char *path, config_strings_t *out, yaml_node_t *item);

int cfg_set_list(loader_t *ld, const char *path, yaml_node_t *val, config_strings_t *out,
                 const char *hint, item_fn item)
{
    if (val->type != YAML_SEQUENCE_NODE)
        return cfg_fail(ld, val, "'%s' must be %s, got %s", path, hint,
                        cfg_is_null(val) ? "nothing" : cfg_kind_name(val));
    cfg_strings_free(out);
    size_t n = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
    if (n == 0)
        return 0;
    out->items = calloc(n, sizeof *out->items);
    if (out->items == NULL)
        return cfg_fail(ld, val, "out of memory");
    for (yaml_node_item_t *it = val->data.sequence.items.start; it < val->data.sequence.items.top;
         it++)
        if (item(ld, path, out, yaml_document_get_node(&ld->doc, *it)) != 0)
            return -1;
    return 0;
}

static int set_patterns(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    char path[KEY_PATH_MAX];
    cfg_key_path(sc, f->key, path, sizeof path);
    return cfg_set_list(ld, path, val, cfg_field_ptr(sc, f),
                        "a list of event-type patterns such as [\"person.*\"] (write [] for none)",
                        add_pattern);
}

int cfg_set_parsed(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    const parsed_t *t = f->arg;
    char path[KEY_PATH_MAX];
    const char *s = cfg_scalar_at(ld, sc, f, val, t->what, path);
    if (s == NULL)
        return -1;
    if (t->parse(s, cfg_field_ptr(sc, f)) != 0)
        return cfg_fail(ld, val, "'%s' must be %s, got '%.*s'", path, t->must, SHOWN_VALUE_MAX, s);
    return 0;
}

static int parse_uint(const char *s, void *slot)
{
    return parse_positive(s, slot);
}

/* A byte count: a size_t, unlike the other numbers, since a window of more
 * than 4 GiB is a reasonable thing to ask for. */
static int parse_bytes(const char *s, void *slot)
{
    if (*s < '0' || *s > '9')
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v == 0 || v > SIZE_MAX / 2)
        return -1;
    *(size_t *)slot = (size_t)v;
    return 0;
}

static int parse_flag(const char *s, void *slot)
{
    return parse_bool(s, slot);
}

_Static_assert(UINT_MAX == 4294967295U, "the message below says the largest unsigned");
static const parsed_t UINT_VALUE = {"a positive integer", parse_uint,
                                    "a positive integer (1 to 4294967295)"};
static const parsed_t BYTES_VALUE = {"a number of bytes", parse_bytes,
                                     "a positive number of bytes, e.g. 268435456 for 256 MiB"};
static const parsed_t BOOL_VALUE = {"true or false", parse_flag, "true or false (or yes/no)"};

int cfg_set_text(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    const text_t *t = f->arg;
    char path[KEY_PATH_MAX];
    const char *s = cfg_scalar_at(ld, sc, f, val, t->what, path);
    if (s == NULL || (t->check != NULL && t->check(ld, path, val, s) != 0))
        return -1;
    if (t->remember != NULL)
        t->remember(ld, val);
    return t->store ? cfg_store_string(ld, cfg_field_ptr(sc, f), val, s) : 0;
}

static int check_endpoint(loader_t *ld, const char *path, yaml_node_t *val, const char *s)
{
    if (endpoint_ok(s))
        return 0;
    return cfg_fail(ld, val,
                    "'%s' must be a ZeroMQ endpoint such as 'tcp://127.0.0.1:7600' or "
                    "'ipc:///run/joinery/hub.sock', got '%.*s'",
                    path, SHOWN_VALUE_MAX, s);
}

static int check_hostport(loader_t *ld, const char *path, yaml_node_t *val, const char *s)
{
    if (hostport_ok(s))
        return 0;
    return cfg_fail(ld, val, "'%s' must be HOST:PORT such as '127.0.0.1:7680', got '%.*s'", path,
                    SHOWN_VALUE_MAX, s);
}

static int check_adapter_name(loader_t *ld, const char *path, yaml_node_t *val, const char *s)
{
    (void)path;
    if (name_ok(s))
        return 0;
    return cfg_fail(ld, val,
                    "adapter name '%.*s' is not valid; use 1 to %d characters from a-z, 0-9, '_' "
                    "and '-' (e.g. 'crm', 'social-care')",
                    SHOWN_VALUE_MAX, s, ADAPTER_NAME_MAX);
}

static int check_adapter_key(loader_t *ld, const char *path, yaml_node_t *val, const char *s)
{
    if (z85_ok(s))
        return 0;
    return cfg_fail(ld, val,
                    "'%s' must be a Curve public key of exactly %d Z85 characters, got '%.*s' "
                    "(%zu characters)",
                    path, Z85_KEY_LEN, SHOWN_VALUE_MAX, s, strlen(s));
}

/* Only remembered: whether the files are read depends on security.curve. */
static void remember_hub_key_file(loader_t *ld, yaml_node_t *val)
{
    ld->hub_key_file = val;
}

static void remember_adapter_name(loader_t *ld, yaml_node_t *val)
{
    ld->seen[ld->current].name = val;
}

static void remember_adapter_key(loader_t *ld, yaml_node_t *val)
{
    ld->seen[ld->current].key = val;
}

static void remember_adapter_key_file(loader_t *ld, yaml_node_t *val)
{
    ld->seen[ld->current].key_file = val;
}

static const text_t STRING = {"a non-empty string", NULL, NULL, true};
static const text_t ENDPOINT = {"a ZeroMQ endpoint", check_endpoint, NULL, true};
static const text_t HOSTPORT = {"HOST:PORT", check_hostport, NULL, true};
static const text_t HUB_KEY_FILE = {"the path of the hub's secret key file", NULL,
                                    remember_hub_key_file, false};
static const text_t ADAPTER_NAME = {"an adapter name", check_adapter_name, remember_adapter_name,
                                    true};
static const text_t ADAPTER_KEY = {"a 40-character Z85 Curve public key", check_adapter_key,
                                   remember_adapter_key, true};
static const text_t ADAPTER_KEY_FILE = {"the path of a public key file", NULL,
                                        remember_adapter_key_file, false};

/* Section tables ---------------------------------------------------------- */

static const field_t hub_fields[] = {
    {"listen", cfg_set_text, offsetof(config_t, listen), &ENDPOINT},
    {"data_dir", set_path, offsetof(config_t, data_dir), NULL},
    {"log_level", set_log_level, offsetof(config_t, log_level), NULL},
    {"log_format", set_log_format, offsetof(config_t, log_format), NULL},
    {"heartbeat_ms", cfg_set_parsed, offsetof(config_t, heartbeat_ms), &UINT_VALUE},
    {"heartbeat_misses", cfg_set_parsed, offsetof(config_t, heartbeat_misses), &UINT_VALUE},
    {"max_message_bytes", cfg_set_parsed, offsetof(config_t, max_message_bytes), &UINT_VALUE},
    {"max_batch", cfg_set_parsed, offsetof(config_t, max_batch), &UINT_VALUE},
};

static const field_t database_fields[] = {
    {"conninfo", cfg_set_text, offsetof(config_t, database), &STRING},
    {"pg_bindir", set_path, offsetof(config_t, pg_bindir), NULL},
};

static const field_t security_fields[] = {
    {"curve", cfg_set_parsed, offsetof(config_t, curve), &BOOL_VALUE},
    {"hub_key_file", cfg_set_text, 0, &HUB_KEY_FILE},
};

static const field_t delivery_fields[] = {
    {"max_attempts", cfg_set_parsed, offsetof(config_t, max_attempts), &UINT_VALUE},
    {"retry_base_ms", cfg_set_parsed, offsetof(config_t, retry_base_ms), &UINT_VALUE},
    {"retry_max_ms", cfg_set_parsed, offsetof(config_t, retry_max_ms), &UINT_VALUE},
    {"window_events", cfg_set_parsed, offsetof(config_t, window_events), &UINT_VALUE},
    {"window_bytes", cfg_set_parsed, offsetof(config_t, window_bytes), &BYTES_VALUE},
    {"default_credit", cfg_set_parsed, offsetof(config_t, default_credit), &UINT_VALUE},
    {"transient", set_patterns, offsetof(config_t, transient), NULL},
};

static const field_t adapter_fields[] = {
    {"name", cfg_set_text, offsetof(config_adapter_t, name), &ADAPTER_NAME},
    {"public_key", cfg_set_text, offsetof(config_adapter_t, public_key), &ADAPTER_KEY},
    {"public_key_file", cfg_set_text, 0, &ADAPTER_KEY_FILE},
    {"publish", set_patterns, offsetof(config_adapter_t, publish), NULL},
    {"subscribe", set_patterns, offsetof(config_adapter_t, subscribe), NULL},
    {"operator", cfg_set_parsed, offsetof(config_adapter_t, is_operator), &BOOL_VALUE},
};

static const field_t refusals_fields[] = {
    {"keep_bytes_per_event", cfg_set_parsed, offsetof(config_refusals_t, keep_bytes_per_event),
     &UINT_VALUE},
    {"keep_bytes_per_adapter_per_day", cfg_set_parsed,
     offsetof(config_refusals_t, keep_bytes_per_adapter_per_day), &UINT_VALUE},
    {"keep_bytes_per_day", cfg_set_parsed, offsetof(config_refusals_t, keep_bytes_per_day),
     &UINT_VALUE},
    {"keep_rows_per_adapter_per_day", cfg_set_parsed,
     offsetof(config_refusals_t, keep_rows_per_adapter_per_day), &UINT_VALUE},
    {"keep_rows_per_day", cfg_set_parsed, offsetof(config_refusals_t, keep_rows_per_day),
     &UINT_VALUE},
    {"keep_days", cfg_set_parsed, offsetof(config_refusals_t, keep_days), &UINT_VALUE},
    {"expire_every_s", cfg_set_parsed, offsetof(config_refusals_t, expire_every_s), &UINT_VALUE},
};

/* admin: tokens and TLS --------------------------------------------------- */

/* A token is a password sent on every request: shorter than this is guessable
 * over a loopback connection in an afternoon. */
#define ADMIN_TOKEN_MIN 16
#define ADMIN_TOKEN_MAX 256

static void trim(char *s);

bool config_listen_is_loopback(const char *hostport)
{
    const char *colon = hostport ? strrchr(hostport, ':') : NULL;
    if (colon == NULL)
        return false;
    size_t n = (size_t)(colon - hostport);
    if (n == 9 && strncmp(hostport, "localhost", 9) == 0)
        return true;
    if (n == 5 && strncmp(hostport, "[::1]", 5) == 0)
        return true;
    return n > 4 && strncmp(hostport, "127.", 4) == 0;
}

static int parse_role(const char *s)
{
    if (strcmp(s, "read") == 0)
        return ADMIN_ROLE_READ;
    if (strcmp(s, "operate") == 0)
        return ADMIN_ROLE_OPERATE;
    if (strcmp(s, "steward") == 0)
        return ADMIN_ROLE_STEWARD;
    return -1;
}

/* Visible ASCII only: it travels in an Authorization header. */
static bool token_text_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < ADMIN_TOKEN_MIN || n > ADMIN_TOKEN_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return false;
    return true;
}

/* The token on the first line of the file NODE names, which must be private
 * to its owner like the hub's secret key. */
static int read_token_file(loader_t *ld, const yaml_node_t *node, char **out)
{
    char *path = resolve_path(ld, cfg_scalar_text(node));
    if (path == NULL)
        return cfg_fail(ld, node, "out of memory");
    char line[ADMIN_TOKEN_MAX + 8] = "", why[PATH_MAX + 128];
    int rc = 0;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        rc = cfg_fail(ld, node, "cannot read admin token file '%s': %s", path, strerror(errno));
    else if (secret_check_private(fileno(f), "admin token file", path, why, sizeof why) != 0)
        rc = cfg_fail(ld, node, "%s", why);
    else if (fgets(line, sizeof line, f) == NULL)
        rc = cfg_fail(ld, node, "admin token file '%s' is empty", path);
    if (f != NULL)
        fclose(f);
    trim(line);
    if (rc == 0 && !token_text_ok(line))
        rc = cfg_fail(ld, node,
                      "admin token file '%s' must hold a token of %d to %d visible ASCII "
                      "characters on its first line",
                      path, ADMIN_TOKEN_MIN, ADMIN_TOKEN_MAX);
    if (rc == 0 && (*out = cfg_dup_or_fail(ld, node, line)) == NULL)
        rc = -1;
    explicit_bzero(line, sizeof line);
    free(path);
    return rc;
}

static int admin_token_key(loader_t *ld, config_admin_token_t *t, const yaml_node_t *key,
                           yaml_node_t *val, const char *where)
{
    const char *k = cfg_scalar_text(key);
    char path[KEY_PATH_MAX];
    /* Only known keys get this far with their path: a long one is refused below. */
    if (snprintf(path, sizeof path, "%s.%.16s", where, k) < 0)
        return -1;
    if (strcmp(k, "name") != 0 && strcmp(k, "token") != 0 && strcmp(k, "token_file") != 0 &&
        strcmp(k, "role") != 0)
        return cfg_fail(ld, key,
                        "unknown key '%.*s' in '%s'; expected one of: name, token, "
                        "token_file, role",
                        SHOWN_VALUE_MAX, k, where);
    const char *s = cfg_expect_scalar(ld, path, val, "a single value");
    if (s == NULL)
        return -1;
    if (strcmp(k, "name") == 0)
        return name_ok(s) ? cfg_store_string(ld, &t->name, val, s)
                          : cfg_fail(ld, val, "'%s' must be a name of a-z 0-9 _ -", path);
    if (strcmp(k, "role") == 0) {
        int r = parse_role(s);
        if (r < 0)
            return cfg_fail(ld, val, "'%s' must be read, operate or steward, got '%.*s'", path,
                            SHOWN_VALUE_MAX, s);
        t->role = (admin_role_t)r;
        return 0;
    }
    if (t->token != NULL)
        return cfg_fail(ld, val, "'%s' sets both 'token' and 'token_file'; keep only one", where);
    if (strcmp(k, "token_file") == 0)
        return read_token_file(ld, val, &t->token);
    if (!token_text_ok(s))
        return cfg_fail(ld, val, "'%s' must be %d to %d visible ASCII characters", path,
                        ADMIN_TOKEN_MIN, ADMIN_TOKEN_MAX);
    return cfg_store_string(ld, &t->token, val, s);
}

static int load_admin_token(loader_t *ld, yaml_node_t *item, size_t i)
{
    char where[KEY_PATH_MAX];
    (void)snprintf(where, sizeof where, "admin.tokens[%zu]", i);
    if (item->type != YAML_MAPPING_NODE)
        return cfg_fail(ld, item, "'%s' must be a mapping of name, token or token_file, role",
                        where);
    config_admin_token_t *t = &ld->cfg->admin_tokens[i];
    scope_t sc = {where, t};
    for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top;
         p++) {
        yaml_node_t *key = yaml_document_get_node(&ld->doc, p->key);
        if (key->type != YAML_SCALAR_NODE)
            return cfg_fail(ld, key, "keys in '%s' must be plain names", where);
        if (cfg_check_duplicate(ld, &sc, item, p, key) != 0 ||
            admin_token_key(ld, t, key, yaml_document_get_node(&ld->doc, p->value), where) != 0)
            return -1;
    }
    if (t->name == NULL || t->token == NULL || t->role == 0)
        return cfg_fail(ld, item, "'%s' needs a name, a token or token_file, and a role", where);
    for (size_t j = 0; j < i; j++)
        if (strcmp(ld->cfg->admin_tokens[j].name, t->name) == 0 ||
            strcmp(ld->cfg->admin_tokens[j].token, t->token) == 0)
            return cfg_fail(ld, item, "'%s' repeats the name or the token of admin.tokens[%zu]",
                            where, j);
    return 0;
}

static int set_admin_tokens(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    (void)sc;
    (void)f;
    if (cfg_is_null(val))
        return 0;
    if (val->type != YAML_SEQUENCE_NODE)
        return cfg_fail(ld, val, "'admin.tokens' must be a list, got %s", cfg_kind_name(val));
    size_t n = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
    ld->cfg->admin_tokens = calloc(n ? n : 1, sizeof *ld->cfg->admin_tokens);
    if (ld->cfg->admin_tokens == NULL)
        return cfg_fail(ld, val, "out of memory");
    for (size_t i = 0; i < n; i++) {
        ld->cfg->nadmin_tokens = i + 1; /* so config_destroy frees a half-read entry */
        yaml_node_t *item = yaml_document_get_node(&ld->doc, val->data.sequence.items.start[i]);
        if (load_admin_token(ld, item, i) != 0)
            return -1;
    }
    return 0;
}

static int check_admin_tls(loader_t *ld, yaml_node_t *val)
{
    config_t *cfg = ld->cfg;
    if ((cfg->admin_tls_cert == NULL) != (cfg->admin_tls_key == NULL))
        return cfg_fail(ld, val, "'admin.tls' needs both cert_file and key_file");
    if (cfg->admin_tls_key == NULL)
        return 0;
    char why[PATH_MAX + 128];
    FILE *f = fopen(cfg->admin_tls_key, "r");
    if (f == NULL)
        return cfg_fail(ld, val, "cannot read admin.tls.key_file '%s': %s", cfg->admin_tls_key,
                        strerror(errno));
    int rc =
        secret_check_private(fileno(f), "admin.tls.key_file", cfg->admin_tls_key, why, sizeof why);
    fclose(f);
    return rc != 0 ? cfg_fail(ld, val, "%s", why) : 0;
}

/* An API open to the network with no token would hand the hub to anyone who
 * can reach the port. */
static int check_admin(loader_t *ld, yaml_node_t *val)
{
    const config_t *cfg = ld->cfg;
    if (cfg->nadmin_tokens == 0 && cfg->admin_listen != NULL &&
        !config_listen_is_loopback(cfg->admin_listen))
        return cfg_fail(ld, val,
                        "'admin.listen' is %s, not a loopback address, and admin.tokens is "
                        "empty: configure tokens, or listen on 127.0.0.1",
                        cfg->admin_listen);
    return 0;
}

static const field_t admin_tls_fields[] = {
    {"cert_file", set_path, offsetof(config_t, admin_tls_cert), NULL},
    {"key_file", set_path, offsetof(config_t, admin_tls_key), NULL},
};

SECTION(ADMIN_TLS_SECTION, "admin.tls", admin_tls_fields, check_admin_tls);

static const field_t admin_fields[] = {
    {"enabled", cfg_set_parsed, offsetof(config_t, admin_enabled), &BOOL_VALUE},
    {"listen", cfg_set_text, offsetof(config_t, admin_listen), &HOSTPORT},
    {"tokens", set_admin_tokens, 0, NULL},
    {"tls", cfg_set_section, 0, &ADMIN_TLS_SECTION},
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
        return cfg_fail(ld, key, "unknown key '%.*s' at the top level (expected one of: %s)",
                        SHOWN_VALUE_MAX, cfg_scalar_text(key), expected);
    return cfg_fail(ld, key, "unknown key '%.*s' in '%s' (expected one of: %s)", SHOWN_VALUE_MAX,
                    cfg_scalar_text(key), sc->where, expected);
}

/* libyaml's document API keeps every pair, so repeated keys are ours to catch:
 * silently letting the last one win hides a copy-and-paste mistake. */
int cfg_check_duplicate(loader_t *ld, const scope_t *sc, const yaml_node_t *map,
                        const yaml_node_pair_t *pair, const yaml_node_t *key)
{
    for (const yaml_node_pair_t *p = map->data.mapping.pairs.start; p < pair; p++) {
        const yaml_node_t *prev = yaml_document_get_node(&ld->doc, p->key);
        if (prev->type == YAML_SCALAR_NODE &&
            strcmp(cfg_scalar_text(prev), cfg_scalar_text(key)) == 0)
            return cfg_fail(ld, key,
                            "duplicate key '%.*s' in '%s' (first on line %lu); keep only one",
                            SHOWN_VALUE_MAX, cfg_scalar_text(key),
                            sc->where[0] ? sc->where : "top level", cfg_line_of(prev));
    }
    return 0;
}

static int walk_pair(loader_t *ld, const scope_t *sc, const yaml_node_t *map,
                     const yaml_node_pair_t *pair, const field_t *fields, size_t n)
{
    yaml_node_t *key = yaml_document_get_node(&ld->doc, pair->key);
    yaml_node_t *val = yaml_document_get_node(&ld->doc, pair->value);
    if (key->type != YAML_SCALAR_NODE)
        return cfg_fail(ld, key, "keys in '%s' must be plain names, got %s",
                        sc->where[0] ? sc->where : "the top level", cfg_kind_name(key));
    if (cfg_check_duplicate(ld, sc, map, pair, key) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(cfg_scalar_text(key), fields[i].key) == 0)
            return fields[i].set(ld, sc, &fields[i], val);
    return unknown_key(ld, sc, key, fields, n);
}

/* An absent or empty section (a key with nothing after it) keeps the defaults. */
int cfg_walk_mapping(loader_t *ld, const scope_t *sc, const yaml_node_t *map, const field_t *fields,
                     size_t n)
{
    if (cfg_is_null(map))
        return 0;
    if (map->type != YAML_MAPPING_NODE)
        return cfg_fail(ld, map, "'%s' must be a mapping of 'key: value' lines, got %s", sc->where,
                        cfg_kind_name(map));
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++)
        if (walk_pair(ld, sc, map, p, fields, n) != 0)
            return -1;
    return 0;
}

/* A key whose value is a section: walked with the scope's target moved by the field's offset. */
int cfg_set_section(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    const section_t *sub = f->arg;
    scope_t inner = {sub->where, (char *)sc->target + f->offset};
    if (cfg_walk_mapping(ld, &inner, val, sub->fields, sub->n) != 0)
        return -1;
    return sub->check ? sub->check(ld, val) : 0;
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

/* A secret key file must be the secret half and private to its owner; the
 * public half is checked first, as hub.pub is world-readable by design and
 * "chmod 600" would be the wrong advice for it. */
static int check_secret_key_file(loader_t *ld, const yaml_node_t *node, FILE *f, const char *what,
                                 const char *path, const char *key)
{
    if (secret_is_public_key_file(path, key))
        return cfg_fail(ld, node,
                        "%s '%s' holds a public key; hub_key_file needs the secret key (the .key "
                        "file from `joinery keygen hub`, mode 0600)",
                        what, path);
    char why[PATH_MAX + 128];
    if (secret_check_private(fileno(f), what, path, why, sizeof why) != 0)
        return cfg_fail(ld, node, "%s", why);
    return 0;
}

/* Reads the Z85 key on the first line of the file NODE names into *out; a
 * SECRET one must also pass check_secret_key_file. */
static int read_key_file(loader_t *ld, const yaml_node_t *node, const char *what, bool secret,
                         char **out)
{
    char *path = resolve_path(ld, cfg_scalar_text(node));
    if (path == NULL)
        return cfg_fail(ld, node, "out of memory");
    int rc = 0;
    FILE *f = fopen(path, "r");
    char line[KEY_LINE_MAX] = "";
    if (f == NULL) {
        rc = cfg_fail(ld, node, "cannot read %s '%s': %s", what, path, strerror(errno));
    } else if (fgets(line, sizeof line, f) == NULL || (strchr(line, '\n') == NULL && !feof(f))) {
        rc = cfg_fail(ld, node, "%s '%s' must hold a %d-character Z85 key on its first line", what,
                      path, Z85_KEY_LEN);
    } else {
        trim(line);
        if (!z85_ok(line))
            rc = cfg_fail(
                ld, node,
                "%s '%s' does not hold a %d-character Z85 key on its first line (found %zu "
                "characters)",
                what, path, Z85_KEY_LEN, strlen(line));
        else if (secret && check_secret_key_file(ld, node, f, what, path, line) != 0)
            rc = -1;
        else
            *out = cfg_dup_or_fail(ld, node, line);
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

static int check_security(loader_t *ld, yaml_node_t *val)
{
    ld->security = val;
    return 0;
}

static int check_delivery(loader_t *ld, yaml_node_t *val)
{
    if (ld->cfg->retry_max_ms < ld->cfg->retry_base_ms)
        return cfg_fail(
            ld, val,
            "'delivery.retry_max_ms' (%u) is smaller than 'delivery.retry_base_ms' (%u); "
            "raise retry_max_ms or lower retry_base_ms",
            ld->cfg->retry_max_ms, ld->cfg->retry_base_ms);
    return 0;
}

static int check_unique_name(loader_t *ld, const yaml_node_t *seq, size_t i)
{
    const config_adapter_t *a = &ld->cfg->adapters[i];
    for (size_t j = 0; j < i; j++) {
        if (strcmp(ld->cfg->adapters[j].name, a->name) == 0) {
            const yaml_node_t *first =
                yaml_document_get_node(&ld->doc, seq->data.sequence.items.start[j]);
            return cfg_fail(ld, ld->seen[i].name,
                            "adapter name '%s' is used twice (first by the adapter on line %lu); "
                            "give each adapter its own name",
                            a->name, cfg_line_of(first));
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
        return cfg_fail(ld, item, "'%s' must be a mapping with at least 'name', got %s", where,
                        cfg_kind_name(item));
    ld->current = i;
    scope_t sc = {where, &ld->cfg->adapters[i]};
    if (cfg_walk_mapping(ld, &sc, item, adapter_fields, COUNT_OF(adapter_fields)) != 0)
        return -1;
    const adapter_seen_t *seen = &ld->seen[i];
    if (ld->cfg->adapters[i].name == NULL)
        return cfg_fail(ld, item, "'%s' has no 'name'; add one such as 'name: crm'", where);
    if (seen->key != NULL && seen->key_file != NULL)
        return cfg_fail(ld, seen->key_file,
                        "adapter '%s' sets both 'public_key' and 'public_key_file'; keep only one",
                        ld->cfg->adapters[i].name);
    return check_unique_name(ld, seq, i);
}

static int section_adapters(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    (void)sc;
    (void)f;
    ld->adapters = val;
    if (cfg_is_null(val))
        return 0; /* reported by finish(), with the other missing things */
    if (val->type != YAML_SEQUENCE_NODE)
        return cfg_fail(ld, val,
                        "'adapters' must be a list of entries each starting '- name: ...', got %s",
                        cfg_kind_name(val));
    size_t n = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
    if (n == 0)
        return cfg_fail(ld, val, "'adapters' is empty; configure at least one adapter");
    ld->cfg->adapters = calloc(n, sizeof *ld->cfg->adapters);
    ld->seen = calloc(n, sizeof *ld->seen);
    if (ld->cfg->adapters == NULL || ld->seen == NULL)
        return cfg_fail(ld, val, "out of memory");
    /* Counted as they are started so config_destroy frees a half-read entry. */
    for (size_t i = 0; i < n; i++) {
        ld->cfg->nadapters = i + 1;
        if (load_adapter(ld, val, i) != 0)
            return -1;
    }
    return 0;
}

SECTION(HUB_SECTION, "hub", hub_fields, NULL);
SECTION(DATABASE_SECTION, "database", database_fields, NULL);
SECTION(SECURITY_SECTION, "security", security_fields, check_security);
SECTION(DELIVERY_SECTION, "delivery", delivery_fields, check_delivery);
SECTION(ADMIN_SECTION, "admin", admin_fields, check_admin);
SECTION(REFUSALS_SECTION, "refusals", refusals_fields, NULL);

static const field_t root_fields[] = {
    {"hub", cfg_set_section, 0, &HUB_SECTION},
    {"database", cfg_set_section, 0, &DATABASE_SECTION},
    {"security", cfg_set_section, 0, &SECURITY_SECTION},
    {"delivery", cfg_set_section, 0, &DELIVERY_SECTION},
    {"adapters", section_adapters, 0, NULL},
    {"master_data", cfg_set_section, 0, &MASTER_DATA_SECTION},
    {"partners", cfg_section_partners, 0, NULL},
    {"mirror", cfg_section_mirror, 0, NULL},
    {"admin", cfg_set_section, 0, &ADMIN_SECTION},
    {"refusals", cfg_set_section, offsetof(config_t, refusals), &REFUSALS_SECTION},
};

/* Requirements ------------------------------------------------------------ */

static int check_unique_key(loader_t *ld, const yaml_node_t *key_node, size_t i)
{
    const config_adapter_t *a = &ld->cfg->adapters[i];
    for (size_t j = 0; j < i; j++)
        if (ld->cfg->adapters[j].public_key != NULL &&
            strcmp(ld->cfg->adapters[j].public_key, a->public_key) == 0)
            return cfg_fail(ld, key_node,
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
        return cfg_fail(ld, item,
                        "adapter '%s' needs 'public_key' or 'public_key_file' because "
                        "security.curve is true (or set 'curve: false' for development)",
                        a->name);
    }
    if (seen->key_file != NULL &&
        read_key_file(ld, seen->key_file, "public key file", false, &a->public_key) != 0)
        return -1;
    return check_unique_key(ld, seen->key_file ? seen->key_file : seen->key, i);
}

static int finish_hub_key(loader_t *ld, const yaml_node_t *root)
{
    if (!ld->cfg->curve)
        return 0;
    if (ld->hub_key_file == NULL)
        return cfg_fail(
            ld, ld->security ? ld->security : root,
            "'security.hub_key_file' is required when security.curve is true: point it at "
            "a file holding the hub's 40-character Z85 secret key (or set 'curve: false' "
            "for development without encryption)");
    return read_key_file(ld, ld->hub_key_file, "hub key file", true, &ld->cfg->hub_secret_key);
}

static int finish(loader_t *ld, const yaml_node_t *root)
{
    if (finish_hub_key(ld, root) != 0)
        return -1;
    if (ld->cfg->nadapters == 0)
        return cfg_fail(ld, ld->adapters ? ld->adapters : root,
                        "no adapters configured; add an 'adapters:' list with at least one entry "
                        "(name, public_key_file, publish, subscribe)");
    for (size_t i = 0; i < ld->cfg->nadapters; i++)
        if (finish_adapter_key(ld, i) != 0)
            return -1;
    return cfg_partner_adapters(ld);
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
    cfg->window_bytes = (size_t)256 * 1024 * 1024;
    cfg->default_credit = 1000;
    cfg->admin_enabled = false;
    /* Enough of a refused message to see what it was (a whole envelope, as a rule), and per
     * adapter about a thousand such a day; the totals bound the table at some 15 GB after
     * keep_days however many keys leak. */
    cfg->refusals.keep_bytes_per_event = 64u << 10;
    cfg->refusals.keep_bytes_per_adapter_per_day = 64u << 20;
    cfg->refusals.keep_bytes_per_day = 512u << 20;
    cfg->refusals.keep_rows_per_adapter_per_day = 100000;
    cfg->refusals.keep_rows_per_day = 1000000;
    cfg->refusals.keep_days = 30;
    cfg->refusals.expire_every_s = 3600;
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
        return cfg_fail(
            ld, root,
            "the top level must be a mapping of sections (hub, security, adapters, ...), "
            "got %s",
            cfg_kind_name(root));
    scope_t sc = {"", ld->cfg};
    if (cfg_walk_mapping(ld, &sc, root, root_fields, COUNT_OF(root_fields)) != 0 ||
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
        rc = cfg_fail(ld, root,
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

static void file_sum(FILE *f, char sum[17])
{
    uint64_t h = 0xcbf29ce484222325ull;
    int c;
    rewind(f);
    while ((c = fgetc(f)) != EOF)
        h = (h ^ (unsigned char)c) * 0x100000001b3ull;
    rewind(f);
    (void)snprintf(sum, 17, "%016llx", (unsigned long long)h);
}

int cfg_load_yaml_file(loader_t *ld, const yaml_node_t *at, const char *path, loader_t *sub,
                       char **abs, char sum[17])
{
    *abs = resolve_path(ld, path);
    if (*abs == NULL)
        return cfg_fail(ld, at, "out of memory");
    *sub = (loader_t){.file = *abs, .cfg = ld->cfg, .err = ld->err, .errlen = ld->errlen};
    FILE *f = NULL;
    if (open_config(sub, *abs, &f) != 0) {
        char why[256];
        (void)snprintf(why, sizeof why, "%s", ld->err ? ld->err : "");
        return cfg_fail(ld, at, "the matching parameters file %s", why);
    }
    file_sum(f, sum);
    int rc = parse_file(sub, f);
    fclose(f);
    if (rc != 0)
        return -1;
    if ((sub->dir = dir_of(*abs)) == NULL) {
        yaml_document_delete(&sub->doc);
        return cfg_fail(ld, at, "out of memory");
    }
    return 0;
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
    if (ld.cfg == NULL || ld.cfg->path == NULL || ld.cfg->file == NULL ||
        (ld.dir = dir_of(ld.cfg->path)) == NULL) {
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
    cfg_strings_free(&a->publish);
    cfg_strings_free(&a->subscribe);
}

void config_destroy(config_t **cfg)
{
    if (cfg == NULL || *cfg == NULL)
        return;
    config_t *c = *cfg;
    for (size_t i = 0; i < c->nadapters; i++)
        adapter_free(&c->adapters[i]);
    free(c->adapters);
    cfg_strings_free(&c->transient);
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
    for (size_t i = 0; i < c->nadmin_tokens; i++) {
        free(c->admin_tokens[i].name);
        if (c->admin_tokens[i].token)
            explicit_bzero(c->admin_tokens[i].token, strlen(c->admin_tokens[i].token));
        free(c->admin_tokens[i].token);
    }
    free(c->admin_tokens);
    free(c->admin_tls_cert);
    free(c->admin_tls_key);
    cfg_master_free(&c->master);
    cfg_partners_free(c);
    free(c);
    *cfg = NULL;
}

const config_adapter_t *config_adapter(const config_t *cfg, const char *name)
{
    if (cfg == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < cfg->nadapters; i++)
        if (!cfg->adapters[i].removed && strcmp(cfg->adapters[i].name, name) == 0)
            return &cfg->adapters[i];
    return NULL;
}

const config_adapter_t *config_adapter_by_key(const config_t *cfg, const char *z85)
{
    if (cfg == NULL || z85 == NULL)
        return NULL;
    for (size_t i = 0; i < cfg->nadapters; i++)
        if (!cfg->adapters[i].removed && cfg->adapters[i].public_key != NULL &&
            strcmp(cfg->adapters[i].public_key, z85) == 0)
            return &cfg->adapters[i];
    return NULL;
}
