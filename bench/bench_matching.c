/* bench_matching.c - identity-matching accuracy and load throughput of the hub's master-data
 * engine, measured against a synthetic population whose truth is known.
 *
 * It makes a British-realistic population (surnames with the real frequency skew, forenames by
 * sex and birth decade, households with couples, children, twins and grandparents, and people
 * who share a name and birth date by chance), gives each person a record in two or three council
 * systems with the noise such systems really carry (typos, nicknames, swapped day and month,
 * stale addresses, married names, missing identifiers, formatting), loads each system through
 * the hub as its adapter would (libjoinery, person.updated / joinery.v1.Person), and reads back
 * from PostgreSQL which golden record every local id was linked to. Against the generator's
 * ground truth it reports precision and recall of the automatic links, what went to the data
 * stewards, the false merges themselves, load throughput and the hub's memory. See
 * bench/MATCHING.md for the model and how to read the results; bench/run-matching.sh runs it.
 *
 *   bench_matching [--people N] [--seed S] [--systems 2|3] [--stats] [--csv FILE]
 *                  [--endpoint E --keys DIR|-] [--pg CONNINFO] [--hub-pid PID] [--eval-only]
 *
 * Without --endpoint it only generates (and prints --stats or writes --csv). Everything is
 * deterministic from the seed: one seed, one population, one set of records, byte for byte.
 */
#include <joinery/joinery.h>
#include <joinery/v1/case.pb-c.h>
#include <joinery/v1/person.pb-c.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

/* ------------------------------------------------------------------------------------------ */
/* Configuration                                                                               */

#define MAX_SYSTEMS 3
#define NAME_LEN 40
#define EMAIL_LEN 72
#define REF_YEAR 2025 /* ages are taken on 1 July of this year */
#define FIRST_YEAR 1930
#define LAST_YEAR 2024
#define SHOW_FALSE 10 /* false merges listed */
#define SHOW_MISSED 5 /* true pairs not linked, listed */

typedef struct {
    size_t people;
    uint64_t seed;
    int systems;
    bool stats, eval_only, entities;
    const char *csv;
    const char *endpoint, *keys, *pg;
    long hub_pid, pg_pid;
    /* Population shape (fractions). */
    double in_a, b_given_a, in_c, namesakes, twin_rate;
} options_t;

/* ------------------------------------------------------------------------------------------ */
/* Deterministic randomness: xoshiro256** seeded through splitmix64. Independent streams (the  */
/* population, each system's view, the load order) so that changing one system's noise does   */
/* not change the people.                                                                       */

typedef struct {
    uint64_t s[4];
} rng_t;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t mix(uint64_t a, uint64_t b)
{
    uint64_t x = a ^ (b * 0xd6e8feb86659fd93ULL);
    return splitmix64(&x);
}

