/* match.h - probabilistic person matching (Fellegi-Sunter) for Joinery's golden resident record.
 *
 * This is the pure scoring layer: string comparators, phonetic keys, per-field comparison levels,
 * match weights, the link/steward/non-link decision, blocking keys and EM training of the m/u
 * probabilities. Candidate indexes and storage live elsewhere. Nothing here allocates on the
 * scoring path, so it is safe to call from hot loops over candidate blocks.
 *
 * Precision beats recall throughout: a wrong merge of two different people (twins, a parent and
 * child with the same name) is the worst outcome in social care, whereas a missed link only leaves
 * a duplicate for a data steward to find.
 */
#ifndef JOINERY_MATCH_H
#define JOINERY_MATCH_H

#include <stddef.h>
#include <stdint.h>

/* String similarity, ASCII case-insensitive; returns 0.0..1.0.
 * Winkler's original variant: prefix scale 0.1, prefix capped at 4, and the prefix boost only
 * applied when the Jaro score exceeds 0.7. Only the first MATCH_JW_MAX_LEN characters of each
 * string are compared (longer values are not names). */
#define MATCH_JW_MAX_LEN 128
double match_jaro_winkler(const char *a, const char *b);

/* Phonetic key: the PRIMARY key of Lawrence Philips' Double Metaphone (C/C++ Users Journal, June
 * 2000), truncated to the customary 4 characters, computed on the upper-cased ASCII letters of the
 * name (hyphens and blanks become word breaks, other characters are dropped). "0" stands for "th".
 * Examples: Smith/Smyth -> SM0, Catherine/Kathryn -> K0RN, Schmidt -> XMT, Knowles -> NLS.
 * Known miss worth remembering: Thompson -> TMPS but Thomson -> TMSN (the silent p is coded), which
 * is why names also have Jaro-Winkler levels ranked above the phonetic one.
 * out receives at most out_len - 1 characters plus NUL; out_len >= 8 is recommended. A name with no
 * letters gives "". */
#define MATCH_PHONETIC_LEN 4
void match_phonetic(const char *name, char *out, size_t out_len);

/* Nickname/diminutive equivalence for British forenames, ASCII case-insensitive, ignoring
 * non-letters. Returns 1 when both names are in one diminutive group (William/Bill/Will,
 * Elizabeth/Liz/Beth/Betty, Margaret/Maggie/Peggy, ...) or are the same name; 0 otherwise, and 0 if
 * either is empty. Shared diminutives do not chain: Alex matches both Alexander and Alexandra, but
 * Alexander does not match Alexandra (boy/girl twins). */
int match_is_nickname(const char *a, const char *b);

/* 1 if nhs is a plausible NHS number: 10 digits (spaces/hyphens ignored), valid modulus-11 check
 * digit, and not a single repeated digit (0000000000 passes the checksum but is a placeholder). */
int match_nhs_number_valid(const char *nhs);

typedef struct {            /* the fields compared; any may be NULL or "" meaning missing */
    const char *nhs_number; /* 10 digits */
    const char *ni_number;
    const char *given;      /* forename */
    const char *family;     /* surname */
    const char *birth_date; /* YYYY-MM-DD */
    const char *sex;        /* "male" "female" "other" "unknown" */
    const char *postcode;   /* normalised "SW1A 1AA" */
    const char *phone;
    const char *email;
    /* The home address's lines, one per line ("12 High St\nFlat 2"), and its town or locality.
     * Each is read up to a NUL or a '|', so the hub passes its stored "lines|TOWN|POSTCODE|UPRN"
     * text and a pointer past its first '|' without copying. */
    const char *address;
    const char *locality;
    /* An identifier every system records alike for one person (the hub's configured
     * master_data.matching.shared_identifier: a council's own person number, say); compared
     * exactly, letters and digits only, case folded. */
    const char *shared_id;
} match_person_t;

