/* engine.h - the one master-data engine, internal to hub/master/.
 *
 * An engine holds golden records of one or more kinds of entity, each kind
 * described by an entity descriptor (md_desc_t): its field paths, how its
 * events decode, how a record is identified (a hook: the person kind
 * matches, the address kind keys on the UPRN, the case kind on the sender's
 * (system, local id)), its tables, its derived event types and how its
 * changed, correction and proposal messages are packed. Everything else is
 * the engine's and the same for every kind: the event context, refusals,
 * master ids, field ownership and survivorship, corrections and proposals,
 * the golden, history, cross-reference and audit rows handed to the sink,
 * the in-memory records and cross-reference, loading and dumping.
 *
 * Persons are one engine (master.h's master_t, which adds matching and the
 * steward's decisions); addresses and cases are another (entity.h's
 * entity_t). A new kind of entity is a new descriptor. See README.md. */
#ifndef JOINERY_MASTER_ENGINE_H
#define JOINERY_MASTER_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "base/hmap.h"
#include "base/pbarena.h"
#include "master/master.h"
#include "master/master_util.h"
#include "match/match.h"

#define MD_MAX_FIELDS 1024   /* per kind: fixed fields + those interned as seen */
#define MD_MAX_SYSTEMS 1024  /* configured adapters + names found in the tables */
#define MD_MAX_KINDS 2       /* kinds one engine holds */
#define MD_MAX_INCOMING 64   /* fields of one event */
#define MD_MAX_XREF_VIEW 256 /* local ids considered when choosing one to address */
#define MD_NUM_LEN 32        /* a number or a score as text */

enum { MS_ACTIVE, MS_REDIRECTED };                                    /* golden state */
enum { XL_MATCH, XL_POSSIBLE, XL_NO_MATCH, XL_REDIRECTED, XL_COUNT }; /* link_state */
enum { XH_RULE, XH_SCORE, XH_STEWARD, XH_COUNT };                     /* how */

/* Records ------------------------------------------------------------------ */

/* One field of a record. The value lives in the same block (see mvals_t). */
typedef struct {
    uint16_t field;   /* field id within the record's kind */
    uint16_t source;  /* system id that supplied the value */
    uint32_t off;     /* of the value's text from the start of the block */
    uint64_t version; /* record version at which it last changed */
    int64_t at_us;    /* when it happened in the source system */
} mval_t;

/* All field values of a record in one allocation, sorted by field id. A
 * change builds a new block and swaps it in, so a record is never half
 * updated and a merge can keep the survivor's old block as its undo. */
typedef struct {
    uint32_t n;
    uint32_t bytes; /* whole allocation */
    mval_t v[];     /* then the NUL-terminated values */
} mvals_t;

typedef struct golden golden_t;
typedef struct xref xref_t;

struct golden {
    /* What a person's candidate search reads of every candidate comes first, in one cache line:
     * most candidates are dismissed on their sketch (match_bound) without reading the rest. */
    uint32_t stamp; /* candidate de-duplication during one search */
    uint8_t state;
    uint8_t kind;          /* index of its kind in the engine */
    match_sketch_t sketch; /* persons: of prep, made with it */
    char id[MASTER_ID_MAX];
    uint64_t version;
    int64_t created_us, updated_us;
    golden_t *redirect; /* survivor, when REDIRECTED */
    mvals_t *vals;      /* owned; NULL = no fields */
    xref_t *xrefs;      /* local ids linked here (list through mnext) */
    golden_t *hnext;    /* id hash chain */
    golden_t *knext;    /* key hash chain */
    char *key;          /* owned: the identifying key of a keyed kind (an address's UPRN) */
    /* Persons: owned, one allocation; the addresses and names the record held before (see
     * master_prev.c), NULL when none. */
    struct mprev *prev;
    /* Persons: the matching fields prepared for scoring; made when the record enters the
     * blocking index, so valid for every candidate. */
    match_prep_t prep;
};

/* Made by md_xref_new, one allocation with its local id: a separate string cost a pointer and a
 * malloc chunk of its own for every link, and there are one or two links per record. Never
 * assign one whole (the struct's size may overlap the id's first bytes). */
struct xref {
    golden_t *master;
    xref_t *hnext; /* (kind, system, local id) hash chain */
    xref_t *mnext; /* next on the same master */
    double score;  /* NAN when none */
    int64_t linked_us;
    uint16_t system;
    uint8_t state, how, kind;
    char local_id[]; /* NUL-terminated */
};

