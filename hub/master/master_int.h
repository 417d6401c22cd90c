/* master_int.h - the person kind of the master-data engine: what it adds to the engine
 * (engine.h) and shares between its files: master.c (the person descriptor, identity by
 * matching, the public calls), master_steward.c (merge, unmerge and the stewards' other
 * decisions), master_fields.c (Person <-> field paths), master_index.c (the blocking index,
 * name frequencies, the steward queue, keep-apart pairs and undoable merges) and
 * master_store.c (its own tables and master_load, master_dump). Nothing outside
 * hub/master/master*.c includes this. */
#ifndef JOINERY_MASTER_INT_H
#define JOINERY_MASTER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "master/engine.h"

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
    MF_SHARED_ID, /* the configured shared identifier (master_data.matching.shared_identifier) */
    MF_FIXED_COUNT
};

#define PERSON 0 /* the person kind's index in its engine */
#define MASTER_MAX_FIELDS MD_MAX_FIELDS
#define MASTER_VALUE_MAX 512   /* longest field value accepted, bytes */
#define MASTER_MAX_CONSENTS 32 /* per event */
#define MASTER_MAX_INCOMING (MF_FIXED_COUNT + MASTER_MAX_CONSENTS)
_Static_assert(MASTER_MAX_INCOMING <= MD_MAX_INCOMING, "a Person's fields fit an event");
#define MAX_POSSIBLE 3 /* steward items opened for one event */
#define MAX_XREF_VIEW MD_MAX_XREF_VIEW
#define NUM_LEN MD_NUM_LEN

enum { QS_OPEN, QS_LINKED, QS_KEPT_APART, QS_MERGED, QS_COUNT }; /* queue state */

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
    int64_t merged_us; /* when (hub time) */
    mvals_t *before;   /* owned: the survivor's block before the merge */
    moved_t *moved;    /* owned */
    size_t nmoved;
    struct merge *hnext; /* by retired */
} merge_t;

/* A field of an incoming Person the hub could not take (master_flatten): dropped, reported. */
#define MASTER_MAX_DROPPED 8
#define MASTER_DROPPED_VALUE 65 /* bytes of the value kept in a finding, with the NUL */
typedef struct {
    const char *field; /* static: a MASTER_FIELDS path */
    char value[MASTER_DROPPED_VALUE];
    char reason[160];
} mdropped_t;

/* A previous value the event itself names (an address marked "old", one of other_names):
 * master_flatten keeps its text in the incoming arena, master_prev_plan takes it. */
#define MASTER_PREV_IN 4
typedef struct {
    uint8_t kind; /* MPREV_ADDRESS or MPREV_NAME */
    const char *text;
} mprev_in_t;

/* A decoded Person takes well under this; a larger one gets a block of its own. */
#define PB_PERSON_ARENA_BLOCK 16384

struct master {
    engine_t e; /* first: an event's md_ctx_t names it, and M() finds the rest */
    match_params_t params;
    char *incoming_text; /* the event's field values (master_flatten) */
    size_t incoming_cap;
    mdropped_t dropped[MASTER_MAX_DROPPED]; /* the event's dropped fields (master_flatten) */
    size_t ndropped;
    mprev_in_t prev_in[MASTER_PREV_IN]; /* and the previous values it named */
    size_t nprev_in;
    char *shared_system; /* owned: master_data.matching.shared_identifier, NULL none */
    int64_t today_day;   /* day number of today[], -1 none (today_of) */
    char today[32];

    hmap_t *blocks; /* blocking key hash -> golden_t* (low bit 0) or block (low bit 1) */
    hmap_t *tf;     /* name frequency counts */
    uint32_t stamp;
    uint64_t nsearches, nscored; /* see master_search_counts */
    uint64_t nbounded;           /* candidates dismissed on their sketch alone */
    /* Compare candidates' previous addresses and names (master_prev.c); on unless a test turns
     * it off to see what it adds (master_set_history). */
    bool use_history;

    /* steward */
    hmap_t *queue_by_id;
    hmap_t *queue_by_pair;
    size_t nopen;
    uint64_t next_queue_id;
    hmap_t *keep_apart;
    size_t nkeep;
    hmap_t *merges; /* active merges by retired id */
    uint64_t next_merge_id;
};

/* The person engine an event's context belongs to. */
static inline master_t *M(const md_ctx_t *c)
{
    return (master_t *)c->e;
}

