/* matching.h - private to bench_matching: the types every part shares and what each part offers
 * the others. The parts, in the order a run goes through them:
 *
 *   util.c        randomness, weighted tables, hashing and sets, string and date helpers
 *   names.c       the data tables: origins, surnames, forenames, nicknames, towns, streets
 *   population.c  the people and their households, places, identifiers and contacts
 *   noise.c       each system's view of the people, with the noise its records carry
 *   stats.c       --stats and --csv: what the generator made
 *   load.c        publishing the records (and with --entities addresses and cases) to the hub
 *   probe.c       clocks, CPU, memory and PostgreSQL counters around the load
 *   evaluate.c    the outcome read back from PostgreSQL, against the ground truth
 *   external.c    --external: another's data set (splink, FEBRL-style) loaded and scored
 *   main.c        the command line and the run
 */
#ifndef BENCH_MATCHING_H
#define BENCH_MATCHING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

/* ------------------------------------------------------------------------------------------ */
/* Configuration                                                                               */

#define MAX_SYSTEMS 3
#define NAME_LEN 40
#define EMAIL_LEN 72
#define REF_YEAR 2025 /* ages are taken on 1 July of this year */
#define FIRST_YEAR 1930
#define LAST_YEAR 2024

typedef struct {
    size_t people;
    uint64_t seed;
    int systems;
    bool stats, eval_only, entities;
    /* --moves: before the loads, each system that holds a person's current address while
     * another system still has the address they left first sends them at that old address. */
    bool moves;
    /* --shared-id: FEBRL's soc_sec_id is sent as an identifier of the system SHARED_ID_SYSTEM,
     * which the hub is configured to compare (master_data.matching.shared_identifier). */
    bool shared_id;
    const char *csv;
    const char *endpoint, *keys, *pg;
    long hub_pid, pg_pid;
    /* External data (external.c): the files, their format and how they are spread over the
     * systems. */
    const char *external[MAX_SYSTEMS];
    int n_external;
    const char *format, *layout;
    const char *outcome; /* --outcome FILE: every external record and where it went */
    /* Population shape (fractions). */
    double in_a, b_given_a, in_c, namesakes, twin_rate;
} options_t;

/* ------------------------------------------------------------------------------------------ */
/* util.c                                                                                       */

/* Deterministic randomness: xoshiro256** seeded through splitmix64. Independent streams (the
 * population, each system's view, the load order) so that changing one system's noise does not
 * change the people. */
typedef struct {
    uint64_t s[4];
} rng_t;

/* Cumulative weights, drawn by binary search. */
typedef struct {
    double *cum;
    uint32_t *item; /* what each slot stands for */
    size_t n;
} wtable_t;

/* Open-addressing set of non-zero 64-bit keys. */
typedef struct {
    uint64_t *k;
    size_t cap, n;
} u64set_t;

/* String -> dense index (0, 1, 2, ... in order of first sight); keys are copied. */
typedef struct {
    char **keys; /* by slot */
    uint32_t *idx;
    size_t cap, n;
} strmap_t;

uint64_t mix(uint64_t a, uint64_t b);
void rng_seed(rng_t *r, uint64_t seed, uint64_t stream);
double rng_unit(rng_t *r);
uint32_t rng_below(rng_t *r, uint32_t n);
int rng_range(rng_t *r, int lo, int hi); /* inclusive */
bool chance(rng_t *r, double p);
double rng_normal(rng_t *r);

int wtable_init(wtable_t *t, size_t cap);
int wtable_add(wtable_t *t, size_t cap, uint32_t item, double w);
uint32_t wtable_draw(const wtable_t *t, rng_t *r);
void wtable_free(wtable_t *t);

uint64_t fnv1a(const void *p, size_t n);
int cmp_u64(const void *a, const void *b);
int cmp_str(const void *a, const void *b); /* over const char * */
int u64set_add(u64set_t *s, uint64_t key);
bool u64set_has(const u64set_t *s, uint64_t key);
void u64set_free(u64set_t *s);
long strmap_get(strmap_t *m, const char *key, bool add);
void strmap_free(strmap_t *m);

void copy_str(char *dst, size_t cap, const char *src);
void ascii_upper(char *s);
void ascii_lower(char *s);
bool is_alpha(char c);
void letters_lower(char *dst, size_t cap, const char *src);
bool word_in(const char *list, const char *word);
size_t nth_word(const char *list, size_t i, char *out, size_t cap);

bool date_ok(int y, int m, int d);
void format_date(char out[11], int y, int m, int d);
void random_day(rng_t *r, int y, int8_t *m, int8_t *d);

