/* config_partner.c - the partners: section (config.h, config_partner_t): one data-sharing
 * agreement per entry, and the internal adapter "partner:NAME" each agreement makes, whose
 * permissions are the agreement's types, so a partner's events pass the same checks as any
 * adapter's. Kept apart from config.c so the section has one home. */
#include "base/config_int.h"
#include "base/route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PARTNER_NAME_MAX 64
#define PARTNER_PREFIX "partner:"
/* The journal mirror is kept as one more partner entry (config_partner_t.mirror) so the
 * partner machinery carries it; these are its name and internal adapter. */
#define MIRROR_NAME "mirror"
#define MIRROR_ADAPTER "mirror:journal"

/* The entry being walked: its struct is the scope's target, this is the rest. */
static config_partner_t *current(const scope_t *sc)
{
    return sc->target;
}

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > PARTNER_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return 0;
    return 1;
}

static int check_name(loader_t *ld, const char *path, yaml_node_t *val, const char *s)
{
    if (name_ok(s))
        return 0;
    return cfg_fail(ld, val,
                    "'%s': partner name '%.*s' is not valid; use 1 to %d characters from "
                    "a-z, 0-9, '_' and '-' (e.g. 'trust')",
                    path, SHOWN_VALUE_MAX, s, PARTNER_NAME_MAX);
}

static int check_topic(loader_t *ld, const char *path, yaml_node_t *val, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
            n = 0;
    if (n > 0 && n <= 249)
        return 0;
    return cfg_fail(ld, val,
                    "'%s' must be a Kafka topic name (a-z, A-Z, 0-9, '.', '_', '-'), "
                    "got '%.*s'",
                    path, SHOWN_VALUE_MAX, s);
}

static const text_t NAME = {"a partner name", check_name, NULL, true};
static const text_t STRING = {"a non-empty string", NULL, NULL, true};
static const text_t TOPIC = {"a Kafka topic name", check_topic, NULL, true};

static int parse_flag(const char *s, void *slot)
{
    bool *b = slot;
    if (!strcmp(s, "true") || !strcmp(s, "yes"))
        *b = true;
    else if (!strcmp(s, "false") || !strcmp(s, "no"))
        *b = false;
    else
        return -1;
    return 0;
}

static const parsed_t FLAG = {"true or false", parse_flag, "true or false"};

static int add_pattern(loader_t *ld, const char *path, config_strings_t *out, yaml_node_t *item)
{
    const char *s = cfg_expect_scalar(ld, path, item, "a list of event-type patterns");
    if (s == NULL)
        return -1;
    if (!route_pattern_valid(s))
        return cfg_fail(ld, item, "'%s': pattern '%.*s' is not valid (e.g. 'person.*')", path,
                        SHOWN_VALUE_MAX, s);
    if ((out->items[out->count] = cfg_dup_or_fail(ld, item, s)) == NULL)
        return -1;
    out->count++;
    return 0;
}

static int set_patterns(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    char path[KEY_PATH_MAX];
    cfg_key_path(sc, f->key, path, sizeof path);
    return cfg_set_list(ld, path, val, cfg_field_ptr(sc, f),
                        "a list of event-type patterns such as [\"person.*\"]", add_pattern);
}

static int add_field(loader_t *ld, const char *path, config_strings_t *out, yaml_node_t *item)
{
    const char *s = cfg_expect_scalar(ld, path, item, "a list of field names");
    if (s == NULL)
        return -1;
    if ((out->items[out->count] = cfg_dup_or_fail(ld, item, s)) == NULL)
        return -1;
    out->count++;
    return 0;
}

/* kafka.properties: passed to librdkafka as they are (SASL, SSL, tuning); librdkafka says
 * at start which it does not know. */