static inline md_kind_t *person_kind(const master_t *m)
{
    return (md_kind_t *)&m->e.kinds[PERSON];
}

/* master.c */
/* A new steward queue item's row (master_steward.c). */
extern const row_desc_t MASTER_ROW_QUEUE;
void master_today(master_t *m, int64_t now_us, char out[32]);

/* master_match.c: candidate searches */
typedef struct {
    golden_t *g;
    double score;
    int decision;
    uint8_t how;
    bool same_system; /* a LINK to a record already holding a local id of the sender's */
    uint8_t prev;     /* 0: scored on g's current values; I + 1: on entry I of g->prev */
    match_evidence_t ev;
    char why[224];
} cand_t;

typedef struct {
    master_t *m;
    match_prep_t p;        /* the record being matched, prepared once for all candidates */
    match_tf_cache_t tf;   /* the frequencies of its names, asked once (the scorers' hook) */
    match_bounder_t bound; /* and what bounds its candidates' scores */
    const golden_t *self;  /* skip (re-matching a record against the others) */
    int src;               /* sender; -1 to skip the same-system guard */
    cand_t link;           /* best LINK; link.g NULL if none */
    cand_t link2;          /* the next best LINK, another record; g NULL if none */
    cand_t poss[MAX_POSSIBLE];
    size_t nposs;
    double best;  /* best score seen, NAN if no candidate */
    bool history; /* compare previous addresses and names too (master_t.use_history) */
} search_t;

void master_search(master_t *m, const match_person_t *p, const golden_t *self, int src,
                   search_t *s);
int master_evidence_json(const master_t *m, const cand_t *c, mbuf_t *out);

/* master_steward.c */
int master_apply_steward(md_ctx_t *c, const char *action);
int master_apply_source_merge(md_ctx_t *c);
int master_sql_queue_open(md_ctx_t *c, uint64_t id, const golden_t *a, const golden_t *b,
                          const cand_t *cand);
/* person.duplicate_found to the sender, in its ids: G (which LINK found) holds another of its
 * local ids, and the event's local id joins them. */
int master_emit_duplicate(md_ctx_t *c, const golden_t *g, const cand_t *link);
/* The data-quality findings of the event's dropped fields: a row each, and person.data_quality
 * to the sender. G is the record the rest of the Person went to. */
extern const row_desc_t MASTER_ROW_FINDING;
int master_report_dropped(md_ctx_t *c, const golden_t *g);
/* "kept; dropped birth_date: ..." for the CONFIRM, into OUT; "" when nothing was dropped. */
void master_dropped_text(const master_t *m, char *out, size_t len);

/* master_fields.c */
extern const char *const MASTER_FIELDS[MF_FIXED_COUNT];
int master_field_id(master_t *m, const char *path, bool create);
/* Flattens a Person into validated, normalised fields (sorted by id). On
 * invalid content returns -1 with a reason naming the field. */
int master_flatten(master_t *m, const Joinery__V1__Person *p, const char *today, incoming_t *out,
                   size_t *n, char *why, size_t why_len);
/* A Person rebuilt from field values, for the messages the engine sends.
 * Strings point into m->e.text, so it lives until the next build. */
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
    Joinery__V1__Identifier ident;
    Joinery__V1__Identifier *idents[1];
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
/* The bytes at the end of a view's buffer that hold a postcode read from the address text. */
#define MASTER_VIEW_PC 16
/* address.home's text ("lines|TOWN|POSTCODE|UPRN") into P's address and locality, in place; a
 * postcode kept only in the text is copied into PC (MASTER_VIEW_PC bytes; may be NULL) when P
 * has none. */
void master_address_view(const char *addr, match_person_t *p, char *pc);
/* The matching view of a block; BUF holds the first forename. */
void master_match_view(const mvals_t *b, match_person_t *p, char *buf, size_t len);
void master_match_view_incoming(const incoming_t *in, size_t n, match_person_t *p, char *buf,
                                size_t len);
int master_index_add(master_t *m, golden_t *g);
void master_index_remove(master_t *m, golden_t *g);
double master_tf(void *ctx, match_field_t f, const char *value);
/* Calls FN once for each record sharing a blocking key with P, key by key
 * in match_blocking_keys' order (identifiers first), except those DISMISS
 * (may be NULL) rules out on their sketch (match_sketch_t): it
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
/* The person kind's own state, emptied with the engine's (engine_t.clear_more). */
void master_state_clear(engine_t *e);