/* ------------------------------------------------------------------------------------------ */
/* names.c                                                                                      */

enum {
    O_BRIT,
    O_IRISH,
    O_CARIB,
    O_PAK,
    O_BANG,
    O_SIKH,
    O_HINDU,
    O_POLISH,
    O_CHINESE,
    O_WAFR,
    O_COUNT
};

/* Forename pools; an origin draws from its own pool with origin_own_pool probability and from
 * the British pool otherwise (second-generation children mostly). */
enum { P_BRIT, P_IRISH, P_CARIB, P_MUSLIM, P_SIKH, P_HINDU, P_POLISH, P_CHINESE, P_WAFR, P_COUNT };

typedef struct {
    const char *name, *alt;          /* alt: spelling with diacritics, or NULL */
    const char *female, *female_alt; /* the form women use, or NULL for the same */
    float female_p;                  /* how often women use the female form */
    uint8_t origin;
    float per100k; /* 0: follows the Zipf tail from its rank */
} surname_t;

typedef struct {
    const char *name, *alt; /* alt: diacritics, or NULL */
    uint8_t sex;            /* 1 male, 2 female, 3 either */
    uint8_t pool;
    int16_t peak; /* year of greatest popularity */
    uint8_t width;
    uint8_t weight;
} forename_t;

#define N_DECADES 10 /* 1930s .. 2020s */

typedef struct {
    const char *name, *county, *area;
    uint8_t lo, hi; /* outward district numbers */
    uint16_t weight;
} town_t;

#define N_TOWNS 7

extern const char *const origin_name[O_COUNT];
extern const uint8_t origin_pool[O_COUNT];
extern const double origin_own_pool[O_COUNT], origin_share[O_COUNT], origin_takes_name[O_COUNT];
extern const surname_t listed_surnames[];
extern const char *const tail_first[], *const tail_mid[], *const tail_last[];
extern const forename_t forenames[];
extern const char *const nicknames[], *const given_variants[], *const surname_variants[];
extern const char *const twin_paired[][2], *const twin_similar_m[][2], *const twin_similar_f[][2];
extern const town_t towns[]; /* N_TOWNS of them */
extern const char *const street_stems[], *const street_types[][2];
extern const char INWARD_LETTERS[];
extern const char *const email_domains[];
extern const unsigned email_domain_weight[];
extern const char *const qwerty_near[26];
/* How many entries each table above without a fixed size has. */
extern const size_t n_listed, n_tail_first, n_tail_mid, n_tail_last, n_forenames, n_nicknames,
    n_given_variants, n_surname_variants, n_twin_paired, n_twin_similar_m, n_twin_similar_f,
    n_street_stems, n_street_types, n_email_domains;

/* ------------------------------------------------------------------------------------------ */
/* population.c                                                                                 */

enum { SEX_M = 1, SEX_F = 2 };

enum { /* person flags: why this person is interesting */
       PF_TWIN = 1,
       PF_TWIN_PAIRED = 2,  /* boy/girl twins named Alexander/Alexandra */
       PF_TWIN_SIMILAR = 4, /* twins named Jack/Jake */
       PF_JUNIOR = 8,       /* shares a forename with a parent in the household */
       PF_NAMESAKE = 16,    /* made as a copy of another person's name and birth date */
       PF_HYPHEN = 32,      /* double-barrelled surname */
       PF_SHARED_PHONE = 64 /* a child whose record carries a parent's mobile */
};

enum {
    HH_SINGLE,
    HH_COUPLE,
    HH_FAMILY,
    HH_LONE_PARENT,
    HH_THREE_GEN,
    HH_SHARERS,
    HH_NAMESAKE,
    HH_COUNT
};

typedef struct {
    uint16_t town;
    uint16_t number;
    uint32_t street;
} place_t;

typedef struct {
    char given[NAME_LEN], given_alt[NAME_LEN], middle[NAME_LEN];
    char family[NAME_LEN], family_alt[NAME_LEN];
    char maiden[NAME_LEN], maiden_alt[NAME_LEN]; /* surname before marriage; "" if unchanged */
    char nhs[11], ni[10], phone[12], email[EMAIL_LEN];
    place_t home;
    uint32_t household;
    int32_t twin, namesake_of; /* person index, or -1 */
    int16_t by;
    int8_t bm, bd;
    uint8_t sex, origin, systems, flags;
} person_t;