/* A person's fields as the comparisons use them, normalised and parsed once (match_prepare): the
 * hub keeps one per golden record and makes one per incoming event, so scoring a candidate
 * compares values instead of deriving them again for every pair. It holds copies, no pointers
 * into the person; every score and decision below is defined on it, and the match_person_t entry
 * points prepare both sides and call the _prep ones. */
#define MATCH_NAME_BUF 64     /* normalised name, letters and NUL; longer names are cut here */
#define MATCH_PHONE_BUF 24    /* normalised phone number and NUL */
#define MATCH_STREET_BUF 24   /* normalised street and NUL; enough to tell streets apart */
#define MATCH_STREET_WORDS 3  /* street words kept as hashes for "a word in common" */
#define MATCH_LOCALITY_BUF 20 /* normalised locality and NUL */
typedef struct {
    char given[MATCH_NAME_BUF], family[MATCH_NAME_BUF]; /* match_norm_name; "" missing */
    char given_ph[8], family_ph[8];                     /* match_phonetic of those */
    unsigned char given_len, family_len;                /* their lengths */
    char birth[11];              /* the valid YYYY-MM-DD date as given; "" missing or not a date */
    int16_t by;                  /* its year (four digits), */
    unsigned char bm, bd;        /* month and day */
    int32_t bdays;               /* and its day number, for "within a month" */
    char pc_full[9];             /* postcode, upper case, "SW1A 1AA" ("" none) */
    char pc_sector[7];           /* "SW1A 1"; these three "" unless the shape is a UK postcode */
    char pc_outward[5];          /* "SW1A" */
    char pc_area[3];             /* "SW" */
    char phone[MATCH_PHONE_BUF]; /* digits, +44 folded to 0; "" missing */
    unsigned long long email_hash;  /* of the lower-cased address; 0 with has_email 0 */
    unsigned long long shared_hash; /* of the normalised shared identifier; 0 none */
    char nhs[11];                   /* a valid NHS number's 10 digits; "" none */
    char ni[9], ni_suffix;          /* a valid NI number's core and suffix; "" none */
    unsigned short nick_at, nick_n; /* the forename's entries in the nickname index */
    unsigned short gend_at, gend_n; /* and in the opposite-sex forms index */
    unsigned char sex;              /* 1 male, 2 female, 3 other, 0 missing */
    unsigned char has_email;
    /* The address as compared (match_prepare): the house number ("12A"), the street's words with
     * street types folded ("HIGH ST", "ACACIA AVE"; at most MATCH_STREET_BUF - 1 letters), 16-bit
     * hashes of its first words other than the street type (0: none), and the locality's letters.
     * "" when missing. */
    char house[6];
    char street[MATCH_STREET_BUF];
    uint16_t street_word[MATCH_STREET_WORDS];
    char locality[MATCH_LOCALITY_BUF];
} match_prep_t;

void match_prepare(const match_person_t *p, match_prep_t *out); /* p NULL: everything missing */

typedef enum {
    MATCH_FIELD_GIVEN,
    MATCH_FIELD_FAMILY,
    MATCH_FIELD_BIRTH,
    MATCH_FIELD_SEX,
    MATCH_FIELD_POSTCODE,
    MATCH_FIELD_PHONE,
    MATCH_FIELD_EMAIL,
    MATCH_FIELD_ADDRESS,  /* house number and street */
    MATCH_FIELD_LOCALITY, /* town, suburb or village */
    MATCH_FIELD_COUNT
} match_field_t;

/* Comparison levels per field, best first. Level 0 is always "missing on either side" (weight 0).
 * Values that cannot be parsed (a birth date that is not a real YYYY-MM-DD date, a phone number
 * with fewer than 7 digits, an email without '@', sex "unknown") count as missing. Forenames that
 * are opposite-sex forms of one name (Alexander/Alexandra, Daniel/Danielle, Louis/Louise) compare
 * as DIFFERENT however similar they look: that is how boy/girl twins are named. */
