/* util.c - bench_matching's toolbox: deterministic randomness (xoshiro256** seeded through
 * splitmix64, in independent streams), weighted tables, hashing, the set of 64-bit keys and the
 * string -> index map, bounded string helpers and calendar dates. Nothing here knows about
 * people or systems. */
#include "matching.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Deterministic randomness: xoshiro256** seeded through splitmix64. Independent streams (the  */
/* population, each system's view, the load order) so that changing one system's noise does   */
/* not change the people.                                                                       */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t mix(uint64_t a, uint64_t b)
{
    uint64_t x = a ^ (b * 0xd6e8feb86659fd93ULL);
    return splitmix64(&x);
}

void rng_seed(rng_t *r, uint64_t seed, uint64_t stream)
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

double rng_unit(rng_t *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform in [0, n), unbiased (Lemire). */
uint32_t rng_below(rng_t *r, uint32_t n)
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

int rng_range(rng_t *r, int lo, int hi) /* inclusive */
{
    return hi <= lo ? lo : lo + (int)rng_below(r, (uint32_t)(hi - lo + 1));
}

bool chance(rng_t *r, double p)
{
    return p > 0 && rng_unit(r) < p;
}

double rng_normal(rng_t *r)
{
    double u = rng_unit(r), v = rng_unit(r);
    return sqrt(-2.0 * log(u > 1e-300 ? u : 1e-300)) * cos(6.283185307179586 * v);
}

int wtable_add(wtable_t *t, size_t cap, uint32_t item, double w)
{
    if (w <= 0)
        return 0;
    if (t->n == cap)
        return -1;
    t->cum[t->n] = (t->n ? t->cum[t->n - 1] : 0) + w;
    t->item[t->n++] = item;
    return 0;
}

int wtable_init(wtable_t *t, size_t cap)
{
    t->n = 0;
    t->cum = malloc((cap ? cap : 1) * sizeof *t->cum);
    t->item = malloc((cap ? cap : 1) * sizeof *t->item);
    return t->cum && t->item ? 0 : -1;
}

void wtable_free(wtable_t *t)
{
    free(t->cum);
    free(t->item);
    t->cum = NULL;
    t->item = NULL;
    t->n = 0;
}

uint32_t wtable_draw(const wtable_t *t, rng_t *r)
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

uint64_t fnv1a(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001b3ULL;
    return h;
}

int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* For qsort over an array of strings (const char *). */
int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

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
int u64set_add(u64set_t *s, uint64_t key)
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

bool u64set_has(const u64set_t *s, uint64_t key)
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

void u64set_free(u64set_t *s)
{
    free(s->k);
    s->k = NULL;
    s->cap = s->n = 0;
}

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
long strmap_get(strmap_t *m, const char *key, bool add)
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

void strmap_free(strmap_t *m)
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
void copy_str(char *dst, size_t cap, const char *src)
{
    if (cap == 0)
        return;
    size_t n = src ? strnlen(src, cap - 1) : 0;
    if (n)
        memmove(dst, src, n);
    dst[n] = '\0';
}

void ascii_upper(char *s)
{
    for (; *s; s++)
        if (*s >= 'a' && *s <= 'z')
            *s = (char)(*s - 'a' + 'A');
}

void ascii_lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Lower-case letters only, for e-mail local parts ("O'Brien" -> "obrien"). */
void letters_lower(char *dst, size_t cap, const char *src)
{
    size_t n = 0;
    for (; *src && n + 1 < cap; src++)
        if (is_alpha(*src))
            dst[n++] = (char)tolower((unsigned char)*src);
    dst[n] = '\0';
}

/* Is WORD one of the space-separated words of LIST? (exact, case-sensitive) */
bool word_in(const char *list, const char *word)
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
size_t nth_word(const char *list, size_t i, char *out, size_t cap)
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

bool date_ok(int y, int m, int d)
{
    return y >= 1900 && y <= LAST_YEAR && m >= 1 && m <= 12 && d >= 1 && d <= month_days(y, m);
}

/* "YYYY-MM-DD" for a date that date_ok accepts. */
void format_date(char out[11], int y, int m, int d)
{
    const int v[] = {y / 1000 % 10, y / 100 % 10, y / 10 % 10, y % 10,
                     m / 10 % 10,   m % 10,       d / 10 % 10, d % 10};
    static const int at[] = {0, 1, 2, 3, 5, 6, 8, 9};
    for (int i = 0; i < 8; i++)
        out[at[i]] = (char)('0' + v[i]);
    out[4] = out[7] = '-';
    out[10] = '\0';
}

void random_day(rng_t *r, int y, int8_t *m, int8_t *d)
{
    int doy = (int)rng_below(r, leap(y) ? 366 : 365);
    int mm = 1;
    while (doy >= month_days(y, mm))
        doy -= month_days(y, mm++);
    *m = (int8_t)mm;
    *d = (int8_t)(doy + 1);
}
