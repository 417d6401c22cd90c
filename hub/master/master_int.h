/* master_int.h - the master-data engine's private state, shared by its files:
 * master.c (decisions), master_fields.c (Person <-> field paths),
 * master_index.c (in-memory tables and indexes) and master_store.c (SQL and
 * master_load). Nothing outside hub/master/master*.c includes this. */
#ifndef JOINERY_MASTER_INT_H
#define JOINERY_MASTER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/hmap.h"
#include "master/master.h"
#include "master/master_util.h"
#include "match/match.h"
#include "base/pbarena.h"

#include <joinery/v1/person.pb-c.h>

/* Field paths with a fixed id; consent.<purpose> fields are interned after
 * these as they are first seen. */
enum {
    MF_NHS,
    MF_NHS_VERIFICATION,
    MF_NI,
    MF_GIVEN,
    MF_FAMILY,
    MF_PREFIX,
    MF_BIRTH,
    MF_SEX,
    MF_DEATH,
    MF_ADDR,
    MF_ADDR_POSTCODE,
    MF_ADDR_UPRN,
    MF_PHONE,
    MF_EMAIL,
    MF_GP,
    MF_LANGUAGE,
    MF_INTERPRETER,
    MF_FIXED_COUNT
};

#define MASTER_MAX_FIELDS 1024  /* fixed + distinct consent purposes */
#define MASTER_MAX_SYSTEMS 1024 /* configured adapters + names found in the tables */
#define MASTER_VALUE_MAX 512    /* longest field value accepted, bytes */
#define MASTER_MAX_CONSENTS 32  /* per event */
#define MASTER_MAX_INCOMING (MF_FIXED_COUNT + MASTER_MAX_CONSENTS)

enum { MS_ACTIVE, MS_REDIRECTED };                                    /* golden state */
enum { XL_MATCH, XL_POSSIBLE, XL_NO_MATCH, XL_REDIRECTED, XL_COUNT }; /* link_state */
enum { XH_RULE, XH_SCORE, XH_STEWARD, XH_COUNT };                     /* how */
enum { QS_OPEN, QS_LINKED, QS_KEPT_APART, QS_MERGED, QS_COUNT };      /* queue state */

/* One field of a record. The value lives in the same block (see mvals_t). */
typedef struct {
    uint16_t field;   /* field id */
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
    /* What a candidate search reads of every candidate comes first, in one cache line: most
     * candidates are dismissed on their sketch (match_bound) without reading the rest. */
    uint32_t stamp; /* candidate de-duplication during one search */
    uint8_t state;
    match_sketch_t sketch; /* of prep, made with it */
    char id[MASTER_ID_MAX];
    uint64_t version;
    int64_t created_us, updated_us;
    golden_t *redirect; /* survivor, when REDIRECTED */
    mvals_t *vals;      /* owned; NULL = no fields */
    xref_t *xrefs;      /* local ids linked here (list through mnext) */
    golden_t *hnext;    /* id hash chain */
    /* Its matching fields prepared for scoring; made by master_index_add, so
     * valid whenever the record is in the blocking index (every candidate). */
    match_prep_t prep;
};

struct xref {
    golden_t *master;
    char *local_id; /* owned */
    xref_t *hnext;  /* (system, local id) hash chain */
    xref_t *mnext;  /* next on the same master */
    double score;   /* NAN when none */
    int64_t linked_us;
    uint16_t system;
    uint8_t state, how;
};

typedef struct qitem {
    uint64_t id;
    golden_t *a, *b; /* a existed first */
    double score;
    int64_t created_us;
    struct qitem *pnext; /* pair hash chain */
} qitem_t;

typedef struct kpair {
    golden_t *a, *b;
    struct kpair *pnext;
} kpair_t;

typedef struct {
    uint16_t system;
    char *local_id; /* owned */
    uint8_t state, how;
    double score;
} moved_t;