/* A new value for a field (value NULL removes it). */
typedef struct {
    uint16_t field, source;
    const char *value;
    uint64_t version;
    int64_t at_us;
} mchange_t;

/* One validated, normalised field of an incoming event. */
typedef struct {
    uint16_t field;
    const char *value;
} incoming_t;

/* Descriptors ------------------------------------------------------------------ */

typedef struct engine engine_t;
typedef struct md_ctx md_ctx_t;
typedef struct md_plan md_plan_t;
typedef struct md_desc md_desc_t;

/* Columns of a golden-record or cross-reference row, in parameter order.
 * The load query selects the same columns in the same order. */
enum {
    GC_ID,        /* master_id */
    GC_VERSION,   /* version */
    GC_STATE,     /* ACTIVE | REDIRECTED */
    GC_REDIRECT,  /* redirect_to (loaded as '' for none) */
    GC_FIELDS,    /* the fields as JSON */
    GC_CREATED,   /* created_at */
    GC_UPDATED,   /* updated_at */
    GC_KEY,       /* the record's key (an address's uprn) */
    GC_KEY_FIELD, /* the value of the descriptor's key_field (a case's person) */
    XC_SYSTEM,    /* system */
    XC_LOCAL,     /* local_id */
    XC_MASTER,    /* master_id */
    XC_STATE,     /* link_state */
    XC_HOW,       /* how */
    XC_SCORE,     /* score */
    XC_LINKED,    /* linked_at */
};
#define MD_MAX_COLS ROW_MAX_COLS

/* The history table's row and statement: the same columns for every kind. */
#define MD_HISTORY_ROW(table)                                                                      \
    {                                                                                              \
        table, 6,                                                                                  \
        {                                                                                          \
            {"master_id", ROW_TEXT}, {"version", ROW_INT8}, {"source", ROW_TEXT},                  \
                {"event_id", ROW_TEXT}, {"at", ROW_INT8},                                          \
            {                                                                                      \
                "changes", ROW_JSON                                                                \
            }                                                                                      \
        }                                                                                          \
    }
#define MD_SQL_HISTORY(table)                                                                      \
    "INSERT INTO " table " (master_id, version, source, event_id, at, changes) "                   \
    "VALUES ($1, $2::bigint, $3, $4, $5::bigint, $6::json)"

/* A golden-record or cross-reference table. ROW's columns, in order, are what COLS says. */
typedef struct {
    const row_desc_t *row;      /* a new row is appended */
    const row_upsert_t *upsert; /* a changed one is upserted, gathered per batch */
    const char *sql;            /* the same upsert as one statement (a sink without upsert) */
    const char *load;           /* SELECT of every row, columns in order */
    uint8_t cols[MD_MAX_COLS];
} md_table_t;

/* A refused field's message, for the kind's packer. */
typedef struct {
    const golden_t *g;
    const char *master_id;
    uint64_t version;
    const char *local_id; /* the receiver's id for the record */
    uint16_t field_id;
    const char *field, *owner, *refused, *current, *reason;
    const char *by, *by_local, *event_id; /* the sender */
} md_refmsg_t;

/* The same fields of a correction, whichever kind's message it is. */
#define MD_FILL_CORRECTION(msg, r)                                                                 \
    do {                                                                                           \
        (msg).master_id = (char *)(r)->master_id;                                                  \
        (msg).version = (r)->version;                                                              \
        (msg).local_id = (char *)(r)->local_id;                                                    \
        (msg).field = (char *)(r)->field;                                                          \
        (msg).owner = (char *)(r)->owner;                                                          \
        (msg).refused_value = (char *)(r)->refused;                                                \
        (msg).current_value = (char *)(r)->current;                                                \
        (msg).reason = (char *)(r)->reason;                                                        \
        (msg).refused_event_id = (char *)(r)->event_id;                                            \
    } while (0)

/* And of a proposal. */
#define MD_FILL_PROPOSAL(msg, r)                                                                   \
    do {                                                                                           \
        (msg).master_id = (char *)(r)->master_id;                                                  \
        (msg).version = (r)->version;                                                              \
        (msg).local_id = (char *)(r)->local_id;                                                    \
        (msg).field = (char *)(r)->field;                                                          \
        (msg).proposed_value = (char *)(r)->refused;                                               \
        (msg).current_value = (char *)(r)->current;                                                \
        (msg).proposed_by = (char *)(r)->by;                                                       \
        (msg).proposer_local_id = (char *)(r)->by_local;                                           \
        (msg).event_id = (char *)(r)->event_id;                                                    \
    } while (0)

