/* phonetic.c - the PRIMARY key of Lawrence Philips' Double Metaphone (match_phonetic): the
 * letter-by-letter rules, on an upper-cased, diacritic-folded word padded with blanks. Owns nothing
 * else; names are folded by mi_fold_utf8 (normalise.c) exactly as the comparisons fold them.
 *
 * A faithful rendering of Philips' rules (as in the widely used C port with Kevin Atkinson's
 * fixes), keeping only the primary code. The word is padded with blanks, as in the original, so
 * look-ahead tests such as "IER " and " C" work at the end of the word. */
#include "match/match_int.h"

#include <ctype.h>
#include <string.h>

#define DM_PAD 5

typedef struct {
    char s[NAME_BUF + DM_PAD + 1]; /* upper-case word plus blank padding */
    int len;                       /* real length */
    int plen;                      /* padded length */
    int last;                      /* index of the last real character */
    int slavo_germanic;            /* contains W, K, CZ or WITZ */
    char key[MATCH_PHONETIC_LEN + 1];
    int klen;
} dmeta_t;

static char dm_get(const dmeta_t *d, int pos)
{
    return (pos < 0 || pos >= d->plen) ? '\0' : d->s[pos];
}

static int dm_vowel(const dmeta_t *d, int pos)
{
    char c = dm_get(d, pos);
    return c != '\0' && strchr("AEIOUY", c) != NULL;
}

/* 1 if any of the '|'-separated alternatives occurs at pos. */
static int dm_at(const dmeta_t *d, int pos, const char *alts)
{
    if (pos < 0 || pos >= d->plen)
        return 0;
    while (*alts != '\0') {
        size_t k = strcspn(alts, "|");
        if ((size_t)pos + k <= (size_t)d->plen && memcmp(d->s + pos, alts, k) == 0)
            return 1;
        alts += k;
        if (*alts == '|')
            alts++;
    }
    return 0;
}

static void dm_add(dmeta_t *d, const char *code)
{
    for (; *code != '\0' && d->klen < MATCH_PHONETIC_LEN; code++)
        d->key[d->klen++] = *code;
    d->key[d->klen] = '\0';
}

/* Adds code and skips a doubled letter ("FF", "KK", ...). */
static int dm_simple(dmeta_t *d, int cur, const char *code)
{
    dm_add(d, code);
    return dm_get(d, cur + 1) == d->s[cur] ? cur + 2 : cur + 1;
}

static int dm_ch(dmeta_t *d, int cur)
{
    if (cur > 0 && dm_at(d, cur, "CHAE")) { /* Michael */
        dm_add(d, "K");
        return cur + 2;
    }
    if (cur == 0 && (dm_at(d, cur + 1, "HARAC|HARIS") || dm_at(d, cur + 1, "HOR|HYM|HIA|HEM")) &&
        !dm_at(d, 0, "CHORE")) { /* Greek roots: chorus, chemistry */
        dm_add(d, "K");
        return cur + 2;
    }
    if (dm_at(d, 0, "VAN |VON |SCH") || dm_at(d, cur - 2, "ORCHES|ARCHIT|ORCHID") ||
        dm_at(d, cur + 2, "T|S") ||
        ((dm_at(d, cur - 1, "A|O|U|E") || cur == 0) && dm_at(d, cur + 2, "L|R|N|M|B|H|F|V|W| "))) {
        dm_add(d, "K");
    } else if (cur > 0 && dm_at(d, 0, "MC")) {
        dm_add(d, "K"); /* McHugh */
    } else {
        dm_add(d, "X"); /* church, Charles */
    }
    return cur + 2;
}

