/* normalise.c - the forms values are compared in: names (upper-case letters, Latin diacritics
 * folded), birth dates, postcodes, phone numbers, e-mail addresses, sex codes, and the matcher's
 * NHS and NI numbers; and the 64-bit FNV-1a hash that e-mail comparison and blocking keys use.
 * Everything here reads a raw field once (match_prepare, match_blocking_keys) and writes a fixed
 * buffer: no allocation, no global state. */
#include "match/match_int.h"

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

/* Digits only, ignoring blanks and hyphens; returns digit count, or 0 on any other character or
 * overflow of the buffer. */
static size_t digits_only(const char *in, char *out, size_t out_len)
{
    size_t n = 0;
    for (; in != NULL && *in != '\0'; in++) {
        if (*in == ' ' || *in == '-')
            continue;
        if (!isdigit((unsigned char)*in) || n + 1 >= out_len)
            return 0;
        out[n++] = *in;
    }
    out[n] = '\0';
    return n;
}

int mi_nhs_normalise(const char *nhs, char out[11])
{
    if (digits_only(nhs, out, 11) != 10)
        return 0;
    int sum = 0;
    int all_same = 1;
    for (int i = 0; i < 9; i++) {
        sum += (out[i] - '0') * (10 - i);
        all_same &= out[i] == out[0];
    }
    int check = 11 - sum % 11;
    if (check == 11)
        check = 0;
    if (check == 10 || check != out[9] - '0')
        return 0;
    return !(all_same && out[9] == out[0]);
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
    char s[12];
    size_t n = 0;
    for (; ni != NULL && *ni != '\0'; ni++) {
        if (*ni == ' ')
            continue;
        if (n + 1 >= sizeof s)
            return 0;
        s[n++] = (char)toupper((unsigned char)*ni);
    }
    s[n] = '\0';
    if (n != 8 && n != 9)
        return 0;
    if (!isupper((unsigned char)s[0]) || !isupper((unsigned char)s[1]))
        return 0;
    if (strchr("DFIQUV", s[0]) != NULL || strchr("DFIOQUV", s[1]) != NULL)
        return 0;
    static const char *const banned[] = {"BG", "GB", "NK", "KN", "NT", "TN", "ZZ"};
    for (size_t i = 0; i < sizeof banned / sizeof banned[0]; i++) {
        if (memcmp(s, banned[i], 2) == 0)
            return 0;
    }
    for (int i = 2; i < 8; i++) {
        if (!isdigit((unsigned char)s[i]))
            return 0;
    }
    if (n == 9 && strchr("ABCD", s[8]) == NULL)
        return 0;
    memcpy(core, s, 8);
    core[8] = '\0';
    *suffix = n == 9 ? s[8] : '\0';
    return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* Dates                                                                                       */

static int days_in_month(int y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dim[m - 1];
}

static int two_digits(const char *s)
{
    return (s[0] - '0') * 10 + (s[1] - '0');
}

/* Strict YYYY-MM-DD (a trailing "T..." time part is tolerated); anything else is treated as
 * missing rather than guessed at, because a mis-parsed date is worse evidence than none. */
int mi_parse_date(const char *s, mi_ymd_t *out)
{
    if (is_blank(s))
        return 0;
    for (int i = 0; i < 10; i++) {
        int want_dash = i == 4 || i == 7;
        if (s[i] == '\0')
            return 0;
        if (want_dash ? s[i] != '-' : !isdigit((unsigned char)s[i]))
            return 0;
    }
    if (s[10] != '\0' && s[10] != 'T')
        return 0;
    out->y = two_digits(s) * 100 + two_digits(s + 2);
    out->m = two_digits(s + 5);
    out->d = two_digits(s + 8);
    if (out->y < 1800 || out->m < 1 || out->m > 12 || out->d < 1)
        return 0;
    return out->d <= days_in_month(out->y, out->m);
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

/* Accepts any spacing and case. A valid shape is a 2-4 character outward code starting with a
 * letter, then digit-letter-letter. Anything else (BFPO, overseas) is kept for exact comparison. */
int mi_parse_postcode(const char *in, mi_postcode_t *pc)
{
    char s[16];
    size_t n = 0;
    for (; in != NULL && *in != '\0'; in++) {
        unsigned char c = (unsigned char)*in;
        if (isspace(c))
            continue;
        if (!isalnum(c) || n + 1 >= sizeof s)
            return 0;
        s[n++] = (char)toupper(c);
    }
    s[n] = '\0';
    if (n == 0 || n > 8)
        return 0;
    memset(pc, 0, sizeof *pc);
    const char *in3 = n >= 5 ? s + n - 3 : s;
    pc->parsed = n >= 5 && n <= 7 && isalpha((unsigned char)s[0]) &&
                 isdigit((unsigned char)in3[0]) && isalpha((unsigned char)in3[1]) &&
                 isalpha((unsigned char)in3[2]);
    if (!pc->parsed) {
        memcpy(pc->full, s, n + 1);
        return 1;
    }
    size_t out_len = n - 3;
    memcpy(pc->outward, s, out_len);
    pc->outward[out_len] = '\0';
    pc->area[0] = s[0];
    pc->area[1] = isalpha((unsigned char)s[1]) ? s[1] : '\0';
    /* Lengths are fixed by the shape check: outward 2-4, inward 3. */
    memcpy(pc->full, s, out_len);
    pc->full[out_len] = ' ';
    memcpy(pc->full + out_len + 1, in3, 4); /* inward code and its NUL */
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