/* What is the same for the three changed messages, whichever kind's it is. */
#define MD_FILL_CHANGED(msg, g, v, names, n)                                                       \
    do {                                                                                           \
        (msg).master_id = (char *)(g)->id;                                                         \
        (msg).version = (v);                                                                       \
        (msg).n_changed_fields = (n);                                                              \
        (msg).changed_fields = (names);                                                            \
    } while (0)

enum {
    MD_NAMED = 1,        /* audit rows and corrections name the kind ("entity": "address") */
    MD_OPEN_FIELDS = 2,  /* field paths beyond the fixed ones are interned as first seen */
    MD_SCORED_LINKS = 4, /* links carry a link state, how and score (audit rows say them) */
    MD_MERGES = 8        /* its records merge, and NAME.merged tells the subscribers */
};

/* A kind's field paths. */
typedef struct {
    const char *const *paths; /* the fixed ones; field id = index */
    size_t n;
    int (*known)(const char *path); /* may a rule name PATH? NULL: one of paths */
    const char *list;               /* the fields, for an "unknown field" message */
} md_fieldset_t;

/* What a kind's plan and message scratch take. */
typedef struct {
    size_t plan;          /* its plan, which starts with an md_plan_t */
    size_t scratch;       /* the scratch its changed message is packed in */
    size_t changed_local; /* offset in the scratch of the message's local_id */
} md_sizes_t;

/* How an event of the kind becomes fields of a record. */
typedef struct {
    /* The event's payload as fields into e->in (sorted by field id); -1: refused, or failed
     * (res says which). May leave e->in for identify to fill. */
    int (*decode)(md_ctx_t *c);
    /* Which record the event is about: sets p->g, or makes one (md_plan_new), and may set
     * p->move and the new link's state, how and score. -1 as decode. */
    int (*identify)(md_ctx_t *c, md_plan_t *p);
    /* Is SENT the value STORED already holds, written differently? (may be NULL) */
    bool (*same)(const md_ctx_t *c, int field, const char *stored, const char *sent);
} md_identity_t;

/* How the kind's messages are packed. */
typedef struct {
    /* The changed message for FIELDS (their NAMES) of VALS, packed in SCRATCH; NULL when out of
     * memory. The engine addresses it to each receiver (md_sizes_t.changed_local), and
     * CHANGED_TO (may be NULL) sets what else is the receiver's own: SYSTEM's id for the
     * record is LOCAL_ID. */
    const ProtobufCMessage *(*changed)(md_ctx_t *c, void *scratch, const golden_t *g,
                                       uint64_t version, const mvals_t *vals,
                                       const uint16_t *fields, char **names, size_t n);
    void (*changed_to)(md_ctx_t *c, void *scratch, int system, const char *local_id);
    /* Packs a refused field's correction (to the sender) or, PROPOSE, its proposal (to the
     * owner) and sends it with md_send_refusal. */
    int (*refusal)(md_ctx_t *c, const md_refmsg_t *r, bool propose);
} md_messages_t;

struct md_desc {
    const char *name;        /* "person": config section, audit detail */
    char prefix;             /* of master ids */
    const char *payload;     /* message name its events carry; its derived events are NAME.changed,
                                NAME.correction, NAME.proposed (and with MD_MERGES NAME.merged) */
    const char *needs_local; /* NULL, or the refusal of an event without source_record_id (%s
                                type, %s source) */
    md_fieldset_t fields;
    int key_field; /* GC_KEY_FIELD's field, -1 none */
    unsigned flags;
    md_table_t golden, xref;
    const row_desc_t *history;
    const char *sql_history;
    md_sizes_t size;
    md_identity_t id;
    md_messages_t msg;

    /* What a kind may add (each may be NULL). The field a derived field comes from, or -1: */
    int (*parent)(int field);
    /* A change to the field means re-indexing / searching again: */
    bool (*reindexes)(int field);
    bool (*rematches)(int field);
    /* Steps of its own: after the fields are planned, after the audit row is written, when
     * the plan is committed, and what a plan owns: */
    int (*after_fields)(md_ctx_t *c, md_plan_t *p);
    int (*write_more)(md_ctx_t *c, md_plan_t *p);
    int (*commit_more)(md_ctx_t *c, md_plan_t *p);
    void (*plan_free)(md_plan_t *p);
    /* The record enters or leaves the kind's own indexes: */
    int (*index)(engine_t *e, golden_t *g);
    void (*unindex)(engine_t *e, golden_t *g);
};