static void rng_seed(rng_t *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = mix(seed, stream);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

static double rng_unit(rng_t *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform in [0, n), unbiased (Lemire). */
static uint32_t rng_below(rng_t *r, uint32_t n)
{
    if (n <= 1)
        return 0;
    uint64_t m = (uint64_t)(uint32_t)rng_next(r) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while (low < threshold) {
            m = (uint64_t)(uint32_t)rng_next(r) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

static int rng_range(rng_t *r, int lo, int hi) /* inclusive */
{
    return hi <= lo ? lo : lo + (int)rng_below(r, (uint32_t)(hi - lo + 1));
}

static bool chance(rng_t *r, double p)
{
    return p > 0 && rng_unit(r) < p;
}

static double rng_normal(rng_t *r)
{
    double u = rng_unit(r), v = rng_unit(r);
    return sqrt(-2.0 * log(u > 1e-300 ? u : 1e-300)) * cos(6.283185307179586 * v);
}

/* Cumulative weights, drawn by binary search. */
typedef struct {
    double *cum;
    uint32_t *item; /* what each slot stands for */
    size_t n;
} wtable_t;

static int wtable_add(wtable_t *t, size_t cap, uint32_t item, double w)
{
    if (w <= 0)
        return 0;
    if (t->n == cap)
        return -1;
    t->cum[t->n] = (t->n ? t->cum[t->n - 1] : 0) + w;
    t->item[t->n++] = item;
    return 0;
}

static int wtable_init(wtable_t *t, size_t cap)
{
    t->n = 0;
    t->cum = malloc((cap ? cap : 1) * sizeof *t->cum);
    t->item = malloc((cap ? cap : 1) * sizeof *t->item);
    return t->cum && t->item ? 0 : -1;
}

static void wtable_free(wtable_t *t)
{
    free(t->cum);
    free(t->item);
    t->cum = NULL;
    t->item = NULL;
    t->n = 0;
}

static uint32_t wtable_draw(const wtable_t *t, rng_t *r)
{
    double x = rng_unit(r) * t->cum[t->n - 1];
    size_t lo = 0, hi = t->n - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (t->cum[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return t->item[lo];
}

/* ------------------------------------------------------------------------------------------ */
/* Hashing and sets                                                                             */

static uint64_t fnv1a(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001b3ULL;
    return h;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Open-addressing set of non-zero 64-bit keys. */
typedef struct {
    uint64_t *k;
    size_t cap, n;
} u64set_t;

static int u64set_grow(u64set_t *s)
{
    size_t ncap = s->cap ? s->cap * 2 : 1024;
    uint64_t *nk = calloc(ncap, sizeof *nk);
    if (!nk)
        return -1;
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->k[i])
            continue;
        size_t j = mix(s->k[i], 1) & (ncap - 1);
        while (nk[j])
            j = (j + 1) & (ncap - 1);
        nk[j] = s->k[i];
    }
    free(s->k);
    s->k = nk;
    s->cap = ncap;
    return 0;
}

/* 1 if added, 0 if it was there, -1 out of memory. */
static int u64set_add(u64set_t *s, uint64_t key)
{
    if (key == 0)
        key = 1;
    if ((s->n + 1) * 2 > s->cap && u64set_grow(s) < 0)
        return -1;
    size_t j = mix(key, 1) & (s->cap - 1);
    while (s->k[j]) {
        if (s->k[j] == key)
            return 0;
        j = (j + 1) & (s->cap - 1);
    }
    s->k[j] = key;
    s->n++;
    return 1;
}

static bool u64set_has(const u64set_t *s, uint64_t key)
{
    if (key == 0)
        key = 1;
    if (!s->cap)
        return false;
    size_t j = mix(key, 1) & (s->cap - 1);
    while (s->k[j]) {
        if (s->k[j] == key)
            return true;
        j = (j + 1) & (s->cap - 1);
    }
    return false;
}

static void u64set_free(u64set_t *s)
{
    free(s->k);
    s->k = NULL;
    s->cap = s->n = 0;
}

/* String -> dense index (0, 1, 2, ... in order of first sight); keys are copied. */
typedef struct {
    char **keys; /* by slot */
    uint32_t *idx;
    size_t cap, n;
} strmap_t;

static int strmap_grow(strmap_t *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 4096;
    char **nk = calloc(ncap, sizeof *nk);
    uint32_t *ni = calloc(ncap, sizeof *ni);
    if (!nk || !ni) {
        free(nk);
        free(ni);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t j = fnv1a(m->keys[i], strlen(m->keys[i])) & (ncap - 1);
        while (nk[j])
            j = (j + 1) & (ncap - 1);
        nk[j] = m->keys[i];
        ni[j] = m->idx[i];
    }
    free(m->keys);
    free(m->idx);
    m->keys = nk;
    m->idx = ni;
    m->cap = ncap;
    return 0;
}

/* The key's index, adding it if ADD; -1 when absent (or out of memory). */
static long strmap_get(strmap_t *m, const char *key, bool add)
{
    if ((m->n + 1) * 2 > m->cap && strmap_grow(m) < 0)
        return -1;
    size_t len = strlen(key);
    size_t j = fnv1a(key, len) & (m->cap - 1);
    while (m->keys[j]) {
        if (strcmp(m->keys[j], key) == 0)
            return m->idx[j];
        j = (j + 1) & (m->cap - 1);
    }
    if (!add)
        return -1;
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, key, len + 1);
    m->keys[j] = copy;
    m->idx[j] = (uint32_t)m->n;
    return (long)m->n++;
}

static void strmap_free(strmap_t *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->keys[i]);
    free(m->keys);
    free(m->idx);
    memset(m, 0, sizeof *m);
}

/* ------------------------------------------------------------------------------------------ */
/* Small string helpers (bounded; every write is snprintf or an explicit length)              */

/* Copies SRC into DST of CAP bytes, truncating, always terminated. */
static void copy_str(char *dst, size_t cap, const char *src)
{
    if (cap == 0)
        return;
    size_t n = src ? strnlen(src, cap - 1) : 0;
    if (n)
        memmove(dst, src, n);
    dst[n] = '\0';
}

static void ascii_upper(char *s)
{
    for (; *s; s++)
        if (*s >= 'a' && *s <= 'z')
            *s = (char)(*s - 'a' + 'A');
}

static void ascii_lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Lower-case letters only, for e-mail local parts ("O'Brien" -> "obrien"). */
static void letters_lower(char *dst, size_t cap, const char *src)
{
    size_t n = 0;
    for (; *src && n + 1 < cap; src++)
        if (is_alpha(*src))
            dst[n++] = (char)tolower((unsigned char)*src);
    dst[n] = '\0';
}

/* Is WORD one of the space-separated words of LIST? (exact, case-sensitive) */
static bool word_in(const char *list, const char *word)
{
    size_t n = strlen(word);
    while (*list) {
        size_t k = strcspn(list, " ");
        if (k == n && memcmp(list, word, n) == 0)
            return true;
        list += k;
        while (*list == ' ')
            list++;
    }
    return false;
}

/* The I-th word of LIST into OUT; returns the number of words. */
static size_t nth_word(const char *list, size_t i, char *out, size_t cap)
{
    size_t count = 0;
    while (*list) {
        size_t k = strcspn(list, " ");
        if (count == i && out)
            (void)snprintf(out, cap, "%.*s", (int)k, list);
        count++;
        list += k;
        while (*list == ' ')
            list++;
    }
    return count;
}

/* ------------------------------------------------------------------------------------------ */
/* Dates                                                                                        */

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : d[m - 1];
}

static bool date_ok(int y, int m, int d)
{
    return y >= 1900 && y <= LAST_YEAR && m >= 1 && m <= 12 && d >= 1 && d <= month_days(y, m);
}

/* "YYYY-MM-DD" for a date that date_ok accepts. */
static void format_date(char out[11], int y, int m, int d)
{
    const int v[] = {y / 1000 % 10, y / 100 % 10, y / 10 % 10, y % 10,
                     m / 10 % 10,   m % 10,       d / 10 % 10, d % 10};
    static const int at[] = {0, 1, 2, 3, 5, 6, 8, 9};
    for (int i = 0; i < 8; i++)
        out[at[i]] = (char)('0' + v[i]);
    out[4] = out[7] = '-';
    out[10] = '\0';
}

static void random_day(rng_t *r, int y, int8_t *m, int8_t *d)
{
    int doy = (int)rng_below(r, leap(y) ? 366 : 365);
    int mm = 1;
    while (doy >= month_days(y, mm))
        doy -= month_days(y, mm++);
    *m = (int8_t)mm;
    *d = (int8_t)(doy + 1);
}

/* ------------------------------------------------------------------------------------------ */
/* Data tables                                                                                  */

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
static const char *const origin_name[O_COUNT] = {
    "British", "Irish", "Caribbean", "Pakistani", "Bangladeshi",
    "Sikh",    "Hindu", "Polish",    "Chinese",   "West African"};

/* Forename pools; an origin draws from its own pool with origin_own_pool probability and from
 * the British pool otherwise (second-generation children mostly). */
enum { P_BRIT, P_IRISH, P_CARIB, P_MUSLIM, P_SIKH, P_HINDU, P_POLISH, P_CHINESE, P_WAFR, P_COUNT };
static const uint8_t origin_pool[O_COUNT] = {P_BRIT, P_IRISH, P_CARIB,  P_MUSLIM,  P_MUSLIM,
                                             P_SIKH, P_HINDU, P_POLISH, P_CHINESE, P_WAFR};
static const double origin_own_pool[O_COUNT] = {1.0, 0.3,  0.3, 0.95, 0.95,
                                                0.9, 0.85, 0.8, 0.3,  0.5};
/* Share of people of each origin in the council area: the cities chosen (Birmingham, Leeds,
 * Bradford, Manchester, Sheffield, Liverpool, Bristol) have larger South Asian, Polish, Black
 * and Chinese communities than England as a whole, so these surnames are weighted up to these
 * shares; the weight comes out of the British tail, so Smith keeps its 1.26%. 0: British, the
 * remainder. */
static const double origin_share[O_COUNT] = {0,     0.025, 0.015, 0.04,  0.015,
                                             0.015, 0.025, 0.015, 0.008, 0.015};
/* How often a woman marrying takes her husband's surname. */
static const double origin_takes_name[O_COUNT] = {0.8, 0.8,  0.6, 0.3, 0.2,
                                                  0.0, 0.85, 0.9, 0.3, 0.6};

typedef struct {
    const char *name, *alt;          /* alt: spelling with diacritics, or NULL */
    const char *female, *female_alt; /* the form women use, or NULL for the same */
    float female_p;                  /* how often women use the female form */
    uint8_t origin;
    float per100k; /* 0: follows the Zipf tail from its rank */
} surname_t;

#define S(n, f, o)                                                                                 \
    {                                                                                              \
        n, NULL, NULL, NULL, 0, o, f                                                               \
    }
#define SZ(n, o)                                                                                   \
    {                                                                                              \
        n, NULL, NULL, NULL, 0, o, 0                                                               \
    }
#define SF(n, fem, p, o)                                                                           \
    {                                                                                              \
        n, NULL, fem, NULL, p, o, 0                                                                \
    }
#define SPL(n, a, fem, fa)                                                                         \
    {                                                                                              \
        n, a, fem, fa, 1.0f, O_POLISH, 0                                                           \
    }

/* The most frequent surnames of England and Wales with approximate frequencies per 100,000
 * (ONS / census-era counts, rounded), then names in rank order whose frequency follows
 * 90 * (100 / rank)^0.9, with the South Asian, Polish, Irish, Caribbean, Chinese and West
 * African surnames that are common in English cities placed at realistic ranks. */
static const surname_t listed_surnames[] = {
    S("Smith", 1260, O_BRIT),
    S("Jones", 920, O_BRIT),
    S("Williams", 650, O_BRIT),
    S("Taylor", 500, O_BRIT),
    S("Brown", 480, O_BRIT),
    S("Davies", 460, O_BRIT),
    S("Evans", 360, O_BRIT),
    S("Wilson", 350, O_BRIT),
    S("Thomas", 340, O_BRIT),
    S("Johnson", 330, O_BRIT),
    S("Roberts", 320, O_BRIT),
    S("Robinson", 250, O_BRIT),
    S("Thompson", 250, O_BRIT),
    S("Wright", 240, O_BRIT),
    S("Walker", 240, O_BRIT),
    S("White", 230, O_BRIT),
    S("Edwards", 230, O_BRIT),
    S("Hughes", 230, O_BRIT),
    S("Green", 220, O_BRIT),
    S("Hall", 220, O_BRIT),
    S("Lewis", 210, O_BRIT),
    S("Harris", 210, O_BRIT),
    S("Clarke", 200, O_BRIT),
    S("Patel", 200, O_HINDU),
    S("Jackson", 190, O_BRIT),
    S("Wood", 190, O_BRIT),
    S("Turner", 180, O_BRIT),
    S("Martin", 180, O_BRIT),
    S("Cooper", 180, O_BRIT),
    S("Hill", 180, O_BRIT),
    S("Ward", 170, O_BRIT),
    S("Morris", 170, O_BRIT),
    S("Moore", 170, O_BRIT),
    S("Clark", 170, O_BRIT),
    S("Lee", 160, O_BRIT),
    S("King", 160, O_BRIT),
    S("Baker", 160, O_BRIT),
    S("Harrison", 160, O_BRIT),
    S("Morgan", 160, O_BRIT),
    S("Allen", 150, O_BRIT),
    S("James", 150, O_BRIT),
    S("Scott", 150, O_BRIT),
    S("Phillips", 150, O_BRIT),
    S("Watson", 140, O_BRIT),
    S("Davis", 140, O_BRIT),
    S("Parker", 140, O_BRIT),
    S("Price", 140, O_BRIT),
    S("Bennett", 130, O_BRIT),
    S("Young", 130, O_BRIT),
    S("Griffiths", 130, O_BRIT),
    S("Mitchell", 130, O_BRIT),
    S("Kelly", 130, O_IRISH),
    S("Cook", 130, O_BRIT),
    S("Carter", 130, O_BRIT),
    S("Richardson", 120, O_BRIT),
    S("Bailey", 120, O_BRIT),
    S("Collins", 120, O_BRIT),
    S("Bell", 120, O_BRIT),
    S("Shaw", 120, O_BRIT),
    S("Murphy", 120, O_IRISH),
    S("Miller", 120, O_BRIT),
    S("Cox", 110, O_BRIT),
    S("Richards", 110, O_BRIT),
    {"Khan", NULL, "Bibi", NULL, 0.1f, O_PAK, 110},
    S("Marshall", 110, O_BRIT),
    S("Anderson", 110, O_BRIT),
    S("Simpson", 110, O_BRIT),
    S("Ellis", 110, O_BRIT),
    S("Adams", 110, O_BRIT),
    {"Singh", NULL, "Kaur", NULL, 0.85f, O_SIKH, 110},
    S("Wilkinson", 100, O_BRIT),
    S("Foster", 100, O_BRIT),
    S("Chapman", 100, O_BRIT),
    S("Powell", 100, O_BRIT),
    S("Webb", 100, O_BRIT),
    S("Rogers", 100, O_BRIT),
    S("Gray", 100, O_BRIT),
    S("Mason", 100, O_BRIT),
    S("Ali", 100, O_PAK),
    S("Hunt", 100, O_BRIT),
    {"Hussain", NULL, "Bibi", NULL, 0.15f, O_PAK, 100},
    S("Campbell", 100, O_BRIT),
    S("Matthews", 100, O_BRIT),
    S("Owen", 100, O_BRIT),
    S("Palmer", 90, O_BRIT),
    S("Holmes", 90, O_BRIT),
    S("Mills", 90, O_BRIT),
    S("Barnes", 90, O_BRIT),
    S("Knight", 90, O_BRIT),
    S("Lloyd", 90, O_BRIT),
    S("Butler", 90, O_BRIT),
    S("Russell", 90, O_BRIT),
    S("Barker", 90, O_BRIT),
    S("Fisher", 90, O_BRIT),
    S("Stevens", 90, O_BRIT),
    S("Jenkins", 90, O_BRIT),
    S("Murray", 90, O_BRIT),
    S("Dixon", 90, O_BRIT),
    S("Harvey", 90, O_BRIT),
    /* rank 101 on: Zipf */
    SZ("Ahmed", O_PAK),
    SZ("Graham", O_BRIT),
    SZ("Ross", O_BRIT),
    SZ("Henderson", O_BRIT),
    SZ("Hamilton", O_BRIT),
    SZ("Hart", O_BRIT),
    SZ("Lane", O_BRIT),
    SZ("Berry", O_BRIT),
    SZ("Gibson", O_BRIT),
    SZ("Ford", O_BRIT),
    SZ("Pearson", O_BRIT),
    SZ("Spencer", O_BRIT),
    SZ("Burton", O_BRIT),
    SZ("Nicholson", O_BRIT),
    SZ("Hunter", O_BRIT),
    SZ("Holland", O_BRIT),
    SZ("Armstrong", O_BRIT),
    SZ("Lawrence", O_BRIT),
    SZ("Newman", O_BRIT),
    SZ("Pearce", O_BRIT),
    SZ("Reynolds", O_BRIT),
    SZ("Andrews", O_BRIT),
    SZ("Atkinson", O_BRIT),
    SZ("Stone", O_BRIT),
    SZ("Riley", O_BRIT),
    SZ("Lambert", O_BRIT),
    SZ("Fletcher", O_BRIT),
    SZ("Dawson", O_BRIT),
    SZ("Wells", O_BRIT),
    SZ("Porter", O_BRIT),
    SZ("Webster", O_BRIT),
    SZ("Gregory", O_BRIT),
    SZ("Carr", O_BRIT),
    SZ("Hayes", O_BRIT),
    SZ("Howard", O_BRIT),
    SZ("Kennedy", O_IRISH),
    SZ("Shah", O_HINDU),
    SZ("Walsh", O_IRISH),
    SZ("Ryan", O_IRISH),
    SZ("O'Brien", O_IRISH),
    SZ("Byrne", O_IRISH),
    SF("Rahman", "Begum", 0.3f, O_BANG),
    SZ("Mahmood", O_PAK),
    SZ("Sutton", O_BRIT),
    SZ("Payne", O_BRIT),
    SZ("Barrett", O_BRIT),
    SZ("Day", O_BRIT),
    SZ("Fox", O_BRIT),
    SZ("Rose", O_BRIT),
    SZ("Jordan", O_BRIT),
    SZ("Lowe", O_BRIT),
    SZ("Mann", O_BRIT),
    SZ("Austin", O_BRIT),
    SZ("Burns", O_BRIT),
    SZ("Elliott", O_BRIT),
    SZ("Hudson", O_BRIT),
    SZ("Cole", O_BRIT),
    SZ("Perry", O_BRIT),
    SZ("Francis", O_CARIB),
    SZ("Saunders", O_BRIT),
    SZ("Akhtar", O_PAK),
    SZ("Gill", O_SIKH),
    SZ("Iqbal", O_PAK),
    SZ("Hopkins", O_BRIT),
    SZ("Sharp", O_BRIT),
    SZ("Dean", O_BRIT),
    SZ("Chambers", O_BRIT),
    SZ("Rees", O_BRIT),
    SZ("Miles", O_BRIT),
    SZ("Cunningham", O_BRIT),
    SZ("O'Connor", O_IRISH),
    SZ("Doyle", O_IRISH),
    SF("Miah", "Begum", 0.8f, O_BANG),
    SF("Uddin", "Begum", 0.6f, O_BANG),
    SF("Islam", "Begum", 0.3f, O_BANG),
    SZ("Fraser", O_BRIT),
    SZ("Paterson", O_BRIT),
    SZ("Robertson", O_BRIT),
    SZ("Morrison", O_BRIT),
    SZ("Stewart", O_BRIT),
    SZ("Reid", O_BRIT),
    SZ("Gordon", O_BRIT),
    SZ("Grant", O_CARIB),
    SZ("Henry", O_CARIB),
    SZ("Spence", O_CARIB),
    SZ("Malik", O_PAK),
    SZ("Sharma", O_HINDU),
    SZ("Kumar", O_HINDU),
    SZ("Parmar", O_HINDU),
    SZ("Mistry", O_HINDU),
    SF("Chowdhury", "Begum", 0.3f, O_BANG),
    SZ("Sandhu", O_SIKH),
    SZ("Dhillon", O_SIKH),
    SZ("Nowak", O_POLISH),
    SPL("Kowalski", NULL, "Kowalska", NULL),
    SPL("Wisniewski", "Wiśniewski", "Wisniewska", "Wiśniewska"),
    {"Wojcik", "Wójcik", NULL, NULL, 0, O_POLISH, 0},
    SPL("Kaminski", "Kamiński", "Kaminska", "Kamińska"),
    SPL("Lewandowski", NULL, "Lewandowska", NULL),
    SZ("Wong", O_CHINESE),
    SZ("Chan", O_CHINESE),
    SZ("Li", O_CHINESE),
    SZ("Chen", O_CHINESE),
    SZ("Okafor", O_WAFR),
    SZ("Adeyemi", O_WAFR),
    SZ("Mensah", O_WAFR),
    SZ("Osei", O_WAFR),
    SZ("McCarthy", O_IRISH),
    SZ("Gallagher", O_IRISH),
    SZ("Quinn", O_IRISH),
    SZ("O'Neill", O_IRISH),
    SZ("O'Sullivan", O_IRISH),
    SZ("Brennan", O_IRISH),
    SZ("McLaughlin", O_IRISH),
    SZ("Fitzgerald", O_IRISH),
    SZ("O'Reilly", O_IRISH),
    SZ("O'Donnell", O_IRISH),
    SZ("Samuels", O_CARIB),
    SZ("Blackwood", O_CARIB),
    SZ("Gayle", O_CARIB),
    SZ("McKenzie", O_CARIB),
    SZ("Forbes", O_BRIT),
    SZ("Christie", O_BRIT),
    SZ("Bradley", O_BRIT),
    SZ("Bryant", O_BRIT),
    SZ("Ball", O_BRIT),
    SZ("Bird", O_BRIT),
    SZ("Booth", O_BRIT),
    SZ("Bowen", O_BRIT),
    SZ("Bull", O_BRIT),
    SZ("Cartwright", O_BRIT),
    SZ("Chandler", O_BRIT),
    SZ("Clayton", O_BRIT),
    SZ("Cross", O_BRIT),
    SZ("Curtis", O_BRIT),
    SZ("Dale", O_BRIT),
    SZ("Daniels", O_BRIT),
    SZ("Davidson", O_BRIT),
    SZ("Dunn", O_BRIT),
    SZ("Ferguson", O_BRIT),
    SZ("Fleming", O_BRIT),
    SZ("Frost", O_BRIT),
    SZ("Gardner", O_BRIT),
    SZ("Gilbert", O_BRIT),
    SZ("Glover", O_BRIT),
    SZ("Goddard", O_BRIT),
    SZ("Gough", O_BRIT),
    SZ("Hale", O_BRIT),
    SZ("Hancock", O_BRIT),
    SZ("Hardy", O_BRIT),
    SZ("Harper", O_BRIT),
    SZ("Hawkins", O_BRIT),
    SZ("Hayward", O_BRIT),
    SZ("Higgins", O_BRIT),
    SZ("Hobbs", O_BRIT),
    SZ("Holt", O_BRIT),
    SZ("Hooper", O_BRIT),
    SZ("Horton", O_BRIT),
    SZ("Howe", O_BRIT),
    SZ("Humphreys", O_BRIT),
    SZ("Jarvis", O_BRIT),
    SZ("Jennings", O_BRIT),
    SZ("Johnston", O_BRIT),
    SZ("Kemp", O_BRIT),
    SZ("Kirby", O_BRIT),
    SZ("Knowles", O_BRIT),
    SZ("Lamb", O_BRIT),
    SZ("Law", O_BRIT),
    SZ("Leach", O_BRIT),
    SZ("Little", O_BRIT),
    SZ("Long", O_BRIT),
    SZ("Lucas", O_BRIT),
    SZ("Lynch", O_IRISH),
    SZ("Marsh", O_BRIT),
    SZ("Maxwell", O_BRIT),
    SZ("May", O_BRIT),
    SZ("Mellor", O_BRIT),
    SZ("Metcalfe", O_BRIT),
    SZ("Moss", O_BRIT),
    SZ("Naylor", O_BRIT),
    SZ("Nash", O_BRIT),
    SZ("Norris", O_BRIT),
    SZ("Norton", O_BRIT),
    SZ("Oliver", O_BRIT),
    SZ("Osborne", O_BRIT),
    SZ("Parkinson", O_BRIT),
    SZ("Parry", O_BRIT),
    SZ("Parsons", O_BRIT),
    SZ("Peters", O_BRIT),
    SZ("Pollard", O_BRIT),
    SZ("Poole", O_BRIT),
    SZ("Pope", O_BRIT),
    SZ("Potter", O_BRIT),
    SZ("Pratt", O_BRIT),
    SZ("Preston", O_BRIT),
    SZ("Read", O_BRIT),
    SZ("Rhodes", O_BRIT),
    SZ("Rowe", O_BRIT),
    SZ("Rowley", O_BRIT),
    SZ("Sanders", O_BRIT),
    SZ("Schofield", O_BRIT),
    SZ("Sharpe", O_BRIT),
    SZ("Simmons", O_BRIT),
    SZ("Slater", O_BRIT),
    SZ("Smart", O_BRIT),
    SZ("Stephens", O_BRIT),
    SZ("Stevenson", O_BRIT),
    SZ("Summers", O_BRIT),
    SZ("Sykes", O_BRIT),
    SZ("Talbot", O_BRIT),
    SZ("Thornton", O_BRIT),
    SZ("Todd", O_BRIT),
    SZ("Tomlinson", O_BRIT),
    SZ("Townsend", O_BRIT),
    SZ("Tyler", O_BRIT),
    SZ("Vaughan", O_BRIT),
    SZ("Wade", O_BRIT),
    SZ("Wall", O_BRIT),
    SZ("Walton", O_BRIT),
    SZ("Warren", O_BRIT),
    SZ("Waters", O_BRIT),
    SZ("Watkins", O_BRIT),
    SZ("Watts", O_BRIT),
    SZ("Weaver", O_BRIT),
    SZ("Welch", O_BRIT),
    SZ("West", O_BRIT),
    SZ("Wheeler", O_BRIT),
    SZ("Whitehead", O_BRIT),
    SZ("Wilkins", O_BRIT),
    SZ("Williamson", O_BRIT),
    SZ("Willis", O_BRIT),
    SZ("Woods", O_BRIT),
    SZ("Woodward", O_BRIT),
    SZ("Wyatt", O_BRIT),
    SZ("Yates", O_BRIT),
    SPL("Zielinski", "Zieliński", "Zielinska", "Zielińska"),
    SPL("Dabrowski", "Dąbrowski", "Dabrowska", "Dąbrowska"),
    SPL("Szymanski", "Szymański", "Szymanska", "Szymańska"),
    {"Wozniak", "Woźniak", NULL, NULL, 0, O_POLISH, 0},
    SZ("Kowalczyk", O_POLISH),
    SZ("Mazur", O_POLISH),
    SZ("D'Souza", O_BRIT),
    SZ("Okonkwo", O_WAFR),
    SZ("Adebayo", O_WAFR),
    SZ("Zhang", O_CHINESE),
    SZ("Liu", O_CHINESE),
    SZ("Yang", O_CHINESE),
    SZ("Huang", O_CHINESE),
    SZ("Bashir", O_PAK),
    SZ("Rashid", O_PAK),
    SZ("Aziz", O_PAK),
    SZ("Javed", O_PAK),
    SZ("Nawaz", O_PAK),
    SZ("Butt", O_PAK),
    SZ("Raza", O_PAK),
    SZ("Qureshi", O_PAK),
    SZ("Siddiqui", O_PAK),
    SF("Hossain", "Begum", 0.3f, O_BANG),
    SZ("Sarkar", O_BANG),
    SZ("Joshi", O_HINDU),
    SZ("Desai", O_HINDU),
    SZ("Chauhan", O_HINDU),
    SZ("Solanki", O_HINDU),
    SZ("Bains", O_SIKH),
    SZ("Grewal", O_SIKH),
    SZ("Johal", O_SIKH),
    SZ("Atwal", O_SIKH),
    SZ("Bishop", O_BRIT),
    SZ("Black", O_BRIT),
    SZ("Brooks", O_BRIT),
    SZ("Burgess", O_BRIT),
    SZ("Chadwick", O_BRIT),
    SZ("Dickinson", O_BRIT),
    SZ("Farrell", O_IRISH),
    SZ("Field", O_BRIT),
    SZ("Finch", O_BRIT),
    SZ("Gibbs", O_BRIT),
    SZ("Hargreaves", O_BRIT),
    SZ("Heath", O_BRIT),
    SZ("Hewitt", O_BRIT),
    SZ("Hodgson", O_BRIT),
    SZ("Hussey", O_BRIT),
    SZ("Ingram", O_BRIT),
    SZ("Kay", O_BRIT),
    SZ("Kerr", O_BRIT),
    SZ("Lord", O_BRIT),
    SZ("Manning", O_BRIT),
    SZ("Middleton", O_BRIT),
    SZ("Moran", O_IRISH),
    SZ("Nolan", O_IRISH),
    SZ("Page", O_BRIT),
    SZ("Randall", O_BRIT),
    SZ("Ramsey", O_BRIT),
    SZ("Sims", O_BRIT),
    SZ("Steele", O_BRIT),
    SZ("Swift", O_BRIT),
    SZ("Thorpe", O_BRIT),
    SZ("Walters", O_BRIT),
    SZ("Whittaker", O_BRIT),
};
#define N_LISTED (sizeof listed_surnames / sizeof listed_surnames[0])

/* The long tail: rarer English-looking surnames made of real name parts (Ashworth, Bradshaw,
 * Hollingsworth, ...), so that most people do not carry one of the listed names and a rare
 * surname is as rare as it is in a real population. */
static const char *const tail_first[] = {
    "Ash",   "Brad", "Black", "Hol",  "Whit", "Thorn", "Green", "Lang", "Shep", "Brook",
    "Fair",  "Hart", "Mar",   "Win",  "Dun",  "Kirk",  "Stan",  "Wal",  "Wood", "Mid",
    "Ather", "Bram", "Crow",  "Hey",  "Rad",  "Cold",  "Bar",   "Nor",  "Sand", "Haw",
    "Oak",   "Ring", "Stock", "Sher", "Chal", "Ed",    "Pen",   "Ald",  "Bur",  "Cran",
    "Hal",   "Ley",  "Mor",   "Pres", "Rom",  "Sel",   "Tad",   "Wain", "Ack",  "Lock",
    "Roth",  "Sut",  "Farr",  "Gold", "Hamp", "Mab",   "Rus",   "Tur",  "Yar",  "Castle"};
static const char *const tail_mid[] = {"", "ing", "ings", "er", "en"};
static const char *const tail_last[] = {
    "worth", "shaw",  "ley",   "ton",   "field",  "well",  "ham",     "by",   "wood", "ford",
    "man",   "stone", "croft", "dale",  "cliffe", "hurst", "burn",    "wick", "more", "land",
    "house", "bury",  "combe", "ridge", "brook",  "low",   "thwaite", "son",  "gate", "ney",
    "den",   "all",   "ett",   "ock",   "side",   "hill",  "mere",    "cott"};

typedef struct {
    const char *name, *alt; /* alt: diacritics, or NULL */
    uint8_t sex;            /* 1 male, 2 female, 3 either */
    uint8_t pool;
    int16_t peak; /* year of greatest popularity */
    uint8_t width;
    uint8_t weight;
} forename_t;

#define FM(n, pk, w, k)                                                                            \
    {                                                                                              \
        n, NULL, 1, P_BRIT, pk, w, k                                                               \
    }
#define FF(n, pk, w, k)                                                                            \
    {                                                                                              \
        n, NULL, 2, P_BRIT, pk, w, k                                                               \
    }
#define FP(n, a, s, pool)                                                                          \
    {                                                                                              \
        n, a, s, pool, 1980, 100, 5                                                                \
    }
#define FPW(n, s, pool, w)                                                                         \
    {                                                                                              \
        n, NULL, s, pool, 1980, 100, w                                                             \
    }

/* British forenames: popularity is a bell curve over birth year around PEAK with sd WIDTH
 * (years) and height WEIGHT, which reproduces the Margarets of the 1930s, the Traceys of the
 * 1970s and the Olivias of the 2010s. Other pools are era-flat. */
static const forename_t forenames[] = {
    FF("Margaret", 1935, 12, 10),
    FF("Joan", 1930, 8, 7),
    FF("Dorothy", 1928, 8, 6),
    FF("Jean", 1935, 10, 7),
    FF("Mary", 1935, 20, 8),
    FF("Patricia", 1945, 10, 8),
    FF("Sheila", 1940, 8, 5),
    FF("Barbara", 1940, 10, 6),
    FF("Betty", 1930, 7, 4),
    FF("Doris", 1928, 6, 3),
    FF("Irene", 1932, 8, 4),
    FF("Joyce", 1933, 8, 5),
    FF("Kathleen", 1935, 10, 5),
    FF("Eileen", 1935, 9, 4),
    FF("Brenda", 1945, 8, 5),
    FF("Valerie", 1945, 8, 4),
    FF("Maureen", 1945, 8, 5),
    FF("Elizabeth", 1960, 30, 5),
    FF("Christine", 1950, 8, 7),
    FF("Susan", 1960, 8, 9),
    FF("Linda", 1955, 8, 7),
    FF("Janet", 1950, 8, 5),
    FF("Carol", 1952, 8, 5),
    FF("Pauline", 1950, 8, 4),
    FF("Jacqueline", 1962, 8, 5),
    FF("Karen", 1966, 7, 8),
    FF("Julie", 1966, 7, 7),
    FF("Deborah", 1965, 7, 6),
    FF("Tracey", 1970, 6, 7),
    FF("Sharon", 1966, 6, 6),
    FF("Amanda", 1972, 7, 6),
    FF("Sarah", 1982, 10, 9),
    FF("Claire", 1978, 8, 7),
    FF("Nicola", 1978, 8, 6),
    FF("Emma", 1988, 8, 8),
    FF("Lisa", 1972, 6, 6),
    FF("Michelle", 1974, 7, 6),
    FF("Joanne", 1974, 7, 5),
    FF("Rachel", 1982, 8, 6),
    FF("Rebecca", 1990, 8, 7),
    FF("Laura", 1990, 7, 8),
    FF("Gemma", 1988, 6, 5),
    FF("Hannah", 1996, 8, 6),
    FF("Amy", 1993, 8, 7),
    FF("Jessica", 1998, 8, 7),
    FF("Charlotte", 2000, 10, 7),
    FF("Lauren", 1995, 6, 6),
    FF("Sophie", 2000, 8, 7),
    FF("Chloe", 2000, 7, 7),
    FF("Emily", 2003, 10, 8),
    FF("Olivia", 2012, 8, 9),
    FF("Amelia", 2015, 7, 9),
    FF("Isla", 2018, 5, 7),
    FF("Ava", 2015, 6, 6),
    FF("Mia", 2015, 6, 6),
    FF("Grace", 2010, 10, 6),
    FF("Lily", 2012, 7, 6),
    FF("Ella", 2012, 7, 5),
    FF("Freya", 2015, 6, 5),
    FF("Poppy", 2012, 6, 5),
    FF("Evie", 2013, 6, 5),
    FF("Isabella", 2012, 7, 5),
    FF("Sophia", 2016, 6, 5),
    FF("Ellie", 2008, 7, 5),
    FF("Megan", 2000, 7, 6),
    FF("Holly", 2000, 7, 5),
    FF("Katie", 1998, 7, 5),
    FF("Bethany", 1998, 6, 4),
    FF("Georgia", 2002, 7, 4),
    FF("Lucy", 2000, 10, 6),
    FF("Abigail", 2005, 8, 4),
    FF("Alexandra", 1990, 10, 3),
    FF("Danielle", 1990, 6, 4),
    FF("Louise", 1975, 8, 5),
    FF("Samantha", 1985, 7, 5),
    FF("Helen", 1968, 10, 6),
    FF("Catherine", 1970, 10, 5),
    FF("Anne", 1955, 12, 5),
    FF("Ann", 1945, 10, 4),
    FF("Gillian", 1962, 7, 4),
    FF("Alison", 1968, 7, 4),
    FF("Kathryn", 1980, 8, 3),
    FF("Victoria", 1986, 7, 5),
    FF("Jennifer", 1982, 10, 4),
    FF("Natalie", 1990, 7, 4),
    FF("Zoe", 1992, 7, 4),
    FF("Jade", 1995, 5, 5),
    FF("Chelsea", 1995, 4, 3),
    FF("Rose", 2018, 5, 3),
    FF("Florence", 2020, 5, 3),
    FF("Elsie", 2018, 5, 3),
    FF("Edith", 1928, 6, 2),
    FF("Evelyn", 2020, 6, 3),
    FF("Phoebe", 2015, 6, 3),
    FF("Matilda", 2018, 5, 3),
    FF("Willow", 2020, 4, 3),
    FF("Jasmine", 2000, 8, 3),
    FF("Paige", 1998, 5, 3),
    FF("Kayleigh", 1992, 5, 3),
    FF("Stacey", 1988, 6, 3),
    FF("Kelly", 1982, 6, 4),
    FF("Dawn", 1968, 6, 3),
    FF("Wendy", 1962, 6, 3),
    FF("Beverley", 1965, 7, 3),
    FF("Lorraine", 1965, 6, 3),
    FF("Diane", 1960, 7, 4),
    FF("Elaine", 1960, 7, 3),
    FF("Hazel", 1945, 10, 3),
    FF("Sandra", 1958, 7, 5),
    FF("Angela", 1962, 8, 4),
    FF("Denise", 1962, 6, 3),
    FF("Teresa", 1962, 8, 3),
    FF("Sylvia", 1935, 8, 3),
    FF("Audrey", 1933, 8, 3),
    FF("Marjorie", 1930, 7, 3),
    FF("Pamela", 1945, 8, 4),
    FF("Julia", 1970, 12, 2),
    FF("Olive", 1928, 5, 2),
    FF("Marion", 1935, 8, 2),
    FF("Frances", 1955, 20, 2),
    FF("Josephine", 1950, 15, 2),
    FF("Isabel", 2010, 10, 2),
    FF("Eleanor", 2010, 10, 3),
    FF("Nicole", 1992, 6, 3),
    FF("Natasha", 1985, 6, 3),
    FF("Stephanie", 1988, 8, 3),
    FF("Andrea", 1970, 8, 2),
    FF("Paula", 1968, 6, 3),
    FF("Georgina", 1990, 8, 2),
    FF("Maria", 1975, 15, 3),
    FF("Molly", 2010, 8, 3),
    FF("Kimberley", 1990, 6, 2),
    FF("Hayley", 1990, 6, 3),
    FF("Caroline", 1972, 8, 3),

    FM("John", 1945, 20, 10),
    FM("William", 1935, 20, 5),
    FM("William", 2005, 10, 4),
    FM("George", 1930, 8, 4),
    FM("George", 2015, 8, 6),
    FM("Robert", 1950, 15, 7),
    FM("James", 1975, 30, 8),
    FM("Thomas", 1995, 15, 6),
    FM("Thomas", 1935, 8, 3),
    FM("Kenneth", 1935, 8, 5),
    FM("Ronald", 1933, 7, 5),
    FM("Dennis", 1935, 7, 3),
    FM("Peter", 1950, 12, 7),
    FM("Michael", 1962, 12, 9),
    FM("David", 1960, 14, 10),
    FM("Brian", 1945, 8, 6),
    FM("Alan", 1950, 10, 6),
    FM("Derek", 1945, 7, 4),
    FM("Roy", 1938, 8, 4),
    FM("Raymond", 1938, 8, 4),
    FM("Frederick", 1930, 6, 3),
    FM("Albert", 1928, 6, 3),
    FM("Arthur", 1928, 6, 3),
    FM("Arthur", 2020, 4, 4),
    FM("Harold", 1928, 6, 3),
    FM("Stanley", 1930, 7, 3),
    FM("Leslie", 1932, 7, 3),
    FM("Geoffrey", 1945, 8, 3),
    FM("Keith", 1955, 8, 4),
    FM("Anthony", 1965, 12, 5),
    FM("Christopher", 1975, 10, 7),
    FM("Stephen", 1965, 8, 7),
    FM("Paul", 1966, 8, 7),
    FM("Mark", 1970, 7, 7),
    FM("Ian", 1965, 8, 5),
    FM("Gary", 1968, 6, 5),
    FM("Andrew", 1975, 10, 7),
    FM("Richard", 1965, 12, 6),
    FM("Philip", 1962, 10, 4),
    FM("Kevin", 1968, 7, 4),
    FM("Neil", 1970, 7, 4),
    FM("Darren", 1973, 5, 4),
    FM("Lee", 1978, 6, 4),
    FM("Wayne", 1975, 5, 3),
    FM("Craig", 1980, 6, 4),
    FM("Jason", 1978, 6, 4),
    FM("Martin", 1965, 10, 4),
    FM("Simon", 1970, 8, 4),
    FM("Matthew", 1988, 8, 7),
    FM("Daniel", 1992, 10, 8),
    FM("Adam", 1990, 10, 5),
    FM("Benjamin", 1995, 12, 4),
    FM("Luke", 1995, 8, 5),
    FM("Jack", 2005, 10, 8),
    FM("Ryan", 1992, 7, 5),
    FM("Liam", 1995, 7, 5),
    FM("Joshua", 2000, 8, 7),
    FM("Samuel", 2000, 12, 5),
    FM("Joseph", 1995, 20, 4),
    FM("Oliver", 2012, 8, 9),
    FM("Harry", 2010, 8, 7),
    FM("Charlie", 2012, 6, 6),
    FM("Alfie", 2012, 6, 5),
    FM("Noah", 2018, 5, 6),
    FM("Leo", 2018, 5, 6),
    FM("Oscar", 2015, 6, 5),
    FM("Jacob", 2010, 7, 5),
    FM("Freddie", 2015, 5, 4),
    FM("Archie", 2015, 6, 5),
    FM("Theo", 2020, 4, 5),
    FM("Henry", 2015, 8, 4),
    FM("Lewis", 2000, 8, 4),
    FM("Louis", 2008, 8, 3),
    FM("Alexander", 1995, 15, 3),
    FM("Dylan", 2005, 7, 3),
    FM("Nathan", 1995, 7, 4),
    FM("Callum", 1998, 6, 4),
    FM("Connor", 2000, 6, 4),
    FM("Kieran", 1995, 6, 3),
    FM("Jordan", 1995, 6, 4),
    FM("Jamie", 1990, 8, 4),
    FM("Edward", 1940, 20, 3),
    FM("Edward", 2015, 8, 2),
    FM("Frank", 1930, 8, 3),
    FM("Charles", 1935, 15, 3),
    FM("Ernest", 1928, 6, 2),
    FM("Walter", 1928, 6, 2),
    FM("Norman", 1933, 7, 3),
    FM("Eric", 1932, 7, 3),
    FM("Trevor", 1950, 7, 3),
    FM("Graham", 1955, 8, 4),
    FM("Colin", 1952, 8, 4),
    FM("Nigel", 1962, 6, 3),
    FM("Terence", 1945, 8, 3),
    FM("Gordon", 1940, 10, 2),
    FM("Malcolm", 1950, 8, 2),
    FM("Barry", 1955, 8, 3),
    FM("Dean", 1975, 6, 3),
    FM("Scott", 1985, 7, 4),
    FM("Shaun", 1980, 7, 3),
    FM("Sean", 1985, 8, 3),
    FM("Aaron", 1995, 8, 3),
    FM("Ethan", 2005, 8, 4),
    FM("Tyler", 2002, 6, 3),
    FM("Max", 2010, 8, 3),
    FM("Mason", 2012, 6, 3),
    FM("Jake", 2000, 8, 3),
    FM("Kyle", 1995, 6, 2),
    FM("Reece", 1998, 5, 2),
    FM("Rhys", 1995, 8, 2),
    FM("Cameron", 2000, 7, 2),
    FM("Aidan", 2002, 7, 2),
    FM("Toby", 2005, 8, 2),
    FM("Finley", 2012, 6, 2),
    FM("Harrison", 2010, 6, 2),
    FM("Billy", 2010, 8, 2),
    FM("Nicholas", 1975, 12, 3),
    FM("Timothy", 1970, 12, 2),
    FM("Gregory", 1965, 10, 1),
    FM("Douglas", 1940, 10, 2),
    FM("Zachary", 2008, 6, 2),
    FM("Leon", 1995, 10, 2),
    FM("Marcus", 1990, 10, 2),
    FM("Reginald", 1928, 6, 2),
    FM("Sidney", 1930, 7, 2),
    FM("Cyril", 1928, 6, 2),

    FP("Sean", "Seán", 1, P_IRISH),
    FP("Ciaran", "Ciarán", 1, P_IRISH),
    FP("Padraig", "Pádraig", 1, P_IRISH),
    FP("Declan", NULL, 1, P_IRISH),
    FP("Eoin", NULL, 1, P_IRISH),
    FP("Niall", NULL, 1, P_IRISH),
    FP("Conor", NULL, 1, P_IRISH),
    FP("Patrick", NULL, 1, P_IRISH),
    FP("Oisin", "Oisín", 1, P_IRISH),
    FP("Siobhan", "Siobhán", 2, P_IRISH),
    FP("Niamh", NULL, 2, P_IRISH),
    FP("Aoife", NULL, 2, P_IRISH),
    FP("Roisin", "Róisín", 2, P_IRISH),
    FP("Ciara", NULL, 2, P_IRISH),
    FP("Sinead", "Sinéad", 2, P_IRISH),
    FP("Orla", NULL, 2, P_IRISH),
    FP("Bridget", NULL, 2, P_IRISH),
    FP("Caoimhe", NULL, 2, P_IRISH),

    FP("Delroy", NULL, 1, P_CARIB),
    FP("Winston", NULL, 1, P_CARIB),
    FP("Carlton", NULL, 1, P_CARIB),
    FP("Errol", NULL, 1, P_CARIB),
    FP("Leroy", NULL, 1, P_CARIB),
    FP("Tyrone", NULL, 1, P_CARIB),
    FP("Jermaine", NULL, 1, P_CARIB),
    FP("Devon", NULL, 1, P_CARIB),
    FP("Marcia", NULL, 2, P_CARIB),
    FP("Paulette", NULL, 2, P_CARIB),
    FP("Claudette", NULL, 2, P_CARIB),
    FP("Sonia", NULL, 2, P_CARIB),
    FP("Shanice", NULL, 2, P_CARIB),
    FP("Tanisha", NULL, 2, P_CARIB),
    FP("Keisha", NULL, 2, P_CARIB),
    FP("Precious", NULL, 2, P_CARIB),

    FPW("Mohammed", 1, P_MUSLIM, 14),
    FPW("Muhammad", 1, P_MUSLIM, 12),
    FPW("Mohammad", 1, P_MUSLIM, 6),
    FP("Ahmed", NULL, 1, P_MUSLIM),
    FP("Ali", NULL, 1, P_MUSLIM),
    FP("Imran", NULL, 1, P_MUSLIM),
    FP("Usman", NULL, 1, P_MUSLIM),
    FP("Bilal", NULL, 1, P_MUSLIM),
    FP("Hamza", NULL, 1, P_MUSLIM),
    FP("Yusuf", NULL, 1, P_MUSLIM),
    FP("Zain", NULL, 1, P_MUSLIM),
    FP("Ibrahim", NULL, 1, P_MUSLIM),
    FP("Abdul", NULL, 1, P_MUSLIM),
    FP("Tariq", NULL, 1, P_MUSLIM),
    FP("Asif", NULL, 1, P_MUSLIM),
    FP("Shahid", NULL, 1, P_MUSLIM),
    FP("Kamran", NULL, 1, P_MUSLIM),
    FP("Rizwan", NULL, 1, P_MUSLIM),
    FP("Abdullah", NULL, 1, P_MUSLIM),
    FP("Ayaan", NULL, 1, P_MUSLIM),
    FP("Fatima", NULL, 2, P_MUSLIM),
    FP("Aisha", NULL, 2, P_MUSLIM),
    FP("Ayesha", NULL, 2, P_MUSLIM),
    FP("Maryam", NULL, 2, P_MUSLIM),
    FP("Zainab", NULL, 2, P_MUSLIM),
    FP("Amina", NULL, 2, P_MUSLIM),
    FP("Khadija", NULL, 2, P_MUSLIM),
    FP("Hafsa", NULL, 2, P_MUSLIM),
    FP("Sana", NULL, 2, P_MUSLIM),
    FP("Nadia", NULL, 2, P_MUSLIM),
    FP("Shazia", NULL, 2, P_MUSLIM),
    FP("Nasreen", NULL, 2, P_MUSLIM),
    FP("Samina", NULL, 2, P_MUSLIM),
    FP("Rukhsana", NULL, 2, P_MUSLIM),
    FP("Saima", NULL, 2, P_MUSLIM),
    FP("Safiya", NULL, 2, P_MUSLIM),
    FP("Iqra", NULL, 2, P_MUSLIM),
    FP("Amira", NULL, 2, P_MUSLIM),

    FP("Harpreet", NULL, 3, P_SIKH),
    FP("Gurpreet", NULL, 3, P_SIKH),
    FP("Jaspreet", NULL, 3, P_SIKH),
    FP("Manpreet", NULL, 3, P_SIKH),
    FP("Amrit", NULL, 3, P_SIKH),
    FP("Rajinder", NULL, 3, P_SIKH),
    FP("Jaswinder", NULL, 3, P_SIKH),
    FP("Kulwinder", NULL, 3, P_SIKH),
    FP("Sukhdev", NULL, 1, P_SIKH),
    FP("Balwinder", NULL, 1, P_SIKH),
    FP("Gurdeep", NULL, 1, P_SIKH),
    FP("Harjit", NULL, 1, P_SIKH),
    FP("Simran", NULL, 2, P_SIKH),
    FP("Navdeep", NULL, 2, P_SIKH),
    FP("Parminder", NULL, 2, P_SIKH),
    FP("Harleen", NULL, 2, P_SIKH),

    FP("Ravi", NULL, 1, P_HINDU),
    FP("Sanjay", NULL, 1, P_HINDU),
    FP("Vijay", NULL, 1, P_HINDU),
    FP("Deepak", NULL, 1, P_HINDU),
    FP("Arjun", NULL, 1, P_HINDU),
    FP("Rohan", NULL, 1, P_HINDU),
    FP("Rahul", NULL, 1, P_HINDU),
    FP("Amit", NULL, 1, P_HINDU),
    FP("Nikhil", NULL, 1, P_HINDU),
    FP("Dinesh", NULL, 1, P_HINDU),
    FP("Hitesh", NULL, 1, P_HINDU),
    FP("Kiran", NULL, 3, P_HINDU),
    FP("Priya", NULL, 2, P_HINDU),
    FP("Pooja", NULL, 2, P_HINDU),
    FP("Neha", NULL, 2, P_HINDU),
    FP("Sunita", NULL, 2, P_HINDU),
    FP("Anjali", NULL, 2, P_HINDU),
    FP("Meena", NULL, 2, P_HINDU),
    FP("Nisha", NULL, 2, P_HINDU),
    FP("Rekha", NULL, 2, P_HINDU),
    FP("Divya", NULL, 2, P_HINDU),
    FP("Bhavna", NULL, 2, P_HINDU),

    FP("Piotr", NULL, 1, P_POLISH),
    FP("Tomasz", NULL, 1, P_POLISH),
    FP("Krzysztof", NULL, 1, P_POLISH),
    FP("Pawel", "Paweł", 1, P_POLISH),
    FP("Michal", "Michał", 1, P_POLISH),
    FP("Jakub", NULL, 1, P_POLISH),
    FP("Kacper", NULL, 1, P_POLISH),
    FP("Szymon", NULL, 1, P_POLISH),
    FP("Marcin", NULL, 1, P_POLISH),
    FP("Lukasz", "Łukasz", 1, P_POLISH),
    FP("Mateusz", NULL, 1, P_POLISH),
    FP("Wojciech", NULL, 1, P_POLISH),
    FP("Grzegorz", NULL, 1, P_POLISH),
    FP("Anna", NULL, 2, P_POLISH),
    FP("Katarzyna", NULL, 2, P_POLISH),
    FP("Magdalena", NULL, 2, P_POLISH),
    FP("Agnieszka", NULL, 2, P_POLISH),
    FP("Joanna", NULL, 2, P_POLISH),
    FP("Zofia", NULL, 2, P_POLISH),
    FP("Malgorzata", "Małgorzata", 2, P_POLISH),
    FP("Monika", NULL, 2, P_POLISH),
    FP("Karolina", NULL, 2, P_POLISH),
    FP("Natalia", NULL, 2, P_POLISH),
    FP("Ewa", NULL, 2, P_POLISH),

    FP("Wei", NULL, 1, P_CHINESE),
    FP("Jun", NULL, 1, P_CHINESE),
    FP("Kwok", NULL, 1, P_CHINESE),
    FP("Ming", NULL, 1, P_CHINESE),
    FP("Hao", NULL, 1, P_CHINESE),
    FP("Mei", NULL, 2, P_CHINESE),
    FP("Ling", NULL, 2, P_CHINESE),
    FP("Yan", NULL, 2, P_CHINESE),
    FP("Xin", NULL, 2, P_CHINESE),
    FP("Hui", NULL, 2, P_CHINESE),

    FP("Chinedu", NULL, 1, P_WAFR),
    FP("Oluwaseun", NULL, 1, P_WAFR),
    FP("Emeka", NULL, 1, P_WAFR),
    FP("Tunde", NULL, 1, P_WAFR),
    FP("Kwame", NULL, 1, P_WAFR),
    FP("Kofi", NULL, 1, P_WAFR),
    FP("Femi", NULL, 1, P_WAFR),
    FP("Segun", NULL, 1, P_WAFR),
    FP("Chioma", NULL, 2, P_WAFR),
    FP("Ngozi", NULL, 2, P_WAFR),
    FP("Folake", NULL, 2, P_WAFR),
    FP("Abimbola", NULL, 2, P_WAFR),
    FP("Adaeze", NULL, 2, P_WAFR),
    FP("Blessing", NULL, 2, P_WAFR),
    FP("Yetunde", NULL, 2, P_WAFR),
    FP("Ama", NULL, 2, P_WAFR),
};
#define N_FORENAMES (sizeof forenames / sizeof forenames[0])
#define N_DECADES 10 /* 1930s .. 2020s */

/* Names people are known by, formal name first: the second system often has these. */
static const char *const nicknames[] = {
    "William Bill Will Billy",
    "Elizabeth Liz Beth Betty Lizzie",
    "Margaret Maggie Peggy Meg",
    "Robert Bob Rob Bobby",
    "Richard Rich Dick Ricky",
    "James Jim Jimmy Jamie",
    "John Jack Johnny",
    "Thomas Tom Tommy",
    "Michael Mike Mick",
    "David Dave",
    "Christopher Chris",
    "Anthony Tony",
    "Andrew Andy",
    "Stephen Steve",
    "Daniel Dan Danny",
    "Edward Ed Eddie Ted",
    "Joseph Joe Joey",
    "Samuel Sam",
    "Benjamin Ben",
    "Alexander Alex Sandy",
    "Alexandra Alex Lexie",
    "Charles Charlie Chas",
    "Frederick Fred Freddie",
    "Albert Bert",
    "Kenneth Ken Kenny",
    "Ronald Ron Ronnie",
    "Patricia Pat Trish",
    "Catherine Kate Cathy",
    "Kathleen Kath Kathy",
    "Susan Sue Susie",
    "Deborah Debbie Deb",
    "Jennifer Jenny Jen",
    "Rebecca Becky Becca",
    "Victoria Vicky",
    "Samantha Sam",
    "Nicola Nicky Nikki",
    "Jacqueline Jackie",
    "Christine Chris Chrissie",
    "Dorothy Dot Dolly",
    "Mary Molly Polly",
    "Helen Nell",
    "Matthew Matt",
    "Nicholas Nick",
    "Philip Phil",
    "Peter Pete",
    "Raymond Ray",
    "Terence Terry",
    "Timothy Tim",
    "Abigail Abby Abi",
    "Amanda Mandy",
    "Jessica Jess",
    "Henry Harry",
    "Oliver Ollie",
    "Joshua Josh",
    "Jacob Jake",
    "Nathan Nate",
    "Gregory Greg",
    "Eleanor Ellie Nell",
    "Isabella Bella Izzy",
    "Charlotte Lottie Charlie",
    "Stanley Stan",
    "Leslie Les",
    "Ernest Ernie",
    "Reginald Reg",
    "Geoffrey Geoff",
    "Walter Wally",
    "Frances Fran",
    "Pamela Pam",
    "Valerie Val",
    "Angela Angie",
    "Josephine Jo Josie",
    "Joanne Jo",
    "Gillian Gill Jill",
    "Sidney Sid",
    "Cyril Cy",
    "Malcolm Mal",
    "Douglas Doug",
    "Zachary Zac",
    "Kimberley Kim",
    "Caroline Carrie",
    "Barbara Babs",
};

/* Spellings of one name that systems mix up (both directions). */
static const char *const given_variants[] = {
    "Mohammed Muhammad Mohammad Mohamed",
    "Stephen Steven",
    "Sarah Sara",
    "Catherine Katherine Kathryn",
    "Philip Phillip",
    "Geoffrey Jeffrey",
    "Ann Anne",
    "Rachel Rachael",
    "Aisha Ayesha",
    "Zoe Zoey",
    "Sean Shaun Shawn",
    "Isabel Isobel Isabelle",
    "Carol Carole",
    "Tracey Tracy",
    "Hayley Haley",
    "Kimberley Kimberly",
    "Nicola Nichola",

};
static const char *const surname_variants[] = {
    "Hussain Hussein Husain", "Chowdhury Choudhury", "Ahmed Ahmad",  "Rahman Rehman",
    "Mahmood Mahmud",         "Thompson Thomson",    "Clarke Clark", "Phillips Philips",
    "Davies Davis",           "Mohammed Muhammad",   "Reid Read",    "Gray Grey",
};

/* Boy/girl twins are often given the two forms of one name; same-sex twins sometimes names
 * that differ by a letter or two. Both are the hardest pairs a matcher meets. */
static const char *const twin_paired[][2] = {
    {"Alexander", "Alexandra"}, {"Daniel", "Danielle"},   {"Louis", "Louise"},
    {"Oliver", "Olivia"},       {"Charles", "Charlotte"}, {"George", "Georgia"},
    {"Samuel", "Samantha"},     {"Joseph", "Josephine"},  {"Paul", "Paula"},
    {"Nicholas", "Nicola"},     {"Michael", "Michaela"},  {"Stephen", "Stephanie"},
    {"Robert", "Roberta"},      {"Eric", "Erica"},        {"Martin", "Martina"},
};
static const char *const twin_similar_m[][2] = {
    {"Jack", "Jake"},   {"Ryan", "Rhys"}, {"Lewis", "Louis"},  {"Callum", "Cameron"},
    {"Aidan", "Ethan"}, {"Kyle", "Kian"}, {"Harry", "Harvey"}, {"Tom", "Tim"},
};
static const char *const twin_similar_f[][2] = {
    {"Holly", "Molly"}, {"Ella", "Ellie"}, {"Lily", "Lucy"},  {"Mia", "Maya"},
    {"Emily", "Emma"},  {"Ruby", "Rosie"}, {"Amy", "Amelia"}, {"Chloe", "Zoe"},
};

typedef struct {
    const char *name, *county, *area;
    uint8_t lo, hi; /* outward district numbers */
    uint16_t weight;
} town_t;

static const town_t towns[] = {
    {"Birmingham", "West Midlands", "B", 1, 99, 110},
    {"Leeds", "West Yorkshire", "LS", 1, 29, 80},
    {"Sheffield", "South Yorkshire", "S", 1, 14, 58},
    {"Manchester", "Greater Manchester", "M", 1, 40, 55},
    {"Bradford", "West Yorkshire", "BD", 1, 24, 54},
    {"Liverpool", "Merseyside", "L", 1, 38, 50},
    {"Bristol", "City of Bristol", "BS", 1, 16, 47},
};
#define N_TOWNS (sizeof towns / sizeof towns[0])

static const char *const street_stems[] = {
    "Church",    "Station",   "Victoria",   "Park",      "High",      "Mill",      "Queens",
    "Kings",     "Manor",     "Albert",     "Chapel",    "Green",     "Grange",    "Springfield",
    "Windsor",   "Highfield", "Beech",      "Oak",       "Elm",       "Ash",       "Willow",
    "Cedar",     "Meadow",    "Orchard",    "Westfield", "Moor",      "Hall",      "Hill",
    "School",    "North",     "South",      "West",      "New",       "Broad",     "Bridge",
    "Castle",    "Cross",     "Forest",     "Garden",    "Heath",     "Lime",      "Market",
    "Mount",     "Newton",    "Priory",     "Richmond",  "Rose",      "St John's", "St Mary's",
    "Stanley",   "Vicarage",  "Wellington", "York",      "Lancaster", "Clarence",  "Cromwell",
    "Fairfield", "Greenhill", "Hawthorn",   "Holly",     "Ivy",       "Laburnum",  "Lodge",
    "Maple",     "Nelson",    "Oxford",     "Percy",     "Regent",    "Sandy",     "Thornhill",
    "Trinity",   "Valley",    "Waterloo",   "Woodland",  "Brook",     "Cavendish", "Denby"};
static const char *const street_types[][2] = {
    {"Road", "Rd"},  {"Street", "St"},   {"Lane", "Ln"},       {"Avenue", "Ave"},
    {"Close", "Cl"}, {"Drive", "Dr"},    {"Crescent", "Cres"}, {"Way", "Way"},
    {"Grove", "Gr"}, {"Terrace", "Ter"}, {"Gardens", "Gdns"},  {"Place", "Pl"},
    {"Court", "Ct"}, {"View", "View"},   {"Mews", "Mews"}};
#define N_STEMS (sizeof street_stems / sizeof street_stems[0])
#define N_TYPES (sizeof street_types / sizeof street_types[0])

static const char INWARD_LETTERS[] = "ABDEFGHJLNPQRSTUWXYZ"; /* no C I K M O V */

static const char *const email_domains[] = {"gmail.com",   "hotmail.co.uk",  "yahoo.co.uk",
                                            "outlook.com", "btinternet.com", "icloud.com",
                                            "live.co.uk",  "sky.com",        "aol.com"};
static const unsigned email_domain_weight[] = {40, 20, 10, 8, 7, 6, 4, 3, 2};

/* Keys next to each letter on a UK QWERTY keyboard: where substitution typos come from. */
static const char *const qwerty_near[26] = {
    "qwsz",   "vghn",  "xdfv", "serfcx", "wsdr", "drtgvc", "ftyhbv", "gyujnb", "ujko",
    "huikmn", "jiolm", "kop",  "njk",    "bhjm", "iklp",   "ol",     "wa",     "edft",
    "awedxz", "rfgy",  "yhji", "cfgb",   "qase", "zsdc",   "tghu",   "asx"};

/* ------------------------------------------------------------------------------------------ */
/* The population                                                                               */

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
static const char *const hh_name[HH_COUNT] = {
    "single adult",      "couple",  "couple + children", "lone parent + children",
    "three generations", "sharers", "namesake (single)"};

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

static int age_at_ref(int by)
{
    return REF_YEAR - by;
}

/* Street properties come from a hash of (seed, town, street), so streets need no storage. */
typedef struct {
    const char *stem, *type, *type_short;
    int outward, sector, length;
} street_t;

static street_t street_of(uint64_t seed, unsigned town, uint32_t street)
{
    uint64_t h = mix(mix(seed, 0x57ee7 + town), street);
    street_t s;
    s.stem = street_stems[h % N_STEMS];
    s.type = street_types[(h >> 8) % N_TYPES][0];
    s.type_short = street_types[(h >> 8) % N_TYPES][1];
    const town_t *t = &towns[town];
    s.outward = t->lo + (int)((h >> 16) % (uint64_t)(t->hi - t->lo + 1));
    s.sector = (int)((h >> 24) % 10);
    s.length = 20 + (int)((h >> 32) % 160);
    return s;
}

/* Unit postcodes cover about 14 house numbers of one street. */
static void place_postcode(uint64_t seed, const place_t *pl, char out[9])
{
    street_t s = street_of(seed, pl->town, pl->street);
    uint64_t h =
        mix(mix(mix(seed, 0x9c0de + pl->town), pl->street), (uint64_t)(pl->number - 1) / 14);
    (void)snprintf(out, 9, "%s%d %d%c%c", towns[pl->town].area, s.outward, s.sector,
                   INWARD_LETTERS[h % 20], INWARD_LETTERS[(h >> 8) % 20]);
}

/* Seven addresses in ten have a known UPRN (the gazetteer's property id). */
static uint64_t place_uprn(uint64_t seed, const place_t *pl)
{
    uint64_t h = mix(mix(mix(seed, 0x0472 + pl->town), pl->street), pl->number);
    if (h % 100 >= 70)
        return 0;
    return 10000000ULL + (h >> 8) % 99990000000ULL;
}

static void place_line(uint64_t seed, const place_t *pl, bool abbreviate, char *out, size_t cap)
{
    street_t s = street_of(seed, pl->town, pl->street);
    (void)snprintf(out, cap, "%u %s %s", (unsigned)pl->number, s.stem,
                   abbreviate ? s.type_short : s.type);
}

static int pick_place(pop_t *pop, unsigned town, place_t *out)
{
    for (int tries = 0; tries < 200; tries++) {
        uint32_t street = rng_below(&pop->rng, pop->streets_per_town[town]);
        street_t s = street_of(pop->opt->seed, town, street);
        uint16_t number = (uint16_t)rng_range(&pop->rng, 1, s.length);
        uint64_t key = ((uint64_t)town << 48) | ((uint64_t)street << 16) | number;
        int rc = u64set_add(&pop->used_place, key);
        if (rc < 0)
            return -1;
        if (rc == 1) {
            *out = (place_t){(uint16_t)town, number, street};
            return 0;
        }
    }
    return -1;
}

static unsigned pick_town(pop_t *pop, int origin, int avoid)
{
    for (;;) {
        unsigned t = wtable_draw(&pop->town_pick, &pop->rng);
        /* South Asian households are more often in Bradford and Birmingham. */
        if ((origin == O_PAK || origin == O_BANG) && t != 0 && t != 4 && chance(&pop->rng, 0.5))
            continue;
        if ((int)t != avoid)
            return t;
    }
}

/* The previous address of a person who moved: one per person, the same in every system that
 * still has it, and not necessarily empty now (someone else may live there). */
static place_t previous_place(const pop_t *pop, size_t i)
{
    rng_t r;
    rng_seed(&r, pop->opt->seed, 0x90ed0000ULL + i);
    const person_t *p = &pop->p[i];
    unsigned town = p->home.town;
    if (chance(&r, 0.3))
        town = (town + 1 + rng_below(&r, N_TOWNS - 1)) % N_TOWNS;
    uint32_t street = rng_below(&r, pop->streets_per_town[town]);
    street_t s = street_of(pop->opt->seed, town, street);
    place_t pl = {(uint16_t)town, (uint16_t)rng_range(&r, 1, s.length), street};
    if (pl.town == p->home.town && pl.street == p->home.street && pl.number == p->home.number)
        pl.street = (street + 1) % pop->streets_per_town[town];
    return pl;
}

static const surname_t *sur_draw(pop_t *pop, int origin)
{
    const wtable_t *t = origin < 0 ? &pop->sur_all : &pop->sur_origin[origin];
    if (t->n == 0)
        t = &pop->sur_all;
    return &pop->sur[wtable_draw(t, &pop->rng)];
}

/* The surname a person of SEX carries from family name E (Singh -> Kaur, Kowalski -> Kowalska). */
static void sur_for(pop_t *pop, const surname_t *e, int sex, char *name, char *alt)
{
    bool fem = sex == SEX_F && e->female && chance(&pop->rng, e->female_p);
    copy_str(name, NAME_LEN, fem ? e->female : e->name);
    copy_str(alt, NAME_LEN, fem ? e->female_alt : e->alt);
}

static int decade_of(int year)
{
    int d = (year - FIRST_YEAR) / 10;
    return d < 0 ? 0 : d >= N_DECADES ? N_DECADES - 1 : d;
}

static double decade_weight(const forename_t *f, int decade)
{
    double mid = FIRST_YEAR + 10.0 * decade + 5;
    double z = (mid - f->peak) / (f->width ? f->width : 1);
    return f->weight * exp(-0.5 * z * z);
}

static const forename_t *fore_draw(pop_t *pop, int origin, int sex, int year)
{
    int pool = origin_pool[origin];
    if (pool != P_BRIT && !chance(&pop->rng, origin_own_pool[origin]))
        pool = P_BRIT;
    const wtable_t *t = &pop->fore[pool][sex - 1][decade_of(year)];
    if (t->n == 0)
        t = &pop->fore[P_BRIT][sex - 1][decade_of(year)];
    return &forenames[wtable_draw(t, &pop->rng)];
}

static bool taken_in_household(const pop_t *pop, size_t first, const char *given)
{
    for (size_t i = first; i < pop->n; i++)
        if (strcmp(pop->p[i].given, given) == 0)
            return true;
    return false;
}

static int nhs_check_digit(const int d[9])
{
    int sum = 0;
    for (int i = 0; i < 9; i++)
        sum += d[i] * (10 - i);
    int c = 11 - sum % 11;
    return c == 11 ? 0 : c; /* 10: no valid number has these nine digits */
}

static int new_nhs(pop_t *pop, char out[11])
{
    for (;;) {
        int d[9];
        /* England and Wales issue 400 000 000-499 999 999 and 600 000 000-799 999 999. */
        static const int first[] = {4, 6, 7};
        d[0] = first[rng_below(&pop->rng, 3)];
        for (int i = 1; i < 9; i++)
            d[i] = (int)rng_below(&pop->rng, 10);
        int c = nhs_check_digit(d);
        if (c == 10)
            continue;
        for (int i = 0; i < 9; i++)
            out[i] = (char)('0' + d[i]);
        out[9] = (char)('0' + c);
        out[10] = '\0';
        int rc = u64set_add(&pop->used_nhs, fnv1a(out, 10));
        if (rc < 0)
            return -1;
        if (rc == 1)
            return 0;
    }
}

static int new_ni(pop_t *pop, char out[10])
{
    static const char first[] = "ABCEGHJKLMNOPRSTWXYZ"; /* not D F I Q U V */
    static const char second[] = "ABCEGHJKLMNPRSTWXYZ"; /* not D F I Q U V O */
    static const char *const never[] = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"};
    for (;;) {
        char a = first[rng_below(&pop->rng, sizeof first - 1)];
        char b = second[rng_below(&pop->rng, sizeof second - 1)];
        char pre[3] = {a, b, '\0'};
        bool bad = false;
        for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
            bad = bad || strcmp(pre, never[i]) == 0;
        if (bad)
            continue;
        (void)snprintf(out, 10, "%s%06u%c", pre, (unsigned)rng_below(&pop->rng, 1000000),
                       "ABCD"[rng_below(&pop->rng, 4)]);
        int rc = u64set_add(&pop->used_ni, fnv1a(out, 9));
        if (rc < 0)
            return -1;
        if (rc == 1)
            return 0;
    }
}

static int new_phone(rng_t *r, u64set_t *used, char out[12])
{
    static const char second[] = "12345789"; /* 076 is pagers */
    for (;;) {
        (void)snprintf(out, 12, "07%c%02u%06u", second[rng_below(r, 8)],
                       (unsigned)rng_below(r, 100), (unsigned)rng_below(r, 1000000));
        int rc = used ? u64set_add(used, fnv1a(out, 11)) : 1;
        if (rc < 0)
            return -1;
        if (rc == 1)
            return 0;
    }
}

static int new_email(rng_t *r, const person_t *p, u64set_t *used, char *dst)
{
    char g[NAME_LEN], f[NAME_LEN], out[4 * NAME_LEN];
    letters_lower(g, sizeof g, p->given);
    letters_lower(f, sizeof f, p->family);
    unsigned total = 0;
    for (size_t i = 0; i < sizeof email_domain_weight / sizeof email_domain_weight[0]; i++)
        total += email_domain_weight[i];
    for (int attempt = 0;; attempt++) {
        unsigned x = rng_below(r, total);
        size_t d = 0;
        while (x >= email_domain_weight[d])
            x -= email_domain_weight[d++];
        unsigned num = rng_below(r, attempt < 3 ? 100 : 10000);
        switch (rng_below(r, 6)) {
        case 0:
            (void)snprintf(out, sizeof out, "%s.%s@%s", g, f, email_domains[d]);
            break;
        case 1:
            (void)snprintf(out, sizeof out, "%s%s%u@%s", g, f, num, email_domains[d]);
            break;
        case 2:
            (void)snprintf(out, sizeof out, "%c%s%u@%s", g[0], f, num, email_domains[d]);
            break;
        case 3:
            (void)snprintf(out, sizeof out, "%s_%s%u@%s", g, f, num, email_domains[d]);
            break;
        case 4:
            (void)snprintf(out, sizeof out, "%s%u@%s", g, 1900 + (unsigned)p->by % 100 + num,
                           email_domains[d]);
            break;
        default:
            (void)snprintf(out, sizeof out, "%s.%s%u@%s", g, f, num % 100, email_domains[d]);
            break;
        }
        copy_str(dst, EMAIL_LEN, out);
        int rc = used ? u64set_add(used, fnv1a(dst, strlen(dst))) : 1;
        if (rc < 0)
            return -1;
        if (rc == 1 || attempt > 50)
            return 0;
    }
}

/* One new person of the household HH at HOME. Identifiers and contacts are drawn here; names
 * are left to the caller. */
static person_t *add_person(pop_t *pop, uint32_t hh, const place_t *home, int sex, int by,
                            int origin)
{
    if (pop->n >= pop->opt->people)
        return NULL;
    person_t *p = &pop->p[pop->n++];
    memset(p, 0, sizeof *p);
    p->household = hh;
    p->home = *home;
    p->sex = (uint8_t)sex;
    p->origin = (uint8_t)origin;
    p->by = (int16_t)by;
    random_day(&pop->rng, by, &p->bm, &p->bd);
    p->twin = p->namesake_of = -1;
    return p;
}

static void name_person(pop_t *pop, person_t *p, const surname_t *family, size_t hh_first)
{
    const forename_t *f = NULL;
    for (int tries = 0; tries < 12; tries++) {
        f = fore_draw(pop, p->origin, p->sex, p->by);
        if (!taken_in_household(pop, hh_first, f->name))
            break;
    }
    copy_str(p->given, NAME_LEN, f->name);
    copy_str(p->given_alt, NAME_LEN, f->alt);
    double middle_p = origin_pool[p->origin] == P_BRIT || p->origin == O_IRISH ? 0.35 : 0.15;
    if (chance(&pop->rng, middle_p)) {
        const forename_t *m = fore_draw(pop, p->origin, p->sex, p->by);
        if (strcmp(m->name, p->given) != 0)
            copy_str(p->middle, NAME_LEN, m->name);
    }
    if (family)
        sur_for(pop, family, p->sex, p->family, p->family_alt);
}

/* Identifiers and contact details, once names and ages are settled. */
static int finish_person(pop_t *pop, person_t *p)
{
    int age = age_at_ref(p->by);
    if (chance(&pop->rng, 0.85) && new_nhs(pop, p->nhs) < 0)
        return -1;
    if (age >= 16 && chance(&pop->rng, 0.60) && new_ni(pop, p->ni) < 0)
        return -1;
    double phone_p = age >= 18 ? 0.72 : age >= 12 ? 0.45 : 0;
    if (chance(&pop->rng, phone_p) && new_phone(&pop->rng, &pop->used_phone, p->phone) < 0)
        return -1;
    double email_p = age >= 18 ? 0.50 : age >= 13 ? 0.20 : 0;
    if (chance(&pop->rng, email_p) && new_email(&pop->rng, p, &pop->used_email, p->email) < 0)
        return -1;
    return 0;
}

static int adult_year(pop_t *pop, int youngest_age)
{
    for (;;) {
        int y = (int)wtable_draw(&pop->adult_year, &pop->rng);
        if (age_at_ref(y) >= youngest_age)
            return y;
    }
}

/* A woman who married: she carries her husband's surname and had her own before. */
static void married_name(pop_t *pop, person_t *wife, const surname_t *husband_family)
{
    char name[NAME_LEN], alt[NAME_LEN];
    sur_for(pop, husband_family, SEX_F, name, alt);
    if (strcmp(name, wife->family) == 0)
        return;
    copy_str(wife->maiden, NAME_LEN, wife->family);
    copy_str(wife->maiden_alt, NAME_LEN, wife->family_alt);
    copy_str(wife->family, NAME_LEN, name);
    copy_str(wife->family_alt, NAME_LEN, alt);
}

/* Children of the household's parents (MOTHER may be NULL for a lone father). Birth years
 * fall where the mother was 20-42 and the child is at most 24. */
static int add_children(pop_t *pop, uint32_t hh, const place_t *home, size_t hh_first,
                        const person_t *mother, const person_t *father, const surname_t *family,
                        const char *hyphen, int origin)
{
    const person_t *parent = mother ? mother : father;
    if (!parent)
        return 0;
    int lo = parent->by + 20 > REF_YEAR - 24 ? parent->by + 20 : REF_YEAR - 24;
    int hi = parent->by + 42 < LAST_YEAR ? parent->by + 42 : LAST_YEAR;
    if (lo > hi)
        return 0;
    static const unsigned kids_w[] = {40, 40, 15, 5};
    unsigned x = rng_below(&pop->rng, 100), k = 0;
    while (x >= kids_w[k])
        x -= kids_w[k++];
    int nkids = (int)k + 1;
    for (int c = 0; c < nkids; c++) {
        int sex = chance(&pop->rng, 0.51) ? SEX_M : SEX_F;
        person_t *kid = add_person(pop, hh, home, sex, rng_range(&pop->rng, lo, hi), origin);
        if (!kid)
            return 0;
        name_person(pop, kid, family, hh_first);
        if (hyphen)
            copy_str(kid->family, NAME_LEN, hyphen), kid->family_alt[0] = '\0',
                                                     kid->flags |= PF_HYPHEN;
        /* A son named after his father: John Smith and John Smith at one address. */
        const person_t *same = sex == SEX_M ? father : mother;
        if (same && chance(&pop->rng, sex == SEX_M ? 0.04 : 0.01) &&
            strcmp(same->family, kid->family) == 0) {
            copy_str(kid->given, NAME_LEN, same->given);
            copy_str(kid->given_alt, NAME_LEN, same->given_alt);
            kid->flags |= PF_JUNIOR;
        }
        if (finish_person(pop, kid) < 0)
            return -1;
        if (chance(&pop->rng, pop->opt->twin_rate)) {
            /* Twins: same birth date, surname and address; different forenames. */
            int tsex = chance(&pop->rng, 1.0 / 3) ? 3 - sex
                       : chance(&pop->rng, 0.5)   ? SEX_M
                                                  : SEX_F;
            person_t *twin = add_person(pop, hh, home, tsex, kid->by, origin);
            if (!twin)
                return 0;
            twin->bm = kid->bm;
            twin->bd = kid->bd;
            name_person(pop, twin, family, hh_first);
            copy_str(twin->family, NAME_LEN, kid->family);
            copy_str(twin->family_alt, NAME_LEN, kid->family_alt);
            twin->flags |= (uint8_t)(kid->flags & PF_HYPHEN);
            if (tsex != sex && chance(&pop->rng, 0.35)) {
                const char *const *pair =
                    twin_paired[rng_below(&pop->rng, sizeof twin_paired / sizeof twin_paired[0])];
                copy_str(sex == SEX_M ? kid->given : twin->given, NAME_LEN, pair[0]);
                copy_str(sex == SEX_M ? twin->given : kid->given, NAME_LEN, pair[1]);
                kid->given_alt[0] = twin->given_alt[0] = '\0';
                kid->flags |= PF_TWIN_PAIRED;
                twin->flags |= PF_TWIN_PAIRED;
            } else if (tsex == sex && chance(&pop->rng, 0.25)) {
                const char *const *pair =
                    sex == SEX_M
                        ? twin_similar_m[rng_below(&pop->rng, sizeof twin_similar_m /
                                                                  sizeof twin_similar_m[0])]
                        : twin_similar_f[rng_below(&pop->rng, sizeof twin_similar_f /
                                                                  sizeof twin_similar_f[0])];
                copy_str(kid->given, NAME_LEN, pair[0]);
                copy_str(twin->given, NAME_LEN, pair[1]);
                kid->given_alt[0] = twin->given_alt[0] = '\0';
                kid->flags |= PF_TWIN_SIMILAR;
                twin->flags |= PF_TWIN_SIMILAR;
            }
            kid->flags |= PF_TWIN;
            twin->flags |= PF_TWIN;
            kid->twin = (int32_t)(twin - pop->p);
            twin->twin = (int32_t)(kid - pop->p);
            if (finish_person(pop, twin) < 0)
                return -1;
            c++;
        }
    }
    /* Younger children's records often carry a parent's mobile. */
    for (size_t i = hh_first; i < pop->n; i++) {
        person_t *p = &pop->p[i];
        if (age_at_ref(p->by) < 12 && parent->phone[0] && chance(&pop->rng, 0.3)) {
            copy_str(p->phone, sizeof p->phone, parent->phone);
            p->flags |= PF_SHARED_PHONE;
        }
    }
    return 0;
}

/* A couple: he is drawn first, she is about his age; she may take his name. Returns the
 * surname entry the children would carry. */
static int add_couple(pop_t *pop, uint32_t hh, const place_t *home, size_t hh_first, int origin,
                      const surname_t *his, int youngest, int oldest_year, person_t **mother,
                      person_t **father, bool *kept_name)
{
    int hy;
    do {
        hy = adult_year(pop, youngest);
    } while (hy < oldest_year);
    person_t *m = add_person(pop, hh, home, SEX_M, hy, origin);
    if (!m)
        return 1;
    name_person(pop, m, his, hh_first);
    int sy = hy + (int)lround(1.5 + 4 * rng_normal(&pop->rng));
    if (age_at_ref(sy) < 18)
        sy = REF_YEAR - 18;
    if (sy < FIRST_YEAR)
        sy = FIRST_YEAR;
    person_t *f = add_person(pop, hh, home, SEX_F, sy, origin);
    if (!f) /* the population is complete */
        return finish_person(pop, m) < 0 ? -1 : 1;
    name_person(pop, f, sur_draw(pop, origin), hh_first);
    *kept_name = true;
    if (chance(&pop->rng, origin_takes_name[origin])) {
        married_name(pop, f, his);
        *kept_name = false;
    }
    if (finish_person(pop, m) < 0 || finish_person(pop, f) < 0)
        return -1;
    *mother = f;
    *father = m;
    return 0;
}

/* Frequency per 100,000 of a listed surname; 0 for the rare tail. */
static double surname_freq(const pop_t *pop, const char *name)
{
    uint64_t k = fnv1a(name, strlen(name)) & ~0xffffULL;
    size_t lo = 0, hi = pop->nfreq;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (pop->freq_key[mid] < k)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < pop->nfreq && pop->freq_key[lo] == k ? pop->freq_val[lo] : 0;
}

/* How popular P's forename was for their sex and birth decade, relative to the most popular
 * one (1 for John in the 1940s). */
static double forename_share(const person_t *p)
{
    int d = decade_of(p->by), pool = origin_pool[p->origin];
    double w = 0, max = 0;
    for (size_t i = 0; i < N_FORENAMES; i++) {
        const forename_t *f = &forenames[i];
        if (!(f->sex & p->sex) || (f->pool != pool && f->pool != P_BRIT))
            continue;
        double x = decade_weight(f, d);
        if (x > max)
            max = x;
        if (x > w && strcmp(f->name, p->given) == 0)
            w = x;
    }
    return max > 0 ? w / max : 0;
}

/* A person to copy as a namesake, or -1. Two people share a name and birth date by chance in
 * proportion to how common the name is, so a source is accepted with probability (surname
 * frequency relative to Smith) x (forename popularity in its decade): mostly John Smith and
 * Mohammed Khan, rarely Oisin Kennedy. */
static long namesake_source(pop_t *pop)
{
    for (int tries = 0; tries < 5000; tries++) {
        size_t src = rng_below(&pop->rng, (uint32_t)pop->n);
        const person_t *o = &pop->p[src];
        if (age_at_ref(o->by) < 18 || (o->flags & PF_NAMESAKE))
            continue;
        double accept = surname_freq(pop, o->family) / 1260.0 * forename_share(o);
        if (chance(&pop->rng, accept))
            return (long)src;
    }
    return -1;
}

static int make_household(pop_t *pop)
{
    uint32_t hh = pop->households++;
    size_t first = pop->n;
    rng_t *r = &pop->rng;
    const surname_t *fam = sur_draw(pop, -1);
    int origin = fam->origin;
    /* Namesakes: someone elsewhere with the same forename, surname, birth date and sex. */
    long src = pop->n > 1000 && chance(r, pop->opt->namesakes) ? namesake_source(pop) : -1;
    if (src >= 0) {
        const person_t *o = &pop->p[src];
        place_t home;
        if (pick_place(pop, pick_town(pop, o->origin, o->home.town), &home) == 0) {
            person_t *p = add_person(pop, hh, &home, o->sex, o->by, o->origin);
            if (!p)
                return 0;
            o = &pop->p[src];
            p->bm = o->bm;
            p->bd = o->bd;
            copy_str(p->given, NAME_LEN, o->given);
            copy_str(p->given_alt, NAME_LEN, o->given_alt);
            copy_str(p->family, NAME_LEN, o->family);
            copy_str(p->family_alt, NAME_LEN, o->family_alt);
            if (chance(r, 0.3)) {
                const forename_t *m = fore_draw(pop, p->origin, p->sex, p->by);
                if (strcmp(m->name, p->given) != 0)
                    copy_str(p->middle, NAME_LEN, m->name);
            }
            p->namesake_of = (int32_t)src;
            p->flags |= PF_NAMESAKE;
            pop->hh_count[HH_NAMESAKE]++;
            return finish_person(pop, p);
        }
    }
    place_t home;
    if (pick_place(pop, pick_town(pop, origin, -1), &home) < 0)
        return -1;
    bool south_asian = origin == O_PAK || origin == O_BANG || origin == O_SIKH || origin == O_HINDU;
    static const unsigned type_w[] = {28, 22, 26, 9, 4, 5};
    unsigned x = rng_below(r, 94), type = 0;
    while (x >= type_w[type])
        x -= type_w[type++];
    if (south_asian && chance(r, 0.2))
        type = HH_THREE_GEN;
    pop->hh_count[type]++;
    person_t *mother = NULL, *father = NULL;
    bool kept = false;
    switch (type) {
    case HH_SINGLE: {
        int sex = chance(r, 0.5) ? SEX_M : SEX_F;
        person_t *p = add_person(pop, hh, &home, sex, adult_year(pop, 18), origin);
        if (!p)
            return 0;
        name_person(pop, p, fam, first);
        /* Widows and divorcees keep a married name. */
        if (sex == SEX_F && age_at_ref(p->by) > 30 && chance(r, 0.45))
            married_name(pop, p, sur_draw(pop, origin));
        return finish_person(pop, p);
    }
    case HH_COUPLE: {
        int rc =
            add_couple(pop, hh, &home, first, origin, fam, 18, FIRST_YEAR, &mother, &father, &kept);
        return rc < 0 ? -1 : 0;
    }
    case HH_FAMILY:
    case HH_THREE_GEN: {
        if (type == HH_THREE_GEN) {
            /* Grandparents first: the father's parents, who share his surname. */
            int gy = adult_year(pop, 62);
            int ngp = chance(r, 0.6) ? 2 : 1;
            for (int g = 0; g < ngp; g++) {
                person_t *gp =
                    add_person(pop, hh, &home, g == 0 ? SEX_F : SEX_M, gy + (g ? -2 : 0), origin);
                if (!gp)
                    return 0;
                name_person(pop, gp, fam, first);
                if (finish_person(pop, gp) < 0)
                    return -1;
            }
        }
        int rc = add_couple(pop, hh, &home, first, origin, fam, 21, REF_YEAR - 62, &mother, &father,
                            &kept);
        if (rc != 0)
            return rc < 0 ? -1 : 0;
        char hyphen[NAME_LEN];
        const char *hy = NULL;
        const surname_t *kids = fam;
        if (kept && origin == O_BRIT && chance(r, 0.2)) {
            /* Double-barrelled: the mother's name and the father's. */
            int w = snprintf(hyphen, sizeof hyphen, "%s-%s", mother->family, father->family);
            if (w > 0 && (size_t)w < sizeof hyphen)
                hy = hyphen;
        }
        return add_children(pop, hh, &home, first, mother, father, kids, hy, origin);
    }
    case HH_LONE_PARENT: {
        int sex = chance(r, 0.85) ? SEX_F : SEX_M;
        person_t *p = add_person(pop, hh, &home, sex, adult_year(pop, 20), origin);
        if (!p)
            return 0;
        if (age_at_ref(p->by) > 62) {
            p->by = (int16_t)(REF_YEAR - 20 - (int)rng_below(r, 40));
            random_day(r, p->by, &p->bm, &p->bd); /* 29 February may not exist that year */
        }
        name_person(pop, p, fam, first);
        if (finish_person(pop, p) < 0)
            return -1;
        /* The children may carry an absent father's surname. */
        const surname_t *kids = sex == SEX_F && chance(r, 0.3) ? sur_draw(pop, origin) : fam;
        return add_children(pop, hh, &home, first, sex == SEX_F ? p : NULL, sex == SEX_M ? p : NULL,
                            kids, NULL, origin);
    }
    default: { /* sharers: unrelated young adults */
        int k = rng_range(r, 2, 4);
        for (int i = 0; i < k; i++) {
            const surname_t *s = i == 0 ? fam : sur_draw(pop, -1);
            int sex = chance(r, 0.5) ? SEX_M : SEX_F;
            person_t *p = add_person(pop, hh, &home, sex, rng_range(r, 1990, 2005), s->origin);
            if (!p)
                return 0;
            name_person(pop, p, s, first);
            if (finish_person(pop, p) < 0)
                return -1;
        }
        return 0;
    }
    }
}

static int build_tables(pop_t *pop)
{
    /* Surnames: listed, then the tail, deduplicated against the listed names. */
    size_t ntail_max = sizeof tail_first / sizeof tail_first[0] *
                       (sizeof tail_mid / sizeof tail_mid[0]) *
                       (sizeof tail_last / sizeof tail_last[0]);
    pop->sur = calloc(N_LISTED + ntail_max, sizeof *pop->sur);
    pop->tail_names = malloc(ntail_max * 24);
    if (!pop->sur || !pop->tail_names)
        return -1;
    u64set_t seen = {0};
    double listed_total = 0, last = 0;
    for (size_t i = 0; i < N_LISTED; i++) {
        pop->sur[i] = listed_surnames[i];
        if (pop->sur[i].per100k <= 0) /* Zipf from rank 101 */
            pop->sur[i].per100k = (float)(90.0 * pow(100.0 / (double)(i + 1), 0.9));
        listed_total += pop->sur[i].per100k;
        last = pop->sur[i].per100k;
        char up[NAME_LEN];
        copy_str(up, sizeof up, pop->sur[i].name);
        ascii_upper(up);
        if (u64set_add(&seen, fnv1a(up, strlen(up))) < 0)
            return -1;
    }
    /* Scale each origin other than British to its share of the population. */
    double share[O_COUNT] = {0};
    for (size_t i = 0; i < N_LISTED; i++)
        share[pop->sur[i].origin] += pop->sur[i].per100k;
    listed_total = 0;
    for (size_t i = 0; i < N_LISTED; i++) {
        int o = pop->sur[i].origin;
        if (origin_share[o] > 0 && share[o] > 0)
            pop->sur[i].per100k =
                (float)(pop->sur[i].per100k * origin_share[o] * 100000.0 / share[o]);
        listed_total += pop->sur[i].per100k;
    }
    /* Frequencies of the listed names, for choosing namesakes: name hash -> per 100,000. */
    pop->freq_key = malloc(2 * N_LISTED * sizeof *pop->freq_key);
    pop->freq_val = malloc(2 * N_LISTED * sizeof *pop->freq_val);
    if (!pop->freq_key || !pop->freq_val)
        return -1;
    uint64_t *packed = malloc(2 * N_LISTED * sizeof *packed);
    if (!packed)
        return -1;
    size_t nf = 0;
    for (size_t i = 0; i < N_LISTED; i++) {
        const surname_t *e = &pop->sur[i];
        packed[nf++] = (fnv1a(e->name, strlen(e->name)) & ~0xffffULL) | i;
        if (e->female)
            packed[nf++] = (fnv1a(e->female, strlen(e->female)) & ~0xffffULL) | i;
    }
    qsort(packed, nf, sizeof *packed, cmp_u64);
    for (size_t i = 0; i < nf; i++) {
        pop->freq_key[i] = packed[i] & ~0xffffULL;
        pop->freq_val[i] = pop->sur[packed[i] & 0xffff].per100k;
    }
    pop->nfreq = nf;
    free(packed);
    pop->nsur = N_LISTED;
    /* The tail's names in a seeded order, so which rare names are the commoner ones varies. */
    size_t ntail = 0;
    char *store = pop->tail_names;
    for (size_t a = 0; a < sizeof tail_first / sizeof tail_first[0]; a++)
        for (size_t b = 0; b < sizeof tail_mid / sizeof tail_mid[0]; b++)
            for (size_t c = 0; c < sizeof tail_last / sizeof tail_last[0]; c++) {
                char name[24], up[24];
                int w =
                    snprintf(name, sizeof name, "%s%s%s", tail_first[a], tail_mid[b], tail_last[c]);
                if (w <= 0 || (size_t)w >= sizeof name)
                    continue;
                /* No tripled letters at the joins ("Bramman" is fine, "Hallley" is not). */
                bool odd = false;
                for (int k = 2; k < w; k++)
                    odd = odd ||
                          (tolower((unsigned char)name[k]) == tolower((unsigned char)name[k - 1]) &&
                           name[k] == name[k - 2]);
                copy_str(up, sizeof up, name);
                ascii_upper(up);
                if (odd || u64set_add(&seen, fnv1a(up, strlen(up))) != 1)
                    continue;
                memcpy(store + ntail * 24, name, (size_t)w + 1);
                pop->sur[pop->nsur + ntail] =
                    (surname_t){store + ntail * 24, NULL, NULL, NULL, 0, O_BRIT, 0};
                ntail++;
            }
    u64set_free(&seen);
    rng_t shuf;
    rng_seed(&shuf, pop->opt->seed, 0x5a11);
    surname_t *tail = pop->sur + pop->nsur;
    for (size_t i = ntail; i > 1; i--) {
        size_t j = rng_below(&shuf, (uint32_t)i);
        surname_t t = tail[i - 1];
        tail[i - 1] = tail[j];
        tail[j] = t;
    }
    /* Tail weights: Zipf with exponent 0.5 continuing from the last listed name, scaled so the
     * listed names keep their real frequencies (Smith 1.26%). */
    double tail_mass = 100000.0 - listed_total, zsum = 0;
    for (size_t i = 0; i < ntail; i++)
        zsum += pow((double)(N_LISTED + 1 + i), -0.5);
    for (size_t i = 0; i < ntail; i++) {
        double f = tail_mass * pow((double)(N_LISTED + 1 + i), -0.5) / zsum;
        tail[i].per100k = (float)(f < last ? f : last);
    }
    pop->nsur += ntail;
    if (wtable_init(&pop->sur_all, pop->nsur) < 0)
        return -1;
    for (int o = 0; o < O_COUNT; o++)
        if (wtable_init(&pop->sur_origin[o], pop->nsur) < 0)
            return -1;
    for (size_t i = 0; i < pop->nsur; i++) {
        (void)wtable_add(&pop->sur_all, pop->nsur, (uint32_t)i, pop->sur[i].per100k);
        (void)wtable_add(&pop->sur_origin[pop->sur[i].origin], pop->nsur, (uint32_t)i,
                         pop->sur[i].per100k);
    }
    /* Forenames by pool, sex and decade. */
    for (int pool = 0; pool < P_COUNT; pool++)
        for (int sex = 0; sex < 2; sex++)
            for (int d = 0; d < N_DECADES; d++) {
                wtable_t *t = &pop->fore[pool][sex][d];
                if (wtable_init(t, N_FORENAMES) < 0)
                    return -1;
                for (size_t i = 0; i < N_FORENAMES; i++) {
                    const forename_t *f = &forenames[i];
                    if (f->pool == pool && (f->sex & (sex + 1)))
                        (void)wtable_add(t, N_FORENAMES, (uint32_t)i, decade_weight(f, d));
                }
            }
    /* Adults' birth years: flat to 64 with the post-war bulge, then thinning out to 95. */
    if (wtable_init(&pop->adult_year, LAST_YEAR - FIRST_YEAR + 1) < 0)
        return -1;
    for (int y = FIRST_YEAR; y <= REF_YEAR - 18; y++) {
        int age = age_at_ref(y);
        double w = age <= 64 ? (y >= 1946 && y <= 1970 ? 1.15 : 1.0) : 1.0 - (age - 64) / 33.0;
        (void)wtable_add(&pop->adult_year, LAST_YEAR - FIRST_YEAR + 1, (uint32_t)y, w);
    }
    if (wtable_init(&pop->town_pick, N_TOWNS) < 0)
        return -1;
    for (size_t t = 0; t < N_TOWNS; t++) {
        (void)wtable_add(&pop->town_pick, N_TOWNS, (uint32_t)t, towns[t].weight);
        /* About 30 households per street. */
        double town_share = towns[t].weight / 454.0;
        pop->streets_per_town[t] =
            (uint32_t)(20 + (double)pop->opt->people / 2.4 * town_share / 30);
    }
    return 0;
}

static void pop_free(pop_t *pop)
{
    free(pop->sur);
    free(pop->tail_names);
    wtable_free(&pop->sur_all);
    for (int o = 0; o < O_COUNT; o++)
        wtable_free(&pop->sur_origin[o]);
    for (int pool = 0; pool < P_COUNT; pool++)
        for (int sex = 0; sex < 2; sex++)
            for (int d = 0; d < N_DECADES; d++)
                wtable_free(&pop->fore[pool][sex][d]);
    wtable_free(&pop->adult_year);
    wtable_free(&pop->town_pick);
    free(pop->p);
    u64set_free(&pop->used_nhs);
    u64set_free(&pop->used_ni);
    u64set_free(&pop->used_phone);
    u64set_free(&pop->used_email);
    u64set_free(&pop->used_place);
    free(pop->freq_key);
    free(pop->freq_val);
}

/* Which systems hold each person: socialcare holds IN_A of everyone; crm holds B_GIVEN_A of
 * those and everyone socialcare does not (so each person is somewhere); health, when there are
 * three systems, holds IN_C independently. Half the namesakes are placed only in crm: exactly
 * the records that must not be linked to their namesake's golden record. */
static void assign_systems(pop_t *pop)
{
    rng_t r;
    rng_seed(&r, pop->opt->seed, 0x5757);
    for (size_t i = 0; i < pop->n; i++) {
        person_t *p = &pop->p[i];
        uint8_t s = 0;
        if (p->flags & PF_NAMESAKE && chance(&r, 0.5)) {
            s = 2;
        } else if (chance(&r, pop->opt->in_a)) {
            s = 1;
            if (chance(&r, pop->opt->b_given_a))
                s |= 2;
        } else {
            s = 2;
        }
        if (pop->opt->systems > 2 && chance(&r, pop->opt->in_c))
            s |= 4;
        p->systems = s;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* System views: what each council system holds about a person                                 */

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

/* socialcare: the council's case system, long-lived records keyed by a social worker, good on
 * identifiers and addresses (it uses the gazetteer), sometimes stale. crm: the contact centre,
 * records made over the phone or on a web form: nicknames, typos, formatting, few identifiers.
 * health: a trust's patient administration system, NHS number traced, names in capitals. */
static const profile_t profiles[MAX_SYSTEMS] = {
    {.adapter = "socialcare",
     .id_prefix = "SC",
     .id_system = "https://council.example/id/socialcare",
     .id_base = 1000000,
     .keep_nhs = 0.92,
     .keep_ni = 0.75,
     .keep_phone = 0.85,
     .keep_email = 0.55,
     .keep_uprn = 0.95,
     .keep_middle = 0.85,
     .keep_sex = 0.995,
     .keep_dob = 0.998,
     .keep_prefix = 0.7,
     .surname_typo = 0.005,
     .given_typo = 0.003,
     .nickname = 0.02,
     .given_spelling = 0.01,
     .surname_spelling = 0.01,
     .dob_swap = 0.005,
     .dob_typo = 0.003,
     .moved = 0.05,
     .maiden = 0.10,
     .maiden_other = 0.5,
     .pc_nospace = 0.02,
     .apostrophe = 0.05,
     .accents_kept = 0.6,
     .hyphen_part = 0.05,
     .sex_wrong = 0.001,
     .phone_changed = 0.03,
     .email_changed = 0.05,
     .abbrev = 0.05,
     .nhs_spaced = 0.2,
     .ni_spaced = 0.1},
    {.adapter = "crm",
     .id_prefix = "CRM-",
     .id_system = "https://council.example/id/crm",
     .id_base = 5000000,
     .keep_nhs = 0.30,
     .keep_ni = 0.20,
     .keep_phone = 0.70,
     .keep_email = 0.80,
     .keep_uprn = 0.40,
     .keep_middle = 0.30,
     .keep_sex = 0.95,
     .keep_dob = 0.98,
     .keep_prefix = 0.4,
     .surname_typo = 0.04,
     .given_typo = 0.015,
     .nickname = 0.12,
     .given_spelling = 0.10,
     .surname_spelling = 0.08,
     .dob_swap = 0.03,
     .dob_typo = 0.02,
     .moved = 0.10,
     .maiden = 0.03,
     .pc_lower = 0.10,
     .pc_nospace = 0.15,
     .upper = 0.15,
     .lower = 0.05,
     .apostrophe = 0.4,
     .hyphen_part = 0.35,
     .sex_wrong = 0.005,
     .phone_intl = 0.05,
     .phone_changed = 0.08,
     .email_changed = 0.10,
     .abbrev = 0.3,
     .nhs_spaced = 0.5,
     .ni_spaced = 0.3},
    {.adapter = "health",
     .id_prefix = "RX1",
     .id_system = "https://fhir.nhs.uk/Id/local-patient-identifier",
     .id_base = 7000000,
     .keep_nhs = 0.99,
     .keep_ni = 0.03,
     .keep_phone = 0.75,
     .keep_email = 0.15,
     .keep_uprn = 0.30,
     .keep_middle = 0.70,
     .keep_sex = 0.998,
     .keep_dob = 0.999,
     .keep_prefix = 0.8,
     .surname_typo = 0.01,
     .given_typo = 0.005,
     .nickname = 0.01,
     .given_spelling = 0.03,
     .surname_spelling = 0.03,
     .dob_swap = 0.005,
     .dob_typo = 0.005,
     .moved = 0.06,
     .maiden = 0.05,
     .maiden_other = 0.3,
     .pc_nospace = 0.05,
     .upper = 0.6,
     .apostrophe = 0.3,
     .accents_kept = 0.1,
     .hyphen_part = 0.15,
     .sex_wrong = 0.002,
     .phone_intl = 0.02,
     .phone_changed = 0.05,
     .email_changed = 0.05,
     .abbrev = 0.2,
     .nhs_spaced = 0.5,
     .ni_spaced = 0.1},
};

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
static const char *const noise_name[N_COUNT] = {"surname typo (one edit)",
                                                "forename typo (one edit)",
                                                "nickname (Bill for William)",
                                                "forename spelling variant",
                                                "surname spelling variant",
                                                "day and month swapped",
                                                "one-digit birth-date typo",
                                                "birth date missing",
                                                "previous address (moved)",
                                                "maiden name (married)",
                                                "postcode lower case / no space",
                                                "name case (CAPS/lower)",
                                                "apostrophe dropped",
                                                "diacritics folded",
                                                "one part of a double surname",
                                                "middle name dropped",
                                                "sex missing",
                                                "sex wrong",
                                                "NHS number not recorded",
                                                "phone as +44",
                                                "different phone number",
                                                "different e-mail",
                                                "street type abbreviated"};

typedef struct {
    uint32_t person;
    uint32_t noise; /* 1 << N_* */
    uint8_t sex;    /* Joinery__V1__AdministrativeSex; 0 unspecified */
    char given[NAME_LEN], middle[NAME_LEN], family[NAME_LEN], maiden[NAME_LEN], prefix[8];
    char birth[16], nhs[14], ni[14];
    char line[64], town[24], county[24], postcode[10], uprn[24]; /* UPRN: 12 digits at most */
    char phone[18], email[EMAIL_LEN];
} record_t;

typedef struct {
    const profile_t *pf;
    record_t *rec;
    size_t n;
    int32_t *of_person; /* person -> record index, -1 if the system does not hold them */
    size_t applicable[N_COUNT], applied[N_COUNT];
} view_t;

static void local_id(const profile_t *pf, size_t idx, char *out, size_t cap)
{
    (void)snprintf(out, cap, "%s%zu", pf->id_prefix, pf->id_base + idx);
}

/* One keyboard slip in the ASCII letters of S: substitution by a neighbouring key,
 * transposition of two adjacent letters, or deletion. The first letter is rarely wrong. */
static bool typo(rng_t *r, char *s)
{
    size_t n = strlen(s), pos[NAME_LEN], k = 0;
    for (size_t i = 0; i < n && k < NAME_LEN; i++)
        if (is_alpha(s[i]))
            pos[k++] = i;
    if (k < 3)
        return false;
    size_t j = chance(r, 0.1) ? 0 : 1 + rng_below(r, (uint32_t)(k - 1));
    unsigned kind = rng_below(r, 10);
    if (kind >= 4 && kind <= 6) { /* transposition */
        size_t a = j + 1 < k ? j : j - 1;
        size_t pa = pos[a], pb = pos[a + 1];
        if (pb == pa + 1 && tolower((unsigned char)s[pa]) != tolower((unsigned char)s[pb])) {
            bool upa = isupper((unsigned char)s[pa]), upb = isupper((unsigned char)s[pb]);
            char ca = (char)tolower((unsigned char)s[pa]), cb = (char)tolower((unsigned char)s[pb]);
            s[pa] = upa ? (char)toupper((unsigned char)cb) : cb;
            s[pb] = upb ? (char)toupper((unsigned char)ca) : ca;
            return true;
        }
        kind = 0;
    }
    if (kind >= 7 && k > 3) { /* deletion */
        memmove(s + pos[j], s + pos[j] + 1, n - pos[j]);
        return true;
    }
    char c = s[pos[j]];
    const char *near = qwerty_near[tolower((unsigned char)c) - 'a'];
    char nc = near[rng_below(r, (uint32_t)strlen(near))];
    s[pos[j]] = isupper((unsigned char)c) ? (char)toupper((unsigned char)nc) : nc;
    return true;
}

/* One digit of the date mistyped (day digits most often), keeping a real date. */
static bool dob_typo(rng_t *r, int *y, int *m, int *d)
{
    for (int tries = 0; tries < 30; tries++) {
        char b[16];
        (void)snprintf(b, sizeof b, "%04d%02d%02d", *y, *m, *d);
        unsigned x = rng_below(r, 8);
        size_t at = x < 4 ? 6 + x % 2 : x < 6 ? 4 + x % 2 : 2 + x % 2;
        char old = b[at];
        b[at] = (char)('0' + rng_below(r, 10));
        if (b[at] == old)
            continue;
        int ny = (b[0] - '0') * 1000 + (b[1] - '0') * 100 + (b[2] - '0') * 10 + (b[3] - '0');
        int nm = (b[4] - '0') * 10 + (b[5] - '0');
        int nd = (b[6] - '0') * 10 + (b[7] - '0');
        if (date_ok(ny, nm, nd)) {
            *y = ny;
            *m = nm;
            *d = nd;
            return true;
        }
    }
    return false;
}

/* Another member of NAME's group in GROUPS (spelling variants), or the I-th nickname of a
 * formal name. Returns false when NAME has none. */
static bool variant_of(rng_t *r, const char *const *groups, size_t ngroups, const char *name,
                       char *out)
{
    for (size_t g = 0; g < ngroups; g++) {
        if (!word_in(groups[g], name))
            continue;
        size_t n = nth_word(groups[g], 0, NULL, 0);
        for (int tries = 0; tries < 8; tries++) {
            (void)nth_word(groups[g], rng_below(r, (uint32_t)n), out, NAME_LEN);
            if (strcmp(out, name) != 0)
                return true;
        }
    }
    return false;
}

static bool nickname_of(rng_t *r, const char *name, char *out)
{
    for (size_t g = 0; g < sizeof nicknames / sizeof nicknames[0]; g++) {
        char formal[NAME_LEN];
        size_t n = nth_word(nicknames[g], 0, formal, sizeof formal);
        if (n < 2 || strcmp(formal, name) != 0)
            continue;
        (void)nth_word(nicknames[g], 1 + rng_below(r, (uint32_t)(n - 1)), out, NAME_LEN);
        return true;
    }
    return false;
}

#define APPLY(v, rec, flag, cond)                                                                  \
    ((v)->applicable[flag]++,                                                                      \
     (cond) ? ((v)->applied[flag]++, (rec)->noise |= 1u << (flag), true) : false)

static void make_record(const pop_t *pop, view_t *v, rng_t *r, uint32_t pi, record_t *rec)
{
    const profile_t *pf = v->pf;
    const person_t *p = &pop->p[pi];
    memset(rec, 0, sizeof *rec);
    rec->person = pi;
    int age = age_at_ref(p->by);

    /* Surname: married or maiden, diacritics, double-barrel, spelling, apostrophe, typo. */
    bool use_maiden = false;
    if (p->maiden[0])
        use_maiden = APPLY(v, rec, N_MAIDEN, chance(r, pf->maiden));
    const char *fam = use_maiden ? p->maiden : p->family;
    const char *fam_alt = use_maiden ? p->maiden_alt : p->family_alt;
    if (fam_alt[0] && !APPLY(v, rec, N_ASCII, !chance(r, pf->accents_kept)))
        fam = fam_alt;
    copy_str(rec->family, NAME_LEN, fam);
    if (strchr(rec->family, '-') && APPLY(v, rec, N_HYPHEN_PART, chance(r, pf->hyphen_part))) {
        char *dash = strchr(rec->family, '-');
        if (chance(r, 0.5))
            *dash = ' ';
        else if (chance(r, 0.5))
            *dash = '\0';
        else
            memmove(rec->family, dash + 1, strlen(dash + 1) + 1);
    }
    char var[NAME_LEN];
    bool has_var =
        variant_of(r, surname_variants, sizeof surname_variants / sizeof surname_variants[0],
                   rec->family, var);
    if (has_var && APPLY(v, rec, N_SURNAME_SPELLING, chance(r, pf->surname_spelling)))
        copy_str(rec->family, NAME_LEN, var);
    char *ap = strchr(rec->family, '\'');
    if (ap && APPLY(v, rec, N_APOSTROPHE, chance(r, pf->apostrophe))) {
        if (chance(r, 0.6))
            memmove(ap, ap + 1, strlen(ap + 1) + 1);
        else
            *ap = ' ';
    }
    if (APPLY(v, rec, N_SURNAME_TYPO, chance(r, pf->surname_typo)) && !typo(r, rec->family))
        rec->noise &= ~(1u << N_SURNAME_TYPO), v->applied[N_SURNAME_TYPO]--;
    if (!use_maiden && p->maiden[0] && chance(r, pf->maiden_other))
        copy_str(rec->maiden, NAME_LEN, p->maiden);

    /* Forenames: nickname or spelling variant, diacritics, typo, middle name. */
    const char *given = p->given_alt[0] && chance(r, pf->accents_kept) ? p->given_alt : p->given;
    if (p->given_alt[0] && given == p->given) {
        v->applicable[N_ASCII]++;
        v->applied[N_ASCII]++;
        rec->noise |= 1u << N_ASCII;
    }
    copy_str(rec->given, NAME_LEN, given);
    char nick[NAME_LEN];
    bool has_nick = nickname_of(r, p->given, nick);
    if (has_nick && APPLY(v, rec, N_NICKNAME, chance(r, pf->nickname))) {
        copy_str(rec->given, NAME_LEN, nick);
    } else {
        bool has_gv = variant_of(r, given_variants,
                                 sizeof given_variants / sizeof given_variants[0], p->given, var);
        if (has_gv && APPLY(v, rec, N_GIVEN_SPELLING, chance(r, pf->given_spelling)))
            copy_str(rec->given, NAME_LEN, var);
    }
    if (APPLY(v, rec, N_GIVEN_TYPO, chance(r, pf->given_typo)) && !typo(r, rec->given))
        rec->noise &= ~(1u << N_GIVEN_TYPO), v->applied[N_GIVEN_TYPO]--;
    if (p->middle[0] && !APPLY(v, rec, N_MIDDLE_DROPPED, !chance(r, pf->keep_middle)))
        copy_str(rec->middle, NAME_LEN, p->middle);
    double c = rng_unit(r);
    v->applicable[N_CASE]++;
    if (c < pf->upper + pf->lower) {
        v->applied[N_CASE]++;
        rec->noise |= 1u << N_CASE;
        void (*f)(char *) = c < pf->upper ? ascii_upper : ascii_lower;
        f(rec->given);
        f(rec->middle);
        f(rec->family);
        f(rec->maiden);
    }
    if (age >= 18 && chance(r, pf->keep_prefix)) {
        const char *pre = p->sex == SEX_M ? "Mr" : p->maiden[0] ? "Mrs" : age < 30 ? "Miss" : "Ms";
        if (chance(r, 0.01))
            pre = "Dr";
        copy_str(rec->prefix, sizeof rec->prefix, pre);
    }

    /* Birth date. */
    int y = p->by, m = p->bm, d = p->bd;
    if (APPLY(v, rec, N_DOB_MISSING, !chance(r, pf->keep_dob))) {
        rec->birth[0] = '\0';
    } else {
        if (d <= 12 && d != m && APPLY(v, rec, N_DOB_SWAP, chance(r, pf->dob_swap))) {
            int t = d;
            d = m;
            m = t;
        } else if (APPLY(v, rec, N_DOB_TYPO, chance(r, pf->dob_typo)) && !dob_typo(r, &y, &m, &d)) {
            rec->noise &= ~(1u << N_DOB_TYPO);
            v->applied[N_DOB_TYPO]--;
        }
        format_date(rec->birth, y, m, d);
    }

    /* Sex. */
    rec->sex = p->sex;
    if (APPLY(v, rec, N_SEX_MISSING, !chance(r, pf->keep_sex)))
        rec->sex = 0;
    else if (APPLY(v, rec, N_SEX_WRONG, chance(r, pf->sex_wrong)))
        rec->sex = (uint8_t)(3 - p->sex);

    /* Identifiers. */
    if (p->nhs[0]) {
        if (!APPLY(v, rec, N_NHS_MISSING, !chance(r, pf->keep_nhs))) {
            if (chance(r, pf->nhs_spaced))
                (void)snprintf(rec->nhs, sizeof rec->nhs, "%.3s %.3s %.4s", p->nhs, p->nhs + 3,
                               p->nhs + 6);
            else
                copy_str(rec->nhs, sizeof rec->nhs, p->nhs);
        }
    }
    if (p->ni[0] && chance(r, pf->keep_ni)) {
        if (chance(r, pf->ni_spaced))
            (void)snprintf(rec->ni, sizeof rec->ni, "%.2s %.2s %.2s %.2s %c", p->ni, p->ni + 2,
                           p->ni + 4, p->ni + 6, p->ni[8]);
        else
            copy_str(rec->ni, sizeof rec->ni, p->ni);
    }

    /* Address: current or previous, formatting. */
    place_t pl = p->home;
    if (APPLY(v, rec, N_MOVED, chance(r, pf->moved)))
        pl = previous_place(pop, pi);
    bool abbrev = APPLY(v, rec, N_ABBREV, chance(r, pf->abbrev));
    place_line(pop->opt->seed, &pl, abbrev, rec->line, sizeof rec->line);
    copy_str(rec->town, sizeof rec->town, towns[pl.town].name);
    copy_str(rec->county, sizeof rec->county, towns[pl.town].county);
    char pc[9];
    place_postcode(pop->opt->seed, &pl, pc);
    bool lower = chance(r, pf->pc_lower), nospace = chance(r, pf->pc_nospace);
    v->applicable[N_PC_FORMAT]++;
    if (lower || nospace) {
        v->applied[N_PC_FORMAT]++;
        rec->noise |= 1u << N_PC_FORMAT;
    }
    size_t o = 0;
    for (const char *s = pc; *s && o + 1 < sizeof rec->postcode; s++) {
        if (*s == ' ' && nospace)
            continue;
        rec->postcode[o++] = lower ? (char)tolower((unsigned char)*s) : *s;
    }
    rec->postcode[o] = '\0';
    uint64_t uprn = place_uprn(pop->opt->seed, &pl);
    if (uprn && chance(r, pf->keep_uprn))
        (void)snprintf(rec->uprn, sizeof rec->uprn, "%" PRIu64, uprn);

    /* Contacts. */
    if (p->phone[0] && chance(r, pf->keep_phone)) {
        char ph[12];
        copy_str(ph, sizeof ph, p->phone);
        if (APPLY(v, rec, N_PHONE_CHANGED, chance(r, pf->phone_changed)))
            (void)new_phone(r, NULL, ph);
        if (APPLY(v, rec, N_PHONE_INTL, chance(r, pf->phone_intl)))
            (void)snprintf(rec->phone, sizeof rec->phone, "+44 %.4s %.6s", ph + 1, ph + 5);
        else if (chance(r, 0.5))
            (void)snprintf(rec->phone, sizeof rec->phone, "%.5s %.6s", ph, ph + 5);
        else
            copy_str(rec->phone, sizeof rec->phone, ph);
    }
    if (p->email[0] && chance(r, pf->keep_email)) {
        if (APPLY(v, rec, N_EMAIL_CHANGED, chance(r, pf->email_changed)))
            (void)new_email(r, p, NULL, rec->email);
        else
            copy_str(rec->email, sizeof rec->email, p->email);
    }
}

static int build_view(const pop_t *pop, int sys, view_t *v)
{
    memset(v, 0, sizeof *v);
    v->pf = &profiles[sys];
    v->of_person = malloc(pop->n * sizeof *v->of_person);
    uint32_t *order = malloc(pop->n * sizeof *order);
    if (!v->of_person || !order) {
        free(order);
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < pop->n; i++) {
        v->of_person[i] = -1;
        if (pop->p[i].systems & (1u << sys))
            order[n++] = (uint32_t)i;
    }
    /* Local ids are handed out in the order the system registered people, which has nothing to
     * do with households: shuffle. */
    rng_t shuf, noise;
    rng_seed(&shuf, pop->opt->seed, 0x0de50000ULL + (uint64_t)sys);
    rng_seed(&noise, pop->opt->seed, 0x401e0000ULL + (uint64_t)sys);
    for (size_t i = n; i > 1; i--) {
        size_t j = rng_below(&shuf, (uint32_t)i);
        uint32_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    v->rec = malloc((n ? n : 1) * sizeof *v->rec);
    if (!v->rec) {
        free(order);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        make_record(pop, v, &noise, order[i], &v->rec[i]);
        v->of_person[order[i]] = (int32_t)i;
    }
    v->n = n;
    free(order);
    return 0;
}

static void view_free(view_t *v)
{
    free(v->rec);
    free(v->of_person);
    memset(v, 0, sizeof *v);
}

/* ------------------------------------------------------------------------------------------ */
/* Generator statistics                                                                         */

typedef struct {
    const char *name;
    size_t count;
} tally_item_t;

static int cmp_tally(const void *a, const void *b)
{
    const tally_item_t *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return strcmp(x->name, y->name);
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The TOP most frequent values of NAMES[0..N) (pointers to strings), by sorting copies. */
static void print_top(const char *title, const char **names, size_t n, size_t top, size_t of)
{
    tally_item_t *t = malloc((n ? n : 1) * sizeof *t);
    const char **sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!t || !sorted) {
        free(t);
        free(sorted);
        return;
    }
    memcpy(sorted, names, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_strp);
    size_t nt = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && strcmp(sorted[j], sorted[i]) == 0)
            j++;
        t[nt++] = (tally_item_t){sorted[i], j - i};
        i = j;
    }
    qsort(t, nt, sizeof *t, cmp_tally);
    printf("  %s (%zu distinct):", title, nt);
    for (size_t i = 0; i < nt && i < top; i++)
        printf("%s %s %.2f%%", i ? "," : "", t[i].name, 100.0 * (double)t[i].count / (double)of);
    printf("\n");
    free(t);
    free(sorted);
}

static uint64_t name_dob_key(const char *given, const char *family, int y, int m, int d)
{
    char buf[3 * NAME_LEN];
    int w = snprintf(buf, sizeof buf, "%s|%s|%04d-%02d-%02d", given, family, y, m, d);
    return fnv1a(buf, w > 0 ? (size_t)w : 0);
}

static double pct(size_t a, size_t b)
{
    return b ? 100.0 * (double)a / (double)b : 0.0;
}

static void print_stats(const pop_t *pop, const view_t *views, int nsys)
{
    size_t n = pop->n;
    const char **names = malloc((n ? n : 1) * sizeof *names);
    uint64_t *keys = malloc((n ? n : 1) * 2 * sizeof *keys);
    if (!names || !keys) {
        free(names);
        free(keys);
        return;
    }
    printf("generator statistics (seed %" PRIu64 ")\n", pop->opt->seed);
    printf("  people %zu in %u households:", n, pop->households);
    for (int h = 0; h < HH_COUNT; h++)
        printf("%s %s %u", h ? "," : "", hh_name[h], pop->hh_count[h]);
    printf("\n  origins:");
    size_t by_origin[O_COUNT] = {0}, decades[N_DECADES] = {0};
    size_t nhs = 0, ni = 0, adults = 0, phone = 0, email = 0, twins = 0, paired = 0, similar = 0,
           junior = 0, maiden = 0, hyphen = 0, shared = 0, bg = 0, namesakes = 0, male = 0;
    for (size_t i = 0; i < n; i++) {
        const person_t *p = &pop->p[i];
        by_origin[p->origin]++;
        decades[decade_of(p->by)]++;
        nhs += p->nhs[0] != 0;
        adults += age_at_ref(p->by) >= 16;
        ni += p->ni[0] != 0;
        phone += p->phone[0] != 0;
        email += p->email[0] != 0;
        twins += (p->flags & PF_TWIN) != 0;
        bg += (p->flags & PF_TWIN) && pop->p[p->twin].sex != p->sex;
        paired += (p->flags & PF_TWIN_PAIRED) != 0;
        similar += (p->flags & PF_TWIN_SIMILAR) != 0;
        junior += (p->flags & PF_JUNIOR) != 0;
        maiden += p->maiden[0] != 0;
        hyphen += (p->flags & PF_HYPHEN) != 0;
        shared += (p->flags & PF_SHARED_PHONE) != 0;
        namesakes += (p->flags & PF_NAMESAKE) != 0;
        male += p->sex == SEX_M;
    }
    for (int o = 0; o < O_COUNT; o++)
        printf("%s %s %.1f%%", o ? "," : "", origin_name[o], pct(by_origin[o], n));
    printf("\n  birth decades:");
    for (int d = 0; d < N_DECADES; d++)
        printf(" %ds %.1f%%", FIRST_YEAR + 10 * d, pct(decades[d], n));
    printf("\n  sex: male %.1f%%, female %.1f%%\n", pct(male, n), pct(n - male, n));
    for (size_t i = 0; i < n; i++)
        names[i] = pop->p[i].family;
    printf("  surname table: %zu listed + %zu generated tail names; Smith %.3f%% by the table\n",
           N_LISTED, pop->nsur - N_LISTED, pop->sur[0].per100k / 1000.0);
    print_top("surnames, top 10", names, n, 10, n);
    static const int show_decades[] = {1, 4, 8};
    for (int s = SEX_M; s <= SEX_F; s++)
        for (size_t k = 0; k < sizeof show_decades / sizeof show_decades[0]; k++) {
            size_t m = 0;
            for (size_t i = 0; i < n; i++)
                if (pop->p[i].sex == s && decade_of(pop->p[i].by) == show_decades[k])
                    names[m++] = pop->p[i].given;
            char title[64];
            (void)snprintf(title, sizeof title, "%s forenames born %ds, top 6",
                           s == SEX_M ? "male" : "female", FIRST_YEAR + 10 * show_decades[k]);
            print_top(title, names, m, 6, m);
        }
    printf("  coverage: NHS number %.1f%%, NI number %.1f%% of those 16+, mobile %.1f%%, e-mail "
           "%.1f%%\n",
           pct(nhs, n), pct(ni, adults), pct(phone, n), pct(email, n));
    printf("  families: %zu twins (%zu pairs; %zu boy/girl, %zu named as a pair like "
           "Alexander/Alexandra, %zu with similar names like Jack/Jake), %zu children sharing a "
           "parent's forename, %zu women with a maiden name, %zu double-barrelled, %zu children "
           "with a parent's mobile\n",
           twins, twins / 2, bg / 2, paired / 2, similar / 2, junior, maiden, hyphen, shared);
    /* Namesakes: distinct people with the same forename, surname and birth date. */
    for (size_t i = 0; i < n; i++) {
        const person_t *p = &pop->p[i];
        keys[i] = name_dob_key(p->given, p->family, p->by, p->bm, p->bd);
    }
    qsort(keys, n, sizeof *keys, cmp_u64);
    size_t pairs = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && keys[j] == keys[i])
            j++;
        pairs += (j - i) * (j - i - 1) / 2;
        i = j;
    }
    size_t cross = 0;
    if (nsys >= 2) {
        /* The hard negatives proper: one of them in socialcare, the other in crm. */
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            const person_t *p = &pop->p[i];
            uint64_t k = name_dob_key(p->given, p->family, p->by, p->bm, p->bd) & ~3ULL;
            if (p->systems & 1)
                keys[m++] = k | 1;
            if (p->systems & 2)
                keys[m++] = k | 2;
        }
        qsort(keys, m, sizeof *keys, cmp_u64);
        for (size_t i = 0; i < m;) {
            size_t j = i, a = 0, b = 0;
            while (j < m && (keys[j] & ~3ULL) == (keys[i] & ~3ULL)) {
                a += (keys[j] & 3) == 1;
                b += (keys[j] & 3) == 2;
                j++;
            }
            cross += a * b;
            i = j;
        }
    }
    size_t in_both = 0;
    for (size_t i = 0; i < n; i++)
        in_both += (pop->p[i].systems & 3) == 3;
    printf("  namesakes (different people, same forename + surname + birth date): %zu pairs, %zu "
           "made deliberately in another town; socialcare x crm record pairs between namesakes: "
           "%zu\n",
           pairs, namesakes, cross - in_both);
    for (int s = 0; s < nsys; s++) {
        const view_t *v = &views[s];
        size_t f_nhs = 0, f_ni = 0, f_phone = 0, f_email = 0, f_uprn = 0, f_dob = 0;
        for (size_t i = 0; i < v->n; i++) {
            const record_t *r = &v->rec[i];
            f_nhs += r->nhs[0] != 0;
            f_ni += r->ni[0] != 0;
            f_phone += r->phone[0] != 0;
            f_email += r->email[0] != 0;
            f_uprn += r->uprn[0] != 0;
            f_dob += r->birth[0] != 0;
        }
        printf("  system %s: %zu records; NHS %.1f%%, NI %.1f%%, birth date %.1f%%, mobile %.1f%%, "
               "e-mail %.1f%%, UPRN %.1f%%\n",
               v->pf->adapter, v->n, pct(f_nhs, v->n), pct(f_ni, v->n), pct(f_dob, v->n),
               pct(f_phone, v->n), pct(f_email, v->n), pct(f_uprn, v->n));
    }
    printf("  noise, applied / records where it can apply:\n");
    printf("    %-34s", "");
    for (int s = 0; s < nsys; s++)
        printf(" %24s", views[s].pf->adapter);
    printf("\n");
    for (int k = 0; k < N_COUNT; k++) {
        printf("    %-34s", noise_name[k]);
        for (int s = 0; s < nsys; s++) {
            char cell[48];
            (void)snprintf(cell, sizeof cell, "%zu/%zu %5.2f%%", views[s].applied[k],
                           views[s].applicable[k],
                           pct(views[s].applied[k], views[s].applicable[k]));
            printf(" %24s", cell);
        }
        printf("\n");
    }
    free(names);
    free(keys);
}

