/* population.c - the people: households (single adults, couples, families, lone parents, three
 * generations, sharers and deliberate namesakes), their names, birth dates, homes, identifiers
 * and contacts; the weighted tables they are drawn from, built from names.c at the start; which
 * systems hold each person. Also the places: streets, postcodes and UPRNs come from hashes of the
 * seed, so they need no storage. */
#include "matching.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Street properties come from a hash of (seed, town, street), so streets need no storage. */
typedef struct {
    const char *stem, *type, *type_short;
    int outward, sector, length;
} street_t;

static street_t street_of(uint64_t seed, unsigned town, uint32_t street)
{
    uint64_t h = mix(mix(seed, 0x57ee7 + town), street);
    street_t s;
    s.stem = street_stems[h % n_street_stems];
    s.type = street_types[(h >> 8) % n_street_types][0];
    s.type_short = street_types[(h >> 8) % n_street_types][1];
    const town_t *t = &towns[town];
    s.outward = t->lo + (int)((h >> 16) % (uint64_t)(t->hi - t->lo + 1));
    s.sector = (int)((h >> 24) % 10);
    s.length = 20 + (int)((h >> 32) % 160);
    return s;
}

/* Unit postcodes cover about 14 house numbers of one street. */
void place_postcode(uint64_t seed, const place_t *pl, char out[9])
{
    street_t s = street_of(seed, pl->town, pl->street);
    uint64_t h =
        mix(mix(mix(seed, 0x9c0de + pl->town), pl->street), (uint64_t)(pl->number - 1) / 14);
    (void)snprintf(out, 9, "%s%d %d%c%c", towns[pl->town].area, s.outward, s.sector,
                   INWARD_LETTERS[h % 20], INWARD_LETTERS[(h >> 8) % 20]);
}

/* Seven addresses in ten have a known UPRN (the gazetteer's property id). */
uint64_t place_uprn(uint64_t seed, const place_t *pl)
{
    uint64_t h = mix(mix(mix(seed, 0x0472 + pl->town), pl->street), pl->number);
    if (h % 100 >= 70)
        return 0;
    return 10000000ULL + (h >> 8) % 99990000000ULL;
}

void place_line(uint64_t seed, const place_t *pl, bool abbreviate, char *out, size_t cap)
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
place_t previous_place(const pop_t *pop, size_t i)
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

int decade_of(int year)
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

int new_phone(rng_t *r, u64set_t *used, char out[12])
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

int new_email(rng_t *r, const person_t *p, u64set_t *used, char *dst)
{
    char g[NAME_LEN], f[NAME_LEN], out[4 * NAME_LEN];
    letters_lower(g, sizeof g, p->given);
    letters_lower(f, sizeof f, p->family);
    unsigned total = 0;
    for (size_t i = 0; i < n_email_domains; i++)
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
                const char *const *pair = twin_paired[rng_below(&pop->rng, n_twin_paired)];
                copy_str(sex == SEX_M ? kid->given : twin->given, NAME_LEN, pair[0]);
                copy_str(sex == SEX_M ? twin->given : kid->given, NAME_LEN, pair[1]);
                kid->given_alt[0] = twin->given_alt[0] = '\0';
                kid->flags |= PF_TWIN_PAIRED;
                twin->flags |= PF_TWIN_PAIRED;
            } else if (tsex == sex && chance(&pop->rng, 0.25)) {
                const char *const *pair =
                    sex == SEX_M ? twin_similar_m[rng_below(&pop->rng, n_twin_similar_m)]
                                 : twin_similar_f[rng_below(&pop->rng, n_twin_similar_f)];
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
    for (size_t i = 0; i < n_forenames; i++) {
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

int make_household(pop_t *pop)
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

int build_tables(pop_t *pop)
{
    /* Surnames: listed, then the tail, deduplicated against the listed names. */
    size_t ntail_max = n_tail_first * n_tail_mid * n_tail_last;
    pop->sur = calloc(n_listed + ntail_max, sizeof *pop->sur);
    pop->tail_names = malloc(ntail_max * 24);
    if (!pop->sur || !pop->tail_names)
        return -1;
    u64set_t seen = {0};
    double listed_total = 0, last = 0;
    for (size_t i = 0; i < n_listed; i++) {
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
    for (size_t i = 0; i < n_listed; i++)
        share[pop->sur[i].origin] += pop->sur[i].per100k;
    listed_total = 0;
    for (size_t i = 0; i < n_listed; i++) {
        int o = pop->sur[i].origin;
        if (origin_share[o] > 0 && share[o] > 0)
            pop->sur[i].per100k =
                (float)(pop->sur[i].per100k * origin_share[o] * 100000.0 / share[o]);
        listed_total += pop->sur[i].per100k;
    }
    /* Frequencies of the listed names, for choosing namesakes: name hash -> per 100,000. */
    pop->freq_key = malloc(2 * n_listed * sizeof *pop->freq_key);
    pop->freq_val = malloc(2 * n_listed * sizeof *pop->freq_val);
    if (!pop->freq_key || !pop->freq_val)
        return -1;
    uint64_t *packed = malloc(2 * n_listed * sizeof *packed);
    if (!packed)
        return -1;
    size_t nf = 0;
    for (size_t i = 0; i < n_listed; i++) {
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
    pop->nsur = n_listed;
    /* The tail's names in a seeded order, so which rare names are the commoner ones varies. */
    size_t ntail = 0;
    char *store = pop->tail_names;
    for (size_t a = 0; a < n_tail_first; a++)
        for (size_t b = 0; b < n_tail_mid; b++)
            for (size_t c = 0; c < n_tail_last; c++) {
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
        zsum += pow((double)(n_listed + 1 + i), -0.5);
    for (size_t i = 0; i < ntail; i++) {
        double f = tail_mass * pow((double)(n_listed + 1 + i), -0.5) / zsum;
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
                if (wtable_init(t, n_forenames) < 0)
                    return -1;
                for (size_t i = 0; i < n_forenames; i++) {
                    const forename_t *f = &forenames[i];
                    if (f->pool == pool && (f->sex & (sex + 1)))
                        (void)wtable_add(t, n_forenames, (uint32_t)i, decade_weight(f, d));
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

void pop_free(pop_t *pop)
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
void assign_systems(pop_t *pop)
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