static int dm_cc(dmeta_t *d, int cur)
{
    if (dm_at(d, cur + 2, "I|E|H") && !dm_at(d, cur + 2, "HU")) {
        /* accident, succeed -> KS; Italian bacci -> X */
        if ((cur == 1 && dm_get(d, cur - 1) == 'A') || dm_at(d, cur - 1, "UCCEE|UCCES"))
            dm_add(d, "KS");
        else
            dm_add(d, "X");
        return cur + 3;
    }
    dm_add(d, "K"); /* Pierce's rule */
    return cur + 2;
}

static int dm_c(dmeta_t *d, int cur)
{
    if (cur > 1 && !dm_vowel(d, cur - 2) && dm_at(d, cur - 1, "ACH") && dm_get(d, cur + 2) != 'I' &&
        (dm_get(d, cur + 2) != 'E' || dm_at(d, cur - 2, "BACHER|MACHER"))) {
        dm_add(d, "K"); /* Germanic: Bacharach */
        return cur + 2;
    }
    if (cur == 0 && dm_at(d, cur, "CAESAR")) {
        dm_add(d, "S");
        return cur + 2;
    }
    if (dm_at(d, cur, "CHIA")) {
        dm_add(d, "K");
        return cur + 2;
    }
    if (dm_at(d, cur, "CH"))
        return dm_ch(d, cur);
    if (dm_at(d, cur, "CZ") && !dm_at(d, cur - 2, "WICZ")) {
        dm_add(d, "S");
        return cur + 2;
    }
    if (dm_at(d, cur + 1, "CIA")) {
        dm_add(d, "X");
        return cur + 3;
    }
    if (dm_at(d, cur, "CC") && !(cur == 1 && dm_get(d, 0) == 'M'))
        return dm_cc(d, cur);
    if (dm_at(d, cur, "CK|CG|CQ")) {
        dm_add(d, "K");
        return cur + 2;
    }
    if (dm_at(d, cur, "CI|CE|CY")) {
        dm_add(d, "S");
        return cur + 2;
    }
    dm_add(d, "K");
    if (dm_at(d, cur + 1, " C| Q| G")) /* Mac Caffrey, Mac Gregor */
        return cur + 3;
    if (dm_at(d, cur + 1, "C|K|Q") && !dm_at(d, cur + 1, "CE|CI"))
        return cur + 2;
    return cur + 1;
}

static int dm_d(dmeta_t *d, int cur)
{
    if (dm_at(d, cur, "DG")) {
        if (dm_at(d, cur + 2, "I|E|Y")) { /* edge */
            dm_add(d, "J");
            return cur + 3;
        }
        dm_add(d, "TK"); /* Edgar */
        return cur + 2;
    }
    dm_add(d, "T");
    return dm_at(d, cur, "DT|DD") ? cur + 2 : cur + 1;
}

static int dm_gh(dmeta_t *d, int cur)
{
    if (cur > 0 && !dm_vowel(d, cur - 1)) {
        dm_add(d, "K");
        return cur + 2;
    }
    if (cur == 0) { /* Ghislaine vs Ghent */
        dm_add(d, dm_get(d, cur + 2) == 'I' ? "J" : "K");
        return cur + 2;
    }
    /* Parker's rule: silent in Hugh, bough, Broughton */
    if ((cur > 1 && dm_at(d, cur - 2, "B|H|D")) || (cur > 2 && dm_at(d, cur - 3, "B|H|D")) ||
        (cur > 3 && dm_at(d, cur - 4, "B|H")))
        return cur + 2;
    if (cur > 2 && dm_get(d, cur - 1) == 'U' && dm_at(d, cur - 3, "C|G|L|R|T"))
        dm_add(d, "F"); /* laugh, McLaughlin, Gough */
    else if (dm_get(d, cur - 1) != 'I')
        dm_add(d, "K");
    return cur + 2;
}

