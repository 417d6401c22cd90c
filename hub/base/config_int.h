/* config_int.h - what the configuration loader's files share (hub/base/config.c: the file, the
 * hub's sections, adapters and key files; config_master.c: master_data). Internal to them.
 *
 * The file is read whole into a libyaml document and walked section by section. Each section
 * is a table of key -> setter (field_t), so the keys a section accepts are written down once
 * and serve both the parser and the "expected one of" hint; most setters are one of a few
 * table-driven kinds (a nested section, a checked text, a parsed scalar, a list). */
#ifndef JOINERY_CONFIG_INT_H
#define JOINERY_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "base/config.h"

#define KEY_PATH_MAX 128
#define SHOWN_VALUE_MAX 80

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__GNUC__)
#define CONFIG_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CONFIG_PRINTF(f, a)
/* config_partner.c: partners, the adapters their agreements make, and freeing them. */
int cfg_section_partners(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val);
int cfg_partner_adapters(loader_t *ld);
void cfg_partners_free(config_t *cfg);

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
    const void *arg; /* set_section: its section_t; set_text: its text_t */
};

/* A text value: WHAT it must be (said when it is missing or not a single value); CHECK (may be
 * NULL) refuses a bad one with its own message; REMEMBER (may be NULL) notes the node for the
 * checks made at the end; STORE keeps a copy in the field. */
typedef struct {
    const char *what;
    int (*check)(loader_t *ld, const char *path, yaml_node_t *val, const char *s);
    void (*remember)(loader_t *ld, yaml_node_t *val);
    bool store;
} text_t;

/* A mapping of keys, its dotted name in messages, and a check of the whole once walked. */
typedef struct section {
    const char *where;
    const field_t *fields;
    size_t n;
    int (*check)(loader_t *ld, yaml_node_t *val); /* may be NULL */
} section_t;

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

/* A scalar parsed into the field: PARSE returns 0, or -1 for "'PATH' must be MUST, got 'S'". */
typedef struct {
    const char *what;
    int (*parse)(const char *s, void *slot);
    const char *must;
} parsed_t;

#define SECTION(name, where, fields, check)                                                        \
    static const section_t name = {where, fields, COUNT_OF(fields), check}

#define SECTION_EXPORTED(name, where, fields, check)                                               \
    const section_t name = {where, fields, COUNT_OF(fields), check}

/* Messages: "FILE:LINE: ..." into the loader's error; each returns -1. */
unsigned long cfg_line_of(const yaml_node_t *node);
int cfg_fail(loader_t *ld, const yaml_node_t *node, const char *fmt, ...) CONFIG_PRINTF(3, 4);
void cfg_key_path(const scope_t *sc, const char *key, char *buf, size_t len);
const char *cfg_kind_name(const yaml_node_t *node);

/* Nodes. */
const char *cfg_scalar_text(const yaml_node_t *node);
int cfg_is_null(const yaml_node_t *node);
const char *cfg_expect_scalar(loader_t *ld, const char *path, yaml_node_t *val, const char *what);
const char *cfg_scalar_at(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val,
                          const char *what, char *path);
void *cfg_field_ptr(const scope_t *sc, const field_t *f);
char *cfg_dup_or_fail(loader_t *ld, const yaml_node_t *node, const char *s);
int cfg_store_string(loader_t *ld, char **slot, const yaml_node_t *val, const char *s);
void cfg_strings_free(config_strings_t *list);

/* Walking. */
int cfg_walk_mapping(loader_t *ld, const scope_t *sc, const yaml_node_t *map, const field_t *fields,
                     size_t n);
int cfg_check_duplicate(loader_t *ld, const scope_t *sc, const yaml_node_t *map,
                        const yaml_node_pair_t *pair, const yaml_node_t *key);

/* Setters of the table-driven kinds (field_t.arg says which). */
int cfg_set_section(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val);
int cfg_set_text(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val);
int cfg_set_parsed(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val);
typedef int (*item_fn)(loader_t *ld, const char *path, config_strings_t *out, yaml_node_t *item);
int cfg_set_list(loader_t *ld, const char *path, yaml_node_t *val, config_strings_t *out,
                 const char *hint, item_fn item);

/* Reads the YAML file PATH (relative to the configuration's directory) into SUB, a loader of the
 * same configuration whose messages name that file; *ABS gets its absolute path (owned by the
 * caller) and SUM its FNV-1a 64 checksum in hex. The caller deletes SUB->doc and frees SUB->dir.
 * -1 with the message in LD's error (a missing file, a YAML syntax error). */
int cfg_load_yaml_file(loader_t *ld, const yaml_node_t *at, const char *path, loader_t *sub,
                       char **abs, char sum[17]);

/* config_master.c: master_data, and freeing what it read. */
extern const section_t MASTER_DATA_SECTION;
void cfg_master_free(config_master_t *mc);

/* config_partner.c: partners, the adapters their agreements make, and freeing them. */
int cfg_section_partners(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val);
int cfg_section_mirror(loader_t *ld, const scope_t *sc, const field_t *f, yaml_node_t *val);
int cfg_partner_adapters(loader_t *ld);
void cfg_partners_free(config_t *cfg);

#endif