static const char *sex_text(int sex)
{
    return sex == 1 ? "male" : sex == 2 ? "female" : "";
}

static void noise_text(uint32_t noise, char *out, size_t cap)
{
    static const char *const short_name[N_COUNT] = {
        "surname-typo",    "given-typo",    "nickname",    "given-spelling", "surname-spelling",
        "dob-swap",        "dob-typo",      "dob-missing", "moved",          "maiden",
        "postcode-format", "case",          "apostrophe",  "ascii",          "hyphen-part",
        "middle-dropped",  "sex-missing",   "sex-wrong",   "nhs-missing",    "phone-intl",
        "phone-changed",   "email-changed", "abbrev"};
    size_t used = 0;
    out[0] = '\0';
    for (int k = 0; k < N_COUNT; k++) {
        if (!(noise & (1u << k)))
            continue;
        int w = snprintf(out + used, cap - used, "%s%s", used ? "+" : "", short_name[k]);
        if (w < 0 || (size_t)w >= cap - used)
            break;
        used += (size_t)w;
    }
}

/* Every record with its person: the ground truth, for inspection or other tools. */
static int write_csv(const char *path, const pop_t *pop, const view_t *views, int nsys)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "bench_matching: %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "system,local_id,person,household,given,middle,family,maiden,birth_date,sex,nhs,"
               "ni,line,town,postcode,uprn,phone,email,noise,kin\n");
    for (int s = 0; s < nsys; s++)
        for (size_t i = 0; i < views[s].n; i++) {
            const record_t *r = &views[s].rec[i];
            char id[32], noise[512], kin[64] = "";
            local_id(views[s].pf, i, id, sizeof id);
            noise_text(r->noise, noise, sizeof noise);
            const person_t *p = &pop->p[r->person];
            if (p->twin >= 0)
                (void)snprintf(kin, sizeof kin, "twin of P%06d%s", p->twin,
                               p->flags & PF_TWIN_PAIRED    ? " (paired names)"
                               : p->flags & PF_TWIN_SIMILAR ? " (similar names)"
                                                            : "");
            else if (p->namesake_of >= 0)
                (void)snprintf(kin, sizeof kin, "namesake of P%06d", p->namesake_of);
            else if (p->flags & PF_JUNIOR)
                (void)snprintf(kin, sizeof kin, "shares a parent's forename");
            fprintf(f, "%s,%s,P%06u,H%06u,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n",
                    views[s].pf->adapter, id, r->person, pop->p[r->person].household, r->given,
                    r->middle, r->family, r->maiden, r->birth, sex_text(r->sex), r->nhs, r->ni,
                    r->line, r->town, r->postcode, r->uprn, r->phone, r->email, noise, kin);
        }
    if (fclose(f) != 0) {
        fprintf(stderr, "bench_matching: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Loading through the hub                                                                      */

typedef struct {
    size_t ok, duplicate, rejected, unconfirmed, with_master;
    char reasons[5][200];
    size_t nreasons;
} tally_t;

static void on_confirm(void *ud, const joinery_confirm_t *c)
{
    tally_t *t = ud;
    switch (c->status) {
    case JOINERY_OK:
        t->ok++;
        break;
    case JOINERY_DUPLICATE:
        t->duplicate++;
        break;
    case JOINERY_REJECTED:
        t->rejected++;
        break;
    default:
        t->unconfirmed++;
        break;
    }
    if (c->master_id && c->master_id[0])
        t->with_master++;
    if ((c->status == JOINERY_REJECTED || c->status == JOINERY_UNCONFIRMED) && t->nreasons < 5)
        (void)snprintf(t->reasons[t->nreasons++], sizeof t->reasons[0], "%s: %s", c->event_id,
                       c->reason ? c->reason : "");
}

/* The record as the adapter would publish it: a joinery.v1.Person. 0 if it does not fit. */
static size_t pack_record(const view_t *v, size_t idx, uint8_t *buf, size_t cap)
{
    const record_t *r = &v->rec[idx];
    char id[32];
    local_id(v->pf, idx, id, sizeof id);

    Joinery__V1__HumanName name = JOINERY__V1__HUMAN_NAME__INIT;
    char *given[2] = {(char *)r->given, (char *)r->middle};
    name.use = (char *)"official";
    name.prefix = (char *)r->prefix;
    name.given = given;
    name.n_given = r->middle[0] ? 2 : 1;
    name.family = (char *)r->family;
    Joinery__V1__HumanName maiden = JOINERY__V1__HUMAN_NAME__INIT;
    maiden.use = (char *)"maiden";
    maiden.family = (char *)r->maiden;
    Joinery__V1__HumanName *others[1] = {&maiden};

    Joinery__V1__Address addr = JOINERY__V1__ADDRESS__INIT;
    char *lines[1] = {(char *)r->line};
    addr.use = (char *)"home";
    addr.lines = lines;
    addr.n_lines = 1;
    addr.town = (char *)r->town;
    addr.district = (char *)r->county;
    addr.postcode = (char *)r->postcode;
    addr.uprn = (char *)r->uprn;
    Joinery__V1__Address *addrs[1] = {&addr};

    Joinery__V1__ContactPoint phone = JOINERY__V1__CONTACT_POINT__INIT;
    Joinery__V1__ContactPoint email = JOINERY__V1__CONTACT_POINT__INIT;
    Joinery__V1__ContactPoint *tel[2];
    size_t ntel = 0;
    if (r->phone[0]) {
        phone.system = (char *)"phone";
        phone.value = (char *)r->phone;
        phone.use = (char *)"mobile";
        tel[ntel++] = &phone;
    }
    if (r->email[0]) {
        email.system = (char *)"email";
        email.value = (char *)r->email;
        email.use = (char *)"home";
        tel[ntel++] = &email;
    }

    Joinery__V1__Identifier ident = JOINERY__V1__IDENTIFIER__INIT;
    ident.system = (char *)v->pf->id_system;
    ident.value = id;
    Joinery__V1__Identifier *idents[1] = {&ident};

    Joinery__V1__Person p = JOINERY__V1__PERSON__INIT;
    p.nhs_number = (char *)r->nhs;
    if (r->nhs[0] && strcmp(v->pf->adapter, "health") == 0)
        p.nhs_number_verification =
            JOINERY__V1__NHS_NUMBER_VERIFICATION__NHS_NUMBER_PRESENT_AND_VERIFIED;
    p.ni_number = (char *)r->ni;
    p.name = &name;
    if (r->maiden[0]) {
        p.other_names = others;
        p.n_other_names = 1;
    }
    p.birth_date = (char *)r->birth;
    p.sex = (Joinery__V1__AdministrativeSex)r->sex;
    p.addresses = addrs;
    p.n_addresses = 1;
    p.telecom = tel;
    p.n_telecom = ntel;
    p.identifiers = idents;
    p.n_identifiers = 1;
    if (joinery__v1__person__get_packed_size(&p) > cap)
        return 0;
    return joinery__v1__person__pack(&p, buf);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t real_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Publishes every record of V as V's adapter; *seconds from the first publish to the last
 * confirmation. */
/* A client publishing as V's adapter, up to 20,000 unconfirmed; NULL with a message. */
static joinery_client_t *connect_as(const options_t *opt, const view_t *v)
{
    joinery_options_t o = {.endpoint = opt->endpoint,
                           .adapter = v->pf->adapter,
                           .keys_dir = opt->keys && strcmp(opt->keys, "-") != 0 ? opt->keys : NULL,
                           .max_unconfirmed = 20000};
    char err[512];
    joinery_client_t *c = joinery_connect(&o, err, sizeof err);
    if (!c)
        fprintf(stderr, "bench_matching: connect as %s: %s\n", v->pf->adapter, err);
    return c;
}

/* Waits for every confirmation, closes *C and sets *SECONDS since T0. -1 if some never came. */
static int flush_close(joinery_client_t **c, const view_t *v, double t0, double *seconds)
{
    int rc = 0;
    /* Ten minutes is far beyond any healthy run; a hub that stops answering must not hang us. */
    if (joinery_flush(*c, 600000) < 0) {
        fprintf(stderr, "bench_matching: %s: %zu events still unconfirmed after 10 minutes\n",
                v->pf->adapter, joinery_unconfirmed(*c));
        rc = -1;
    }
    *seconds = mono_s() - t0;
    joinery_close(c);
    return rc;
}

static int load_view(const options_t *opt, const view_t *v, tally_t *t, double *seconds)
{
    joinery_client_t *c = connect_as(opt, v);
    if (!c)
        return -1;
    int rc = 0;
    long long run = (long long)real_us();
    uint8_t buf[4096];
    double t0 = mono_s();
    for (size_t i = 0; i < v->n; i++) {
        size_t len = pack_record(v, i, buf, sizeof buf);
        if (len == 0) {
            fprintf(stderr, "bench_matching: record %zu of %s does not fit\n", i, v->pf->adapter);
            rc = -1;
            break;
        }
        char id[32], event_id[64];
        local_id(v->pf, i, id, sizeof id);
        (void)snprintf(event_id, sizeof event_id, "mb%lld-%s-%zu", run, v->pf->adapter, i);
        joinery_event_t ev = {.event_id = event_id,
                              .type = "person.updated",
                              .source_record_id = id,
                              .payload_type = "joinery.v1.Person",
                              .payload = buf,
                              .payload_len = len};
        if (joinery_publish_async(c, &ev, on_confirm, t, NULL) < 0) {
            fprintf(stderr, "bench_matching: publish %s: %s\n", id, joinery_last_error(c));
            rc = -1;
            break;
        }
    }
    return flush_close(&c, v, t0, seconds) < 0 ? -1 : rc;
}

/* CPU seconds (user + system) used so far by the process or thread whose stat file is PATH, or
 * -1; *PPID (may be NULL) gets its parent. Fields 4, 14 and 15 of /proc/PID/stat, counted after
 * the command name, which may itself hold blanks and parentheses. */
static double stat_cpu_s(const char *path, long *ppid)
{
    char buf[1024];
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    p++;
    unsigned long long ticks[2] = {0, 0}, parent = 0;
    for (int field = 3; field <= 15 && *p; field++) {
        while (*p == ' ')
            p++;
        if (field == 4 || field >= 14) {
            char *end = NULL;
            errno = 0;
            unsigned long long v = strtoull(p, &end, 10);
            if (errno != 0 || end == p)
                return -1;
            if (field == 4)
                parent = v;
            else
                ticks[field - 14] = v;
        }
        while (*p && *p != ' ')
            p++;
    }
    if (ppid)
        *ppid = (long)parent;
    long hz = sysconf(_SC_CLK_TCK);
    return hz > 0 ? (double)(ticks[0] + ticks[1]) / (double)hz : -1;
}

static double proc_cpu_s(long pid)
{
    if (pid <= 0)
        return -1;
    char path[64];
    (void)snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    return stat_cpu_s(path, NULL);
}

/* The CPU of a process's first thread: the hub's core thread, which runs the engine. */
static double main_thread_cpu_s(long pid)
{
    if (pid <= 0)
        return -1;
    char path[80];
    (void)snprintf(path, sizeof path, "/proc/%ld/task/%ld/stat", pid, pid);
    return stat_cpu_s(path, NULL);
}

/* CPU used so far by PID and every process it started: PostgreSQL's postmaster and its backends,
 * WAL writer and checkpointer. A backend that exited meanwhile is not counted, which makes this a
 * lower bound; the hub's connection lives as long as the hub. */
static double tree_cpu_s(long pid)
{
    if (pid <= 0)
        return -1;
    double sum = proc_cpu_s(pid);
    if (sum < 0)
        return -1;
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end = NULL;
        long child = strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end != '\0' || child <= 0)
            continue;
        char path[300];
        (void)snprintf(path, sizeof path, "/proc/%ld/stat", child);
        long parent = 0;
        double c = stat_cpu_s(path, &parent);
        if (c >= 0 && parent == pid)
            sum += c;
    }
    closedir(d);
    return sum;
}

static double per_event_us(double cpu_s, size_t events)
{
    return cpu_s >= 0 && events ? cpu_s * 1e6 / (double)events : -1;
}

static double self_cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* CPU time the hypervisor gave to others while this machine wanted it (the "steal" column of
 * /proc/stat), in seconds summed over CPUs, or -1. On a shared VM it explains much of the
 * run-to-run spread of the rates. */
static double steal_s(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL)
        return -1;
    unsigned long long v[8] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    long hz = sysconf(_SC_CLK_TCK);
    return n == 8 && hz > 0 ? (double)v[7] / (double)hz : -1;
}

