/* config_master.c - the master_data section of the configuration (contract in config.h):
 * who owns which field of each kind's golden record (person, address, case), the order in
 * which sources win otherwise, and the matching thresholds and parameters. Field paths are
 * kept as written; whether the engine knows them is the engine's to say
 * (master_check_config). */
#include "base/config_int.h"
#include "match/match.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A finite decimal number; "nan" and "inf" would make every comparison false. */
static int parse_double(const char *s, void *slot)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v > -1e9 && v < 1e9))
        return -1;
    *(double *)slot = v;
    return 0;
}

static int parse_on_conflict(const char *s, void *slot)
{
    bool *propose = slot;
    if (strcmp(s, "correct") != 0 && strcmp(s, "propose") != 0)
        return -1;
    *propose = strcmp(s, "propose") == 0;
    return 0;
}

static const parsed_t DOUBLE_VALUE = {"a number", parse_double, "a number such as 32.0"};
static const parsed_t ON_CONFLICT = {"correct or propose", parse_on_conflict,
                                     "'correct' (send the sender the owner's value) or 'propose' "
                                     "(forward the change to the owner)"};

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
        if (k->type == YAML_SCALAR_NODE && strcmp(cfg_scalar_text(k), "adapters") == 0)
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
            if (k->type == YAML_SCALAR_NODE && strcmp(cfg_scalar_text(k), "name") == 0 &&
                v->type == YAML_SCALAR_NODE) {
                int rc = fn(cfg_scalar_text(v), arg);
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
    return cfg_fail(ld, val, "'%s': '%.*s' is not a configured adapter (adapters: %s)", path,
                    SHOWN_VALUE_MAX, s, names[0] ? names : "none");
}

static int add_adapter(loader_t *ld, const char *path, config_strings_t *out, yaml_node_t *item)
{
    const char *s = cfg_expect_scalar(ld, path, item, "a list of adapter names");
    if (s == NULL || expect_adapter(ld, path, item, s) != 0)
        return -1;
    for (size_t j = 0; j < out->count; j++)
        if (strcmp(out->items[j], s) == 0)
            return cfg_fail(ld, item, "'%s' names '%.*s' twice; list each adapter once", path,
                            SHOWN_VALUE_MAX, s);
    char *copy = cfg_dup_or_fail(ld, item, s);
    if (copy == NULL)
        return -1;
    out->items[out->count++] = copy;
    return 0;
}

/* A list of distinct adapter names, e.g. survivorship or fallback. */
static int set_adapter_list(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    char path[KEY_PATH_MAX];
    cfg_key_path(sc, f->key, path, sizeof path);
    return cfg_set_list(ld, path, val, cfg_field_ptr(sc, f),
                        "a list of adapter names such as [health, socialcare]", add_adapter);
}

static const text_t OWNER = {"an adapter name", expect_adapter, NULL, true};

static const field_t master_rule_fields[] = {
    {"owner", cfg_set_text, offsetof(config_master_field_t, owner), &OWNER},
    {"fallback", set_adapter_list, offsetof(config_master_field_t, fallback), NULL},
    {"on_conflict", cfg_set_parsed, offsetof(config_master_field_t, propose), &ON_CONFLICT},
};

/* A rule's field path is kept as written: the engine knows the fields (master_check_config). */
static int load_master_rule(loader_t *ld, const char *where, yaml_node_t *key, yaml_node_t *val,
                            config_master_field_t *rule)
{
    const char *name = cfg_scalar_text(key);
    rule->line = (unsigned)cfg_line_of(key);
    rule->path = cfg_dup_or_fail(ld, key, name);
    if (rule->path == NULL)
        return -1;
    char path[KEY_PATH_MAX];
    int w = snprintf(path, sizeof path, "%s.%s", where, name);
    if (w < 0 || (size_t)w >= sizeof path)
        return cfg_fail(ld, key, "field path '%.*s' is too long", SHOWN_VALUE_MAX, name);
    if (val->type != YAML_MAPPING_NODE)
        return cfg_fail(ld, val,
                        "'%s' must be a mapping such as {owner: health, fallback: [crm]}, got %s",
                        path, cfg_is_null(val) ? "nothing" : cfg_kind_name(val));
    scope_t sc = {path, rule};
    if (cfg_walk_mapping(ld, &sc, val, master_rule_fields, COUNT_OF(master_rule_fields)) != 0)
        return -1;
    if (rule->owner != NULL)
        for (size_t i = 0; i < rule->fallback.count; i++)
            if (strcmp(rule->fallback.items[i], rule->owner) == 0)
                return cfg_fail(ld, val, "'%s.fallback' names the owner '%s'; list only the others",
                                path, rule->owner);
    if (rule->propose && rule->owner == NULL)
        return cfg_fail(ld, val, "'%s' says on_conflict: propose but has no owner to propose to",
                        path);
    return 0;
}