static int set_properties(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *map)
{
    config_strings_t *out = cfg_field_ptr(sc, f);
    char path[KEY_PATH_MAX];
    cfg_key_path(sc, f->key, path, sizeof path);
    if (cfg_is_null(map))
        return 0;
    if (map->type != YAML_MAPPING_NODE)
        return cfg_fail(ld, map, "'%s' must be a mapping of librdkafka properties", path);
    size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    cfg_strings_free(out);
    if (n == 0)
        return 0;
    if ((out->items = calloc(2 * n, sizeof *out->items)) == NULL)
        return cfg_fail(ld, map, "out of memory");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&ld->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&ld->doc, p->value);
        const char *ks = cfg_expect_scalar(ld, path, k, "a property name");
        const char *vs = ks ? cfg_expect_scalar(ld, path, v, "a property value") : NULL;
        if (!vs)
            return -1;
        if ((out->items[out->count] = cfg_dup_or_fail(ld, k, ks)) == NULL)
            return -1;
        out->count++;
        if ((out->items[out->count] = cfg_dup_or_fail(ld, v, vs)) == NULL)
            return -1;
        out->count++;
    }
    return 0;
}

/* outbound.fields: payload type -> the field names shared. */
static int set_fields(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *map)
{
    (void)f;
    config_partner_t *p = current(sc);
    char path[KEY_PATH_MAX];
    cfg_key_path(sc, "fields", path, sizeof path);
    if (map->type != YAML_MAPPING_NODE)
        return cfg_fail(ld, map,
                        "'%s' must map payload types to field lists, e.g. "
                        "'joinery.v1.Person: [nhs_number, birth_date]'",
                        path);
    size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    if (n == 0)
        return 0;
    if ((p->fields = calloc(n, sizeof *p->fields)) == NULL)
        return cfg_fail(ld, map, "out of memory");
    for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < map->data.mapping.pairs.top;
         q++) {
        yaml_node_t *k = yaml_document_get_node(&ld->doc, q->key);
        yaml_node_t *v = yaml_document_get_node(&ld->doc, q->value);
        const char *ks = cfg_expect_scalar(ld, path, k, "a payload type");
        if (!ks)
            return -1;
        config_partner_fields_t *pf = &p->fields[p->nfields++];
        if ((pf->payload_type = cfg_dup_or_fail(ld, k, ks)) == NULL)
            return -1;
        if (cfg_set_list(ld, path, v, &pf->fields, "a list of field names (write [] for none)",
                         add_field) != 0)
            return -1;
    }
    return 0;
}

static const field_t kafka_fields[] = {
    {"brokers", cfg_set_text, offsetof(config_partner_t, brokers), &STRING},
    {"properties", set_properties, offsetof(config_partner_t, kprops), NULL},
};

static const field_t outbound_fields[] = {
    {"topic", cfg_set_text, offsetof(config_partner_t, out_topic), &TOPIC},
    {"types", set_patterns, offsetof(config_partner_t, out_types), NULL},
    {"fields", set_fields, 0, NULL},
};

static const field_t inbound_fields[] = {
    {"topic", cfg_set_text, offsetof(config_partner_t, in_topic), &TOPIC},
    {"group", cfg_set_text, offsetof(config_partner_t, in_group), &STRING},
    {"types", set_patterns, offsetof(config_partner_t, in_types), NULL},
};

static int set_sub(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    const section_t *sub = f->arg;
    char where[KEY_PATH_MAX];
    cfg_key_path(sc, f->key, where, sizeof where);
    scope_t inner = {where, sc->target};
    return cfg_walk_mapping(ld, &inner, val, sub->fields, sub->n);
}

SECTION(KAFKA, "kafka", kafka_fields, NULL);
SECTION(OUTBOUND, "outbound", outbound_fields, NULL);
SECTION(INBOUND, "inbound", inbound_fields, NULL);

static const field_t partner_fields[] = {
    {"name", cfg_set_text, offsetof(config_partner_t, name), &NAME},
    {"agreement", cfg_set_text, offsetof(config_partner_t, agreement), &STRING},
    {"purpose", cfg_set_text, offsetof(config_partner_t, purpose), &STRING},
    {"consent_required", cfg_set_parsed, offsetof(config_partner_t, consent_required), &FLAG},
    {"kafka", set_sub, 0, &KAFKA},
    {"outbound", set_sub, 0, &OUTBOUND},
    {"inbound", set_sub, 0, &INBOUND},
};