/* VmRSS and VmHWM of PID in KiB, or -1. */
static int read_rss(long pid, long *rss_kib, long *hwm_kib)
{
    *rss_kib = *hwm_kib = -1;
    if (pid <= 0)
        return -1;
    char path[64], line[256];
    (void)snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        long *dst = strncmp(line, "VmRSS:", 6) == 0   ? rss_kib
                    : strncmp(line, "VmHWM:", 6) == 0 ? hwm_kib
                                                      : NULL;
        if (!dst)
            continue;
        char *end = NULL;
        errno = 0;
        long v = strtol(line + 6, &end, 10);
        if (errno == 0 && end != line + 6)
            *dst = v;
    }
    fclose(f);
    return *rss_kib >= 0 ? 0 : -1;
}

/* ------------------------------------------------------------------------------------------ */
/* PostgreSQL                                                                                   */

typedef struct {
    PGconn *conn;
} pq_t;

static int pq_open(pq_t *pq, const char *conninfo)
{
    memset(pq, 0, sizeof *pq);
    pq->conn = PQconnectdb(conninfo);
    if (!pq->conn || PQstatus(pq->conn) != CONNECTION_OK) {
        fprintf(stderr, "bench_matching: connect to PostgreSQL (%s): %s\n", conninfo,
                pq->conn ? PQerrorMessage(pq->conn) : "out of memory");
        return -1;
    }
    return 0;
}

