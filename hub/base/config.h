/* config.h - the hub's one YAML configuration file, parsed with libyaml.
 *
 * Everything the hub may be told lives here; it is loaded at start-up and
 * checked strictly (unknown keys, wrong types and missing required keys are
 * errors that name the file and line). A loaded config_t is never changed in
 * place while the hub runs: a reload (SIGHUP, POST /api/v1/reload; hub/reload.c)
 * loads a new one, and the core thread swaps its pointer between turns, keeping
 * the old ones alive until it stops (config_reload.c says which parts may
 * change at run time and how adapters keep their slots). */
#ifndef JOINERY_CONFIG_H
#define JOINERY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char **items; /* owned; each a NUL-terminated string */
    size_t count;
} config_strings_t;

typedef struct {
    char *name;                 /* adapter name, [a-z0-9_-]{1,64} */
    char *public_key;           /* Curve public key, 40 chars Z85; NULL when curve is off */
    config_strings_t publish;   /* event-type patterns it may publish */
    config_strings_t subscribe; /* event-type patterns it may subscribe to */
    bool is_operator;           /* may use STATUS and other operator commands */
    /* Removed by a reload: the entry only holds its slot (the core's per-adapter counters and
     * the targets in the journal window are indexed by slot), with no key and no permissions.
     * config_adapter and config_adapter_by_key never return it. */
    bool removed;
} config_adapter_t;

/* master_data.person.fields: who owns a field of the golden record. The path
 * is kept as written; whether the engine knows it is the engine's to say
 * (master_check_config, hub/master/master.h). */
typedef struct {
    char *path;                /* field path, e.g. "name.given", "address.home", "consent" */
    char *owner;               /* system of record (adapter name); NULL = no owner */
    config_strings_t fallback; /* systems, best first, while the owner has given no value */
    bool propose;              /* on_conflict: propose -> forward to the owner, not correct */
    unsigned line;             /* where the rule is in the file, for the engine's messages */
} config_master_field_t;

/* master_data.address / master_data.case: field rules and survivorship for
 * the keyed entities (hub/master/entity.h), the same shape as a person's. */
typedef struct {
    config_master_field_t *fields; /* owned array */
    size_t nfields;
    config_strings_t survivorship; /* source priority, best first */
} config_entity_rules_t;

/* master_data.matching.fields: m and u of one comparison level (match.h's
 * field and level numbers), in place of match_params_default()'s. */
typedef struct {
    int field, level;
    double m, u;
} config_match_level_t;

/* master_data: ownership, survivorship and matching thresholds. When the
 * section is absent there are no owners, survivorship follows the order of
 * the adapters, and the thresholds are match_params_default()'s. */
typedef struct {
    union {
        config_entity_rules_t person;      /* master_data.person */
        struct {                           /* the same, by the names it had first */
            config_master_field_t *fields; /* owned array */
            size_t nfields;
            config_strings_t survivorship; /* source priority, best first */
        };
    };
    double match_upper;           /* link automatically at or above */
    double match_lower;           /* below: new golden record; between: steward queue */
    config_match_level_t *levels; /* owned array; every level of each field named */
    size_t nlevels;
    /* master_data.matching.parameters_file: where LEVELS came from (absolute, owned; NULL when
     * they are the configuration's own or there are none) and its FNV-1a 64 checksum in hex,
     * for the hub's start-up log line. */
    char *params_file;
    char params_sum[17];
    /* master_data.matching.shared_identifier: the system (URI) of an identifier every system
     * records alike for one person (a council's own person number, a national one other than
     * the NHS and NI numbers); its values are compared (docs/master-data.md). Owned; NULL none. */
    char *shared_identifier;
    config_entity_rules_t address; /* master_data.address */
    config_entity_rules_t case_;   /* master_data.case */
} config_master_t;

/* refusals: how much of what the hub refuses it keeps in rejected_event. Anyone holding a key
 * (and, before HELLO, anyone who can connect) can send refusable input as fast as the network
 * takes it, so what is kept is capped per UTC day, per adapter and in all; input refused before
 * HELLO counts as the adapter ''. */
typedef struct {
    unsigned keep_bytes_per_event;           /* first bytes kept of one refusal; default 64 KiB */
    unsigned keep_bytes_per_adapter_per_day; /* beyond: no bytes, only size and hash; 64 MiB */
    unsigned keep_bytes_per_day;             /* the same, all adapters together; 512 MiB */
    unsigned keep_rows_per_adapter_per_day;  /* beyond: nothing but a count; default 100000 */
    unsigned keep_rows_per_day;              /* the same, all adapters together; 1000000 */
    unsigned keep_days;                      /* older refusals are deleted; default 30 */
    unsigned expire_every_s;                 /* how often that is done; default 3600 */
} config_refusals_t;

/* What an admin API token may do; each role includes those before it. */
typedef enum { ADMIN_ROLE_READ = 1, ADMIN_ROLE_OPERATE = 2, ADMIN_ROLE_STEWARD = 3 } admin_role_t;

/* One bearer token of admin.tokens: the secret itself (from token or
 * token_file), its name (for the log and the audit of discards) and role. */
typedef struct {
    char *name;
    char *token;
    admin_role_t role;
} config_admin_token_t;

/* partners[].outbound.fields: the fields of one payload type that the agreement shares (the
 * top-level protobuf field names); every other field is cleared before an event leaves. */
typedef struct {
    char *payload_type;      /* e.g. "joinery.v1.Person" */
    config_strings_t fields; /* e.g. nhs_number, name, birth_date */
} config_partner_fields_t;

/* partners: one data-sharing agreement with one organisation, exchanged over Kafka
 * (hub/partner/, docs/operations.md "Partners (Kafka)"). Its events come and go as the
 * internal adapter "partner:NAME", whose permissions are the types below. */