/* MATCH_FIELD_GIVEN */
enum {
    MATCH_GIVEN_MISSING,
    MATCH_GIVEN_EXACT,
    /* Forename and surname agree only crosswise (one side's forename is the other's surname, one of
     * the two exactly, the other at least at jw>=0.80): a record keyed with its names in the wrong
     * boxes. The surname's level is then the crosswise one. */
    MATCH_GIVEN_SWAPPED,
    MATCH_GIVEN_NICKNAME,
    MATCH_GIVEN_JW92, /* Jaro-Winkler >= 0.92 */
    MATCH_GIVEN_JW80, /* Jaro-Winkler >= 0.80 */
    MATCH_GIVEN_PHONETIC,
    MATCH_GIVEN_DIFFERENT,
    MATCH_GIVEN_NLEVELS
};
/* MATCH_FIELD_FAMILY: as given, without the nickname level */
enum {
    MATCH_FAMILY_MISSING,
    MATCH_FAMILY_EXACT,
    MATCH_FAMILY_JW92,
    MATCH_FAMILY_JW80,
    MATCH_FAMILY_PHONETIC,
    MATCH_FAMILY_DIFFERENT,
    MATCH_FAMILY_NLEVELS
};
/* MATCH_FIELD_BIRTH */
enum {
    MATCH_BIRTH_MISSING,
    MATCH_BIRTH_EXACT,
    MATCH_BIRTH_TRANSPOSED,   /* day and month swapped, same year */
    MATCH_BIRTH_TYPO,         /* exactly one digit differs (year, month or day) */
    MATCH_BIRTH_WITHIN_MONTH, /* no more than 31 days apart */
    MATCH_BIRTH_SAME_YEAR,
    MATCH_BIRTH_DIFFERENT,
    MATCH_BIRTH_NLEVELS
};
/* MATCH_FIELD_POSTCODE */
enum {
    MATCH_POSTCODE_MISSING,
    MATCH_POSTCODE_EXACT,
    MATCH_POSTCODE_SECTOR,   /* outward code + first inward digit, "SW1A 1" */
    MATCH_POSTCODE_DISTRICT, /* outward code, "SW1A" */
    MATCH_POSTCODE_AREA,     /* the outward code's leading letters, "SW" (roughly one city) */
    MATCH_POSTCODE_DIFFERENT,
    MATCH_POSTCODE_NLEVELS
};
/* MATCH_FIELD_ADDRESS: the house number and the street as match_prep_t holds them. A street alone
 * (no number on either side, a number on only one) never reaches EXACT or SAME_HOUSE. */
enum {
    MATCH_ADDRESS_MISSING,    /* no street on one side */
    MATCH_ADDRESS_EXACT,      /* same number, same street */
    MATCH_ADDRESS_SAME_HOUSE, /* same number, street jw>=0.88 or a street word in common */
    MATCH_ADDRESS_STREET,     /* street jw>=0.88, number missing on one side or both */
    MATCH_ADDRESS_NEIGHBOUR,  /* street jw>=0.88, another number */
    MATCH_ADDRESS_WORD,       /* only a street word in common */
    MATCH_ADDRESS_DIFFERENT,
    MATCH_ADDRESS_NLEVELS
};
/* MATCH_FIELD_LOCALITY */
enum {
    MATCH_LOCALITY_MISSING,
    MATCH_LOCALITY_EXACT,
    MATCH_LOCALITY_SIMILAR, /* jw>=0.88: a typo */
    MATCH_LOCALITY_DIFFERENT,
    MATCH_LOCALITY_NLEVELS
};
/* MATCH_FIELD_SEX, MATCH_FIELD_PHONE, MATCH_FIELD_EMAIL */
enum { MATCH_BINARY_MISSING, MATCH_BINARY_EXACT, MATCH_BINARY_DIFFERENT, MATCH_BINARY_NLEVELS };