/* The kinds (master.c, entity.c). */
extern const md_desc_t PERSON_DESC, ADDRESS_DESC, CASE_DESC;

/* Engine state --------------------------------------------------------------------- */

typedef struct {
    int owner; /* system id, -1 none */
    uint16_t *fallback;
    size_t nfallback;
    bool propose;
} mrule_t;

/* One kind in an engine: its descriptor and what the configuration made of it. */
#define MD_TYPE_MAX 48 /* a derived event type */

typedef struct {
    const md_desc_t *d;
    char changed[MD_TYPE_MAX], correction[MD_TYPE_MAX], proposed[MD_TYPE_MAX];
    char merged[MD_TYPE_MAX];  /* "" unless MD_MERGES */
    config_entity_rules_t cfg; /* master_data.<name> (its strings are the configuration's) */
    char **fields;             /* field id -> path */
    int *field_rule;           /* field id -> index in rules, -1 none */
    size_t nfields;
    mrule_t *rules;
    size_t nrules;
    uint32_t *sys_rank;                                /* survivorship position per system */
    uint16_t *sub_changed, *sub_merged, *sub_proposed; /* systems subscribed to each */
    size_t nsub_changed, nsub_merged, nsub_proposed;
    size_t nactive; /* active records */
    void *scratch;  /* descriptor's scratch_size */
    md_plan_t *plan;
} md_kind_t;

/* The engine's words for itself in its messages. */
typedef struct {
    const char *apply; /* "master_apply: missing engine, event or sink" */
    const char *lost;  /* refusing every event until reloaded */
    const char *oom;   /* running out of memory in the indexes */
} md_words_t;

struct engine {
    const config_t *cfg;
    const md_words_t *words;
    bool broken; /* memory and tables disagree: refuse until reloaded */
    char **systems;
    size_t nsystems;
    md_kind_t kinds[MD_MAX_KINDS];
    size_t nkinds;
    hmap_t *by_id, *by_key, *xrefs;
    golden_t **recs; /* every record, for iteration and freeing */
    size_t nrecs, caprecs;
    size_t nxrefs;
    master_id_fn id_fn;
    void *id_ctx;
    master_ulid_t ulid;
    pbarena_t *arena; /* the payload being applied */
    /* The last score written as text (md_num_d_again): an event's link score goes into its
     * audit row, and for a sink that takes statements only into its xref row too. */
    uint64_t num_bits;
    char num_text[MD_NUM_LEN];
    mbuf_t json, out, text, hist;
    incoming_t in[MD_MAX_INCOMING]; /* the event's fields */
    size_t nin;
    /* The kind's own state and its clean-up, for an engine that has more (persons). */
    void (*clear_more)(engine_t *e);
};

/* One event being handled. */
struct md_ctx {
    engine_t *e;
    md_kind_t *k;
    const md_desc_t *d;
    const master_t *persons; /* a case's person engine (read only) */
    const master_event_t *ev;
    master_sink_t *sink;
    master_result_t *res;
    char *why;
    size_t why_len;
    int src;               /* system id of the sender */
    int64_t now;           /* hub time: received_at */
    int64_t occurred;      /* source time, for survivorship by recency */
    bool exclude_src;      /* the sender already holds the result */
    master_result_t spare; /* the result when the caller wants none */
};

enum { REF_OWNER, REF_STALE };

typedef struct {
    uint16_t field;
    uint8_t kind;
    bool propose, quiet; /* quiet: its parent field's refusal already says it */
    const char *refused;
    const char *current;
    uint64_t current_version;
} mref_t;

/* The plan of one keyed update: what the record will be, built without touching it. */
struct md_plan {
    golden_t *g;             /* record the event applies to */
    golden_t *newg;          /* a new record, owned here until commit */
    xref_t *x;               /* the sender's link, if it had one */
    xref_t *newx;            /* the sender's new link, owned here until commit */
    bool move;               /* X moves to G (an address whose UPRN changed) */
    uint8_t link_state, how; /* of NEWX */
    double score;
    mchange_t ch[MD_MAX_INCOMING];
    const char *old[MD_MAX_INCOMING];
    size_t nch;
    mref_t ref[MD_MAX_INCOMING];
    size_t nref;
    mvals_t *vals; /* the record's next block, owned until commit */
    uint64_t version;
    bool reindex; /* a blocking key may have changed */
    bool rematch; /* identity changed: look for a duplicate again */
};

/* engine.c: life cycle, names, rules ---------------------------------------------------- */

