/* config_reload.c - what a reload of the configuration may change, and how adapters keep their
 * slots across one (contract in config.h, "reloading").
 *
 * Why slots: the core keeps per-adapter state in arrays indexed by an adapter's position in
 * cfg->adapters (counters, rate samples, log limits, the per-type counts), and the journal
 * window holds addressed events' targets as that index + 1. If a reload renumbered the adapters,
 * every one of those would silently point at another adapter. So an adapter never moves: a
 * removed one leaves a placeholder (no key, no permissions), a new one is added at the end, and
 * one removed then named again gets its old slot back. The file's own order matters only for the
 * master-data engine's default trust order, which is fixed at start (master_data changes need a
 * restart). */
#include "base/config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- comparing ---- */

static bool str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

bool config_strings_equal(const config_strings_t *a, const config_strings_t *b)
{
    if (a->count != b->count)
        return false;
    for (size_t i = 0; i < a->count; i++)
        if (!str_eq(a->items[i], b->items[i]))
            return false;
    return true;
}

/* Field rules compare by what they say, not where they are written (the line). */
static bool fields_equal(const config_master_field_t *a, size_t na, const config_master_field_t *b,
                         size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!str_eq(a[i].path, b[i].path) || !str_eq(a[i].owner, b[i].owner) ||
            !config_strings_equal(&a[i].fallback, &b[i].fallback) || a[i].propose != b[i].propose)
            return false;
    return true;
}

static bool rules_equal(const config_entity_rules_t *a, const config_entity_rules_t *b)
{
    return fields_equal(a->fields, a->nfields, b->fields, b->nfields) &&
           config_strings_equal(&a->survivorship, &b->survivorship);
}

static bool master_equal(const config_master_t *a, const config_master_t *b)
{
    if (!rules_equal(&a->person, &b->person) || !rules_equal(&a->address, &b->address) ||
        !rules_equal(&a->case_, &b->case_) || a->match_upper != b->match_upper ||
        a->match_lower != b->match_lower || a->nlevels != b->nlevels ||
        !str_eq(a->params_file, b->params_file) || strcmp(a->params_sum, b->params_sum) != 0 ||
        !str_eq(a->shared_identifier, b->shared_identifier))
        return false;
    for (size_t i = 0; i < a->nlevels; i++)
        if (a->levels[i].field != b->levels[i].field || a->levels[i].level != b->levels[i].level ||
            a->levels[i].m != b->levels[i].m || a->levels[i].u != b->levels[i].u)
            return false;
    return true;
}

/* A partner as the file describes it (its secret key is made by the hub at start). */
static bool partner_equal(const config_partner_t *a, const config_partner_t *b)
{
    if (!str_eq(a->name, b->name) || !str_eq(a->adapter, b->adapter) ||
        !str_eq(a->agreement, b->agreement) || !str_eq(a->purpose, b->purpose) ||
        a->consent_required != b->consent_required || !str_eq(a->brokers, b->brokers) ||
        !config_strings_equal(&a->kprops, &b->kprops) || !str_eq(a->out_topic, b->out_topic) ||
        !config_strings_equal(&a->out_types, &b->out_types) || a->nfields != b->nfields ||
        !str_eq(a->in_topic, b->in_topic) || !str_eq(a->in_group, b->in_group) ||
        !config_strings_equal(&a->in_types, &b->in_types))
        return false;
    for (size_t i = 0; i < a->nfields; i++)
        if (!str_eq(a->fields[i].payload_type, b->fields[i].payload_type) ||
            !config_strings_equal(&a->fields[i].fields, &b->fields[i].fields))
            return false;
    return true;
}

typedef struct {
    void (*note)(void *ctx, const char *msg);
    void *ctx;
    size_t n;
} notes_t;

static void differs(notes_t *n, bool same, const char *key)
{
    if (same)
        return;
    char msg[160];
    (void)snprintf(msg, sizeof msg, "%s changed: needs a restart", key);
    n->note(n->ctx, msg);
    n->n++;
}