/* Calls FN for each KEY: VALUE of the mapping VAL at PATH (nothing for null), the keys checked to
 * be distinct single values (KEYS says what they must be); MUST says what VAL must be. */
typedef int (*entry_fn)(loader_t *ld, const char *path, yaml_node_t *key, yaml_node_t *value,
                        void *arg);

static int each_entry(loader_t *ld, const scope_t *inner, yaml_node_t *val, const char *must,
                      const char *keys, entry_fn fn, void *arg)
{
    const char *path = inner->where;
    if (cfg_is_null(val))
        return 0;
    if (val->type != YAML_MAPPING_NODE)
        return cfg_fail(ld, val, "'%s' must be %s, got %s", path, must, cfg_kind_name(val));
    for (yaml_node_pair_t *p = val->data.mapping.pairs.start; p < val->data.mapping.pairs.top;
         p++) {
        yaml_node_t *key = yaml_document_get_node(&ld->doc, p->key);
        if (key->type != YAML_SCALAR_NODE)
            return cfg_fail(ld, key, "keys in '%s' must be %s, got %s", path, keys,
                            cfg_kind_name(key));
        if (cfg_check_duplicate(ld, inner, val, p, key) != 0 ||
            fn(ld, path, key, yaml_document_get_node(&ld->doc, p->value), arg) != 0)
            return -1;
    }
    return 0;
}

static size_t entries(const yaml_node_t *val)
{
    if (val->type != YAML_MAPPING_NODE)
        return 0;
    return (size_t)(val->data.mapping.pairs.top - val->data.mapping.pairs.start);
}

static int rule_entry(loader_t *ld, const char *path, yaml_node_t *key, yaml_node_t *value,
                      void *arg)
{
    config_entity_rules_t *rules = arg;
    /* Counted before it is filled so config_destroy frees a half-read rule. */
    rules->nfields++;
    return load_master_rule(ld, path, key, value, &rules->fields[rules->nfields - 1]);
}

/* A mapping of field path -> rule into the scope's config_entity_rules_t. */
static int set_rules(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    config_entity_rules_t *rules = sc->target;
    char path[KEY_PATH_MAX];
    cfg_key_path(sc, f->key, path, sizeof path);
    size_t n = entries(val);
    if (n > 0 && (rules->fields = calloc(n, sizeof *rules->fields)) == NULL)
        return cfg_fail(ld, val, "out of memory");
    scope_t inner = {path, rules};
    return each_entry(ld, &inner, val,
                      "a mapping of field path -> rule, such as 'birth_date: {owner: socialcare}'",
                      "field paths", rule_entry, rules);
}

static const field_t master_rules_fields[] = {
    {"fields", set_rules, 0, NULL},
    {"survivorship", set_adapter_list, offsetof(config_entity_rules_t, survivorship), NULL},
};