#define MATCH_MAX_LEVELS 8
typedef struct {
    int nlevels[MATCH_FIELD_COUNT];
    double m[MATCH_FIELD_COUNT][MATCH_MAX_LEVELS]; /* P(level | same person) */
    double u[MATCH_FIELD_COUNT][MATCH_MAX_LEVELS]; /* P(level | different people) */
    double upper; /* total weight at or above which pairs link automatically */
    double lower; /* below which they are a non-match; between -> steward queue */
    /* log2(m/u) per level, for scoring without a logarithm per field per candidate. Filled by
     * match_params_freeze and used only while `frozen` is set: change m or u afterwards and
     * freeze again (or clear `frozen`). */
    double w[MATCH_FIELD_COUNT][MATCH_MAX_LEVELS];
    int frozen;
} match_params_t;

/* m and u are distributions over levels 1..nlevels-1; level 0 (missing) is not modelled and its
 * entries are left at 0. */
void match_params_default(match_params_t *p); /* sensible defaults for a UK population */
/* V written as snprintf's "%.1f" would (the reasons' "score 31.4"), returns its length. */
#define MATCH_TENTHS_LEN 48
int match_tenths(double v, char out[MATCH_TENTHS_LEN]);
/* V as snprintf's "%.17g" writes it (every bit of a score, for the database), into OUT, which
 * holds MATCH_G17_LEN; NULL (OUT untouched) if V is not finite. Scores are written with every
 * event, and %.17g is the slowest thing printf does. */
#define MATCH_G17_LEN 32
const char *match_g17(double v, char out[MATCH_G17_LEN]);
/* Computes p->w from m and u and sets p->frozen; scores are the same to the bit, only faster. */
void match_params_freeze(match_params_t *p);
/* Comparison level of field f, one of the enums above; -1 if f is not a field. NULL a or b counts
 * as missing. */
int match_level(match_field_t f, const match_person_t *a, const match_person_t *b);
/* "exact", "jw>=0.92", ...; "invalid" for an out-of-range field or level. */
const char *match_level_name(match_field_t f, int level);
const char *match_field_name(match_field_t f); /* "given", "family", ...; "invalid" otherwise */

typedef struct {
    int level[MATCH_FIELD_COUNT];
    double weight[MATCH_FIELD_COUNT]; /* log2(m/u), with term-frequency adjustment applied for exact
                                         names */
    double total;
} match_evidence_t;

/* Term-frequency lookup: the fraction of the population with this exact value for a name field
   (e.g. "SMITH" ~ 0.0126), or a locality for MATCH_FIELD_LOCALITY. Return a negative number if
   there is no table to ask (too small a population for frequencies to mean anything), and exactly 0
   if the table is live and no record has the value -- match_decide reads that as "a forename nobody
   has", i.e. a typo. May be NULL (no frequencies). The value passed is the normalised name
   (match_norm_name). */
typedef double (*match_tf_fn)(void *ctx, match_field_t f, const char *value);

/* The normalised form of a name used for comparison and for the frequency hook: upper-case ASCII
   letters only, with Latin diacritics folded to their base letter ("O'Brien" -> "OBRIEN",
   "Wiśniewski" -> "WISNIEWSKI", "Æthel" -> "AETHEL"); other characters are dropped. Writes at most
   out_len - 1 letters plus NUL and returns how many (0: no letters, the name counts as missing). */
size_t match_norm_name(const char *name, char *out, size_t out_len);

/* The frequencies of one person's names, asked once, for a caller that scores that person against
 * many candidates while the frequencies stand still (the hub's candidate search). It lives with
 * the event, not in match_prep_t: the hub keeps a preparation per golden record, and a golden
 * record is never the side whose frequencies are asked. */
typedef struct {
    match_tf_fn tf; /* the hook asked; NULL: none (match_tf_cached answers -1, "no table") */
    void *tf_ctx;
    const match_prep_t *p; /* whose names: P's own fields, by address, are answered from here */
    double given, family, locality;
} match_tf_cache_t;
/* Asks TF once for each of P's names that is not missing. P must stay where it is, unchanged,
 * while the cache is used. */
