/* adapter_config.c - an adapter's YAML (contract in adapter_config.h). The file is read into a
 * libyaml document once; the getters walk it on demand, which is cheap and happens only at
 * start-up, so no adapter needs its own parser or its own copy of the values. */
#include "adapter_config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#define KEY_MAX 64

struct adapter_config {
    char *file; /* for messages; owned */
    yaml_document_t doc;
    adapter_hub_t hub;
    adapter_log_level_t level;
};

static int failf(const adapter_config_t *c, const yaml_node_t *node, char *err, size_t errlen,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int failf(const adapter_config_t *c, const yaml_node_t *node, char *err, size_t errlen,
                 const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return -1;
    unsigned long line = node ? (unsigned long)node->start_mark.line + 1 : 1;
    int n = snprintf(err, errlen, "%s:%lu: ", c->file, line);
    if (n >= 0 && (size_t)n < errlen) {
        va_list ap;
        va_start(ap, fmt);
        (void)vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static yaml_node_t *root(const adapter_config_t *c)
{
    return yaml_document_get_root_node((yaml_document_t *)&c->doc);
}

/* The value of KEY in mapping MAP, or NULL; *KEY_NODE (may be NULL) gets the key's node. */
static yaml_node_t *lookup(const adapter_config_t *c, const yaml_node_t *map, const char *key,
                           size_t keylen)
{
    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return NULL;
    yaml_document_t *d = (yaml_document_t *)&c->doc;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const char *k = scalar(yaml_document_get_node(d, p->key));
        if (k != NULL && strlen(k) == keylen && memcmp(k, key, keylen) == 0)
            return yaml_document_get_node(d, p->value);
    }
    return NULL;
}

/* The node at PATH ("a" or "a.b"), or NULL if absent. *PARENT gets the section's node. */
static yaml_node_t *at(const adapter_config_t *c, const char *path, const yaml_node_t **parent)
{
    const char *dot = strchr(path, '.');
    yaml_node_t *r = root(c);
    *parent = r;
    if (dot == NULL)
        return lookup(c, r, path, strlen(path));
    yaml_node_t *sec = lookup(c, r, path, (size_t)(dot - path));
    *parent = sec ? sec : r;
    return lookup(c, sec, dot + 1, strlen(dot + 1));
}

static int is_null(const yaml_node_t *n)
{
    if (n == NULL)
        return 1;
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *s = scalar(n);
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0;
}

/* The text at PATH, NULL when absent (0) or wrong (-1 in *RC). */
static const char *text_at(const adapter_config_t *c, const char *path, const char *what, int *rc,
                           char *err, size_t errlen)
{
    const yaml_node_t *parent;
    yaml_node_t *n = at(c, path, &parent);
    *rc = 0;
    if (n == NULL)
        return NULL;
    if (n->type != YAML_SCALAR_NODE) {
        *rc = failf(c, n, err, errlen, "'%s' must be %s, not a %s", path, what,
                    n->type == YAML_MAPPING_NODE ? "mapping" : "list");
        return NULL;
    }
    if (is_null(n)) {
        *rc = failf(c, n, err, errlen, "'%s' has no value; write %s or remove the key", path, what);
        return NULL;
    }
    if (strlen(scalar(n)) != n->data.scalar.length) {
        *rc = failf(c, n, err, errlen, "'%s' holds a NUL character", path);
        return NULL;
    }
    return scalar(n);
}

int adapter_config_string(const adapter_config_t *c, const char *path, const char *dflt,
                          const char **out, char *err, size_t errlen)
{
    int rc;
    const char *s = text_at(c, path, "a text", &rc, err, errlen);
    *out = s ? s : dflt;
    return rc;
}

int adapter_config_uint(const adapter_config_t *c, const char *path, unsigned long min,
                        unsigned long max, unsigned long dflt, unsigned long *out, char *err,
                        size_t errlen)
{
    int rc;
    const char *s = text_at(c, path, "a whole number", &rc, err, errlen);
    *out = dflt;
    if (s == NULL)
        return rc;
    const yaml_node_t *parent;
    const yaml_node_t *n = at(c, path, &parent);
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno == ERANGE || v < min || v > max)
        return failf(c, n, err, errlen, "'%s' is '%s'; it must be a whole number from %lu to %lu",
                     path, s, min, max);
    *out = v;
    return 0;
}

int adapter_config_choice(const adapter_config_t *c, const char *path, const char *const *choices,
                          int dflt, int *out, char *err, size_t errlen)
{
    int rc;
    const char *s = text_at(c, path, "one of the values listed below", &rc, err, errlen);
    *out = dflt;
    if (s == NULL)
        return rc;
    char list[256] = "";
    size_t used = 0;
    for (int i = 0; choices[i] != NULL; i++) {
        if (strcmp(s, choices[i]) == 0) {
            *out = i;
            return 0;
        }
        int n = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", choices[i]);
        if (n > 0 && (size_t)n < sizeof list - used)
            used += (size_t)n;
    }
    const yaml_node_t *parent;
    return failf(c, at(c, path, &parent), err, errlen, "'%s' is '%s'; it must be one of: %s", path,
                 s, list);
}

static int in_list(const char *k, const char *const *list)
{
    for (size_t i = 0; list != NULL && list[i] != NULL; i++)
        if (strcmp(k, list[i]) == 0)
            return 1;
    return 0;
}

/* Every key of MAP must be in KNOWN, and only once. */
static int known_keys(const adapter_config_t *c, const yaml_node_t *map, const char *where,
                      const char *const *known, char *err, size_t errlen)
{
    yaml_document_t *d = (yaml_document_t *)&c->doc;
    char list[512] = "";
    size_t used = 0;
    for (size_t i = 0; known != NULL && known[i] != NULL; i++) {
        int n = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", known[i]);
        if (n > 0 && (size_t)n < sizeof list - used)
            used += (size_t)n;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = yaml_document_get_node(d, p->key);
        const char *k = scalar(kn);
        if (k == NULL)
            return failf(c, kn, err, errlen, "a key in %s is not a plain name", where);
        if (!in_list(k, known))
            return failf(c, kn, err, errlen, "unknown key '%s' in %s; known keys: %s", k, where,
                         list);
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            const char *prev = scalar(yaml_document_get_node(d, q->key));
            if (prev != NULL && strcmp(prev, k) == 0)
                return failf(c, kn, err, errlen, "key '%s' appears twice in %s; keep one", k,
                             where);
        }
    }
    return 0;
}