static void pq_close(pq_t *pq)
{
    if (pq->conn)
        PQfinish(pq->conn);
    pq->conn = NULL;
}

static PGresult *pq_query(pq_t *pq, const char *sql)
{
    PGresult *r = PQexec(pq->conn, sql);
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "bench_matching: %s: %s\n", sql,
                r ? PQresultErrorMessage(r) : PQerrorMessage(pq->conn));
        if (r)
            PQclear(r);
        return NULL;
    }
    return r;
}

/* PostgreSQL's WAL counters (pg_stat_wal) and its checkpoints so far; all -1 if unknown. */
typedef struct {
    long long records, fpi, bytes, checkpoints;
} walstat_t;

static walstat_t pg_wal(pq_t *pq)
{
    walstat_t w = {-1, -1, -1, -1};
    PGresult *r = pq_query(pq, "SELECT wal_records, wal_fpi, wal_bytes::bigint, "
                               "(SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter) "
                               "FROM pg_stat_wal");
    if (!r)
        return w;
    long long *out[] = {&w.records, &w.fpi, &w.bytes, &w.checkpoints};
    for (int i = 0; i < 4 && PQntuples(r) == 1; i++) {
        char *end = NULL;
        errno = 0;
        long long x = strtoll(PQgetvalue(r, 0, i), &end, 10);
        if (errno == 0 && end && *end == '\0')
            *out[i] = x;
    }
    PQclear(r);
    return w;
}

