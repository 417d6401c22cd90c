/* engine.c - the master-data engine's life cycle and names (contract in engine.h): the
 * systems it has seen, each kind's field paths and the rules the configuration gives them,
 * survivorship ranks, the systems that subscribe to each derived event, and the check of the
 * configuration's field names (master_check_config). */
#include "master/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHOWN_NAME_MAX 80

/* Systems ---------------------------------------------------------------------------- */

/* Each kind's survivorship order: its configured list first, then the order of the adapters
 * in the file (they are interned first), then the rest. */
static void rank_system(engine_t *e, size_t system, const char *name)
{
    for (size_t k = 0; k < e->nkinds; k++) {
        md_kind_t *kind = &e->kinds[k];
        uint32_t rank = 1000000u + (uint32_t)system;
        const config_strings_t *order = &kind->cfg.survivorship;
        for (size_t i = 0; i < order->count; i++)
            if (strcmp(order->items[i], name) == 0)
                rank = (uint32_t)i;
        kind->sys_rank[system] = rank;
    }
}

/* NAME's index in NAMES (*N of them); with CREATE a copy is added when it is not there and
 * there is room for MAX. -1 if none. *ADDED says whether it was. */
static int intern(char **names, size_t *n, size_t max, const char *name, bool create, bool *added)
{
    *added = false;
    for (size_t i = 0; i < *n; i++)
        if (strcmp(names[i], name) == 0)
            return (int)i;
    char *copy = create && *n < max ? strdup(name) : NULL;
    if (copy == NULL)
        return -1;
    names[*n] = copy;
    *added = true;
    return (int)(*n)++;
}

int md_system_id(engine_t *e, const char *name, bool create)
{
    bool added;
    int id = intern(e->systems, &e->nsystems, MD_MAX_SYSTEMS, name, create, &added);
    if (added)
        rank_system(e, (size_t)id, name);
    return id;
}

static int system_of(void *ctx, const char *name)
{
    return md_system_id(ctx, name, true);
}

/* Fields and rules ----------------------------------------------------------------------- */

const char *md_field_name(const md_kind_t *k, int field)
{
    return field >= 0 && (size_t)field < k->nfields ? k->fields[field] : "?";
}

/* A field's rule is the one for its own path, else for the longest dotted prefix: a rule for
 * "address.home" also governs address.home.postcode, and one for "consent" every
 * consent.<purpose>. */
static int rule_for(const md_kind_t *k, const char *path)
{
    char buf[256];
    (void)snprintf(buf, sizeof buf, "%s", path);
    for (;;) {
        for (size_t i = 0; i < k->nrules; i++)
            if (strcmp(k->cfg.fields[i].path, buf) == 0)
                return (int)i;
        char *dot = strrchr(buf, '.');
        if (dot == NULL)
            return -1;
        *dot = '\0';
    }
}

int md_field_id(md_kind_t *k, const char *path, bool create)
{
    bool added;
    size_t max = k->d->flags & MD_OPEN_FIELDS ? MD_MAX_FIELDS : k->d->fields.n;
    int id = intern(k->fields, &k->nfields, max, path, create, &added);
    if (added)
        k->field_rule[id] = rule_for(k, path);
    return id;
}

const mrule_t *md_rule_of(const md_kind_t *k, int field)
{
    int r = k->field_rule[field];
    return r >= 0 ? &k->rules[r] : NULL;
}

uint32_t md_rank_of(const md_kind_t *k, const mrule_t *r, int system)
{
    if (r != NULL) {
        if (r->owner == system)
            return 0;
        for (size_t i = 0; i < r->nfallback; i++)
            if (r->fallback[i] == system)
                return 1 + (uint32_t)i;
    }
    return 1000u + k->sys_rank[system];
}

static int init_rules(engine_t *e, md_kind_t *k)
{
    k->rules = calloc(k->cfg.nfields ? k->cfg.nfields : 1, sizeof *k->rules);
    if (k->rules == NULL)
        return -1;
    for (size_t i = 0; i < k->cfg.nfields; i++, k->nrules++) {
        const config_master_field_t *f = &k->cfg.fields[i];
        mrule_t *r = &k->rules[i];
        r->propose = f->propose;
        if (master_rule_systems(f, system_of, e, &r->owner, &r->fallback, &r->nfallback) != 0)
            return -1;
    }
    return 0;
}

static int init_fields(md_kind_t *k)
{
    size_t cap = k->d->flags & MD_OPEN_FIELDS ? MD_MAX_FIELDS : k->d->fields.n;
    /* md_field_id adds no more than CAP. */
    k->fields = calloc(cap ? cap : 1, sizeof *k->fields);
    k->field_rule = calloc(cap ? cap : 1, sizeof *k->field_rule);
    if (k->fields == NULL || k->field_rule == NULL)
        return -1;
    for (size_t i = 0; i < k->d->fields.n; i++)
        if (md_field_id(k, k->d->fields.paths[i], true) != (int)i)
            return -1;
    return 0;
}

static int subscribers(engine_t *e, const char *type, uint16_t **out, size_t *n)
{
    if (type[0] == '\0')
        return 0;
    return master_subscribers(e->cfg, type, system_of, e, out, n);
}