typedef struct merge {
    uint64_t id;
    golden_t *survivor, *retired;
    uint64_t survivor_version;
    mvals_t *before; /* owned: the survivor's block before the merge */
    moved_t *moved;  /* owned */
    size_t nmoved;
    struct merge *hnext; /* by retired */
} merge_t;

typedef struct {
    char *owner_name;
    int owner; /* system id, -1 none */
    uint16_t *fallback;
    size_t nfallback;
    bool propose;
} mrule_t;

/* A decoded Person takes well under this; a larger one gets a block of its own. */
#define PB_PERSON_ARENA_BLOCK 16384

/* One validated, normalised field of an incoming Person. */
typedef struct {
    uint16_t field;
    const char *value; /* in master_t.incoming_text */
} incoming_t;

struct master {
    const config_t *cfg;
    match_params_t params;
    pbarena_t *arena; /* the person payload being applied */
    /* The last score written as text (num_d_again): an event's link score goes into its xref row
     * and again into its audit row. */
    uint64_t num_bits;
    char num_text[32];
    bool broken; /* memory and tables disagree: refuse until master_load */

    /* names */
    char **systems;
    size_t nsystems;
    uint32_t *sys_rank; /* survivorship position per system */
    char **fields;      /* field id -> path */
    int *field_rule;    /* field id -> index in rules, -1 none */
    size_t nfields;
    mrule_t *rules;
    size_t nrules;
    uint16_t *sub_changed, *sub_merged, *sub_proposed; /* systems subscribed to each emitted type */
    size_t nsub_changed, nsub_merged, nsub_proposed;

    /* records */
    hmap_t *golden_by_id;
    golden_t **goldens; /* every record, for iteration and freeing */
    size_t ngoldens, capgoldens, nactive;
    hmap_t *xref_by_key;
    size_t nxrefs;
    hmap_t *blocks; /* blocking key hash -> golden_t* (low bit 0) or block (low bit 1) */
    hmap_t *tf;     /* name frequency counts */
    uint32_t stamp;
    uint64_t nsearches, nscored; /* see master_search_counts */
    uint64_t nbounded;           /* candidates dismissed on their sketch alone */

    /* steward */
    hmap_t *queue_by_id;
    hmap_t *queue_by_pair;
    size_t nopen;
    uint64_t next_queue_id;
    hmap_t *keep_apart;
    size_t nkeep;
    hmap_t *merges; /* active merges by retired id */
    uint64_t next_merge_id;

    /* ids */
    master_id_fn id_fn;
    void *id_ctx;
    master_ulid_t ulid;

    /* per-event scratch, reused */
    int64_t today_day; /* day number of today[], -1 none (today_of) */
    char today[32];
    char *incoming_text;
    size_t incoming_cap;
    mbuf_t json, out, text, hist;
};

/* master_fields.c */
const char *master_field_name(const master_t *m, int field);
int master_field_id(master_t *m, const char *path, bool create);
int master_fields_init(master_t *m);
/* Flattens a Person into validated, normalised fields (sorted by id). On
 * invalid content returns -1 with a reason naming the field. */
int master_flatten(master_t *m, const Joinery__V1__Person *p, const char *today, incoming_t *out,
                   size_t *n, char *why, size_t why_len);
/* A Person rebuilt from field values, for the messages the engine sends.
 * Strings point into m->text, so it lives until the next build. */
#define MASTER_OUT_LIST 16
#define MASTER_OUT_CONSENTS 64
typedef struct {
    Joinery__V1__Person person;
    Joinery__V1__HumanName name;
    Joinery__V1__Address addr;
    Joinery__V1__Address *addrs[1];
    char *given[MASTER_OUT_LIST];
    char *lines[MASTER_OUT_LIST];
    Joinery__V1__ContactPoint tel[2];
    Joinery__V1__ContactPoint *tels[2];
    Joinery__V1__Consent consent[MASTER_OUT_CONSENTS];
    Joinery__V1__Consent *consents[MASTER_OUT_CONSENTS];
} mperson_t;
int master_person_build(master_t *m, const uint16_t *fields, const char *const *values, size_t n,
                        mperson_t *pb);
