/* normalise.c - the forms values are compared in: names (upper-case letters, Latin diacritics
 * folded), birth dates, postcodes, phone numbers, e-mail addresses, sex codes, and the matcher's
 * NHS and NI numbers; and the 64-bit FNV-1a hash that e-mail comparison and blocking keys use.
 * Everything here reads a raw field once (match_prepare, match_blocking_keys) and writes a fixed
 * buffer: no allocation, no global state. */
#include "match/match_int.h"

#include "match/ident.h"

#include <ctype.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Names                                                                                       */

static int is_blank(const char *s)
{
    return s == NULL || *s == '\0';
}

/* Latin letters with diacritics as their base letter: U+00C0..U+00FF (Latin-1 Supplement), then
 * U+0100..U+017F (Latin Extended-A). '.' is not a letter (multiplication and division signs); '*'
 * stands for a two-letter fold (AE, TH, SS, OE, IJ) handled in mi_fold_utf8. Systems differ in
 * whether they keep diacritics (Pádraig, Wiśniewski, Łukasz, Róisín), so a name must not lose the
 * letter altogether: "Pádraig" is "PADRAIG", not "PDRAIG". */
static const char latin1_fold[] =
    "AAAAAA*CEEEEIIIIDNOOOOO.OUUUUY**AAAAAA*CEEEEIIIIDNOOOOO.OUUUUY*Y";
static const char latin_ext_a_fold[] = "AAAAAACCCCCCCCDDDDEEEEEEEEEEGGGGGGGGHHHHIIIIIIIIII**JJKKK"
                                       "LLLLLLLLLLNNNNNNNNNOOOOOO**RRRRRRSSSSSSSSTTTTTTUUUUUUUUUUUU"
                                       "WWYYYZZZZZZS";

void mi_fold_utf8(const char **s, char out[3])
{
    const unsigned char *u = (const unsigned char *)*s;
    out[0] = out[1] = out[2] = '\0';
    if (u[0] < 128) {
        if (isalpha(u[0]))
            out[0] = (char)toupper(u[0]);
        *s += 1;
        return;
    }
    /* Two-byte sequences C3 80..C5 BF are U+00C0..U+017F. */
    if (u[0] >= 0xC3 && u[0] <= 0xC5 && (u[1] & 0xC0) == 0x80) {
        unsigned cp = ((unsigned)(u[0] & 0x1F) << 6) | (u[1] & 0x3F);
        char c = cp < 0x100 ? latin1_fold[cp - 0xC0] : latin_ext_a_fold[cp - 0x100];
        *s += 2;
        if (c == '*') {
            static const struct {
                unsigned cp;
                char two[3];
            } pairs[] = {{0xC6, "AE"},  {0xE6, "AE"},  {0xDE, "TH"},  {0xFE, "TH"}, {0xDF, "SS"},
                         {0x132, "IJ"}, {0x133, "IJ"}, {0x152, "OE"}, {0x153, "OE"}};
            for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
                if (pairs[i].cp == cp)
                    memcpy(out, pairs[i].two, 3);
        } else if (c != '.') {
            out[0] = c;
        }
        return;
    }
    /* Any other non-ASCII character: skip it and its continuation bytes. */
    *s += 1;
    while ((**s & 0xC0) == 0x80)
        *s += 1;
}

/* Upper-case letters only, diacritics folded: "O'Brien", "OBRIEN" and "O BRIEN" are the same
 * surname for matching, as are "Wiśniewski" and "Wisniewski". Returns the length written (0 means
 * missing). */
size_t mi_norm_letters(const char *in, char *out, size_t out_len)
{
    size_t n = 0;
    if (out_len == 0)
        return 0;
    while (in != NULL && *in != '\0' && n + 1 < out_len) {
        unsigned char c = (unsigned char)*in;
        if (c < 128) { /* the common case, without the fold's bookkeeping */
            if (isalpha(c))
                out[n++] = (char)toupper(c);
            in++;
            continue;
        }
        char f[3];
        mi_fold_utf8(&in, f);
        for (int k = 0; f[k] != '\0' && n + 1 < out_len; k++)
            out[n++] = f[k];
    }
    out[n] = '\0';
    return n;
}

size_t match_norm_name(const char *name, char *out, size_t out_len)
{
    return mi_norm_letters(name, out, out_len);
}

static int ascii_ieq(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return 0;
    }
    return *a == *b;
}

/* ------------------------------------------------------------------------------------------ */
/* NHS and NI numbers                                                                          */

/* The matcher reads NHS and NI numbers with ident.c's rules, leniently: other systems write them
 * with any spacing (and NHS numbers with hyphens), and a repeated-digit NHS number is a
 * placeholder, never evidence. README.md lists how this differs from the validators. */
#define MATCH_NHS_FLAGS (IDENT_NHS_LENIENT | IDENT_NHS_NO_PLACEHOLDERS)

int mi_nhs_normalise(const char *nhs, char out[11])
{
    return ident_nhs(nhs, MATCH_NHS_FLAGS, out, NULL) == 0;
}

int match_nhs_number_valid(const char *nhs)
{
    char buf[11];
    return mi_nhs_normalise(nhs, buf);
}

/* HMRC format: two prefix letters, six digits, optional suffix A-D. Prefixes D, F, I, Q, U, V in
 * either place and O second are never issued; BG, GB, NK, KN, NT, ZZ are not allocated and TN is
 * the temporary-number prefix, which many people share, so none of them identifies anyone.
 * Writes the 8-character core and the suffix (or '\0'). */