/* A single number from SQL, or -1. */
static long long pq_count(pq_t *pq, const char *sql)
{
    PGresult *r = pq_query(pq, sql);
    if (!r)
        return -1;
    long long v = -1;
    if (PQntuples(r) == 1) {
        char *end = NULL;
        errno = 0;
        long long x = strtoll(PQgetvalue(r, 0, 0), &end, 10);
        if (errno == 0 && end && *end == '\0')
            v = x;
    }
    PQclear(r);
    return v;
}

/* Rows in the tables an entity event writes to, counted exactly (the statistics views lag
 * behind a busy connection): journal, golden records and their history, xref, queue, audit. */
static long long pg_rows(pq_t *pq)
{
    return pq_count(pq, "SELECT (SELECT count(*) FROM journal) + (SELECT count(*) FROM "
                        "golden_person) + (SELECT count(*) FROM golden_person_history) + "
                        "(SELECT count(*) FROM xref) + (SELECT count(*) FROM steward_queue) + "
                        "(SELECT count(*) FROM master_audit)");
}

/* ------------------------------------------------------------------------------------------ */
/* The outcome and its evaluation                                                               */

enum { LS_NONE, LS_MATCH, LS_POSSIBLE, LS_NO_MATCH, LS_REDIRECTED };
enum { HOW_NONE, HOW_RULE, HOW_SCORE, HOW_STEWARD };

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