/* Sets up E for the kinds DESCS (the configuration's sections SECTIONS). -1 out of memory or a
 * configuration the engine cannot take (ERR says which). */
int md_init(engine_t *e, const config_t *cfg, const md_words_t *words,
            const md_desc_t *const *descs, const config_entity_rules_t *sections, size_t nkinds);
void md_fini(engine_t *e);
int md_system_id(engine_t *e, const char *name, bool create);
int md_field_id(md_kind_t *k, const char *path, bool create);
const char *md_field_name(const md_kind_t *k, int field);
const mrule_t *md_rule_of(const md_kind_t *k, int field);
/* Lower wins: the owner, then the rule's fallback list, then survivorship. */
uint32_t md_rank_of(const md_kind_t *k, const mrule_t *r, int system);
void md_set_id_generator(engine_t *e, master_id_fn fn, void *ctx);
/* master_check_config, an arena of ARENA_BLOCK and md_init, for the engine WHO ("master_new")
 * makes: -1 with ERR set on failure. */
int md_open(engine_t *e, const char *who, size_t arena_block, const config_t *cfg,
            const md_words_t *words, const md_desc_t *const *descs,
            const config_entity_rules_t *sections, size_t nkinds, char *err, size_t errlen);
int md_kind_of(const engine_t *e, const char *name);
/* Is TYPE (LEN bytes, not NUL-terminated) one of TYPES? */
int md_type_in(const char *const *types, size_t n, const char *type, size_t len);

/* engine_ctx.c: the event context, rows and messages ----------------------------------- */

/* Starts C for EV: resets RES (may be NULL) and WHY, refuses what no engine takes (E may be NULL;
 * WORDS are its words). ACCEPT (may be NULL) checks the type first and returns 1 to go on.
 * 1: go on; else the return value for the caller. */
int md_begin(md_ctx_t *c, engine_t *e, const md_words_t *words, const master_event_t *ev,
             master_sink_t *sink, master_result_t *res, char *why, size_t why_len,
             int (*accept)(md_ctx_t *c));