static int dm_g(dmeta_t *d, int cur)
{
    if (dm_get(d, cur + 1) == 'H')
        return dm_gh(d, cur);
    if (dm_get(d, cur + 1) == 'N') {
        if (cur == 1 && dm_vowel(d, 0) && !d->slavo_germanic)
            dm_add(d, "KN");
        else if (!dm_at(d, cur + 2, "EY") && !d->slavo_germanic)
            dm_add(d, "N");
        else
            dm_add(d, "KN"); /* Cagney */
        return cur + 2;
    }
    if (dm_at(d, cur + 1, "LI") && !d->slavo_germanic) { /* Tagliaro */
        dm_add(d, "KL");
        return cur + 2;
    }
    if (cur == 0 &&
        (dm_get(d, cur + 1) == 'Y' || dm_at(d, cur + 1, "ES|EP|EB|EL|EY|IB|IL|IN|IE|EI|ER"))) {
        dm_add(d, "K");
        return cur + 2;
    }
    if ((dm_at(d, cur + 1, "ER") || dm_get(d, cur + 1) == 'Y') &&
        !dm_at(d, 0, "DANGER|RANGER|MANGER") && !dm_at(d, cur - 1, "E|I") &&
        !dm_at(d, cur - 1, "RGY|OGY")) {
        dm_add(d, "K");
        return cur + 2;
    }
    if (dm_at(d, cur + 1, "E|I|Y") || dm_at(d, cur - 1, "AGGI|OGGI")) {
        int germanic = dm_at(d, 0, "VAN |VON |SCH") || dm_at(d, cur + 1, "ET");
        dm_add(d, germanic ? "K" : "J");
        return cur + 2;
    }
    dm_add(d, "K");
    return dm_get(d, cur + 1) == 'G' ? cur + 2 : cur + 1;
}

static int dm_h(dmeta_t *d, int cur)
{
    /* Only sounded at the start or between vowels. */
    if ((cur == 0 || dm_vowel(d, cur - 1)) && dm_vowel(d, cur + 1)) {
        dm_add(d, "H");
        return cur + 2;
    }
    return cur + 1;
}

static int dm_j(dmeta_t *d, int cur)
{
    if (dm_at(d, cur, "JOSE") || dm_at(d, 0, "SAN ")) { /* Spanish */
        if ((cur == 0 && dm_get(d, cur + 4) == ' ') || dm_at(d, 0, "SAN "))
            dm_add(d, "H");
        else
            dm_add(d, "J");
        return cur + 1;
    }
    if (cur == 0) {
        dm_add(d, "J");
    } else if (dm_vowel(d, cur - 1) && !d->slavo_germanic &&
               (dm_get(d, cur + 1) == 'A' || dm_get(d, cur + 1) == 'O')) {
        dm_add(d, "J");
    } else if (cur == d->last) {
        dm_add(d, "J");
    } else if (!dm_at(d, cur + 1, "L|T|K|S|N|M|B|Z") && !dm_at(d, cur - 1, "S|K|L")) {
        dm_add(d, "J");
    }
    return dm_get(d, cur + 1) == 'J' ? cur + 2 : cur + 1;
}

static int dm_m(dmeta_t *d, int cur)
{
    int skip = (dm_at(d, cur - 1, "UMB") && (cur + 1 == d->last || dm_at(d, cur + 2, "ER"))) ||
               dm_get(d, cur + 1) == 'M'; /* dumb, thumb */
    dm_add(d, "M");
    return skip ? cur + 2 : cur + 1;
}

static int dm_p(dmeta_t *d, int cur)
{
    if (dm_get(d, cur + 1) == 'H') {
        dm_add(d, "F");
        return cur + 2;
    }
    dm_add(d, "P"); /* Campbell, raspberry */
    return dm_at(d, cur + 1, "P|B") ? cur + 2 : cur + 1;
}

static int dm_r(dmeta_t *d, int cur)
{
    /* French final -ier (Rogier) is silent, but not Germanic Hochmeier. */
    if (!(cur == d->last && !d->slavo_germanic && dm_at(d, cur - 2, "IE") &&
          !dm_at(d, cur - 4, "ME|MA")))
        dm_add(d, "R");
    return dm_get(d, cur + 1) == 'R' ? cur + 2 : cur + 1;
}