static int init_kind(engine_t *e, md_kind_t *k)
{
    const md_desc_t *d = k->d;
    (void)snprintf(k->changed, sizeof k->changed, "%s.changed", d->name);
    (void)snprintf(k->correction, sizeof k->correction, "%s.correction", d->name);
    (void)snprintf(k->proposed, sizeof k->proposed, "%s.proposed", d->name);
    if (d->flags & MD_MERGES)
        (void)snprintf(k->merged, sizeof k->merged, "%s.merged", d->name);
    k->scratch = d->size.scratch ? malloc(d->size.scratch) : NULL;
    k->plan = malloc(d->size.plan);
    if ((d->size.scratch && k->scratch == NULL) || k->plan == NULL)
        return -1;
    return init_rules(e, k) != 0 || init_fields(k) != 0 ||
                   subscribers(e, k->changed, &k->sub_changed, &k->nsub_changed) != 0 ||
                   subscribers(e, k->merged, &k->sub_merged, &k->nsub_merged) != 0 ||
                   subscribers(e, k->proposed, &k->sub_proposed, &k->nsub_proposed) != 0
               ? -1
               : 0;
}

/* Life cycle ------------------------------------------------------------------------------- */

int md_init(engine_t *e, const config_t *cfg, const md_words_t *words,
            const md_desc_t *const *descs, const config_entity_rules_t *sections, size_t nkinds)
{
    e->cfg = cfg;
    e->words = words;
    e->nkinds = nkinds;
    e->by_id = hmap_new(1024);
    e->by_key = hmap_new(1024);
    e->xrefs = hmap_new(1024);
    e->systems = calloc(MD_MAX_SYSTEMS, sizeof *e->systems);
    if (!e->by_id || !e->by_key || !e->xrefs || !e->systems)
        return -1;
    for (size_t i = 0; i < nkinds; i++) {
        e->kinds[i].d = descs[i];
        e->kinds[i].cfg = sections[i];
        e->kinds[i].sys_rank = calloc(MD_MAX_SYSTEMS, sizeof *e->kinds[i].sys_rank);
        if (e->kinds[i].sys_rank == NULL)
            return -1;
    }
    /* Adapters first, so that without a survivorship list the order of the adapters in the
     * file is the order of trust. */
    for (size_t i = 0; i < cfg->nadapters; i++)
        if (md_system_id(e, cfg->adapters[i].name, true) < 0)
            return -1;
    for (size_t i = 0; i < nkinds; i++)
        if (init_kind(e, &e->kinds[i]) != 0)
            return -1;
    master_ulid_seed(&e->ulid);
    return 0;
}

static void fini_kind(md_kind_t *k)
{
    for (size_t i = 0; k->fields && i < k->nfields; i++)
        free(k->fields[i]);
    free(k->fields);
    free(k->field_rule);
    for (size_t i = 0; k->rules && i < k->nrules; i++)
        free(k->rules[i].fallback);
    free(k->rules);
    free(k->sys_rank);
    free(k->sub_changed);
    free(k->sub_merged);
    free(k->sub_proposed);
    free(k->scratch);
    free(k->plan);
}

void md_fini(engine_t *e)
{
    if (e->by_id && e->by_key && e->xrefs)
        md_state_clear(e);
    hmap_destroy(&e->by_id);
    hmap_destroy(&e->by_key);
    hmap_destroy(&e->xrefs);
    free(e->recs);
    for (size_t i = 0; e->systems && i < e->nsystems; i++)
        free(e->systems[i]);
    free(e->systems);
    for (size_t i = 0; i < e->nkinds; i++)
        fini_kind(&e->kinds[i]);
    pbarena_destroy(&e->arena);
    master_buf_free(&e->json);
    master_buf_free(&e->out);
    master_buf_free(&e->text);
    master_buf_free(&e->hist);
}

void md_set_id_generator(engine_t *e, master_id_fn fn, void *ctx)
{
    e->id_fn = fn;
    e->id_ctx = ctx;
}

int md_open(engine_t *e, const char *who, size_t arena_block, const config_t *cfg,
            const md_words_t *words, const md_desc_t *const *descs,
            const config_entity_rules_t *sections, size_t nkinds, char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (cfg == NULL)
        return err_set(err, errlen, "%s: no configuration", who);
    if (master_check_config(cfg, err, errlen) != 0)
        return -1;
    e->arena = pbarena_new(arena_block);
    if (e->arena == NULL || md_init(e, cfg, words, descs, sections, nkinds) != 0)
        return err_set(err, errlen, "%s: out of memory", who);
    return 0;
}

int md_type_in(const char *const *types, size_t n, const char *type, size_t len)
{
    for (size_t i = 0; type != NULL && i < n; i++)
        if (strlen(types[i]) == len && memcmp(types[i], type, len) == 0)
            return 1;
    return 0;
}

int md_kind_of(const engine_t *e, const char *name)
{
    for (size_t i = 0; i < e->nkinds; i++)
        if (strcmp(e->kinds[i].d->name, name) == 0)
            return (int)i;
    return -1;
}

/* The configuration's field names ----------------------------------------------------------- */

static int field_named(const md_desc_t *d, const char *path)
{
    if (d->fields.known != NULL)
        return d->fields.known(path);
    for (size_t i = 0; i < d->fields.n; i++)
        if (strcmp(d->fields.paths[i], path) == 0)
            return 1;
    return 0;
}

int md_check_rules(const config_t *cfg, const md_desc_t *d, const config_entity_rules_t *rules,
                   char *err, size_t errlen)
{
    for (size_t i = 0; i < rules->nfields; i++) {
        const config_master_field_t *f = &rules->fields[i];
        if (field_named(d, f->path))
            continue;
        return err_set(err, errlen,
                       "%s:%u: 'master_data.%s.fields': unknown field '%.*s' (fields: %s; see "
                       "docs/master-data.md)",
                       cfg->file ? cfg->file : "configuration", f->line, d->name, SHOWN_NAME_MAX,
                       f->path, d->fields.list);
    }
    return 0;
}