/* One level's {m: .., u: ..}: probabilities, so in (0, 1]. */
static int load_level_mu(loader_t *ld, const char *path, yaml_node_t *val, double *m, double *u)
{
    if (val->type != YAML_MAPPING_NODE)
        return cfg_fail(ld, val, "'%s' must be a mapping such as {m: 0.9, u: 0.01}, got %s", path,
                        cfg_is_null(val) ? "nothing" : cfg_kind_name(val));
    bool seen[2] = {false, false};
    for (yaml_node_pair_t *p = val->data.mapping.pairs.start; p < val->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&ld->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&ld->doc, p->value);
        const char *name = k->type == YAML_SCALAR_NODE ? cfg_scalar_text(k) : "";
        int which = strcmp(name, "m") == 0 ? 0 : strcmp(name, "u") == 0 ? 1 : -1;
        if (which < 0)
            return cfg_fail(ld, k, "'%s' takes only 'm' and 'u', not '%.*s'", path, SHOWN_VALUE_MAX,
                            name);
        const char *s = v->type == YAML_SCALAR_NODE ? cfg_scalar_text(v) : "";
        char *end = NULL;
        errno = 0;
        double x = strtod(s, &end);
        if (errno != 0 || end == s || *end != '\0' || !(x > 0.0 && x <= 1.0))
            return cfg_fail(ld, v,
                            "'%s.%s' must be a probability above 0 and at most 1, such as 0.95, "
                            "got '%.*s'",
                            path, name, SHOWN_VALUE_MAX, s);
        *(which ? u : m) = x;
        seen[which] = true;
    }
    if (!seen[0] || !seen[1])
        return cfg_fail(ld, val, "'%s' needs both m and u", path);
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
    const char *name = cfg_scalar_text(key);
    int f = match_field_index(name);
    char path[KEY_PATH_MAX], names[256];
    if (f < 0) {
        level_names(-1, 0, names, sizeof names);
        return cfg_fail(ld, key, "'%s': unknown field '%.*s' (fields: %s)", where, SHOWN_VALUE_MAX,
                        name, names);
    }
    int w = snprintf(path, sizeof path, "%s.%s", where, name);
    if (w < 0 || (size_t)w >= sizeof path)
        return cfg_fail(ld, key, "field name '%.*s' is too long", SHOWN_VALUE_MAX, name);
    int nlevels = defaults->nlevels[f];
    level_names(f, nlevels, names, sizeof names);
    if (val->type != YAML_MAPPING_NODE)
        return cfg_fail(ld, val, "'%s' must be a mapping of level -> {m: .., u: ..} for %s, got %s",
                        path, names, cfg_is_null(val) ? "nothing" : cfg_kind_name(val));
    config_master_t *mc = &ld->cfg->master;
    bool given[MATCH_MAX_LEVELS] = {false};
    double msum = 0, usum = 0;
    for (yaml_node_pair_t *p = val->data.mapping.pairs.start; p < val->data.mapping.pairs.top;
         p++) {
        yaml_node_t *lk = yaml_document_get_node(&ld->doc, p->key);
        yaml_node_t *lv = yaml_document_get_node(&ld->doc, p->value);
        const char *lname = lk->type == YAML_SCALAR_NODE ? cfg_scalar_text(lk) : "";
        int k = match_level_index(f, nlevels, lname);
        if (k < 0)
            return cfg_fail(ld, lk, "'%s': unknown level '%.*s' (levels: %s)", path,
                            SHOWN_VALUE_MAX, lname, names);
        if (given[k])
            return cfg_fail(ld, lk, "'%s': level '%s' is given twice", path, lname);
        char lpath[KEY_PATH_MAX];
        w = snprintf(lpath, sizeof lpath, "%s.\"%s\"", path, lname);
        if (w < 0 || (size_t)w >= sizeof lpath)
            return cfg_fail(ld, lk, "level name '%.*s' is too long", SHOWN_VALUE_MAX, lname);
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
            return cfg_fail(ld, val, "'%s' must give every level (%s); '%s' is missing", path,
                            names, match_level_name((match_field_t)f, k));
    /* Trained values are printed to six digits, so their sums can be off by a little. */
    if (msum < 0.99 || msum > 1.01 || usum < 0.99 || usum > 1.01)
        return cfg_fail(
            ld, val,
            "'%s': m and u are each a distribution over the levels and must add up to 1 "
            "(m adds up to %.4f, u to %.4f)",
            path, msum, usum);
    return 0;
}

static int match_entry(loader_t *ld, const char *path, yaml_node_t *key, yaml_node_t *value,
                       void *arg)
{
    return load_match_field(ld, path, key, value, arg);
}

static int set_match_fields(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    config_master_t *mc = &ld->cfg->master;
    if (mc->levels != NULL || mc->params_file != NULL)
        return cfg_fail(ld, val,
                        "give either 'fields' or 'parameters_file' under master_data.matching, "
                        "not both");
    char path[KEY_PATH_MAX];
    cfg_key_path(sc, f->key, path, sizeof path);
    match_params_t defaults;
    match_params_default(&defaults);
    if (val->type == YAML_MAPPING_NODE &&
        (mc->levels = calloc((size_t)MATCH_FIELD_COUNT * MATCH_MAX_LEVELS, sizeof *mc->levels)) ==
            NULL)
        return cfg_fail(ld, val, "out of memory");
    scope_t inner = {path, mc};
    return each_entry(ld, &inner, val,
                      "a mapping of matching field -> levels, as `joinery match train` writes it",
                      "matching fields", match_entry, &defaults);
}

static yaml_node_t *mapping_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k != NULL && k->type == YAML_SCALAR_NODE && strcmp(cfg_scalar_text(k), key) == 0)
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

/* A parameters file replaces the built-in m and u whole: a field it leaves out would be the
 * defaults' silently, beside trained neighbours they were never weighed against. */
static int check_every_field(loader_t *sub, yaml_node_t *fields)
{
    config_master_t *mc = &sub->cfg->master;
    for (int f = 0; f < MATCH_FIELD_COUNT; f++) {
        bool given = false;
        for (size_t i = 0; i < mc->nlevels && !given; i++)
            given = mc->levels[i].field == f;
        if (!given)
            return cfg_fail(sub, fields,
                            "'master_data.matching.fields' must give every matching field; '%s' "
                            "is missing (run `joinery match train` again to write them all)",
                            match_field_name((match_field_t)f));
    }
    return 0;
}