static int check_partner(loader_t *ld, const yaml_node_t *item, size_t i)
{
    config_partner_t *p = &ld->cfg->partners[i];
    if (p->name && strcmp(p->name, MIRROR_NAME) == 0)
        return cfg_fail(ld, item,
                        "partner name '" MIRROR_NAME "' is reserved for the journal "
                        "mirror (the 'mirror:' section)");
    const char *missing = !p->name        ? "name"
                          : !p->agreement ? "agreement"
                          : !p->purpose   ? "purpose"
                          : !p->brokers   ? "kafka.brokers"
                                          : NULL;
    if (missing)
        return cfg_fail(ld, item, "partners[%zu] has no '%s'; a data-sharing agreement needs it", i,
                        missing);
    if (!p->out_topic && !p->in_topic)
        return cfg_fail(ld, item, "partner '%s' has neither outbound.topic nor inbound.topic",
                        p->name);
    for (size_t j = 0; j < i; j++)
        if (strcmp(ld->cfg->partners[j].name, p->name) == 0)
            return cfg_fail(ld, item, "partner name '%s' is used twice", p->name);
    size_t n = strlen(PARTNER_PREFIX) + strlen(p->name) + 1;
    if ((p->adapter = malloc(n)) == NULL)
        return cfg_fail(ld, item, "out of memory");
    (void)snprintf(p->adapter, n, PARTNER_PREFIX "%s", p->name);
    if (!p->in_group) {
        n = strlen("joinery-") + strlen(p->name) + 1;
        if ((p->in_group = malloc(n)) == NULL)
            return cfg_fail(ld, item, "out of memory");
        (void)snprintf(p->in_group, n, "joinery-%s", p->name);
    }
    return 0;
}

/* Room for N more entries after those read so far, zeroed. */
static int grow_partners(loader_t *ld, yaml_node_t *at, size_t n)
{
    size_t have = ld->cfg->npartners;
    config_partner_t *p = realloc(ld->cfg->partners, (have + n) * sizeof *p);
    if (!p)
        return cfg_fail(ld, at, "out of memory");
    memset(p + have, 0, n * sizeof *p);
    ld->cfg->partners = p;
    return 0;
}

int cfg_section_partners(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    (void)sc;
    (void)f;
    if (cfg_is_null(val))
        return 0;
    if (val->type != YAML_SEQUENCE_NODE)
        return cfg_fail(ld, val, "'partners' must be a list (write [] for none), got %s",
                        cfg_kind_name(val));
    size_t n = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
    if (n == 0)
        return 0;
    /* Appended: the mirror's entry may have been read first. */
    size_t base = ld->cfg->npartners;
    if (grow_partners(ld, val, n) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = yaml_document_get_node(&ld->doc, val->data.sequence.items.start[i]);
        char where[KEY_PATH_MAX];
        (void)snprintf(where, sizeof where, "partners[%zu]", i);
        ld->cfg->npartners = base + i + 1; /* counted as started, so a half-read entry is freed */
        if (item->type != YAML_MAPPING_NODE)
            return cfg_fail(ld, item, "'%s' must be a mapping with at least 'name'", where);
        scope_t inner = {where, &ld->cfg->partners[base + i]};
        if (cfg_walk_mapping(ld, &inner, item, partner_fields, COUNT_OF(partner_fields)) != 0 ||
            check_partner(ld, item, base + i) != 0)
            return -1;
    }
    return 0;
}

static const field_t mirror_fields[] = {
    {"kafka", set_sub, 0, &KAFKA},
    {"topic", cfg_set_text, offsetof(config_partner_t, out_topic), &TOPIC},
    {"types", set_patterns, offsetof(config_partner_t, out_types), NULL},
};

/* mirror: the journal produced to a Kafka topic (docs/operations.md "The journal mirror"):
 * a partner entry without agreement, purpose, minimisation or consent, subscribing as the
 * internal adapter MIRROR_ADAPTER to its types (default every type). */