static void outcome_free(outcome_t *o)
{
    for (int s = 0; s < MAX_SYSTEMS; s++) {
        free(o->cluster[s]);
        free(o->state[s]);
        free(o->how[s]);
        free(o->score[s]);
    }
    strmap_free(&o->ids);
    free(o->redirect);
    free(o->start);
    free(o->members);
    free(o->qa);
    free(o->qb);
    free(o->qscore);
    free(o->qopen);
    u64set_free(&o->qpairs);
    memset(o, 0, sizeof *o);
}

static int32_t resolve(const outcome_t *o, int32_t c)
{
    for (int hops = 0; c >= 0 && o->redirect[c] >= 0 && hops < 64; hops++)
        c = o->redirect[c];
    return c;
}

static int parse_local(const profile_t *pf, const char *s, size_t n, size_t *out)
{
    size_t pl = strlen(pf->id_prefix);
    if (strncmp(s, pf->id_prefix, pl) != 0 || s[pl] < '0' || s[pl] > '9')
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s + pl, &end, 10);
    if (errno != 0 || *end != '\0' || v < pf->id_base || v - pf->id_base >= n)
        return -1;
    *out = (size_t)(v - pf->id_base);
    return 0;
}

static uint64_t pair_key(int32_t a, int32_t b)
{
    uint32_t lo = (uint32_t)(a < b ? a : b), hi = (uint32_t)(a < b ? b : a);
    return ((uint64_t)lo << 32 | hi) + 1;
}

static int read_outcome(pq_t *pq, const view_t *views, int nsys, outcome_t *o)
{
    memset(o, 0, sizeof *o);
    for (int s = 0; s < nsys; s++) {
        size_t n = views[s].n ? views[s].n : 1;
        o->cluster[s] = malloc(n * sizeof *o->cluster[s]);
        o->state[s] = calloc(n, 1);
        o->how[s] = calloc(n, 1);
        o->score[s] = malloc(n * sizeof *o->score[s]);
        if (!o->cluster[s] || !o->state[s] || !o->how[s] || !o->score[s])
            return -1;
        for (size_t i = 0; i < views[s].n; i++) {
            o->cluster[s][i] = -1;
            o->score[s][i] = NAN;
        }
    }
    /* Merged-away records first, so every id seen later can be followed to its survivor. */
    PGresult *red = pq_query(pq, "SELECT master_id, redirect_to FROM golden_person WHERE state = "
                                 "'REDIRECTED' ORDER BY master_id");
    PGresult *x = pq_query(pq, "SELECT system, local_id, master_id, link_state, how, score FROM "
                               "xref ORDER BY system, local_id");
    PGresult *q = pq_query(pq, "SELECT master_a, master_b, score, state FROM steward_queue ORDER "
                               "BY id");
    int rc = -1;
    if (!red || !x || !q)
        goto out;
    int nred = PQntuples(red), nx = PQntuples(x), nqr = PQntuples(q);
    int32_t *red_pairs = malloc(((size_t)nred + 1) * 2 * sizeof *red_pairs);
    if (!red_pairs)
        goto out;
    for (int i = 0; i < nred; i++) {
        red_pairs[2 * i] = (int32_t)strmap_get(&o->ids, PQgetvalue(red, i, 0), true);
        red_pairs[2 * i + 1] = (int32_t)strmap_get(&o->ids, PQgetvalue(red, i, 1), true);
    }
    o->xref_rows = (size_t)nx;
    for (int i = 0; i < nx; i++) {
        const char *sys = PQgetvalue(x, i, 0);
        int s = 0;
        while (s < nsys && strcmp(sys, views[s].pf->adapter) != 0)
            s++;
        size_t idx;
        if (s == nsys || parse_local(views[s].pf, PQgetvalue(x, i, 1), views[s].n, &idx) < 0) {
            o->foreign_rows++;
            continue;
        }
        o->cluster[s][idx] = (int32_t)strmap_get(&o->ids, PQgetvalue(x, i, 2), true);
        const char *st = PQgetvalue(x, i, 3), *how = PQgetvalue(x, i, 4);
        o->state[s][idx] = strcmp(st, "MATCH") == 0            ? LS_MATCH
                           : strcmp(st, "POSSIBLE_MATCH") == 0 ? LS_POSSIBLE
                           : strcmp(st, "NO_MATCH") == 0       ? LS_NO_MATCH
                                                               : LS_REDIRECTED;
        o->how[s][idx] = strcmp(how, "rule") == 0    ? HOW_RULE
                         : strcmp(how, "score") == 0 ? HOW_SCORE
                                                     : HOW_STEWARD;
        if (!PQgetisnull(x, i, 5)) {
            char *end = NULL;
            double v = strtod(PQgetvalue(x, i, 5), &end);
            if (end && *end == '\0')
                o->score[s][idx] = v;
        }
    }
    o->nq = (size_t)nqr;
    o->qa = malloc(((size_t)nqr + 1) * sizeof *o->qa);
    o->qb = malloc(((size_t)nqr + 1) * sizeof *o->qb);
    o->qscore = malloc(((size_t)nqr + 1) * sizeof *o->qscore);
    o->qopen = malloc(((size_t)nqr + 1) * sizeof *o->qopen);
    if (!o->qa || !o->qb || !o->qscore || !o->qopen) {
        free(red_pairs);
        goto out;
    }
    for (int i = 0; i < nqr; i++) {
        o->qa[i] = (int32_t)strmap_get(&o->ids, PQgetvalue(q, i, 0), true);
        o->qb[i] = (int32_t)strmap_get(&o->ids, PQgetvalue(q, i, 1), true);
        o->qscore[i] = strtod(PQgetvalue(q, i, 2), NULL);
        o->qopen[i] = strcmp(PQgetvalue(q, i, 3), "OPEN") == 0;
    }
    size_t nids = o->ids.n;
    o->redirect = malloc((nids + 1) * sizeof *o->redirect);
    if (!o->redirect) {
        free(red_pairs);
        goto out;
    }
    for (size_t i = 0; i < nids; i++)
        o->redirect[i] = -1;
    for (int i = 0; i < nred; i++)
        if (red_pairs[2 * i] >= 0)
            o->redirect[red_pairs[2 * i]] = red_pairs[2 * i + 1];
    free(red_pairs);
    for (int s = 0; s < nsys; s++)
        for (size_t i = 0; i < views[s].n; i++)
            o->cluster[s][i] = resolve(o, o->cluster[s][i]);
    for (size_t i = 0; i < o->nq; i++) {
        o->qa[i] = resolve(o, o->qa[i]);
        o->qb[i] = resolve(o, o->qb[i]);
        if (o->qopen[i] && o->qa[i] >= 0 && o->qb[i] >= 0 &&
            u64set_add(&o->qpairs, pair_key(o->qa[i], o->qb[i])) < 0)
            goto out;
    }
    /* Members of each golden record, sorted by person. */
    o->start = calloc(nids + 2, sizeof *o->start);
    size_t total = 0;
    for (int s = 0; s < nsys; s++)
        total += views[s].n;
    o->members = malloc((total + 1) * sizeof *o->members);
    if (!o->start || !o->members)
        goto out;
    for (int s = 0; s < nsys; s++)
        for (size_t i = 0; i < views[s].n; i++)
            if (o->cluster[s][i] >= 0)
                o->start[o->cluster[s][i] + 1]++;
    for (size_t c = 0; c < nids; c++)
        o->start[c + 1] += o->start[c];
    uint32_t *fill = calloc(nids + 1, sizeof *fill);
    if (!fill)
        goto out;
    for (int s = 0; s < nsys; s++)
        for (size_t i = 0; i < views[s].n; i++) {
            int32_t c = o->cluster[s][i];
            if (c >= 0)
                o->members[o->start[c] + fill[c]++] =
                    (uint64_t)views[s].rec[i].person << 2 | (uint64_t)s;
        }
    free(fill);
    for (size_t c = 0; c < nids; c++)
        if (o->start[c + 1] - o->start[c] > 1)
            qsort(o->members + o->start[c], o->start[c + 1] - o->start[c], sizeof *o->members,
                  cmp_u64);
    rc = 0;
out:
    if (red)
        PQclear(red);
    if (x)
        PQclear(x);
    if (q)
        PQclear(q);
    return rc;
}

enum {
    REL_TWIN,
    REL_HOUSE_SAME_GIVEN,
    REL_HOUSEHOLD,
    REL_NAMESAKE,
    REL_CHANCE_NAMESAKE,
    REL_SAME_SURNAME_DOB,
    REL_OTHER,
    REL_COUNT
};
static const char *const rel_name[REL_COUNT] = {
    "twins",
    "same household, same forename (parent/child)",
    "same household",
    "namesakes made deliberately (same name and birth date, another town)",
    "namesakes by chance (same name and birth date)",
    "same surname and birth date",
    "otherwise unrelated"};

static int relation(const pop_t *pop, uint32_t a, uint32_t b)
{
    const person_t *p = &pop->p[a], *q = &pop->p[b];
    bool same_dob = p->by == q->by && p->bm == q->bm && p->bd == q->bd;
    if (p->household == q->household) {
        if (p->twin == (int32_t)b)
            return REL_TWIN;
        return strcmp(p->given, q->given) == 0 ? REL_HOUSE_SAME_GIVEN : REL_HOUSEHOLD;
    }
    if (p->namesake_of == (int32_t)b || q->namesake_of == (int32_t)a)
        return REL_NAMESAKE;
    if (same_dob && strcmp(p->family, q->family) == 0)
        return strcmp(p->given, q->given) == 0 ? REL_CHANCE_NAMESAKE : REL_SAME_SURNAME_DOB;
    return REL_OTHER;
}

/* Record outcomes for systems loaded after the first. */
enum {
    OUT_LINK_OK,
    OUT_LINK_WRONG,
    OUT_QUEUED_PARTNER,
    OUT_QUEUED_NEW,
    OUT_NEW_MISSED,
    OUT_NEW_OK,
    OUT_NONE,
    OUT_COUNT
};
static const char *const out_name[OUT_COUNT] = {"linked to its person's record",
                                                "linked to ANOTHER person (false merge)",
                                                "queued; its person is there",
                                                "queued; its person is not there",
                                                "new record; its person MISSED",
                                                "new record; correct (not held before)",
                                                "no xref row"};

#define NBINS 11
static const double bin_edge[NBINS - 2] = {8, 16, 20, 24, 28, 32, 36, 40, 48};

static int score_bin(int how, double score)
{
    if (isnan(score))
        return NBINS - 1;
    (void)how;
    int b = 0;
    while (b < NBINS - 2 && score >= bin_edge[b])
        b++;
    return b;
}

static void bin_label(int b, char *out, size_t cap)
{
    if (b == NBINS - 1)
        (void)snprintf(out, cap, "no score");
    else if (b == 0)
        (void)snprintf(out, cap, "< %g", bin_edge[0]);
    else if (b == NBINS - 2)
        (void)snprintf(out, cap, ">= %g", bin_edge[NBINS - 3]);
    else
        (void)snprintf(out, cap, "%g - %g", bin_edge[b - 1], bin_edge[b]);
}

typedef struct {
    size_t true_pairs, links, correct, queued, missed;
} pairstat_t;

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

/* Lower end of the 95% Wilson score interval for K successes in N: what a run of this size
 * can vouch for (no false merge among 10,000 links says precision >= 0.9996, not 1). */
static double wilson_lower(size_t k, size_t n)
{
    if (n == 0)
        return 0;
    double z = 1.96, p = (double)k / (double)n, nn = (double)n;
    double centre = p + z * z / (2 * nn);
    double spread = z * sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn));
    return (centre - spread) / (1 + z * z / nn);
}

static void print_record(const char *tag, const pop_t *pop, const view_t *v, size_t idx,
                         const outcome_t *o, int s)
{
    const record_t *r = &v->rec[idx];
    char id[32], noise[512];
    local_id(v->pf, idx, id, sizeof id);
    noise_text(r->noise, noise, sizeof noise);
    static const char *const st[] = {"-", "MATCH", "POSSIBLE_MATCH", "NO_MATCH", "REDIRECTED"};
    static const char *const hw[] = {"-", "rule", "score", "steward"};
    printf("    %s %s:%s person P%06u household H%06u: %s%s%s %s, born %s, %s, %s %s, NHS %s, NI "
           "%s, tel %s\n",
           tag, v->pf->adapter, id, r->person, pop->p[r->person].household, r->given,
           r->middle[0] ? " " : "", r->middle, r->family, r->birth[0] ? r->birth : "?",
           sex_text(r->sex)[0] ? sex_text(r->sex) : "sex ?", r->line, r->postcode,
           r->nhs[0] ? r->nhs : "-", r->ni[0] ? r->ni : "-", r->phone[0] ? r->phone : "-");
    char score[32] = "-";
    if (!isnan(o->score[s][idx]))
        (void)snprintf(score, sizeof score, "%.2f", o->score[s][idx]);
    printf("      xref %s by %s, score %s; noise: %s\n", st[o->state[s][idx]], hw[o->how[s][idx]],
           score, noise[0] ? noise : "none");
}

/* Finds the record index of member M (person << 2 | system). */
static size_t member_record(const view_t *views, uint64_t m)
{
    return (size_t)views[m & 3].of_person[m >> 2];
}