static int dm_sc(dmeta_t *d, int cur)
{
    if (dm_get(d, cur + 2) == 'H') {
        /* Dutch school/schooner -> SK, but Schermerhorn/Schenker and Schlesinger -> X */
        if (dm_at(d, cur + 3, "OO|UY|ED|EM"))
            dm_add(d, "SK");
        else
            dm_add(d, "X");
        return cur + 3;
    }
    dm_add(d, dm_at(d, cur + 2, "I|E|Y") ? "S" : "SK");
    return cur + 3;
}

static int dm_s(dmeta_t *d, int cur)
{
    if (dm_at(d, cur - 1, "ISL|YSL")) /* island, Carlisle */
        return cur + 1;
    if (cur == 0 && dm_at(d, cur, "SUGAR")) {
        dm_add(d, "X");
        return cur + 1;
    }
    if (dm_at(d, cur, "SH")) {
        dm_add(d, dm_at(d, cur + 1, "HEIM|HOEK|HOLM|HOLZ") ? "S" : "X");
        return cur + 2;
    }
    if (dm_at(d, cur, "SIO|SIA")) {
        dm_add(d, "S");
        return cur + 3;
    }
    if ((cur == 0 && dm_at(d, cur + 1, "M|N|L|W")) || dm_at(d, cur + 1, "Z")) {
        dm_add(d, "S"); /* Smith vs Schmidt, Snider vs Schneider */
        return dm_at(d, cur + 1, "Z") ? cur + 2 : cur + 1;
    }
    if (dm_at(d, cur, "SC"))
        return dm_sc(d, cur);
    if (!(cur == d->last && dm_at(d, cur - 2, "AI|OI"))) /* French Artois */
        dm_add(d, "S");
    return dm_at(d, cur + 1, "S|Z") ? cur + 2 : cur + 1;
}

static int dm_t(dmeta_t *d, int cur)
{
    if (dm_at(d, cur, "TION|TIA|TCH")) {
        dm_add(d, "X");
        return cur + 3;
    }
    if (dm_at(d, cur, "TH|TTH")) {
        /* Thomas, Thames and Germanic names keep a hard T; otherwise "th" is coded 0. */
        if (dm_at(d, cur + 2, "OM|AM") || dm_at(d, 0, "VAN |VON |SCH"))
            dm_add(d, "T");
        else
            dm_add(d, "0");
        return cur + 2;
    }
    dm_add(d, "T");
    return dm_at(d, cur + 1, "T|D") ? cur + 2 : cur + 1;
}

static int dm_w(dmeta_t *d, int cur)
{
    if (dm_at(d, cur, "WR")) {
        dm_add(d, "R");
        return cur + 2;
    }
    if (cur == 0 && (dm_vowel(d, cur + 1) || dm_at(d, cur, "WH")))
        dm_add(d, "A"); /* no return: the rules below still apply */
    if ((cur == d->last && dm_vowel(d, cur - 1)) || dm_at(d, cur - 1, "EWSKI|EWSKY|OWSKI|OWSKY") ||
        dm_at(d, 0, "SCH"))
        return cur + 1; /* Arnow sounds like Arnoff: silent in the primary */
    if (dm_at(d, cur, "WICZ|WITZ")) {
        dm_add(d, "TS");
        return cur + 4;
    }
    return cur + 1;
}

static int dm_x(dmeta_t *d, int cur)
{
    /* French final -x is silent: Breaux */
    if (!(cur == d->last && (dm_at(d, cur - 3, "IAU|EAU") || dm_at(d, cur - 2, "AU|OU"))))
        dm_add(d, "KS");
    return dm_at(d, cur + 1, "C|X") ? cur + 2 : cur + 1;
}