void md_use_kind(md_ctx_t *c, int kind);
int md_say(md_ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The whole event is refused: the sender must fix it. Returns 0. */
int md_refused(md_ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int md_broken(md_ctx_t *c);
int md_new_id(md_ctx_t *c, char out[MASTER_ID_MAX]);
const char *md_num_d(char *buf, double v);
const char *md_num_d_again(engine_t *e, char *buf, double v);
int md_run(md_ctx_t *c, const char *stmt, int n, const char *const *params);
/* A new row of ROW's table, one value per column: copied in bulk when the sink can, else STMT
 * (an INSERT of the same columns) with the values as text. */
int md_run_append(md_ctx_t *c, const row_desc_t *row, const char *stmt, const row_val_t *vals);
int md_emit(md_ctx_t *c, const char *type, const char *target, const golden_t *g,
            const char *local_id, const ProtobufCMessage *msg);
/* A refused field's packed correction to the sender, or (PROPOSE) proposal to the owner. */
int md_send_refusal(md_ctx_t *c, const md_refmsg_t *r, bool propose, const ProtobufCMessage *msg);
/* Rows. FRESH: the record or link is new, so its row is appended (COPY) rather than upserted;
 * the store writes appends before upserts, so a later change in the same batch lands on top. */
int md_sql_golden(md_ctx_t *c, const golden_t *g, uint64_t version, int state,
                  const golden_t *redirect, const mvals_t *vals, bool fresh);
int md_sql_history(md_ctx_t *c, const golden_t *g, uint64_t version, const mchange_t *ch,
                   const char *const *old, size_t n);
int md_sql_xref(md_ctx_t *c, int system, const char *local_id, const golden_t *g, int state,
                int how, double score, int64_t linked_us, bool fresh);
/* DETAIL is the JSON object in e->json ("{}" when empty). */
int md_sql_audit(md_ctx_t *c, const golden_t *g, const char *action);
/* A local id as a system will know it after some links move (see md_local_id_in). */
typedef struct {
    const xref_t *x;
    uint8_t state;
} xview_t;
const char *md_local_id_in(const xview_t *v, size_t n, int system);
size_t md_view_add(xview_t *v, size_t n, const golden_t *g, int state_override);
const char *md_primary_local(const golden_t *g, int system);
/* The changed message with FIELDS of VALS to every subscriber, each in its own ids (from VIEW
 * when given, else G's links). */
int md_emit_changed(md_ctx_t *c, const golden_t *g, uint64_t version, const mvals_t *vals,
                    const uint16_t *fields, size_t n, const xview_t *view, size_t nview);

/* engine_plan.c: the keyed update ---------------------------------------------------- */

/* Decode, identify, plan the fields, write, commit: one event of the context's kind. */
int md_apply_keyed(md_ctx_t *c);
/* A new record for P (p->g), with KEY (may be NULL). */
int md_plan_new(md_ctx_t *c, md_plan_t *p, const char *key);

/* engine_store.c: records, the cross-reference, loading, dumping ------------------------------ */

golden_t *md_golden(const engine_t *e, const char *id);
/* SYSTEM's (a name) link LOCAL_ID of KIND, or NULL. */
const xref_t *md_lookup(const engine_t *e, int kind, const char *system, const char *local_id);
/* Field FIELD (a path) of G, or NULL; *SOURCE (may be NULL) gets the supplying system. */
const char *md_value(const engine_t *e, const golden_t *g, const char *field, const char **source);
golden_t *md_by_key(const engine_t *e, int kind, const char *key);
golden_t *md_final(golden_t *g);
int md_golden_add(engine_t *e, golden_t *g);
void md_golden_free(golden_t *g);
xref_t *md_xref(const engine_t *e, int kind, int system, const char *local_id);
int md_xref_add(engine_t *e, xref_t *x);
void md_xref_attach(golden_t *g, xref_t *x);
void md_xref_detach(xref_t *x);
/* A link of no record yet, for LOCAL_ID, its score NAN and the rest 0; NULL when out of memory.
 * The caller owns it (md_xref_free) until md_xref_add. */
xref_t *md_xref_new(const char *local_id);
void md_xref_free(xref_t *x);
xref_t *md_primary_xref(const golden_t *g, int system);
const mval_t *md_val(const mvals_t *b, int field);
const char *md_val_text(const mvals_t *b, const mval_t *v);
/* A new block: the values of OLD with the changes applied (value NULL removes the field).
 * Changes must be sorted by field id. */
mvals_t *md_vals_build(const mvals_t *old, const mchange_t *ch, size_t n);
/* Appends the block as the JSON object stored in golden_*.fields. */
int md_vals_json(const engine_t *e, const md_kind_t *k, const mvals_t *b, mbuf_t *out);
const char *md_link_state_name(int s);
const char *md_how_name(int h);
int md_name_index(const char *const *names, int n, const char *s);
int md_link_state_of(const char *name);                     /* -1 unknown */
int md_how_of(const char *name);                            /* -1 unknown */
double md_parse_score(const PGresult *r, int row, int col); /* NAN for NULL */
void md_state_clear(engine_t *e);

/* Loading: golden records and links of every kind, in the load's snapshot. AFTER (may be NULL)
 * runs after a kind's records are read, before its links. */
typedef struct md_loader md_loader_t;
struct md_loader {
    engine_t *e;
    int kind;
    char *err;
    size_t errlen;
    int (*redirect)(md_loader_t *l, golden_t *g, const char *to);
    void *ctx;
};
int md_load_kind(md_loader_t *l, PGconn *conn, int (*after)(md_loader_t *l));
/* golden_*.fields (or a merge's survivor_before) -> a block. */
int md_vals_from_json(md_loader_t *l, md_kind_t *k, const char *text, const char *whose,
                      mvals_t **out);
/* Runs LOAD (the kinds' rows, and anything more) in one snapshot, emptying the engine first and
 * again on failure; the engine refuses events until a load succeeds. */
int md_load(engine_t *e, PGconn *conn, int (*load)(engine_t *e, PGconn *conn, void *ctx), void *ctx,
            char *err, size_t errlen);

/* Dumping: LINES (the engine's own format) adds a record's lines through md_dump_line. */
typedef struct md_dump md_dump_t;
int md_dump_line(md_dump_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
mbuf_t *md_dump_buf(md_dump_t *d);
int md_dump_end_line(md_dump_t *d);
int md_dump(const engine_t *e,
            int (*lines)(const engine_t *e, md_dump_t *d, const golden_t *g, void *ctx),
            int (*more)(const engine_t *e, md_dump_t *d, void *ctx), void *ctx, char **out,
            size_t *len);

/* master_check_config's part for one kind, and for addresses and cases (entity.c). */
int entity_check_config(const config_t *cfg, char *err, size_t errlen);
int md_check_rules(const config_t *cfg, const md_desc_t *d, const config_entity_rules_t *rules,
                   char *err, size_t errlen);

#endif