int adapter_config_keys(const adapter_config_t *c, const char *section, const char *const *known,
                        char *err, size_t errlen)
{
    yaml_node_t *sec = lookup(c, root(c), section, strlen(section));
    if (sec == NULL || is_null(sec))
        return 0;
    if (sec->type != YAML_MAPPING_NODE)
        return failf(c, sec, err, errlen, "'%s' must be a mapping of keys to values", section);
    char where[KEY_MAX + 16];
    (void)snprintf(where, sizeof where, "'%s'", section);
    return known_keys(c, sec, where, known, err, errlen);
}

static int read_doc(adapter_config_t *c, FILE *f, char *err, size_t errlen)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        (void)snprintf(err, errlen, "%s: out of memory", c->file);
        return -1;
    }
    yaml_parser_set_input_file(&p, f);
    int rc = 0;
    if (!yaml_parser_load(&p, &c->doc)) {
        (void)snprintf(err, errlen, "%s:%lu: not valid YAML: %s", c->file,
                       (unsigned long)p.problem_mark.line + 1,
                       p.problem ? p.problem : "unknown problem");
        rc = -1;
    }
    yaml_parser_delete(&p);
    return rc;
}

static int load_hub(adapter_config_t *c, char *err, size_t errlen)
{
    static const char *const hub_keys[] = {"endpoint", "adapter", "keys_dir", "heartbeat_ms", NULL};
    static const char *const log_keys[] = {"level", NULL};
    yaml_node_t *hub = lookup(c, root(c), "hub", 3);
    if (hub == NULL || hub->type != YAML_MAPPING_NODE)
        return failf(c, hub ? hub : root(c), err, errlen,
                     "a 'hub' section is required: endpoint, adapter and keys_dir");
    if (adapter_config_keys(c, "hub", hub_keys, err, errlen) != 0 ||
        adapter_config_keys(c, "log", log_keys, err, errlen) != 0)
        return -1;
    const yaml_node_t *parent;
    if (adapter_config_string(c, "hub.endpoint", NULL, &c->hub.endpoint, err, errlen) != 0 ||
        adapter_config_string(c, "hub.adapter", NULL, &c->hub.adapter, err, errlen) != 0 ||
        adapter_config_string(c, "hub.keys_dir", NULL, &c->hub.keys_dir, err, errlen) != 0)
        return -1;
    if (c->hub.endpoint == NULL)
        return failf(c, hub, err, errlen,
                     "'hub.endpoint' is required: the hub's ZeroMQ endpoint, e.g. "
                     "tcp://127.0.0.1:7600");
    if (c->hub.adapter == NULL)
        return failf(c, hub, err, errlen,
                     "'hub.adapter' is required: this adapter's name as the hub's 'adapters' "
                     "list gives it");
    unsigned long hb;
    if (adapter_config_uint(c, "hub.heartbeat_ms", 100, 600000, 0, &hb, err, errlen) != 0)
        return -1;
    c->hub.heartbeat_ms = (unsigned)hb;
    const char *lv;
    if (adapter_config_string(c, "log.level", "info", &lv, err, errlen) != 0)
        return -1;
    if (adapter_log_level_parse(lv, &c->level) != 0)
        return failf(c, at(c, "log.level", &parent), err, errlen,
                     "'log.level' is '%s'; it must be debug, info, warn or error", lv);
    return 0;
}