int cfg_section_mirror(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val)
{
    (void)sc;
    (void)f;
    if (cfg_is_null(val))
        return 0;
    if (val->type != YAML_MAPPING_NODE)
        return cfg_fail(ld, val, "'mirror' must be a mapping (kafka, topic, types), got %s",
                        cfg_kind_name(val));
    if (grow_partners(ld, val, 1) != 0)
        return -1;
    config_partner_t *p = &ld->cfg->partners[ld->cfg->npartners++];
    p->mirror = true;
    if ((p->name = cfg_dup_or_fail(ld, val, MIRROR_NAME)) == NULL ||
        (p->adapter = cfg_dup_or_fail(ld, val, MIRROR_ADAPTER)) == NULL)
        return -1;
    scope_t inner = {"mirror", p};
    if (cfg_walk_mapping(ld, &inner, val, mirror_fields, COUNT_OF(mirror_fields)) != 0)
        return -1;
    if (!p->brokers)
        return cfg_fail(ld, val, "'mirror' has no 'kafka.brokers'");
    if (!p->out_topic)
        return cfg_fail(ld, val, "'mirror' has no 'topic'");
    if (p->out_types.count == 0) {
        cfg_strings_free(&p->out_types);
        if ((p->out_types.items = calloc(2, sizeof *p->out_types.items)) == NULL ||
            (p->out_types.items[0] = cfg_dup_or_fail(ld, val, "*")) == NULL)
            return cfg_fail(ld, val, "out of memory");
        p->out_types.count = 1;
    }
    return 0;
}

static int copy_strings(config_strings_t *to, const config_strings_t *from)
{
    to->items = calloc(from->count + 1, sizeof *to->items);
    if (!to->items)
        return -1;
    for (size_t i = 0; i < from->count; i++, to->count++)
        if ((to->items[i] = strdup(from->items[i])) == NULL)
            return -1;
    return 0;
}

/* Appends the adapter "partner:NAME" of each partner: it may publish the inbound types and
 * subscribe to the outbound ones. Its Curve key is made by the hub at start (partner.h). */
int cfg_partner_adapters(loader_t *ld)
{
    config_t *cfg = ld->cfg;
    if (cfg->npartners == 0)
        return 0;
    config_adapter_t *a = realloc(cfg->adapters, (cfg->nadapters + cfg->npartners) * sizeof *a);
    if (!a)
        return cfg_fail(ld, NULL, "out of memory");
    cfg->adapters = a;
    for (size_t i = 0; i < cfg->npartners; i++) {
        config_adapter_t *e = &cfg->adapters[cfg->nadapters];
        memset(e, 0, sizeof *e);
        cfg->nadapters++; /* counted first, so config_destroy frees a half-made one */
        const config_partner_t *p = &cfg->partners[i];
        if ((e->name = strdup(p->adapter)) == NULL || copy_strings(&e->publish, &p->in_types) ||
            copy_strings(&e->subscribe, &p->out_types))
            return cfg_fail(ld, NULL, "out of memory");
    }
    return 0;
}

void cfg_partners_free(config_t *cfg)
{
    for (size_t i = 0; i < cfg->npartners; i++) {
        config_partner_t *p = &cfg->partners[i];
        free(p->name);
        free(p->adapter);
        free(p->agreement);
        free(p->purpose);
        free(p->brokers);
        cfg_strings_free(&p->kprops);
        free(p->out_topic);
        cfg_strings_free(&p->out_types);
        for (size_t j = 0; j < p->nfields; j++) {
            free(p->fields[j].payload_type);
            cfg_strings_free(&p->fields[j].fields);
        }
        free(p->fields);
        free(p->in_topic);
        free(p->in_group);
        cfg_strings_free(&p->in_types);
        if (p->secret_key)
            explicit_bzero(p->secret_key, strlen(p->secret_key));
        free(p->secret_key);
    }
    free(cfg->partners);
    cfg->partners = NULL;
    cfg->npartners = 0;
}

const config_partner_t *config_partner(const config_t *cfg, const char *name)
{
    for (size_t i = 0; cfg && name && i < cfg->npartners; i++)
        if (strcmp(cfg->partners[i].name, name) == 0)
            return &cfg->partners[i];
    return NULL;
}