typedef struct {
    char *name;              /* [a-z0-9_-]{1,64} */
    char *adapter;           /* "partner:NAME", the adapter it publishes and subscribes as */
    char *agreement;         /* the agreement's reference, written into every disclosure row */
    char *purpose;           /* the lawful purpose; also the Consent.purpose that must be granted */
    bool consent_required;   /* share a person's data only with a granted consent for purpose */
    char *brokers;           /* kafka.brokers: bootstrap.servers */
    config_strings_t kprops; /* kafka.properties: key, value, key, value... for librdkafka */
    char *out_topic;         /* outbound.topic; NULL: nothing is sent */
    config_strings_t out_types;      /* outbound.types: event-type patterns shared */
    config_partner_fields_t *fields; /* outbound.fields (owned array) */
    size_t nfields;
    char *in_topic;            /* inbound.topic; NULL: nothing is read */
    char *in_group;            /* inbound.group: consumer group, default "joinery-NAME" */
    config_strings_t in_types; /* inbound.types: what the partner may publish */
    char *secret_key;          /* the internal link's Curve secret key, made by the hub at start */
    bool mirror; /* the journal mirror (mirror:): no agreement, minimisation, consent or rows */
} config_partner_t;

typedef struct {
    char *path; /* the file this was loaded from (absolute) */
    char *file; /* the same as the caller spelled it, for messages */

    /* hub: */
    char *listen;               /* ZeroMQ endpoint, default "tcp://127.0.0.1:7600" */
    char *data_dir;             /* default "./var/joinery"; made absolute */
    int log_level;              /* log_level_t; default info */
    int log_format;             /* log_format_t; default text */
    unsigned heartbeat_ms;      /* default 1000 */
    unsigned heartbeat_misses;  /* default 5 */
    unsigned max_message_bytes; /* default 1048576 */
    unsigned max_batch;         /* most envelopes per PUBLISH, default 1000 */

    /* database: */
    char *database;  /* libpq conninfo; NULL -> private cluster under data_dir */
    char *pg_bindir; /* where initdb/pg_ctl live; NULL -> search */

    /* security: */
    bool curve;           /* default true; false is the explicit development mode */
    char *hub_secret_key; /* Z85 secret key (read from security.hub_key_file) */

    /* delivery: */
    unsigned max_attempts;      /* before dead-lettering, default 5 */
    unsigned retry_base_ms;     /* first retry delay, doubles each try; default 200 */
    unsigned retry_max_ms;      /* default 30000 */
    unsigned window_events;     /* journal entries kept in memory, default 262144 */
    size_t window_bytes;        /* and at most these bytes of them, default 256 MiB */
    unsigned default_credit;    /* default 1000 */
    config_strings_t transient; /* event-type patterns routed but not journaled */

    config_adapter_t *adapters; /* owned array */
    size_t nadapters;

    config_master_t master; /* master_data: */

    config_refusals_t refusals; /* refusals: */
    config_partner_t *partners; /* partners: (owned array; config_partner.c) */
    size_t npartners;

    /* admin: the HTTP API (hub/admin/) */
    bool admin_enabled;                 /* default false */
    char *admin_listen;                 /* default "127.0.0.1:7680" */
    config_admin_token_t *admin_tokens; /* owned array */
    size_t nadmin_tokens;
    char *admin_tls_cert, *admin_tls_key; /* absolute paths, or both NULL for plain HTTP */
} config_t;

/* Load and check FILE. On failure returns NULL and writes
 * "FILE:LINE: what is wrong and what to change" into err. Caller owns the
 * result and frees it with config_destroy. */
config_t *config_load(const char *path, char *err, size_t errlen);
void config_destroy(config_t **cfg);

/* The partner with this name, or NULL. */
const config_partner_t *config_partner(const config_t *cfg, const char *name);

/* The adapter with this name, or NULL. */
const config_adapter_t *config_adapter(const config_t *cfg, const char *name);
/* The adapter whose Curve public key (Z85) is this, or NULL. */
const config_adapter_t *config_adapter_by_key(const config_t *cfg, const char *z85);
/* ---- reloading (config_reload.c) ----
 *
 * What a reload may change while the hub runs: adapters (added, removed, their keys, publish
 * and subscribe permissions, operator), delivery.transient, delivery's retry settings and
 * default credit, refusals, admin.tokens. Everything else is read once at start (sockets, the
 * database, the window, the master-data engine, partners' threads, the admin server's socket)
 * and needs a restart. */

/* Calls NOTE once for each part that differs between PREV and NEXT and cannot change while the
 * hub runs, with a message "KEY changed: needs a restart". Returns how many. */
size_t config_restart_needed(const config_t *prev, const config_t *next,
                             void (*note)(void *ctx, const char *msg), void *ctx);
/* Orders NEXT's adapters so that each adapter PREV has keeps its index (its slot): one PREV
 * has and NEXT does not stays as a removed entry (config_adapter_t.removed), and adapters new
 * to NEXT come after PREV's. An adapter PREV had removed and NEXT names again takes its old
 * slot back. The partners' adapters get the keys the hub made for them at start (and the
 * partners their secret keys): NEXT has none of its own. 0, or -1 out of memory (NEXT is then
 * unchanged or only reordered, and still freed by config_destroy). */
int config_keep_slots(config_t *next, const config_t *prev);
/* Whether two adapter entries' patterns are the same lists. */
bool config_strings_equal(const config_strings_t *a, const config_strings_t *b);

/* Whether HOST:PORT names a loopback address (127.x, localhost, [::1]). */
bool config_listen_is_loopback(const char *hostport);

#endif