static int dm_z(dmeta_t *d, int cur)
{
    if (dm_get(d, cur + 1) == 'H') { /* pinyin Zhao */
        dm_add(d, "J");
        return cur + 2;
    }
    dm_add(d, "S");
    return dm_get(d, cur + 1) == 'Z' ? cur + 2 : cur + 1;
}

static int dm_step(dmeta_t *d, int cur)
{
    switch (d->s[cur]) {
    case 'A':
    case 'E':
    case 'I':
    case 'O':
    case 'U':
    case 'Y':
        if (cur == 0)
            dm_add(d, "A");
        return cur + 1;
    case 'B':
        return dm_simple(d, cur, "P");
    case 'C':
        return dm_c(d, cur);
    case 'D':
        return dm_d(d, cur);
    case 'F':
        return dm_simple(d, cur, "F");
    case 'G':
        return dm_g(d, cur);
    case 'H':
        return dm_h(d, cur);
    case 'J':
        return dm_j(d, cur);
    case 'K':
        return dm_simple(d, cur, "K");
    case 'L':
        return dm_simple(d, cur, "L");
    case 'M':
        return dm_m(d, cur);
    case 'N':
        return dm_simple(d, cur, "N");
    case 'P':
        return dm_p(d, cur);
    case 'Q':
        return dm_simple(d, cur, "K");
    case 'R':
        return dm_r(d, cur);
    case 'S':
        return dm_s(d, cur);
    case 'T':
        return dm_t(d, cur);
    case 'V':
        return dm_simple(d, cur, "F");
    case 'W':
        return dm_w(d, cur);
    case 'X':
        return dm_x(d, cur);
    case 'Z':
        return dm_z(d, cur);
    default:
        return cur + 1;
    }
}

/* Letters upper-cased; runs of blanks/hyphens become one blank (word break); the rest dropped. */
static void dm_load(dmeta_t *d, const char *name)
{
    int n = 0;
    while (name != NULL && *name != '\0' && n < NAME_BUF - 2) {
        char c = *name, f[3];
        if (c == ' ' || c == '-' || c == '\t') {
            if (n > 0 && d->s[n - 1] != ' ')
                d->s[n++] = ' ';
            name++;
            continue;
        }
        if ((unsigned char)c < 128) {
            if (isalpha((unsigned char)c))
                d->s[n++] = (char)toupper((unsigned char)c);
            name++;
            continue;
        }
        mi_fold_utf8(&name,
                     f); /* as mi_norm_letters: diacritics folded, other characters dropped */
        for (int k = 0; f[k] != '\0' && n < NAME_BUF - 1; k++)
            d->s[n++] = f[k];
    }
    while (n > 0 && d->s[n - 1] == ' ')
        n--;
    d->len = n;
    d->last = n - 1;
    memset(d->s + n, ' ', DM_PAD);
    d->plen = n + DM_PAD;
    d->s[d->plen] = '\0';
    d->slavo_germanic =
        strchr(d->s, 'W') != NULL || strchr(d->s, 'K') != NULL || strstr(d->s, "CZ") != NULL;
    d->klen = 0;
    d->key[0] = '\0';
}

void match_phonetic(const char *name, char *out, size_t out_len)
{
    dmeta_t d;
    int cur = 0;

    if (out == NULL || out_len == 0)
        return;
    dm_load(&d, name);
    if (dm_at(&d, 0, "GN|KN|PN|WR|PS")) /* silent first letter: Knight, Wright */
        cur = 1;
    if (d.len > 0 && d.s[0] == 'X') { /* Xavier */
        dm_add(&d, "S");
        cur = 1;
    }
    while (cur < d.len && d.klen < MATCH_PHONETIC_LEN)
        cur = dm_step(&d, cur);

    size_t n = (size_t)d.klen < out_len - 1 ? (size_t)d.klen : out_len - 1;
    memcpy(out, d.key, n);
    out[n] = '\0';
}