void match_tf_cache_init(match_tf_cache_t *c, const match_prep_t *p, match_tf_fn tf, void *tf_ctx);
/* A match_tf_fn, with the cache as its context: P's own names from the cache, any other value
 * from the hook. Scores and decisions are the same as with the hook itself. */
double match_tf_cached(void *cache, match_field_t f, const char *value);

/* Frequencies below this are clamped up to it before the TF adjustment: a council-sized frequency
 * table cannot resolve rarer values, and one invented spelling must not dominate the total. */
#define MATCH_TF_FLOOR 1e-5
/* Forenames are clamped higher. Forename and surname are not independent: families of one origin
 * draw both from one pool (Szymon Kaminski, Ciara Gallagher, Errol Blackwood), so a forename rare
 * in the whole population is far less rare among people with that surname, and adding its
 * population weight to the surname's counts the shared origin twice. The scorer has no joint
 * frequencies, so it only caps the damage: below 1 in 1,000 (a name of middling popularity in the
 * whole population) a forename counts as that, at most ~9.7 bits, never the ~16 a unique one would
 * claim. Namesakes of such names were the false merges before this floor. */
#define MATCH_TF_GIVEN_FLOOR 1e-3
/* Localities are frequency-adjusted too: a town where a fifth of the hub's residents live says
 * little, a suburb of a few hundred says much (u is one number for every town, and hubs serve one
 * city or a hundred suburbs). Clamped like forenames: a locality no more than 1 in 1,000 residents
 * share counts as that (~9.6 bits), since a place is shared by households, not drawn anew for each
 * person. */
#define MATCH_TF_LOCALITY_FLOOR 1e-3

/* Score a candidate pair: fills evidence (ev may be NULL), returns total weight. For an EXACT name
 * agreement with known frequency tf, use the TF-adjusted weight log2(m / tf) instead of
 * log2(m / u) -- so Smith agreeing counts for less than Featherstonehaugh agreeing. */
double match_score(const match_params_t *p, const match_person_t *a, const match_person_t *b,
                   match_tf_fn tf, void *tf_ctx, match_evidence_t *ev);
double match_score_prep(const match_params_t *p, const match_prep_t *a, const match_prep_t *b,
                        match_tf_fn tf, void *tf_ctx, match_evidence_t *ev);

/* Extra weight, over upper, that a pair needs when nothing but names, birth date and sex tie it
 * together: postcode missing or in another postcode area, and no phone or e-mail alike. Such are
 * namesakes (see match_decide). 3 bits is an eightfold stronger likelihood ratio. */
#define MATCH_UNCORROBORATED_MARGIN 3.0

typedef enum { MATCH_DECISION_NONE, MATCH_DECISION_POSSIBLE, MATCH_DECISION_LINK } match_decision_t;
/* Deterministic rules first: same valid NHS number -> LINK (unless birth dates are present and
   DIFFERENT beyond transposition/typo, which makes it POSSIBLE -- a shared NHS number with a
   different person's DOB is a data-quality problem for a steward); same NI number and same birth
   date -> LINK. Otherwise thresholds on the score. Different NHS numbers both present -> NONE (two
   people), whatever the score. Writes a short reason (why may be NULL).
   Precision guard on the score path: a pair at or above `upper` is only linked automatically when
   - both forenames are present and agree at least at jw>=0.92 (nickname and swapped count), or
     only loosely (jw>=0.80, phonetic) while a's forename is one no record in the frequency table
     has (tf answers exactly 0: a typo, "Jafk" for Jack, not a twin's real name, Jake for Jack);
   - both birth dates are present and agree at least as a one-digit typo, or one is missing while
     the postcode is the same, the phone numbers are the same UK mobile (07...) and the forenames
     agree exactly or as a short form (a landline or an e-mail address may be the household's),
     or one is missing while the house (number and street, or the street with a number on one
     side only) is the same in the same postcode or town, the forenames agree at least at
     jw>=0.92 (swapped counts), no phone or e-mail disagrees and the two do not both carry a UK
     postcode (there the same mobile settles it, as above);
   - sex does not disagree, unless forename and birth date are both exact and the forename is
     neither a short form of two names (Alex, Sam) nor one keystroke from its opposite-sex form
     (Martin/Martina, John/Joan): boy/girl twins have different forenames, and one slip turns
     Martina into Martin;
   - something besides name and birth date ties the pair: the postcode agrees at least to the area,
     the street or the locality agrees where it counts (see the address levels), or the phone or
     e-mail agrees; otherwise the total must reach upper +
     MATCH_UNCORROBORATED_MARGIN (namesakes).
   Otherwise it goes to the steward queue. Twins, parents and children sharing a name and an
   address, and namesakes fail exactly these anchors while the rest of their evidence adds up. a
   is the record being matched (not yet counted in the frequency table), b the candidate. ev may be
   NULL. */