/* The population: its people and the tables they are drawn from. */
typedef struct {
    const options_t *opt;
    rng_t rng;
    /* Surnames: the listed ones, then the generated tail. */
    surname_t *sur;
    size_t nsur;
    char *tail_names; /* storage of the tail's names */
    wtable_t sur_all, sur_origin[O_COUNT];
    wtable_t fore[P_COUNT][2][N_DECADES];
    wtable_t adult_year, town_pick;
    uint32_t streets_per_town[N_TOWNS];
    uint64_t *freq_key; /* listed surnames (and female forms) by name hash, sorted */
    float *freq_val;    /* their frequency per 100,000 */
    size_t nfreq;
    person_t *p;
    size_t n;
    uint32_t households, hh_count[HH_COUNT];
    u64set_t used_nhs, used_ni, used_phone, used_email, used_place;
} pop_t;

static inline int age_at_ref(int by)
{
    return REF_YEAR - by;
}

int build_tables(pop_t *pop);
int make_household(pop_t *pop);
void assign_systems(pop_t *pop);
void pop_free(pop_t *pop);
int decade_of(int year);
void place_postcode(uint64_t seed, const place_t *pl, char out[9]);
uint64_t place_uprn(uint64_t seed, const place_t *pl);
void place_line(uint64_t seed, const place_t *pl, bool abbreviate, char *out, size_t cap);
place_t previous_place(const pop_t *pop, size_t i);
int new_phone(rng_t *r, u64set_t *used, char out[12]);
int new_email(rng_t *r, const person_t *p, u64set_t *used, char *dst);

/* ------------------------------------------------------------------------------------------ */
/* noise.c                                                                                      */

/* A council system: its adapter name and local ids, what it records and how noisily. */
typedef struct {
    const char *adapter, *id_prefix, *id_system;
    unsigned id_base;
    /* Fields the system records when the person has them. */
    double keep_nhs, keep_ni, keep_phone, keep_email, keep_uprn, keep_middle, keep_sex, keep_dob,
        keep_prefix;
    /* Noise, each the chance per record where it can apply. */
    double surname_typo, given_typo, nickname, given_spelling, surname_spelling, dob_swap, dob_typo,
        moved, maiden, maiden_other, pc_lower, pc_nospace, upper, lower, apostrophe, accents_kept,
        hyphen_part, sex_wrong, phone_intl, phone_changed, email_changed, abbrev, nhs_spaced,
        ni_spaced;
} profile_t;

enum { /* noise applied to a record, for statistics and for explaining a false merge */
       N_SURNAME_TYPO,
       N_GIVEN_TYPO,
       N_NICKNAME,
       N_GIVEN_SPELLING,
       N_SURNAME_SPELLING,
       N_DOB_SWAP,
       N_DOB_TYPO,
       N_DOB_MISSING,
       N_MOVED,
       N_MAIDEN,
       N_PC_FORMAT,
       N_CASE,
       N_APOSTROPHE,
       N_ASCII,
       N_HYPHEN_PART,
       N_MIDDLE_DROPPED,
       N_SEX_MISSING,
       N_SEX_WRONG,
       N_NHS_MISSING,
       N_PHONE_INTL,
       N_PHONE_CHANGED,
       N_EMAIL_CHANGED,
       N_ABBREV,
       N_COUNT
};

extern const char *const noise_name[N_COUNT];

#define SHARED_ID_SYSTEM "urn:joinery:bench:soc-sec-id"

/* One record as a system holds it. */
typedef struct {
    uint32_t person;
    uint32_t noise; /* 1 << N_* */
    uint8_t sex;    /* Joinery__V1__AdministrativeSex; 0 unspecified */
    char given[NAME_LEN], middle[NAME_LEN], family[NAME_LEN], maiden[NAME_LEN], prefix[8];
    char birth[16], nhs[14], ni[14];
    char line[64], line2[64];                          /* line2: external data's second line only */
    char town[32], county[24], postcode[10], uprn[24]; /* UPRN: 12 digits at most */
    char phone[18], email[EMAIL_LEN];
    char shared_id[24]; /* external data's identifier shared by all systems (--shared-id) */
} record_t;

/* One system's records (its view of the population) and the noise it applied. */
typedef struct {
    const profile_t *pf;
    record_t *rec;
    size_t n;
    int32_t *of_person; /* person -> record index, -1 if the system does not hold them */
    size_t applicable[N_COUNT], applied[N_COUNT];
} view_t;

int build_view(const pop_t *pop, int sys, view_t *v);
const profile_t *system_profile(int sys);
/* Record IDX of V as its system held it before the person told it of their move: the same
 * record at the address they left (previous_place), written out plainly. */
void record_before_move(const pop_t *pop, const view_t *v, size_t idx, record_t *out);
/* Does V's record IDX hold the person's current address while a record of theirs in another
 * of VIEWS (NSYS) still has the address they left? */