static int load_parameters(loader_t *sub, yaml_node_t *at)
{
    yaml_node_t *root = yaml_document_get_root_node(&sub->doc);
    yaml_node_t *fields = mapping_get(
        &sub->doc, mapping_get(&sub->doc, mapping_get(&sub->doc, root, "master_data"), "matching"),
        "fields");
    if (fields == NULL)
        return cfg_fail(sub, root ? root : at,
                        "no 'master_data.matching.fields' in the matching parameters file (it "
                        "takes the form `joinery match train` writes)");
    static const field_t fields_key = {"fields", NULL, 0, NULL};
    scope_t sc = {"master_data.matching", &sub->cfg->master};
    if (set_match_fields(sub, &sc, &fields_key, fields) != 0)
        return -1;
    return check_every_field(sub, fields);
}

/* master_data.matching.parameters_file: reviewed m and u (`joinery match train` writes them), in
 * place of the built-in ones. A file that is missing or wrong stops the hub: matching on
 * parameters other than the ones the operator named would go unnoticed until the links did. */
static int set_parameters_file(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    char path[KEY_PATH_MAX];
    const char *s = cfg_scalar_at(ld, sc, f, val, "the path of a parameters file", path);
    if (s == NULL)
        return -1;
    config_master_t *mc = &ld->cfg->master;
    if (mc->levels != NULL || mc->params_file != NULL)
        return cfg_fail(ld, val,
                        "'%s': give either 'fields' or 'parameters_file' under "
                        "master_data.matching, not both",
                        path);
    loader_t sub;
    char *abs = NULL;
    if (cfg_load_yaml_file(ld, val, s, &sub, &abs, mc->params_sum) != 0) {
        free(abs);
        return -1;
    }
    int rc = load_parameters(&sub, val);
    yaml_document_delete(&sub.doc);
    free(sub.dir);
    mc->params_file = abs; /* after: its levels are set, not given twice */
    return rc;
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

static const text_t IDENTIFIER_SYSTEM = {"an identifier system (a URI)", NULL, NULL, true};

static const field_t master_matching_fields[] = {
    {"upper", cfg_set_parsed, offsetof(config_master_t, match_upper), &DOUBLE_VALUE},
    {"lower", cfg_set_parsed, offsetof(config_master_t, match_lower), &DOUBLE_VALUE},
    {"fields", set_match_fields, 0, NULL},
    {"parameters_file", set_parameters_file, 0, NULL},
    {"trained", skip_trained, 0, NULL},
    {"shared_identifier", cfg_set_text, offsetof(config_master_t, shared_identifier),
     &IDENTIFIER_SYSTEM},
};

static int check_matching(loader_t *ld, yaml_node_t *val)
{
    if (!(ld->cfg->master.match_upper > ld->cfg->master.match_lower))
        return cfg_fail(
            ld, val,
            "'master_data.matching.upper' (%g) must be greater than "
            "'master_data.matching.lower' (%g): pairs between them go to the steward queue",
            ld->cfg->master.match_upper, ld->cfg->master.match_lower);
    return 0;
}

SECTION(PERSON_SECTION, "master_data.person", master_rules_fields, NULL);
SECTION(ADDRESS_SECTION, "master_data.address", master_rules_fields, NULL);
SECTION(CASE_SECTION, "master_data.case", master_rules_fields, NULL);
SECTION(MATCHING_SECTION, "master_data.matching", master_matching_fields, check_matching);

/* Offsets from config_t, the master_data section's target. */
static const field_t master_data_fields[] = {
    {"person", cfg_set_section, offsetof(config_t, master.person), &PERSON_SECTION},
    {"address", cfg_set_section, offsetof(config_t, master.address), &ADDRESS_SECTION},
    {"case", cfg_set_section, offsetof(config_t, master.case_), &CASE_SECTION},
    {"matching", cfg_set_section, offsetof(config_t, master), &MATCHING_SECTION},
};
SECTION_EXPORTED(MASTER_DATA_SECTION, "master_data", master_data_fields, NULL);

static void rules_free(config_master_field_t **fields, size_t *nfields)
{
    for (size_t i = 0; i < *nfields; i++) {
        free((*fields)[i].path);
        free((*fields)[i].owner);
        cfg_strings_free(&(*fields)[i].fallback);
    }
    free(*fields);
    *fields = NULL;
    *nfields = 0;
}

void cfg_master_free(config_master_t *mc)
{
    rules_free(&mc->fields, &mc->nfields);
    cfg_strings_free(&mc->survivorship);
    rules_free(&mc->address.fields, &mc->address.nfields);
    cfg_strings_free(&mc->address.survivorship);
    rules_free(&mc->case_.fields, &mc->case_.nfields);
    cfg_strings_free(&mc->case_.survivorship);
    free(mc->levels);
    mc->levels = NULL;
    mc->nlevels = 0;
    free(mc->params_file);
    mc->params_file = NULL;
    free(mc->shared_identifier);
    mc->shared_identifier = NULL;
}