adapter_config_t *adapter_config_load(const char *path, const char *const *sections, char *err,
                                      size_t errlen)
{
    adapter_config_t *c = calloc(1, sizeof *c);
    if (c == NULL || (c->file = strdup(path)) == NULL) {
        free(c);
        (void)snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        (void)snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        free(c->file);
        free(c);
        return NULL;
    }
    int rc = read_doc(c, f, err, errlen);
    fclose(f);
    if (rc != 0) {
        free(c->file);
        free(c);
        return NULL;
    }
    yaml_node_t *r = root(c);
    if (r == NULL || r->type != YAML_MAPPING_NODE) {
        rc = failf(c, r, err, errlen, "the file must be a mapping with a 'hub' section");
    } else {
        const char *top[32] = {"hub", "log"};
        size_t n = 2;
        for (size_t i = 0; sections != NULL && sections[i] != NULL && n + 1 < 32; i++)
            top[n++] = sections[i];
        top[n] = NULL;
        rc = known_keys(c, r, "the top level", top, err, errlen);
        if (rc == 0)
            rc = load_hub(c, err, errlen);
    }
    if (rc != 0)
        adapter_config_destroy(&c);
    return c;
}

void adapter_config_destroy(adapter_config_t **c)
{
    if (c == NULL || *c == NULL)
        return;
    yaml_document_delete(&(*c)->doc);
    free((*c)->file);
    free(*c);
    *c = NULL;
}

const adapter_hub_t *adapter_config_hub(const adapter_config_t *c)
{
    return &c->hub;
}

adapter_log_level_t adapter_config_log_level(const adapter_config_t *c)
{
    return c->level;
}

/* The key from FILE: its first line, without the line end. */
static int secret_file(const char *path, const char *what, char *key, size_t cap, char *err,
                       size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        (void)snprintf(err, errlen, "'%s': cannot open %s: %s", what, path, strerror(errno));
        return -1;
    }
    ssize_t n = read(fd, key, cap - 1);
    close(fd);
    if (n < 0) {
        (void)snprintf(err, errlen, "'%s': cannot read %s", what, path);
        return -1;
    }
    key[n] = '\0';
    key[strcspn(key, "\r\n")] = '\0';
    return 0;
}

int adapter_config_secret(const adapter_config_t *c, const char *section, char *key, size_t cap,
                          char *err, size_t errlen)
{
    char kp[KEY_MAX * 2], fp[KEY_MAX * 2];
    const char *k, *f;
    (void)snprintf(kp, sizeof kp, "%s.key", section);
    (void)snprintf(fp, sizeof fp, "%s.key_file", section);
    if (cap < 18 || adapter_config_string(c, kp, NULL, &k, err, errlen) != 0 ||
        adapter_config_string(c, fp, NULL, &f, err, errlen) != 0)
        return -1;
    if ((k == NULL) == (f == NULL)) {
        (void)snprintf(err, errlen, "give exactly one of '%s' and '%s': the shared key", kp, fp);
        return -1;
    }
    if (k != NULL && strlen(k) >= cap) {
        (void)snprintf(err, errlen, "'%s' is too long", kp);
        return -1;
    }
    if (k != NULL)
        (void)snprintf(key, cap, "%s", k);
    else if (secret_file(f, fp, key, cap, err, errlen) != 0)
        return -1;
    /* A key goes in an HTTP header: printable ASCII without blanks, and too long to guess. */
    size_t n = strlen(key);
    for (size_t i = 0; i < n; i++)
        if (key[i] < 0x21 || key[i] > 0x7e) {
            (void)snprintf(err, errlen, "the %s key must be printable ASCII without blanks",
                           section);
            return -1;
        }
    if (n < 16 || n >= cap - 1) {
        (void)snprintf(err, errlen,
                       "the %s key must be 16 to %zu characters (e.g. the output of: openssl "
                       "rand -hex 32)",
                       section, cap - 2);
        return -1;
    }
    return 0;
}