bool moved_elsewhere(const view_t *views, int nsys, int sys, size_t idx);
void view_free(view_t *v);
void local_id(const profile_t *pf, size_t idx, char *out, size_t cap);
void noise_text(uint32_t noise, char *out, size_t cap);

/* ------------------------------------------------------------------------------------------ */
/* stats.c                                                                                      */

double pct(size_t a, size_t b);
const char *sex_text(int sex);
void print_stats(const pop_t *pop, const view_t *views, int nsys);
int write_csv(const char *path, const pop_t *pop, const view_t *views, int nsys);

/* ------------------------------------------------------------------------------------------ */
/* probe.c                                                                                      */

/* The hub's database, when --pg names it (conn NULL otherwise). */
typedef struct {
    PGconn *conn;
} pq_t;

/* PostgreSQL's WAL counters (pg_stat_wal) and its checkpoints so far; all -1 if unknown. */
typedef struct {
    long long records, fpi, bytes, checkpoints;
} walstat_t;

double mono_s(void);
double proc_cpu_s(long pid);
double main_thread_cpu_s(long pid);
double tree_cpu_s(long pid);
double per_event_us(double cpu_s, size_t events);
double self_cpu_s(void);
double steal_s(void);
int read_rss(long pid, long *rss_kib, long *hwm_kib);

int pq_open(pq_t *pq, const char *conninfo);
void pq_close(pq_t *pq);
PGresult *pq_query(pq_t *pq, const char *sql);
long long pq_count(pq_t *pq, const char *sql);
walstat_t pg_wal(pq_t *pq);
long long pg_rows(pq_t *pq);

/* ------------------------------------------------------------------------------------------ */
/* load.c                                                                                       */

#define TALLY_WHY 32 /* distinct refusal reasons counted; the rest are "other" */

/* The confirmations of one load, with the first few reasons for a refusal and how many events
 * each distinct reason refused. */
typedef struct {
    size_t ok, duplicate, rejected, unconfirmed, with_master;
    char reasons[5][200];
    size_t nreasons;
    struct {
        char text[200];
        size_t n;
    } why[TALLY_WHY + 1];
    size_t nwhy;
} tally_t;

int load_view(const options_t *opt, const view_t *v, tally_t *t, double *seconds);
/* --moves: publishes, as system SYS, the records moved_elsewhere picks, at the address the person
 * left (record_before_move); *SENT of them. */
int load_before_moves(const options_t *opt, const pop_t *pop, const view_t *views, int nsys,
                      int sys, tally_t *t, double *seconds, size_t *sent);
int load_and_check_entities(const options_t *opt, pq_t *pq, const view_t *views, int nsys);

/* ------------------------------------------------------------------------------------------ */
/* evaluate.c                                                                                   */

/* What the hub made of the records, as PostgreSQL holds it (read_outcome). */
typedef struct {
    int32_t *cluster[MAX_SYSTEMS]; /* golden record (after redirects) per record; -1: no xref */
    uint8_t *state[MAX_SYSTEMS], *how[MAX_SYSTEMS];
    double *score[MAX_SYSTEMS]; /* NAN when NULL */
    strmap_t ids;               /* master id -> index */
    int32_t *redirect;          /* index -> index it was merged into, or -1 */
    size_t xref_rows, foreign_rows;
    /* Cluster membership: members[start[c] .. start[c+1]) = person << 2 | system. */
    uint32_t *start;
    uint64_t *members;
    /* Steward queue. */
    int32_t *qa, *qb;
    double *qscore;
    bool *qopen;
    size_t nq;
    u64set_t qpairs; /* (min cluster, max cluster) of open items */
} outcome_t;

/* One system's load: its rate, its confirmations and what it cost the hub and PostgreSQL. */
typedef struct {
    double seconds;
    size_t events;
    tally_t tally;
    long long golden, queue_open;
    long rss_kib, hwm_kib;
    double hub_cpu, core_cpu, pg_cpu, bench_cpu; /* CPU seconds during the load */
    long long rows;                              /* rows added to the hub's tables */
    walstat_t wal;                               /* WAL written during the load */
    double steal;                                /* CPU seconds the hypervisor took */
    bool loaded;
} phase_t;

int read_outcome(pq_t *pq, const view_t *views, int nsys, outcome_t *o);
int evaluate(const pop_t *pop, const view_t *views, int nsys, const outcome_t *o,
             const phase_t *phases);
void outcome_free(outcome_t *o);

/* ------------------------------------------------------------------------------------------ */
/* external.c                                                                                   */

int external_run(const options_t *opt);

#endif