/* The field a derived field comes from (address.home.postcode ->
 * address.home), or -1. */
int master_parent_field(int field);
/* Is this field one the matcher compares (a change means re-indexing)? */
bool master_match_field(int field);
/* Does a change to it mean searching again for a duplicate? */
bool master_identity_field(int field);

/* master_index.c */
uint64_t master_hash_str(const char *s, uint64_t seed);
golden_t *master_golden(const master_t *m, const char *id);
golden_t *master_final(golden_t *g);
int master_golden_add(master_t *m, golden_t *g);
xref_t *master_xref(const master_t *m, uint16_t system, const char *local_id);
int master_xref_add(master_t *m, xref_t *x);
void master_xref_attach(golden_t *g, xref_t *x);
void master_xref_detach(xref_t *x);
xref_t *master_primary_xref(const golden_t *g, uint16_t system);
const mval_t *master_val(const mvals_t *b, int field);
const char *master_val_text(const mvals_t *b, const mval_t *v);
/* A new block: the values of OLD with the changes applied (value NULL
 * removes the field). Changes must be sorted by field id. */
typedef struct {
    uint16_t field, source;
    const char *value;
    uint64_t version;
    int64_t at_us;
} mchange_t;
mvals_t *master_vals_build(const mvals_t *old, const mchange_t *ch, size_t n);
/* The matching view of a block; BUF holds the first forename. */
void master_match_view(const mvals_t *b, match_person_t *p, char *buf, size_t len);
void master_match_view_incoming(const incoming_t *in, size_t n, match_person_t *p, char *buf,
                                size_t len);
int master_index_add(master_t *m, golden_t *g);
void master_index_remove(master_t *m, golden_t *g);
double master_tf(void *ctx, match_field_t f, const char *value);
/* Calls FN once for each record sharing a blocking key with P, key by key
 * in match_blocking_keys' order (identifiers first), except those DISMISS
 * (may be NULL) rules out on the copy of their sketch kept in a block: it
 * must answer the same for a sketch whatever happened since it was last
 * asked, or only turn from false to true. After each key's records, DONE
 * (may be NULL) is asked whether to stop. */
typedef void (*master_candidate_fn)(void *ctx, golden_t *g);
typedef bool (*master_dismiss_fn)(void *ctx, const match_sketch_t *sk);
void master_candidates(master_t *m, const match_person_t *p, master_candidate_fn fn,
                       master_dismiss_fn dismiss, bool (*done)(void *ctx, const char *key),
                       void *ctx);
uint64_t master_pair_hash(const golden_t *a, const golden_t *b);
kpair_t *master_kept_apart(const master_t *m, const golden_t *a, const golden_t *b);
int master_keep_apart_add(master_t *m, golden_t *a, golden_t *b);
void master_keep_apart_remove(master_t *m, const golden_t *a, const golden_t *b);
qitem_t *master_queue_pair(const master_t *m, const golden_t *a, const golden_t *b);
int master_queue_add(master_t *m, qitem_t *q);
void master_queue_remove(master_t *m, qitem_t *q);
bool master_has_open_item(const master_t *m, const golden_t *g);
merge_t *master_merge_of(const master_t *m, const golden_t *retired);
int master_merge_add(master_t *m, merge_t *mg);
void master_merge_remove(master_t *m, merge_t *mg);
void master_merge_free(merge_t *mg);
void master_state_clear(master_t *m);

/* master_store.c (and the master_buf_* of master_util.h) */
/* Appends the block as the JSON object stored in golden_person.fields. */
int master_vals_json(const master_t *m, const mvals_t *b, mbuf_t *out);
const char *master_link_state_name(int s);
const char *master_how_name(int h);
const char *master_queue_state_name(int s);
int master_system_id(master_t *m, const char *name, bool create);

#endif