match_decision_t match_decide(const match_params_t *p, const match_person_t *a,
                              const match_person_t *b, match_tf_fn tf, void *tf_ctx,
                              match_evidence_t *ev, char *why, size_t why_len);
/* The same on prepared persons. Writing the reason costs more than the rest of a decision, so a
 * caller scoring many candidates passes why NULL and asks again, with why, for the few it keeps. */
match_decision_t match_decide_prep(const match_params_t *p, const match_prep_t *a,
                                   const match_prep_t *b, match_tf_fn tf, void *tf_ctx,
                                   match_evidence_t *ev, char *why, size_t why_len);

/* A candidate dismissed on one cache line. A search scores some twenty candidates, most of them
 * neighbours or people born the same day with nothing else in common, and reading each one's
 * preparation (several cache lines) was most of the cost. A sketch is a record's matching fields
 * in 30 bytes: its birth date exactly, 16-bit hashes of the rest (0 = missing). From the event's
 * preparation and a candidate's sketch, match_bound gives a score the pair cannot exceed: a hash
 * that differs proves the values differ, a hash that agrees allows the best level. */
typedef struct {
    uint32_t birth; /* YYYYMMDD as eight 4-bit digits; 0 missing */
    int32_t bdays;  /* its day number */
    uint16_t given, family, postcode, phone, email, nhs, ni;
    uint16_t address;  /* house number and street together; 0: no street */
    uint16_t locality; /* 0 missing */
    uint16_t district; /* a UK postcode's outward code ("SW1A"); 0 none */
    unsigned char sex;
    unsigned char uk_postcode; /* 1: the postcode has a UK shape (see place_weights in match.c) */
    /* 1: the record is also compared on values the sketch does not show (the hub's previous
     * addresses and names), so no bound: match_bound answers INFINITY. match_sketch sets 0. */
    unsigned char alt;
} match_sketch_t;

void match_sketch(const match_prep_t *p, match_sketch_t *out);

/* What match_bound needs of the event being matched, made once per search. */
typedef struct {
    match_sketch_t a;
    double given_exact, family_exact;    /* the event's exact-name weights, frequency-adjusted */
    double given_other, family_other;    /* the most any other level of a name weighs */
    double postcode_other;               /* the most a different postcode weighs */
    double given_swapped;                /* the weight of names that agree crosswise */
    double address_all, address_other;   /* the most an address weighs; and when not exact */
    double locality_all, locality_other; /* the same for the locality */
    int usable;                          /* 0: parameters not frozen, no bound */
} match_bounder_t;

void match_bounder_init(match_bounder_t *b, const match_params_t *p, const match_prep_t *a,
                        match_tf_fn tf, void *tf_ctx);
/* At least the score match_score_prep gives the event and the candidate whose sketch C is;
 * INFINITY when a deterministic rule may apply (both NHS or both NI numbers may be equal), the
 * bounder is not usable or the sketch says it has other values (alt). So a candidate whose bound is
 * below the lower threshold and below the best score of the search so far can change neither the
 * decision nor the best score. */
