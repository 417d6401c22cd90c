/* noise.c - the systems' views: what each council system (socialcare, crm, health) holds about
 * a person, with the noise such systems really carry (typos, nicknames, spelling variants,
 * swapped day and month, stale addresses, married names, missing identifiers, formatting). Owns
 * the system profiles, the names of the noise and the systems' local ids. */
#include "matching.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

const char *const noise_name[N_COUNT] = {"surname typo (one edit)",
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

void local_id(const profile_t *pf, size_t idx, char *out, size_t cap)
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
    for (size_t g = 0; g < n_nicknames; g++) {
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
    bool has_var = variant_of(r, surname_variants, n_surname_variants, rec->family, var);
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
        bool has_gv = variant_of(r, given_variants, n_given_variants, p->given, var);
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

void record_before_move(const pop_t *pop, const view_t *v, size_t idx, record_t *out)
{
    const record_t *cur = &v->rec[idx];
    *out = *cur;
    place_t pl = previous_place(pop, cur->person);
    place_line(pop->opt->seed, &pl, false, out->line, sizeof out->line);
    out->line2[0] = '\0';
    copy_str(out->town, sizeof out->town, towns[pl.town].name);
    copy_str(out->county, sizeof out->county, towns[pl.town].county);
    char pc[9];
    place_postcode(pop->opt->seed, &pl, pc);
    copy_str(out->postcode, sizeof out->postcode, pc);
    uint64_t uprn = place_uprn(pop->opt->seed, &pl);
    out->uprn[0] = '\0';
    if (cur->uprn[0] && uprn)
        (void)snprintf(out->uprn, sizeof out->uprn, "%" PRIu64, uprn);
}

bool moved_elsewhere(const view_t *views, int nsys, int sys, size_t idx)
{
    const record_t *r = &views[sys].rec[idx];
    if (r->noise & (1u << N_MOVED))
        return false;
    for (int s = 0; s < nsys; s++) {
        int32_t j = s == sys ? -1 : views[s].of_person[r->person];
        if (j >= 0 && (views[s].rec[j].noise & (1u << N_MOVED)))
            return true;
    }
    return false;
}

int build_view(const pop_t *pop, int sys, view_t *v)
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

const profile_t *system_profile(int sys)
{
    return sys >= 0 && sys < MAX_SYSTEMS ? &profiles[sys] : NULL;
}

void view_free(view_t *v)
{
    free(v->rec);
    free(v->of_person);
    memset(v, 0, sizeof *v);
}

/* The noise of a record as short names joined by "+" (--csv and the records listed). */
void noise_text(uint32_t noise, char *out, size_t cap)
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