size_t config_restart_needed(const config_t *prev, const config_t *next,
                             void (*note)(void *ctx, const char *msg), void *ctx)
{
    notes_t n = {note, ctx, 0};
    const config_t *a = prev, *b = next;
    /* The ROUTER socket, the data directory's lock and log set-up, and what WELCOME told every
     * connected adapter (heartbeats, sizes) are fixed while the hub runs. */
    differs(&n, str_eq(a->listen, b->listen), "hub.listen");
    differs(&n, str_eq(a->data_dir, b->data_dir), "hub.data_dir");
    differs(&n, a->log_level == b->log_level, "hub.log_level");
    differs(&n, a->log_format == b->log_format, "hub.log_format");
    differs(&n, a->heartbeat_ms == b->heartbeat_ms, "hub.heartbeat_ms");
    differs(&n, a->heartbeat_misses == b->heartbeat_misses, "hub.heartbeat_misses");
    differs(&n, a->max_message_bytes == b->max_message_bytes, "hub.max_message_bytes");
    differs(&n, a->max_batch == b->max_batch, "hub.max_batch");
    /* The store thread's connection and the admin thread's. */
    differs(&n, str_eq(a->database, b->database), "database.conninfo");
    differs(&n, str_eq(a->pg_bindir, b->pg_bindir), "database.pg_bindir");
    /* The ROUTER's Curve server key. */
    differs(&n, a->curve == b->curve, "security.curve");
    differs(&n, str_eq(a->hub_secret_key, b->hub_secret_key),
            "security.hub_key_file (the hub's key)");
    /* The window is sized at start. */
    differs(&n, a->window_events == b->window_events, "delivery.window_events");
    differs(&n, a->window_bytes == b->window_bytes, "delivery.window_bytes");
    /* The engine is built from it (and from the database) at start. */
    differs(&n, master_equal(&a->master, &b->master), "master_data");
    /* Each partner has its own threads and Kafka clients. */
    bool partners = a->npartners == b->npartners;
    for (size_t i = 0; partners && i < a->npartners; i++)
        partners = partner_equal(&a->partners[i], &b->partners[i]);
    differs(&n, partners, "partners");
    /* The admin server's socket and TLS certificate; its tokens may change. */
    differs(&n, a->admin_enabled == b->admin_enabled, "admin.enabled");
    differs(&n, str_eq(a->admin_listen, b->admin_listen), "admin.listen");
    differs(&n,
            str_eq(a->admin_tls_cert, b->admin_tls_cert) &&
                str_eq(a->admin_tls_key, b->admin_tls_key),
            "admin.tls");
    return n.n;
}

/* ---- slots ---- */

static const config_adapter_t *find(const config_adapter_t *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            return &v[i];
    return NULL;
}

static bool is_partner_adapter(const config_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->npartners; i++)
        if (str_eq(cfg->partners[i].adapter, name))
            return true;
    return false;
}

/* The keys the hub made at start for its partners' internal links (partner_make_keys): a
 * reloaded file has none, and the links that use them keep running. */
static int keep_partner_keys(config_t *next, const config_t *prev)
{
    for (size_t i = 0; i < next->nadapters; i++) {
        config_adapter_t *a = &next->adapters[i];
        const config_adapter_t *was = find(prev->adapters, prev->nadapters, a->name);
        if (!is_partner_adapter(next, a->name) || was == NULL || was->public_key == NULL ||
            str_eq(a->public_key, was->public_key))
            continue;
        char *k = strdup(was->public_key);
        if (k == NULL)
            return -1;
        free(a->public_key);
        a->public_key = k;
    }
    for (size_t i = 0; i < next->npartners && i < prev->npartners; i++) {
        if (prev->partners[i].secret_key == NULL || next->partners[i].secret_key != NULL)
            continue;
        if ((next->partners[i].secret_key = strdup(prev->partners[i].secret_key)) == NULL)
            return -1;
    }
    return 0;
}

int config_keep_slots(config_t *next, const config_t *prev)
{
    size_t added = 0;
    for (size_t i = 0; i < next->nadapters; i++)
        if (find(prev->adapters, prev->nadapters, next->adapters[i].name) == NULL)
            added++;
    size_t n = prev->nadapters + added;
    config_adapter_t *v = calloc(n ? n : 1, sizeof *v);
    bool *taken = calloc(next->nadapters ? next->nadapters : 1, sizeof *taken);
    /* Every placeholder's name is copied before anything moves, so a failure leaves NEXT as
     * it was. */
    for (size_t i = 0; v != NULL && taken != NULL && i < prev->nadapters; i++) {
        const config_adapter_t *in = find(next->adapters, next->nadapters, prev->adapters[i].name);
        if (in == NULL && (v[i].name = strdup(prev->adapters[i].name)) == NULL) {
            for (size_t k = 0; k < i; k++)
                free(v[k].name);
            free(v);
            v = NULL;
        }
    }
    if (v == NULL || taken == NULL) {
        free(v);
        free(taken);
        return -1;
    }
    for (size_t i = 0; i < prev->nadapters; i++) {
        if (v[i].name != NULL) { /* gone: a placeholder (calloc'd: no key, no permissions) */
            v[i].removed = true;
            continue;
        }
        const config_adapter_t *in = find(next->adapters, next->nadapters, prev->adapters[i].name);
        size_t k = (size_t)(in - next->adapters);
        v[i] = *in; /* the strings move with it */
        taken[k] = true;
    }
    size_t at = prev->nadapters;
    for (size_t k = 0; k < next->nadapters; k++)
        if (!taken[k])
            v[at++] = next->adapters[k];
    free(taken);
    free(next->adapters);
    next->adapters = v;
    next->nadapters = n;
    return keep_partner_keys(next, prev);
}
