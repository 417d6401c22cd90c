/* blocking.c - blocking keys (match_blocking_keys): the index keys under which a person is
 * stored and searched, made by hand rather than with snprintf because they are made for every
 * event and every record indexed. */
#include "match/match_int.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    char (*keys)[MATCH_KEY_LEN];
    int max;
    int n;
} keyset_t;

/* Appends a key unless the set is full or it would not fit (a truncated key could collide with an
 * unrelated one, which only costs candidates, but a silently shortened key is confusing). */
static void add_key(keyset_t *ks, const char *prefix, const char *value)
{
    if (ks->n >= ks->max || value[0] == '\0')
        return;
    /* Joined by hand: keys are made for every event and every record indexed. */
    size_t lp = strlen(prefix), lv = strlen(value);
    if (lp + lv >= MATCH_KEY_LEN)
        return;
    memcpy(ks->keys[ks->n], prefix, lp);
    memcpy(ks->keys[ks->n] + lp, value, lv + 1);
    ks->n++;
}

static void add_email_key(keyset_t *ks, const char *email)
{
    char e[EMAIL_BUF];
    if (!mi_norm_email(email, e, sizeof e))
        return;
    if (strlen(e) + 3 < MATCH_KEY_LEN) {
        add_key(ks, "em:", e);
        return;
    }
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)mi_fnv1a(e));
    add_key(ks, "em#", hex);
}

/* Writes V as exactly WIDTH decimal digits (V is a valid date part, 0 <= V < 10^WIDTH) and
 * returns the end. Keys are made for every event and every record indexed, by hand rather than
 * with snprintf, which was most of the cost of making them. */
static char *put_digits(char *out, int v, int width)
{
    for (int i = width - 1; i >= 0; i--, v /= 10)
        out[i] = (char)('0' + v % 10);
    return out + width;
}

/* "YYYY-MM-DD" from its parts; OUT has room for 11 bytes. */
static char *put_date(char *out, int y, int m, int d)
{
    out = put_digits(out, y, 4);
    *out++ = '-';
    out = put_digits(out, m, 2);
    *out++ = '-';
    out = put_digits(out, d, 2);
    *out = '\0';
    return out;
}

/* FAM is the family name's phonetic key, made once for all the keys that use it: it is the
 * dearest part of a key. */
static void add_name_date_keys(keyset_t *ks, const match_person_t *p, const char *fam,
                               const mi_ymd_t *dob)
{
    char given[NAME_BUF], buf[MATCH_KEY_LEN];
    size_t lf = strlen(fam);
    if (lf == 0)
        return;
    /* sizeof fam + ':' + "YYYY-MM-DD" fits MATCH_KEY_LEN with room to spare */
    memcpy(buf, fam, lf);
    buf[lf] = ':';
    *put_digits(buf + lf + 1, dob->y, 4) = '\0';
    add_key(ks, "ph:", buf);
    if (mi_norm_letters(p->given, given, sizeof given) == 0)
        return;
    /* Sorting day and month makes 1984-03-07 and 1984-07-03 produce the same key. */
    int lo = dob->m < dob->d ? dob->m : dob->d;
    int hi = dob->m < dob->d ? dob->d : dob->m;
    buf[0] = given[0];
    memcpy(buf + 1, fam, lf);
    buf[lf + 1] = ':';
    (void)put_date(buf + lf + 2, dob->y, lo, hi);
    add_key(ks, "dm:", buf);
}

/* Keys that find a record whose birth date is missing or wrong and whose postcode has a slip:
 * the house number with the street's first word, and the forename's initial with the surname's
 * phonetic key in the locality. Each survives a typo in the fields the other is made of. */
static void add_place_keys(keyset_t *ks, const match_person_t *p, const char *fam)
{
    if (p->address == NULL && p->locality == NULL)
        return;
    match_prep_t o;
    memset(&o, 0, sizeof o);
    mi_prepare_place(p, &o);
    char buf[MATCH_KEY_LEN];
    size_t lh = strlen(o.house), ls = strcspn(o.street, " ");
    if (lh > 0 && ls > 0 && lh + 1 + ls < 40) {
        memcpy(buf, o.house, lh);
        buf[lh] = ':';
        memcpy(buf + lh + 1, o.street, ls);
        buf[lh + 1 + ls] = '\0';
        add_key(ks, "st:", buf);
    }
    char given[NAME_BUF];
    size_t lf = strlen(fam), ll = strlen(o.locality);
    if (lf == 0 || ll == 0 || mi_norm_letters(p->given, given, sizeof given) == 0)
        return;
    /* initial + phonetic (<= 4) + ':' + locality (< MATCH_LOCALITY_BUF) fits with the prefix */
    buf[0] = given[0];
    memcpy(buf + 1, fam, lf);
    buf[1 + lf] = ':';
    memcpy(buf + 2 + lf, o.locality, ll + 1);
    add_key(ks, "fl:", buf);
}

int match_blocking_keys(const match_person_t *p, char keys[][MATCH_KEY_LEN], int max)
{
    keyset_t ks = {keys, max, 0};
    char buf[MATCH_KEY_LEN];
    mi_ymd_t dob;
    mi_postcode_t pc;

    if (p == NULL || keys == NULL || max <= 0)
        return 0;
    char fam[8];
    match_phonetic(p->family, fam, sizeof fam);
    if (mi_nhs_normalise(p->nhs_number, buf))
        add_key(&ks, "nhs:", buf);
    char suffix;
    if (mi_ni_normalise(p->ni_number, buf, &suffix))
        add_key(&ks, "ni:", buf);
    if (mi_norm_shared_id(p->shared_id, buf, SHARED_ID_BUF) > 0)
        add_key(&ks, "sid:", buf);
    int have_dob = mi_parse_date(p->birth_date, &dob);
    if (have_dob) {
        (void)put_date(buf, dob.y, dob.m, dob.d);
        add_key(&ks, "dob:", buf);
    }
    if (mi_parse_postcode(p->postcode, &pc))
        add_key(&ks, "pc:", pc.full);
    if (have_dob)
        add_name_date_keys(&ks, p, fam, &dob);
    char phone[PHONE_BUF];
    if (mi_norm_phone(p->phone, phone, sizeof phone))
        add_key(&ks, "tel:", phone);
    add_email_key(&ks, p->email);
    add_place_keys(&ks, p, fam);
    return ks.n;
}
