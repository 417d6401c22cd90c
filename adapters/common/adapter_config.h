/* adapter_config.h - an adapter's YAML configuration: the part every adapter has, and typed
 * getters for the adapter's own sections.
 *
 *     hub:                         # required
 *       endpoint: tcp://127.0.0.1:7600
 *       adapter: health            # the name the hub knows this adapter by
 *       keys_dir: /etc/joinery/keys  # ADAPTER.key and hub.pub; omit only for a hub with curve off
 *       heartbeat_ms: 1000         # optional
 *     log:
 *       level: info                # debug | info | warn | error
 *     <the adapter's own sections>
 *
 * A top-level key that is neither hub, log nor one of the sections the adapter names is refused,
 * and so is a key in a section that the adapter did not list as known (adapter_config_keys): a
 * typo must not silently leave a default in force. Every error reads "FILE:LINE: what is wrong and
 * what to write instead". Values the getters return point into the loaded document and live as
 * long as the configuration. */
#ifndef JOINERY_ADAPTER_CONFIG_H
#define JOINERY_ADAPTER_CONFIG_H

#include <stddef.h>

#include "adapter_log.h"

typedef struct adapter_config adapter_config_t;

typedef struct {
    const char *endpoint;
    const char *adapter;
    const char *keys_dir; /* NULL: no Curve (the hub must run with security.curve: false) */
    unsigned heartbeat_ms;
} adapter_hub_t;

/* Loads PATH. SECTIONS (NULL-terminated, may be NULL) are the adapter's own top-level keys.
 * NULL and "FILE:LINE: ..." in ERR when the file cannot be read, is not YAML, or its hub or log
 * section is wrong. */
adapter_config_t *adapter_config_load(const char *path, const char *const *sections, char *err,
                                      size_t errlen);
void adapter_config_destroy(adapter_config_t **c);

const adapter_hub_t *adapter_config_hub(const adapter_config_t *c);
adapter_log_level_t adapter_config_log_level(const adapter_config_t *c);

/* Refuses (-1, ERR) any key of top-level mapping SECTION not in KNOWN (NULL-terminated). 0 when
 * all are known or the section is absent. */
int adapter_config_keys(const adapter_config_t *c, const char *section, const char *const *known,
                        char *err, size_t errlen);

/* PATH is "section" or "section.key". Each getter gives *OUT the value, or DFLT when the key is
 * absent; -1 with "FILE:LINE: ..." in ERR when the value is there but not what is asked for. */
int adapter_config_string(const adapter_config_t *c, const char *path, const char *dflt,
                          const char **out, char *err, size_t errlen);
int adapter_config_uint(const adapter_config_t *c, const char *path, unsigned long min,
                        unsigned long max, unsigned long dflt, unsigned long *out, char *err,
                        size_t errlen);
/* CHOICES is NULL-terminated; *OUT is the index of the one written, DFLT when absent. */
int adapter_config_choice(const adapter_config_t *c, const char *path, const char *const *choices,
                          int dflt, int *out, char *err, size_t errlen);

/* A shared key between a system and its adapter, from SECTION.key or SECTION.key_file (the
 * file's first line), exactly one of the two: printable ASCII without blanks, 16 to CAP - 2
 * characters, into KEY (CAP bytes). -1 and ERR when absent, both given, unreadable or weak. */
int adapter_config_secret(const adapter_config_t *c, const char *section, char *key, size_t cap,
                          char *err, size_t errlen);

#endif