double match_bound(const match_bounder_t *b, const match_params_t *p, const match_sketch_t *c);

/* Blocking keys for candidate search; writes up to `max` NUL-terminated keys into keys[i] (each
 * 48 bytes), returns how many, in this priority order:
 *   "nhs:<10 digits>"                        valid NHS number
 *   "ni:<AB123456>"                          valid NI number, suffix letter dropped
 *   "sid:<letters and digits>"               the shared identifier (match_person_t.shared_id)
 *   "dob:1984-03-07"                         valid birth date
 *   "pc:SW1A 1AA"                            parseable postcode
 *   "ph:<family phonetic>:<birth year>"
 *   "dm:<given initial><family phonetic>:<year>-<lo>-<hi>"  day and month sorted, so a transposed
 *                                            date produces the same key
 *   "tel:<normalised phone>"
 *   "em:<lower-case email>" (or "em#<FNV-1a hex>" when too long for the key)
 *   "st:<house number>:<street's first word>"
 *   "fl:<given initial><family phonetic>:<locality>"  these two find a record whose birth date is
 *                                            missing and whose postcode has a slip
 * A true match with one typo in a name, a transposed/typo'd birth date, or a new address still
 * shares at least one key. */
#define MATCH_KEY_LEN 48
#define MATCH_MAX_KEYS 11 /* the most keys one person has */
int match_blocking_keys(const match_person_t *p, char keys[][MATCH_KEY_LEN], int max);

/* Training helpers for EM (used by `joinery match train`): accumulate level vectors of sampled
   pairs and re-estimate m and u. Standard EM for the two-class mixture with conditional
   independence: starting from p's m/u and a match proportion lambda of 0.1, iterate E-step
   (posterior of match) and M-step (m, u per level, and lambda) until no parameter changes by more
   than 1e-6 or 100 iterations. Missing (level 0) comparisons carry no information and are skipped.
   Levels with zero counts are kept at a floor of 1e-6 (then renormalised). Returns the number of
   iterations run, or -1 for bad input (NULL, n == 0, nlevels outside 2..MATCH_MAX_LEVELS, a level
   out of range). p->upper and p->lower are not touched. lambda_out may be NULL. */
typedef struct {
    int level[MATCH_FIELD_COUNT];
} match_vector_t;
int match_train_em(match_params_t *p, const match_vector_t *v, size_t n, double *lambda_out);
/* Issue 17 (training as record-linkage practice does): the same EM with p->u held as given, so
   only m and lambda are estimated. `joinery match train` estimates u from random pairs of the
   records the hub holds (nearly all non-matches, so a direct count) and runs this over each
   blocking rule's candidate pairs, with the rule's own fields set to level 0 (a pair found by
   sharing a birth date says nothing about how often true pairs agree on it). Same return values
   and input checks as match_train_em. */
int match_train_em_m(match_params_t *p, const match_vector_t *v, size_t n, double *lambda_out);
/* The fields a blocking rule's EM must leave out, as a mask of 1u << match_field_t, given the
   mask of the fields its key is made of: those fields (every pair in the rule's blocks agrees on
   them by construction) and every field that depends on one of them between DIFFERENT people.
   EM's non-match class is held at random pairs' u, which is right only for fields independent of
   the key among non-matches: postcode, address and locality describe one place at three grains,
   so the non-matches of a "same postcode" block nearly all agree on the locality (and often the
   street), which random pairs almost never do; EM then calls them matches (issue 17: a share of
   matches of 0.98 among 50,000 same-postcode pairs of FEBRL-style set C, and m of every other
   field diluted towards non-matches). Likewise a key made of a place or a phone finds
   households, whose members share the place, a landline and often the family name: those go
   too. A key of names or a birth date leaves out only its own fields. */
unsigned match_train_left_out(unsigned key_fields);

/* 1 if the nickname lookup index agrees with the nickname groups (a test hook). */
int match_name_index_consistent(void);

#endif