static int evaluate(const pop_t *pop, const view_t *views, int nsys, const outcome_t *o,
                    const phase_t *phases)
{
    size_t nids = o->ids.n;
    pairstat_t ps[MAX_SYSTEMS][MAX_SYSTEMS];
    memset(ps, 0, sizeof ps);
    size_t rel_count[REL_COUNT] = {0}, nfalse = 0, oversized = 0, shown = 0;
    uint64_t show_a[SHOW_FALSE], show_b[SHOW_FALSE];
    size_t cluster_sizes[6] = {0};

    for (size_t c = 0; c < nids; c++) {
        size_t lo = o->start[c], hi = o->start[c + 1], sz = hi - lo;
        cluster_sizes[sz < 5 ? sz : 5]++;
        if (sz < 2)
            continue;
        size_t cnt[MAX_SYSTEMS] = {0};
        for (size_t i = lo; i < hi; i++)
            cnt[o->members[i] & 3]++;
        for (int x = 0; x < nsys; x++) {
            ps[x][x].links += cnt[x] * (cnt[x] ? cnt[x] - 1 : 0) / 2;
            for (int y = x + 1; y < nsys; y++)
                ps[x][y].links += cnt[x] * cnt[y];
        }
        for (size_t i = lo; i < hi;) {
            size_t j = i;
            unsigned mask = 0;
            while (j < hi && o->members[j] >> 2 == o->members[i] >> 2)
                mask |= 1u << (o->members[j++] & 3);
            for (int x = 0; x < nsys; x++)
                for (int y = x + 1; y < nsys; y++)
                    if ((mask >> x & 1) && (mask >> y & 1))
                        ps[x][y].correct++;
            i = j;
        }
        if (sz > 64) {
            oversized++;
            continue;
        }
        for (size_t i = lo; i < hi; i++)
            for (size_t j = i + 1; j < hi; j++) {
                uint32_t pa = (uint32_t)(o->members[i] >> 2), pb = (uint32_t)(o->members[j] >> 2);
                if (pa == pb)
                    continue;
                nfalse++;
                rel_count[relation(pop, pa, pb)]++;
                if (shown < SHOW_FALSE) {
                    show_a[shown] = o->members[i];
                    show_b[shown++] = o->members[j];
                }
            }
    }

    /* True pairs: linked, queued against each other, or missed. For the first two systems,
     * also what the records of the pairs not linked have in common: their noise. */
    enum { WHY_NO_NHS = N_COUNT, WHY_CLEAN, WHY_COUNT };
    size_t why_all[WHY_COUNT] = {0}, why_not[WHY_COUNT] = {0}, n_not = 0;
    uint32_t q_show[SHOW_MISSED], m_show[SHOW_MISSED];
    size_t nq_show = 0, nm_show = 0;
    for (size_t pi = 0; pi < pop->n; pi++)
        for (int x = 0; x < nsys; x++) {
            int32_t rx = views[x].of_person[pi];
            if (rx < 0)
                continue;
            for (int y = x + 1; y < nsys; y++) {
                int32_t ry = views[y].of_person[pi];
                if (ry < 0)
                    continue;
                ps[x][y].true_pairs++;
                int32_t cx = o->cluster[x][rx], cy = o->cluster[y][ry];
                bool linked = cx >= 0 && cx == cy;
                bool queued =
                    !linked && cx >= 0 && cy >= 0 && u64set_has(&o->qpairs, pair_key(cx, cy));
                if (x == 0 && y == 1) {
                    const record_t *a = &views[x].rec[rx], *b = &views[y].rec[ry];
                    uint32_t why = a->noise | b->noise;
                    bool no_nhs = !a->nhs[0] || !b->nhs[0];
                    for (int k = 0; k < N_COUNT; k++)
                        if (why >> k & 1) {
                            why_all[k]++;
                            why_not[k] += !linked;
                        }
                    why_all[WHY_NO_NHS] += no_nhs;
                    why_not[WHY_NO_NHS] += no_nhs && !linked;
                    why_all[WHY_CLEAN] += why == 0;
                    why_not[WHY_CLEAN] += why == 0 && !linked;
                    n_not += !linked;
                    if (queued && nq_show < SHOW_MISSED)
                        q_show[nq_show++] = (uint32_t)pi;
                    if (!linked && !queued && nm_show < SHOW_MISSED)
                        m_show[nm_show++] = (uint32_t)pi;
                }
                if (linked)
                    continue;
                if (queued)
                    ps[x][y].queued++;
                else
                    ps[x][y].missed++;
            }
        }

    /* Each later system's records: where did they go? With the score of the decision. */
    size_t outc[MAX_SYSTEMS][OUT_COUNT], bins[MAX_SYSTEMS][NBINS][OUT_COUNT];
    memset(outc, 0, sizeof outc);
    memset(bins, 0, sizeof bins);
    size_t how_count[MAX_SYSTEMS][4];
    memset(how_count, 0, sizeof how_count);
    for (int y = 1; y < nsys; y++)
        for (size_t i = 0; i < views[y].n; i++) {
            uint32_t person = views[y].rec[i].person;
            bool partner = false, with_partner = false;
            int32_t c = o->cluster[y][i];
            for (int x = 0; x < y; x++) {
                int32_t rx = views[x].of_person[person];
                if (rx < 0)
                    continue;
                partner = true;
                with_partner = with_partner || (c >= 0 && o->cluster[x][rx] == c);
            }
            int out;
            switch (o->state[y][i]) {
            case LS_NONE:
                out = OUT_NONE;
                break;
            case LS_MATCH:
            case LS_REDIRECTED:
                /* Linked: right only if the golden record holds an earlier record of its own
                 * person; otherwise it joined someone else. */
                out = with_partner ? OUT_LINK_OK : OUT_LINK_WRONG;
                break;
            case LS_POSSIBLE:
                out = partner ? OUT_QUEUED_PARTNER : OUT_QUEUED_NEW;
                break;
            default:
                out = partner ? OUT_NEW_MISSED : OUT_NEW_OK;
                break;
            }
            outc[y][out]++;
            how_count[y][o->how[y][i]]++;
            bins[y][score_bin(o->how[y][i], o->score[y][i])][out]++;
        }

    /* Steward queue. */
    size_t q_open = 0, q_true = 0, qbins[NBINS][2];
    memset(qbins, 0, sizeof qbins);
    for (size_t k = 0; k < o->nq; k++) {
        if (!o->qopen[k])
            continue;
        q_open++;
        bool same = false;
        int32_t a = o->qa[k], b = o->qb[k];
        if (a >= 0 && b >= 0)
            for (size_t i = o->start[a]; i < o->start[a + 1] && !same; i++)
                for (size_t j = o->start[b]; j < o->start[b + 1] && !same; j++)
                    same = o->members[i] >> 2 == o->members[j] >> 2;
        q_true += same;
        qbins[score_bin(HOW_SCORE, o->qscore[k])][same]++;
    }

    /* Report. */
    printf("\noutcome (from PostgreSQL: %zu xref rows", o->xref_rows);
    if (o->foreign_rows)
        printf(", %zu of them not from this run", o->foreign_rows);
    printf("; %zu golden ids seen)\n", nids);
    printf("  golden records by number of local ids: 0: %zu, 1: %zu, 2: %zu, 3: %zu, 4: %zu, 5+: "
           "%zu%s\n",
           cluster_sizes[0], cluster_sizes[1], cluster_sizes[2], cluster_sizes[3], cluster_sizes[4],
           cluster_sizes[5], oversized ? " (some over 64: a runaway cluster)" : "");
    size_t first[5] = {0};
    for (size_t i = 0; i < views[0].n; i++)
        first[o->state[0][i]]++;
    printf("  %s records (%zu), loaded first: new record %zu, queued against another %s record "
           "%zu, linked to one %zu, no xref row %zu\n",
           views[0].pf->adapter, views[0].n, first[LS_NO_MATCH], views[0].pf->adapter,
           first[LS_POSSIBLE], first[LS_MATCH] + first[LS_REDIRECTED], first[LS_NONE]);
    for (int y = 1; y < nsys; y++) {
        printf("  %s records (%zu), by outcome; decided by rule %zu, score %zu, steward %zu:\n",
               views[y].pf->adapter, views[y].n, how_count[y][HOW_RULE], how_count[y][HOW_SCORE],
               how_count[y][HOW_STEWARD]);
        for (int k = 0; k < OUT_COUNT; k++)
            if (outc[y][k] || k <= OUT_NEW_OK)
                printf("    %-42s %8zu  %6.2f%%\n", out_name[k], outc[y][k],
                       pct(outc[y][k], views[y].n));
        printf("    by score of the decision (xref.score):\n      %-10s", "score");
        static const char *const col[OUT_COUNT] = {"link ok", "LINK WRONG", "queued+p", "queued-p",
                                                   "MISSED",  "new ok",     "none"};
        for (int k = 0; k < OUT_COUNT - 1; k++)
            printf(" %10s", col[k]);
        printf("\n");
        for (int b = 0; b < NBINS; b++) {
            size_t row = 0;
            for (int k = 0; k < OUT_COUNT; k++)
                row += bins[y][b][k];
            if (!row)
                continue;
            char label[32];
            bin_label(b, label, sizeof label);
            printf("      %-10s", label);
            for (int k = 0; k < OUT_COUNT - 1; k++)
                printf(" %10zu", bins[y][b][k]);
            printf("\n");
        }
    }
    printf("  steward queue: %zu items, %zu open; open items that are one person: %zu (%.1f%%)\n",
           o->nq, q_open, q_true, pct(q_true, q_open));
    if (q_open) {
        printf("    by score:");
        for (int b = 0; b < NBINS; b++) {
            if (!qbins[b][0] && !qbins[b][1])
                continue;
            char label[32];
            bin_label(b, label, sizeof label);
            printf("  [%s] %zu same / %zu different", label, qbins[b][1], qbins[b][0]);
        }
        printf("\n");
    }

    printf("\npairs of records (x, y) in different systems; a link = both in one golden record\n");
    printf("  %-22s %10s %10s %10s %10s %10s %10s %10s %10s\n", "systems", "true", "links",
           "correct", "false", "precision", "recall", "queued", "missed");
    size_t all_links = 0, all_correct = 0;
    for (int x = 0; x < nsys; x++)
        for (int y = x; y < nsys; y++) {
            const pairstat_t *s = &ps[x][y];
            all_links += s->links;
            all_correct += s->correct;
            char label[48];
            (void)snprintf(label, sizeof label, "%s-%s", views[x].pf->adapter,
                           views[y].pf->adapter);
            if (x == y) {
                if (s->links)
                    printf("  %-22s %10s %10zu %10s %10zu   (same system: every link is false)\n",
                           label, "0", s->links, "0", s->links);
                continue;
            }
            printf("  %-22s %10zu %10zu %10zu %10zu %10.5f %10.5f %10zu %10zu\n", label,
                   s->true_pairs, s->links, s->correct, s->links - s->correct,
                   s->links ? (double)s->correct / (double)s->links : 1.0,
                   s->true_pairs ? (double)s->correct / (double)s->true_pairs : 0.0, s->queued,
                   s->missed);
        }
    printf("  all automatic links: %zu, correct %zu, precision %.5f\n", all_links, all_correct,
           all_links ? (double)all_correct / (double)all_links : 1.0);
    if (n_not) {
        printf("  the %zu true %s-%s pairs not linked automatically: what their records carry "
               "(count, share of them; share among all %zu true pairs)\n",
               n_not, views[0].pf->adapter, views[1].pf->adapter, ps[0][1].true_pairs);
        for (int k = 0; k < WHY_COUNT; k++) {
            if (!why_not[k])
                continue;
            const char *label = k == WHY_NO_NHS  ? "NHS number not on both records"
                                : k == WHY_CLEAN ? "no noise at all"
                                                 : noise_name[k];
            printf("    %-40s %7zu %6.1f%%   (%5.1f%%)\n", label, why_not[k],
                   pct(why_not[k], n_not), pct(why_all[k], ps[0][1].true_pairs));
        }
    }
    for (int pass = 0; pass < 2; pass++) {
        size_t m = pass ? nm_show : nq_show;
        if (!m)
            continue;
        printf("  true pairs %s, first %zu:\n",
               pass ? "MISSED (neither linked nor queued together)" : "sent to the steward queue",
               m);
        for (size_t k = 0; k < m; k++) {
            uint32_t pi = pass ? m_show[k] : q_show[k];
            printf("  %zu.\n", k + 1);
            print_record("a", pop, &views[0], (size_t)views[0].of_person[pi], o, 0);
            print_record("b", pop, &views[1], (size_t)views[1].of_person[pi], o, 1);
        }
    }
    if (nfalse) {
        printf("  false merges by relation of the two people:\n");
        for (int k = 0; k < REL_COUNT; k++)
            if (rel_count[k])
                printf("    %-70s %zu\n", rel_name[k], rel_count[k]);
        printf("  false merges, first %zu of %zu:\n", shown, nfalse);
        for (size_t k = 0; k < shown; k++) {
            printf("  %zu. %s\n", k + 1,
                   rel_name[relation(pop, (uint32_t)(show_a[k] >> 2), (uint32_t)(show_b[k] >> 2))]);
            print_record("a", pop, &views[show_a[k] & 3], member_record(views, show_a[k]), o,
                         (int)(show_a[k] & 3));
            print_record("b", pop, &views[show_b[k] & 3], member_record(views, show_b[k]), o,
                         (int)(show_b[k] & 3));
        }
    }

    /* Against the targets. */
    const pairstat_t *h = &ps[0][1];
    double precision = h->links ? (double)h->correct / (double)h->links : 1.0;
    double recall = h->true_pairs ? (double)h->correct / (double)h->true_pairs : 0.0;
    printf("\nsummary (%s-%s):\n", views[0].pf->adapter, views[1].pf->adapter);
    printf("  precision %.5f (95%% lower bound %.5f; target >= 0.999), recall %.5f (95%% lower "
           "bound %.5f; target >= 0.99), %zu false merges, %zu true pairs queued, %zu missed\n",
           precision, wilson_lower(h->correct, h->links), recall,
           wilson_lower(h->correct, h->true_pairs), h->links - h->correct, h->queued, h->missed);
    if (precision < 0.999)
        printf("TARGET MISSED: precision %.5f < 0.999 (%zu false merges among %zu automatic "
               "links)\n",
               precision, h->links - h->correct, h->links);
    if (recall < 0.99)
        printf("TARGET MISSED: recall %.5f < 0.99 (%zu of %zu true pairs linked automatically)\n",
               recall, h->correct, h->true_pairs);
    const phase_t *last = NULL;
    for (int s = 0; s < nsys; s++)
        if (phases[s].loaded && phases[s].rss_kib >= 0 && phases[s].golden > 0)
            last = &phases[s];
    if (last)
        printf("  memory: hub RSS %.1f MiB (peak %.1f) holding %lld golden records, %.1f KiB per "
               "golden record\n",
               last->rss_kib / 1024.0, last->hwm_kib / 1024.0, last->golden,
               (double)last->rss_kib / (double)last->golden);
    for (int s = 0; s < nsys; s++) {
        const phase_t *ph = &phases[s];
        if (!ph->loaded)
            continue;
        double rate = ph->seconds > 0 ? (double)ph->events / ph->seconds : 0;
        printf("  load %-10s %8.0f person events/s, %lld golden records before and %lld after, "
               "hub RSS %.1f MiB after\n",
               views[s].pf->adapter, rate, s ? phases[s - 1].golden : 0, ph->golden,
               ph->rss_kib / 1024.0);
        if (s > 0 && rate < 20000)
            printf("TARGET MISSED: %s load %.0f person events/s < 20,000%s\n", views[s].pf->adapter,
                   rate,
                   phases[0].golden < 225000
                       ? " (the target is stated against 250,000 golden records; this run had "
                         "fewer: run the throughput mode)"
                       : "");
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Command line                                                                                 */

/* Addresses and cases ---------------------------------------------------------------------- */

/* The address of record IDX as V's system would publish it (joinery.v1.Address); 0 if it has no
 * UPRN (the hub masters addresses by UPRN) or does not fit. */
static size_t pack_address(const view_t *v, size_t idx, uint8_t *buf, size_t cap)
{
    const record_t *r = &v->rec[idx];
    if (!r->uprn[0])
        return 0;
    Joinery__V1__Address a = JOINERY__V1__ADDRESS__INIT;
    char *lines[1] = {(char *)r->line};
    a.lines = lines;
    a.n_lines = 1;
    a.town = (char *)r->town;
    a.district = (char *)r->county;
    a.postcode = (char *)r->postcode;
    a.uprn = (char *)r->uprn;
    if (joinery__v1__address__get_packed_size(&a) > cap)
        return 0;
    return joinery__v1__address__pack(&a, buf);
}

/* A case about the person of record IDX, named by the sender's own id for them. */
static size_t pack_case(const view_t *v, size_t idx, uint8_t *buf, size_t cap)
{
    char person[32];
    local_id(v->pf, idx, person, sizeof person);
    Joinery__V1__Case k = JOINERY__V1__CASE__INIT;
    k.person_local_id = person;
    k.status = JOINERY__V1__CASE_STATUS__CASE_OPEN;
    k.opened_on = (char *)"2025-04-01";
    k.team = (char *)"Adult Social Care";
    if (joinery__v1__case__get_packed_size(&k) > cap)
        return 0;
    return joinery__v1__case__pack(&k, buf);
}

#define CASE_EVERY 4 /* a case for every fourth record of the first system */

/* Publishes V's addresses (ADDR = true) or its cases as V's adapter; *N events, *SECONDS from the
 * first publish to the last confirmation. Address local ids are "ADR-" and the person's local
 * id, case local ids "CASE-" and it, so the checks can join them back. */
static int load_entities(const options_t *opt, const view_t *v, bool addr, tally_t *t, size_t *n,
                         double *seconds)
{
    joinery_client_t *c = connect_as(opt, v);
    if (!c)
        return -1;
    int rc = 0;
    long long run = (long long)real_us();
    uint8_t buf[1024];
    *n = 0;
    double t0 = mono_s();
    for (size_t i = 0; i < v->n && rc == 0; i += addr ? 1 : CASE_EVERY) {
        size_t len = addr ? pack_address(v, i, buf, sizeof buf) : pack_case(v, i, buf, sizeof buf);
        if (len == 0)
            continue;
        char person[32], id[40], event_id[64];
        local_id(v->pf, i, person, sizeof person);
        (void)snprintf(id, sizeof id, "%s%s", addr ? "ADR-" : "CASE-", person);
        (void)snprintf(event_id, sizeof event_id, "mb%lld-%s-%s", run, v->pf->adapter, id);
        joinery_event_t ev = {.event_id = event_id,
                              .type = addr ? "address.updated" : "case.updated",
                              .source_record_id = id,
                              .payload_type = addr ? "joinery.v1.Address" : "joinery.v1.Case",
                              .payload = buf,
                              .payload_len = len};
        if (joinery_publish_async(c, &ev, on_confirm, t, NULL) < 0) {
            fprintf(stderr, "bench_matching: publish %s: %s\n", id, joinery_last_error(c));
            rc = -1;
        }
        (*n)++;
    }
    return flush_close(&c, v, t0, seconds) < 0 ? -1 : rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* How many distinct properties the systems' records name (UPRNs without leading zeros). */
static long long distinct_uprns(const view_t *views, int nsys)
{
    size_t total = 0, k = 0;
    for (int s = 0; s < nsys; s++)
        total += views[s].n;
    const char **u = malloc((total ? total : 1) * sizeof *u);
    if (!u)
        return -1;
    for (int s = 0; s < nsys; s++)
        for (size_t i = 0; i < views[s].n; i++) {
            const char *d = views[s].rec[i].uprn;
            while (*d == '0' && d[1])
                d++;
            if (*d)
                u[k++] = d;
        }
    qsort(u, k, sizeof *u, cmp_str);
    long long n = 0;
    for (size_t i = 0; i < k; i++)
        n += i == 0 || strcmp(u[i], u[i - 1]) != 0;
    free(u);
    return n;
}

static void entity_line(const char *what, const char *system, size_t n, double secs,
                        const tally_t *t)
{
    printf("load %s %s: %zu events in %.2f s = %.0f events/s confirmed (ok %zu, duplicate %zu, "
           "rejected %zu, unconfirmed %zu; %zu answered with a master_id)\n",
           system, what, n, secs, secs > 0 ? (double)n / secs : 0.0, t->ok, t->duplicate,
           t->rejected, t->unconfirmed, t->with_master);
    for (size_t k = 0; k < t->nreasons; k++)
        printf("  refused: %s\n", t->reasons[k]);
}

/* After the people: each system's addresses, then the first system's cases; then whether the
 * database holds one golden address per UPRN, every system's address id, and every case about
 * the golden person its sender's person id is linked to. */
static int load_and_check_entities(const options_t *opt, pq_t *pq, const view_t *views, int nsys)
{
    size_t sent_addr = 0, sent_case = 0;
    for (int s = 0; s < nsys; s++) {
        tally_t t = {0};
        size_t n = 0;
        double secs = 0;
        if (load_entities(opt, &views[s], true, &t, &n, &secs) < 0)
            return -1;
        entity_line("addresses", views[s].pf->adapter, n, secs, &t);
        sent_addr += t.ok;
    }
    tally_t t = {0};
    double secs = 0;
    if (load_entities(opt, &views[0], false, &t, &sent_case, &secs) < 0)
        return -1;
    entity_line("cases", views[0].pf->adapter, sent_case, secs, &t);
    if (!pq->conn)
        return 0;
    long long want = distinct_uprns(views, nsys);
    long long golden = pq_count(pq, "SELECT count(*) FROM golden_address");
    long long xrefs = pq_count(pq, "SELECT count(*) FROM address_xref");
    long long cases = pq_count(pq, "SELECT count(*) FROM golden_case");
    char q[512];
    (void)snprintf(q, sizeof q,
                   "SELECT count(*) FROM case_xref x JOIN golden_case c ON c.master_id = "
                   "x.master_id JOIN xref p ON p.system = x.system AND p.local_id = "
                   "substr(x.local_id, 6) WHERE x.system = '%s' AND p.master_id = "
                   "c.person_master_id",
                   views[0].pf->adapter);
    long long right = pq_count(pq, q);
    long rss = 0, hwm = 0;
    (void)read_rss(opt->hub_pid, &rss, &hwm);
    printf("entities: %lld golden addresses for %lld distinct UPRNs sent, %lld address ids "
           "linked of %zu accepted; %lld golden cases of %zu sent, %lld about the golden person "
           "their sender's person id is linked to; hub RSS %.1f MiB\n",
           golden, want, xrefs, sent_addr, cases, sent_case, right, rss / 1024.0);
    if (golden != want || xrefs != (long long)sent_addr || cases != (long long)t.ok ||
        right != cases)
        printf("ENTITIES WRONG: the counts above should pair up\n");
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_matching [options]\n"
            "  --people N        distinct people (default 20000)\n"
            "  --seed S          population seed (default 1)\n"
            "  --systems 2|3     socialcare + crm, or also health (default 2)\n"
            "  --stats           print generator statistics\n"
            "  --csv FILE        write every record with its person (ground truth)\n"
            "  --endpoint E      hub endpoint; load the systems through it\n"
            "  --keys DIR|-      Curve keys directory (ADAPTER.key, hub.pub); - for none\n"
            "  --pg CONNINFO     the hub's database, to read the outcome\n"
            "  --hub-pid PID     the hub's process, for its resident memory and CPU\n"
            "  --pg-pid PID      PostgreSQL's postmaster, for the CPU it and its backends use\n"
            "  --eval-only       do not load; evaluate what the database holds\n"
            "  --entities        after the people, every system's addresses (by UPRN) and a\n"
            "                    case for every fourth socialcare record; checked in the database\n"
            "  --in-a F --b-given-a F --in-c F --namesakes F --twin-rate F\n"
            "                    population shape (0.8, 0.7, 0.85, 0.01, 0.016)\n");
}

static int parse_u64(const char *s, unsigned long long lo, unsigned long long hi,
                     unsigned long long *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_frac(const char *s, double *out)
{
    if (!s)
        return -1;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= 0 && v <= 1))
        return -1;
    *out = v;
    return 0;
}

/* 0: run; 1: --help was printed; -1: bad arguments (reported). */
static int parse_args(int argc, char **argv, options_t *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        unsigned long long u = 0;
        int bad = 0, takes = 1;
        if (strcmp(a, "--people") == 0) {
            bad = parse_u64(val, 100, 5000000, &u);
            o->people = (size_t)u;
        } else if (strcmp(a, "--seed") == 0) {
            bad = parse_u64(val, 0, ULLONG_MAX, &u);
            o->seed = u;
        } else if (strcmp(a, "--systems") == 0) {
            bad = parse_u64(val, 2, 3, &u);
            o->systems = (int)u;
        } else if (strcmp(a, "--hub-pid") == 0) {
            bad = parse_u64(val, 1, INT_MAX, &u);
            o->hub_pid = (long)u;
        } else if (strcmp(a, "--pg-pid") == 0) {
            bad = parse_u64(val, 1, INT_MAX, &u);
            o->pg_pid = (long)u;
        } else if (strcmp(a, "--csv") == 0) {
            o->csv = val;
            bad = !val;
        } else if (strcmp(a, "--endpoint") == 0) {
            o->endpoint = val;
            bad = !val;
        } else if (strcmp(a, "--keys") == 0) {
            o->keys = val;
            bad = !val;
        } else if (strcmp(a, "--pg") == 0) {
            o->pg = val;
            bad = !val;
        } else if (strcmp(a, "--in-a") == 0) {
            bad = parse_frac(val, &o->in_a);
        } else if (strcmp(a, "--b-given-a") == 0) {
            bad = parse_frac(val, &o->b_given_a);
        } else if (strcmp(a, "--in-c") == 0) {
            bad = parse_frac(val, &o->in_c);
        } else if (strcmp(a, "--namesakes") == 0) {
            bad = parse_frac(val, &o->namesakes);
        } else if (strcmp(a, "--twin-rate") == 0) {
            bad = parse_frac(val, &o->twin_rate);
        } else {
            takes = 0;
            if (strcmp(a, "--stats") == 0) {
                o->stats = true;
            } else if (strcmp(a, "--eval-only") == 0) {
                o->eval_only = true;
            } else if (strcmp(a, "--entities") == 0) {
                o->entities = true;
            } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
                usage(stdout);
                return 1; /* help shown: nothing to do */
            } else {
                fprintf(stderr, "bench_matching: unknown option '%s'\n", a);
                usage(stderr);
                return -1;
            }
        }
        if (bad) {
            fprintf(stderr, "bench_matching: %s needs a valid value%s%s\n", a, val ? ", not " : "",
                    val ? val : "");
            return -1;
        }
        i += takes;
    }
    if (o->eval_only && !o->pg) {
        fprintf(stderr, "bench_matching: --eval-only needs --pg\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    options_t opt = {.people = 20000,
                     .seed = 1,
                     .systems = 2,
                     .in_a = 0.8,
                     .b_given_a = 0.7,
                     .in_c = 0.85,
                     .namesakes = 0.01,
                     .twin_rate = 0.016};
    int parsed = parse_args(argc, argv, &opt);
    if (parsed != 0)
        return parsed > 0 ? 0 : 2;
    setvbuf(stdout, NULL, _IOLBF, 0);

    int rc = 1;
    pop_t pop = {.opt = &opt};
    view_t views[MAX_SYSTEMS];
    memset(views, 0, sizeof views);
    pq_t pq = {0};
    outcome_t out = {0};
    phase_t phases[MAX_SYSTEMS];
    memset(phases, 0, sizeof phases);

    double t0 = mono_s();
    rng_seed(&pop.rng, opt.seed, 0x9090);
    /* Preallocated to the full size: person pointers stay valid while households grow. */
    pop.p = calloc(opt.people, sizeof *pop.p);
    if (!pop.p || build_tables(&pop) < 0) {
        fprintf(stderr, "bench_matching: out of memory\n");
        goto done;
    }
    while (pop.n < opt.people)
        if (make_household(&pop) < 0) {
            fprintf(stderr, "bench_matching: could not place a household (out of memory?)\n");
            goto done;
        }
    assign_systems(&pop);
    for (int s = 0; s < opt.systems; s++)
        if (build_view(&pop, s, &views[s]) < 0) {
            fprintf(stderr, "bench_matching: out of memory\n");
            goto done;
        }
    printf("population: %zu people, seed %" PRIu64 "; records:", pop.n, opt.seed);
    for (int s = 0; s < opt.systems; s++)
        printf(" %s %zu", views[s].pf->adapter, views[s].n);
    size_t both = 0;
    for (size_t i = 0; i < pop.n; i++)
        both += (pop.p[i].systems & 3) == 3;
    printf("; true %s-%s pairs %zu (generated in %.1f s)\n", views[0].pf->adapter,
           views[1].pf->adapter, both, mono_s() - t0);
    if (opt.stats)
        print_stats(&pop, views, opt.systems);
    if (opt.csv && write_csv(opt.csv, &pop, views, opt.systems) < 0)
        goto done;
    if (!opt.endpoint && !opt.eval_only) {
        rc = 0;
        goto done;
    }
    if (opt.pg && pq_open(&pq, opt.pg) < 0)
        goto done;

    if (!opt.eval_only) {
        long rss, hwm;
        if (read_rss(opt.hub_pid, &rss, &hwm) == 0)
            printf("hub RSS before loading: %.1f MiB\n", rss / 1024.0);
        for (int s = 0; s < opt.systems; s++) {
            phase_t *ph = &phases[s];
            ph->events = views[s].n;
            double hub0 = proc_cpu_s(opt.hub_pid), self0 = self_cpu_s(), steal0 = steal_s();
            double core0 = main_thread_cpu_s(opt.hub_pid), pg0 = tree_cpu_s(opt.pg_pid);
            long long rows0 = pq.conn ? pg_rows(&pq) : -1;
            walstat_t wal0 = pq.conn ? pg_wal(&pq) : (walstat_t){-1, -1, -1, -1};
            if (load_view(&opt, &views[s], &ph->tally, &ph->seconds) < 0)
                goto done;
            double hub1 = proc_cpu_s(opt.hub_pid);
            ph->hub_cpu = hub0 >= 0 && hub1 >= 0 ? hub1 - hub0 : -1;
            double core1 = main_thread_cpu_s(opt.hub_pid), pg1 = tree_cpu_s(opt.pg_pid);
            ph->core_cpu = core0 >= 0 && core1 >= 0 ? core1 - core0 : -1;
            ph->pg_cpu = pg0 >= 0 && pg1 >= 0 ? pg1 - pg0 : -1;
            ph->bench_cpu = self_cpu_s() - self0;
            double steal1 = steal_s();
            ph->steal = steal0 >= 0 && steal1 >= 0 ? steal1 - steal0 : -1;
            long long rows1 = pq.conn ? pg_rows(&pq) : -1;
            ph->rows = rows0 >= 0 && rows1 >= 0 ? rows1 - rows0 : -1;
            walstat_t wal1 = pq.conn ? pg_wal(&pq) : (walstat_t){-1, -1, -1, -1};
            ph->wal.records =
                wal0.records >= 0 && wal1.records >= 0 ? wal1.records - wal0.records : -1;
            ph->wal.fpi = wal0.fpi >= 0 && wal1.fpi >= 0 ? wal1.fpi - wal0.fpi : -1;
            ph->wal.bytes = wal0.bytes >= 0 && wal1.bytes >= 0 ? wal1.bytes - wal0.bytes : -1;
            ph->wal.checkpoints = wal0.checkpoints >= 0 && wal1.checkpoints >= 0
                                      ? wal1.checkpoints - wal0.checkpoints
                                      : -1;
            ph->loaded = true;
            ph->golden = ph->queue_open = -1;
            if (pq.conn) {
                ph->golden = pq_count(&pq, "SELECT count(*) FROM golden_person WHERE state = "
                                           "'ACTIVE'");
                ph->queue_open = pq_count(&pq, "SELECT count(*) FROM steward_queue WHERE state = "
                                               "'OPEN'");
            }
            (void)read_rss(opt.hub_pid, &ph->rss_kib, &ph->hwm_kib);
            const tally_t *t = &ph->tally;
            printf("load %s: %zu person events in %.2f s = %.0f events/s confirmed (ok %zu, "
                   "duplicate %zu, rejected %zu, unconfirmed %zu; %zu answered with a master_id); "
                   "golden records %lld, open steward items %lld; hub RSS %.1f MiB (peak %.1f)\n",
                   views[s].pf->adapter, ph->events, ph->seconds,
                   ph->seconds > 0 ? (double)ph->events / ph->seconds : 0.0, t->ok, t->duplicate,
                   t->rejected, t->unconfirmed, t->with_master, ph->golden, ph->queue_open,
                   ph->rss_kib / 1024.0, ph->hwm_kib / 1024.0);
            printf("  CPU during the load: hub %.1f s (its core thread, which runs the engine, "
                   "%.1f s), PostgreSQL %.1f s, this program %.1f s, of %.1f s wall on %ld cores; "
                   "per event: hub %.0f us (core %.0f us), PostgreSQL %.0f us\n",
                   ph->hub_cpu, ph->core_cpu, ph->pg_cpu, ph->bench_cpu, ph->seconds,
                   sysconf(_SC_NPROCESSORS_ONLN), per_event_us(ph->hub_cpu, ph->events),
                   per_event_us(ph->core_cpu, ph->events), per_event_us(ph->pg_cpu, ph->events));
            if (ph->rows >= 0)
                printf("  rows added to journal, golden_person, its field history, xref, "
                       "steward_queue and master_audit: %lld (%.1f per event)\n",
                       ph->rows, ph->events ? (double)ph->rows / (double)ph->events : 0.0);
            if (ph->steal >= 0)
                printf("  CPU stolen by the hypervisor during the load: %.1f s\n", ph->steal);
            if (ph->wal.bytes >= 0 && ph->events > 0)
                printf("  WAL written: %.1f MiB (%.0f bytes, %.1f records and %.2f full-page "
                       "images per event), %lld checkpoints\n",
                       (double)ph->wal.bytes / 1048576.0,
                       (double)ph->wal.bytes / (double)ph->events,
                       (double)ph->wal.records / (double)ph->events,
                       (double)ph->wal.fpi / (double)ph->events, ph->wal.checkpoints);
            for (size_t k = 0; k < t->nreasons; k++)
                printf("  refused: %s\n", t->reasons[k]);
        }
    }
    if (opt.entities && !opt.eval_only &&
        load_and_check_entities(&opt, &pq, views, opt.systems) < 0)
        goto done;
    if (!pq.conn) {
        printf("no --pg: the outcome was not read\n");
        rc = 0;
        goto done;
    }
    long long db = pq_count(&pq, "SELECT pg_database_size(current_database())");
    if (db >= 0)
        printf("database size: %.1f MiB\n", (double)db / 1048576.0);
    if (read_outcome(&pq, views, opt.systems, &out) < 0)
        goto done;
    if (out.xref_rows == 0) {
        printf("NO XREF ROWS: the hub confirmed the events but linked no local id to a golden "
               "record; is the master-data engine wired into ingest?\n");
        rc = 0;
        goto done;
    }
    rc = evaluate(&pop, views, opt.systems, &out, phases) < 0 ? 1 : 0;
done:
    outcome_free(&out);
    pq_close(&pq);
    for (int s = 0; s < MAX_SYSTEMS; s++)
        view_free(&views[s]);
    pop_free(&pop);
    return rc;
}