int mi_ni_normalise(const char *ni, char core[9], char *suffix)
{
    ident_ni_t v;
    if (ident_ni(ni, IDENT_NI_LENIENT, &v, NULL) != 0)
        return 0;
    memcpy(core, v.c, 8);
    core[8] = '\0';
    *suffix = v.c[8]; /* NUL when there is none */
    return 1;
}

size_t mi_norm_shared_id(const char *in, char *out, size_t len)
{
    size_t n = 0;
    for (const char *c = in ? in : ""; *c; c++) {
        char ch = *c;
        if (ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 'a' + 'A');
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')))
            continue;
        if (n + 1 >= len)
            return out[0] = '\0', 0;
        out[n++] = ch;
    }
    out[n] = '\0';
    return n;
}

/* ------------------------------------------------------------------------------------------ */
/* Dates                                                                                       */

/* Strict YYYY-MM-DD (a trailing "T..." time part is tolerated) from 1800 on; anything else is
 * treated as missing rather than guessed at, because a mis-parsed date is worse evidence than
 * none. */
int mi_parse_date(const char *s, mi_ymd_t *out)
{
    if (is_blank(s) || !ident_date_fields(s, &out->y, &out->m, &out->d))
        return 0;
    if (s[10] != '\0' && s[10] != 'T')
        return 0;
    if (out->y < 1800 || out->m < 1 || out->m > 12 || out->d < 1)
        return 0;
    return out->d <= ident_days_in_month(out->y, out->m);
}

/* Days since 1970-01-01 (Hinnant's days_from_civil). */
long mi_days_from_civil(mi_ymd_t t)
{
    long y = t.y - (t.m <= 2);
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long mp = (t.m + 9) % 12;
    long doy = (153 * mp + 2) / 5 + t.d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* ------------------------------------------------------------------------------------------ */
/* Postcodes                                                                                   */

/* Accepts any spacing and case (ident.c's lenient postcode). A UK shape is a 2-4 character outward
 * code starting with a letter, then digit-letter-letter, whatever the letters; anything else
 * (BFPO, overseas) is kept for exact comparison. */
int mi_parse_postcode(const char *in, mi_postcode_t *pc)
{
    ident_postcode_t v;
    if (ident_postcode(in, IDENT_PC_LENIENT, &v, NULL) != 0)
        return 0;
    memset(pc, 0, sizeof *pc);
    pc->parsed = v.uk_shape;
    if (!pc->parsed) {
        memcpy(pc->full, v.c, v.n + 1);
        return 1;
    }
    /* Lengths are fixed by the shape: outward 2-4, inward 3. */
    size_t out_len = v.n - IDENT_PC_INWARD;
    ident_postcode_format(&v, pc->full);
    memcpy(pc->outward, v.c, out_len);
    pc->outward[out_len] = '\0';
    pc->area[0] = v.c[0];
    pc->area[1] = ident_upper(v.c[1]) ? v.c[1] : '\0';
    memcpy(pc->sector, pc->full, out_len + 2);
    pc->sector[out_len + 2] = '\0';
    return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* Phones, e-mail addresses, sex                                                               */

/* Digits only, with the UK country code folded to the trunk 0: "+44 (0)20 7946 0000",
 * "0044 20 7946 0000" and "020 7946 0000" all become "02079460000". Fewer than 7 digits is not a
 * phone number (extensions, "n/a", "0"), so it counts as missing. */
int mi_norm_phone(const char *in, char *out, size_t out_len)
{
    char d[PHONE_BUF];
    size_t n = 0;
    for (; in != NULL && *in != '\0'; in++) {
        if (isdigit((unsigned char)*in)) {
            if (n + 1 >= sizeof d)
                return 0;
            d[n++] = *in;
        }
    }
    d[n] = '\0';
    const char *rest = d;
    int national = 0;
    if (n >= 4 && memcmp(d, "0044", 4) == 0) {
        rest += 4;
        national = 1;
    } else if (n >= 12 && memcmp(d, "44", 2) == 0) { /* 44 + a 10-digit national number */
        rest += 2;
        national = 1;
    }
    if (national && *rest == '0') /* the "(0)" people write after +44 */
        rest++;
    size_t w = strlen(rest) + (size_t)national;
    if (out_len == 0 || w >= out_len)
        return 0;
    out[0] = '0';
    memcpy(out + national, rest, w - (size_t)national + 1);
    return w >= 7;
}

int mi_norm_email(const char *in, char *out, size_t out_len)
{
    size_t n = 0;
    while (in != NULL && isspace((unsigned char)*in))
        in++;
    for (; in != NULL && *in != '\0'; in++) {
        if (n + 1 >= out_len)
            return 0;
        out[n++] = (char)tolower((unsigned char)*in);
    }
    while (n > 0 && isspace((unsigned char)out[n - 1]))
        n--;
    out[n] = '\0';
    const char *at = strchr(out, '@');
    return at != NULL && at != out && at[1] != '\0';
}

/* 1 male, 2 female, 3 other, 0 missing/unknown. */
int mi_sex_code(const char *s)
{
    if (is_blank(s))
        return 0;
    if (ascii_ieq(s, "male") || ascii_ieq(s, "m"))
        return 1;
    if (ascii_ieq(s, "female") || ascii_ieq(s, "f"))
        return 2;
    if (ascii_ieq(s, "other"))
        return 3;
    return 0;
}

uint64_t mi_fnv1a(const char *s)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}