/* master_store.c */
const char *master_queue_state_name(int s);

/* master_prev.c: previous addresses and other names ----------------------------------------- */
enum { MPREV_ADDRESS, MPREV_NAME };
#define MASTER_PREV_ADDRESSES 3 /* kept per record, newest first; the oldest is dropped */
#define MASTER_PREV_NAMES 2
/* A record's own and, within the same bounds again, those its merges brought (an unmerge takes
 * the latter away and must find the former intact). */
#define MASTER_PREV_MAX (2 * (MASTER_PREV_ADDRESSES + MASTER_PREV_NAMES))
#define MASTER_PREV_KEEP_SQL "3" /* the larger of the two, for master_load's query */
_Static_assert(MASTER_PREV_ADDRESSES <= 3 && MASTER_PREV_NAMES <= 3, "master_load keeps enough");
typedef struct {
    int64_t seen_us;  /* when the system that had sent it said it (its time) */
    int64_t until_us; /* when a newer value replaced it (hub time) */
    uint32_t off;     /* of its text from the start of the block */
    uint16_t source;  /* the system that had sent it */
    uint8_t kind;     /* MPREV_ADDRESS: address.home's text; MPREV_NAME: "forenames\nsurname" */
    uint8_t merged;   /* 1: brought by a merge (master_prev_fold), not a row of this record */
} mprev_ent_t;
/* golden_t.prev: one allocation, the entries (newest first) and then their texts. */
typedef struct mprev {
    uint32_t n, bytes;
    mprev_ent_t v[];
} mprev_t;
/* A plan's previous values: the record's next block and the rows to write. */
typedef struct {
    mprev_t *next; /* owned until commit; NULL: unchanged */
    mprev_ent_t rows[2 + MASTER_PREV_IN];
    const char *text[2 + MASTER_PREV_IN]; /* each row's value: the record's old block, NAME or
                                           * the incoming arena, all alive until commit */
    char name[2 * MASTER_VALUE_MAX + 2];  /* a replaced name's text */
    size_t nrows;
} mprev_plan_t;
extern const row_desc_t MASTER_ROW_PREVIOUS;
size_t master_prev_count(const mprev_t *p); /* 0 for NULL */
const char *master_prev_text(const mprev_t *p, size_t i);
/* P (the record's current view) with entry I in place of its address or its name. BUF (LEN
 * bytes) holds what the view points at. */
void master_prev_view(const mprev_t *pv, size_t i, match_person_t *p, char *buf, size_t len);
/* CUR (the record's preparation) with entry I in place of its address or its name. */
void master_prev_prep(const match_prep_t *cur, const mprev_t *pv, size_t i, match_prep_t *out);
/* "address matched a previous address, from crm, until 2026-03-01" */
void master_prev_describe(const master_t *m, const mprev_t *pv, size_t i, char *out, size_t len);
/* After the fields are planned: the address or name the plan replaces, kept. */
int master_prev_plan(md_ctx_t *c, md_plan_t *p, mprev_plan_t *pp);
int master_prev_write(md_ctx_t *c, const golden_t *g, const mprev_plan_t *pp);
/* Merges. A merge gives the survivor, as previous values, the retired record's previous values
 * and the address and name either record held that the merged record does not: the one person
 * was known by them. They are derived from the merge (golden_merge), never rows of their own:
 * an unmerge takes them away and master_load folds them in again.
 * S's previous values (OWN) after R is merged into it, BEFORE and AFTER being S's blocks either
 * side of the merge, at AT_US: *OUT is a new block (NULL: none), owned by the caller. */
int master_prev_fold(const mprev_t *own, const golden_t *r, const mvals_t *before,
                     const mvals_t *after, int64_t at_us, mprev_t **out);
/* S's previous values without what merges brought, then every merge into S but SKIP folded
 * again in the order they were made, against S's block AFTER. *OUT as above. */
int master_prev_unfold(const master_t *m, const golden_t *s, const merge_t *skip,
                       const mvals_t *after, mprev_t **out);
/* At load, once every record, merge and previous value is in: every standing merge folded into
 * its survivor, oldest first. -1 out of memory. */
int master_prev_fold_all(master_t *m);
/* One loaded row (oldest first): -1 out of memory. */
int master_prev_add(golden_t *g, int kind, const char *text, int source, int64_t seen_us,
                    int64_t until_us);

#endif
