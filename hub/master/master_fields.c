/* master_fields.c - the golden record's field paths: turning an incoming
 * Person into validated, normalised (field path, text) pairs, and turning
 * such pairs back into a Person for the messages the engine sends.
 *
 * Values are kept as canonical text so that two systems that write the same
 * fact differently ("943 476 5919" and "9434765919", "sw1a1aa" and
 * "SW1A 1AA") agree, and no change ping-pongs between them. */
#include "master/master_int.h"
#include "match/validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONSENT_PREFIX "consent."
#define PURPOSE_MAX 64
#define CODE_MAX 36
#define SHARED_ID_MAX 24 /* letters and digits of a shared identifier, as lib/match keeps them */
#define ADDR_CODE_LEN 16 /* a normalised postcode or UPRN, with its NUL */

const char *const MASTER_FIELDS[MF_FIXED_COUNT] = {
    [MF_NHS] = "nhs_number",
    [MF_NHS_VERIFICATION] = "nhs_number_verification",
    [MF_NI] = "ni_number",
    [MF_GIVEN] = "name.given",
    [MF_FAMILY] = "name.family",
    [MF_PREFIX] = "name.prefix",
    [MF_BIRTH] = "birth_date",
    [MF_SEX] = "sex",
    [MF_DEATH] = "death_date",
    [MF_ADDR] = "address.home",
    [MF_ADDR_POSTCODE] = "address.home.postcode",
    [MF_ADDR_UPRN] = "address.home.uprn",
    [MF_PHONE] = "telecom.phone",
    [MF_EMAIL] = "telecom.email",
    [MF_GP] = "gp_practice_ods",
    [MF_LANGUAGE] = "preferred_language",
    [MF_INTERPRETER] = "interpreter_required",
    [MF_SHARED_ID] = "identifier.shared",
};

static const char *const sex_names[] = {"", "male", "female", "other", "unknown"};

/* Names ------------------------------------------------------------------- */

static int purpose_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static int purpose_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > PURPOSE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!purpose_char(s[i]))
            return 0;
    return 1;
}

int master_field_known(const char *path)
{
    static const char *const prefixes[] = {"name", "address", "telecom", "consent"};
    if (path == NULL)
        return 0;
    for (size_t i = 0; i < MF_FIXED_COUNT; i++)
        if (strcmp(path, MASTER_FIELDS[i]) == 0)
            return 1;
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strcmp(path, prefixes[i]) == 0)
            return 1;
    size_t n = strlen(CONSENT_PREFIX);
    return strncmp(path, CONSENT_PREFIX, n) == 0 && purpose_ok(path + n);
}

int master_parent_field(int field)
{
    return field == MF_ADDR_POSTCODE || field == MF_ADDR_UPRN ? MF_ADDR : -1;
}

/* What a change to a field means. The matcher compares MATCHES fields (a change re-indexes
 * the record); contact details change all the time and rarely reveal a duplicate, while who
 * someone is and where they live do, so only IDENTITY fields start a new search. */
enum { MATCHES = 1, IDENTITY = 2 };
static const uint8_t FIELD_USE[MF_FIXED_COUNT] = {
    [MF_NHS] = MATCHES | IDENTITY,
    [MF_NI] = MATCHES | IDENTITY,
    [MF_GIVEN] = MATCHES | IDENTITY,
    [MF_FAMILY] = MATCHES | IDENTITY,
    [MF_BIRTH] = MATCHES | IDENTITY,
    [MF_SEX] = MATCHES,
    [MF_ADDR] = MATCHES | IDENTITY, /* lines and town: the matcher compares them too */
    [MF_ADDR_POSTCODE] = MATCHES | IDENTITY,
    [MF_PHONE] = MATCHES,
    [MF_EMAIL] = MATCHES,
    [MF_SHARED_ID] = MATCHES | IDENTITY,
};

static bool field_use(int field, int use)
{
    return field >= 0 && field < MF_FIXED_COUNT && (FIELD_USE[field] & use) != 0;
}

bool master_match_field(int field)
{
    return field_use(field, MATCHES);
}

bool master_identity_field(int field)
{
    return field_use(field, IDENTITY);
}

int master_field_id(master_t *m, const char *path, bool create)
{
    return md_field_id(person_kind(m), path, create);
}

/* Text clean-up ------------------------------------------------------------ */

typedef struct {
    master_t *m;
    incoming_t *out;
    size_t n;
    size_t used; /* bytes of m->incoming_text */
    char *why;
    size_t why_len;
    char bad[160]; /* why clean() could not take a value, for the field's drop */
} flat_t;

static int refuse(flat_t *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refuse(flat_t *f, const char *fmt, ...)
{
    if (f->why != NULL && f->why_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        (void)vsnprintf(f->why, f->why_len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int keep(flat_t *f, int field, const char *value);

/* A field the hub cannot take is dropped, not the Person: the rest is kept and matched, and the
 * sender is told which field and why (master_report_dropped). The value is kept truncated: a
 * finding names what was sent without storing a whole payload twice. */
static int drop(flat_t *f, int field, const char *value, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int drop(flat_t *f, int field, const char *value, const char *fmt, ...)
{
    master_t *m = f->m;
    if (m->ndropped >= MASTER_MAX_DROPPED)
        return 0; /* the first few say enough; the field is dropped all the same */
    mdropped_t *d = &m->dropped[m->ndropped++];
    d->field = MASTER_FIELDS[field];
    size_t n = 0;
    /* Printable ASCII only: the value may be the invalid UTF-8 that was the problem. */
    for (const char *v = value ? value : ""; *v && n + 1 < sizeof d->value; v++)
        d->value[n++] = (*v >= 0x20 && *v < 0x7f) ? *v : '?';
    d->value[n] = '\0';
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(d->reason, sizeof d->reason, fmt, ap);
    va_end(ap);
    return 0;
}

/* clean()'s reason for not taking a value, without its refusal of the whole Person. */
static int bad(flat_t *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(flat_t *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(f->bad, sizeof f->bad, fmt, ap);
    va_end(ap);
    return -1;
}

/* Keeps FIELD's cleaned text, or drops the field with clean()'s reason when it had none. */
static int keep_clean(flat_t *f, int field, const char *cleaned, const char *raw)
{
    if (cleaned == NULL)
        return drop(f, field, raw, "%s", f->bad);
    return keep(f, field, cleaned);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Copies S into the incoming arena with blanks collapsed and trimmed; "" when
 * nothing is left. Refuses text that is not UTF-8, has control characters or
 * is too long, because it becomes PostgreSQL text and JSON. EXTRA_SPACE is
 * one more character to treat as a blank (the address separator). */
static const char *clean(flat_t *f, const char *what, const char *s, char extra_space, int upper)
{
    char *dst = f->m->incoming_text + f->used;
    size_t room = f->m->incoming_cap - f->used;
    size_t n = 0;
    int pending_space = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        if (is_space((char)*p) || (extra_space && *p == (unsigned char)extra_space)) {
            pending_space = n > 0;
            p++;
            continue;
        }
        size_t len = validate_utf8_char(p, 4); /* NUL-terminated: see validate.h */
        if (len == 0) {
            bad(f, "%s is not valid UTF-8 text", what);
            return NULL;
        }
        if (*p < 0x20 || *p == 0x7f) {
            bad(f, "%s contains a control character", what);
            return NULL;
        }
        if (n + pending_space + len + 1 > MASTER_VALUE_MAX || n + pending_space + len + 1 > room) {
            bad(f, "%s is longer than %d bytes", what, MASTER_VALUE_MAX - 1);
            return NULL;
        }
        if (pending_space)
            dst[n++] = ' ';
        pending_space = 0;
        for (size_t i = 0; i < len; i++) {
            char c = (char)p[i];
            if (upper == 1 && c >= 'a' && c <= 'z')
                c = (char)(c - 'a' + 'A');
            else if (upper == -1 && c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
            dst[n++] = c;
        }
        p += len;
    }
    dst[n] = '\0';
    return dst;
}

/* Keeps the cleaned text as field FIELD's value (unless it is empty). */
static int keep(flat_t *f, int field, const char *value)
{
    if (value == NULL)
        return -1;
    size_t len = strlen(value);
    if (len == 0)
        return 0;
    if (f->n >= MASTER_MAX_INCOMING)
        return refuse(f, "too many fields in one Person");
    f->out[f->n].field = (uint16_t)field;
    f->out[f->n].value = value;
    f->n++;
    f->used += len + 1;
    return 0;
}

/* Stores literal text (already canonical) into the arena. */
static const char *literal(flat_t *f, const char *s)
{
    size_t len = strlen(s);
    if (f->used + len + 1 > f->m->incoming_cap) {
        refuse(f, "the Person is too large");
        return NULL;
    }
    char *dst = f->m->incoming_text + f->used;
    memcpy(dst, s, len + 1);
    return dst;
}

/* Fields -------------------------------------------------------------------- */

static int flat_nhs(flat_t *f, const Joinery__V1__Person *p)
{
    if (p->nhs_number == NULL || p->nhs_number[0] == '\0')
        return 0;
    char reason[160];
    char digits[11];
    if (validate_nhs_number(p->nhs_number, reason, sizeof reason) != 0 ||
        validate_nhs_number_normalise(p->nhs_number, digits) != 0)
        return drop(f, MF_NHS, p->nhs_number, "not valid: %s", reason);
    /* 0000000000 and the like pass the check digit but are placeholders. */
    if (strspn(digits, (char[]){digits[0], '\0'}) == 10)
        return drop(f, MF_NHS, p->nhs_number,
                    "a placeholder (one digit repeated); send no NHS number instead");
    if (keep(f, MF_NHS, literal(f, digits)) != 0)
        return -1;
    if (p->nhs_number_verification > 0 && p->nhs_number_verification <= 8) {
        char code[4];
        (void)snprintf(code, sizeof code, "%02d", (int)p->nhs_number_verification);
        return keep(f, MF_NHS_VERIFICATION, literal(f, code));
    }
    return 0;
}

static int flat_ni(flat_t *f, const Joinery__V1__Person *p)
{
    if (p->ni_number == NULL || p->ni_number[0] == '\0')
        return 0;
    char reason[160];
    if (validate_ni_number(p->ni_number, reason, sizeof reason) != 0)
        return drop(f, MF_NI, p->ni_number, "not valid: %s", reason);
    char norm[16];
    size_t n = 0;
    for (const char *c = p->ni_number; *c && n + 1 < sizeof norm; c++)
        if (*c != ' ')
            norm[n++] = (char)(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c);
    norm[n] = '\0';
    return keep(f, MF_NI, literal(f, norm));
}

static int flat_name(flat_t *f, const Joinery__V1__Person *p)
{
    const Joinery__V1__HumanName *name = p->name;
    if (name == NULL)
        return 0;
    /* Forenames in order, one space apart: "Mary Ann". Each is cleaned in
     * the arena's free space and copied out before the next. */
    char joined[MASTER_VALUE_MAX];
    size_t total = 0;
    /* One bad forename drops name.given whole (a part of it would be another name); the
     * surname and prefix below are still taken. */
    for (size_t i = 0; i < name->n_given; i++) {
        const char *raw = name->given[i] ? name->given[i] : "";
        const char *g = clean(f, "name.given", raw, 0, 0);
        size_t len = g ? strlen(g) : 0;
        if (g != NULL && len == 0)
            continue;
        if (g == NULL || total + len + 2 > sizeof joined) {
            (void)drop(f, MF_GIVEN, raw, "%s",
                       g == NULL ? f->bad : "name.given is longer than 511 bytes");
            total = 0;
            break;
        }
        if (total > 0)
            joined[total++] = ' ';
        memcpy(joined + total, g, len);
        total += len;
    }
    joined[total] = '\0';
    if (total > 0 && keep(f, MF_GIVEN, literal(f, joined)) != 0)
        return -1;
    if (name->family &&
        keep_clean(f, MF_FAMILY, clean(f, "name.family", name->family, 0, 0), name->family) != 0)
        return -1;
    if (name->prefix &&
        keep_clean(f, MF_PREFIX, clean(f, "name.prefix", name->prefix, 0, 0), name->prefix) != 0)
        return -1;
    return 0;
}

static int flat_dates(flat_t *f, const Joinery__V1__Person *p, const char *today)
{
    const char *birth = p->birth_date && p->birth_date[0] ? p->birth_date : NULL;
    const char *death = p->death_date && p->death_date[0] ? p->death_date : NULL;
    char reason[160];
    /* Each date on its own first, so a bad death date does not cost a good birth date. */
    if (birth && (validate_date(birth, reason, sizeof reason) != 0 ||
                  validate_birth_death(birth, NULL, today, reason, sizeof reason) != 0)) {
        (void)drop(f, MF_BIRTH, birth, "not a valid birth date: %s", reason);
        birth = NULL;
    }
    if (death && (validate_date(death, reason, sizeof reason) != 0 ||
                  validate_birth_death(birth, death, today, reason, sizeof reason) != 0)) {
        (void)drop(f, MF_DEATH, death, "not a valid death date: %s", reason);
        death = NULL;
    }
    if (birth && keep(f, MF_BIRTH, literal(f, birth)) != 0)
        return -1;
    if (death && keep(f, MF_DEATH, literal(f, death)) != 0)
        return -1;
    return 0;
}

static int ascii_ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = (char)(*a >= 'A' && *a <= 'Z' ? *a - 'A' + 'a' : *a);
        char y = (char)(*b >= 'A' && *b <= 'Z' ? *b - 'A' + 'a' : *b);
        if (x != y)
            return 0;
    }
    return *a == *b;
}

/* The home address: the first with use "home", else the first with no use
 * (temporary, old and billing addresses are not the resident's home). */
static const Joinery__V1__Address *home_address(const Joinery__V1__Person *p)
{
    const Joinery__V1__Address *unnamed = NULL;
    for (size_t i = 0; i < p->n_addresses; i++) {
        const Joinery__V1__Address *a = p->addresses[i];
        if (a == NULL)
            continue;
        if (a->use && ascii_ieq(a->use, "home"))
            return a;
        if (unnamed == NULL && (a->use == NULL || a->use[0] == '\0'))
            unnamed = a;
    }
    return unnamed;
}

/* A postal code of 3 to 10 digits (blanks dropped) into OUT: 0, or -1 if S is not one. */
static int foreign_code(const char *s, char *out, size_t len)
{
    size_t n = 0;
    for (; *s; s++) {
        if (is_space(*s))
            continue;
        if (*s < '0' || *s > '9' || n + 1 >= len) {
            out[0] = '\0';
            return -1;
        }
        out[n++] = *s;
    }
    out[n] = '\0';
    if (n >= 3 && n <= 10)
        return 0;
    out[0] = '\0';
    return -1;
}

/* address.home is "line\nline|TOWN|POSTCODE|UPRN": every part canonical, so
 * two systems holding the same address hold the same text. '|' inside a part
 * counts as a blank, since it separates the parts. A's canonical text goes to TEXT
 * (MASTER_VALUE_MAX bytes), its UK postcode and UPRN to POSTCODE and UPRN ("" when none): 1, or 0
 * when nothing is left. With REPORT, what cannot be taken is a finding (the home address); without,
 * it is only left out (an old address, kept as evidence). POSTCODE and UPRN hold ADDR_CODE_LEN
 * bytes. */
static int address_text(flat_t *f, const Joinery__V1__Address *a, bool report, char *text,
                        char *postcode, char *uprn)
{
    char other[ADDR_CODE_LEN] = "", reason[160];
    postcode[0] = uprn[0] = '\0';
    /* A postcode or UPRN that cannot exist is dropped; the lines and town are kept. A numeric
     * postal code is another country's, not a UK postcode keyed wrong: it stays in the address
     * text, where the matcher compares it, and is not address.home.postcode. */
    if (a->postcode && a->postcode[0] &&
        validate_postcode_normalise(a->postcode, postcode, ADDR_CODE_LEN) != 0) {
        postcode[0] = '\0';
        if (foreign_code(a->postcode, other, sizeof other) != 0 && report) {
            (void)validate_postcode(a->postcode, reason, sizeof reason);
            (void)drop(f, MF_ADDR_POSTCODE, a->postcode, "not a valid postcode: %s", reason);
        }
    }
    if (a->uprn && a->uprn[0]) {
        if (validate_uprn(a->uprn, reason, sizeof reason) != 0) {
            if (report)
                (void)drop(f, MF_ADDR_UPRN, a->uprn, "not a valid UPRN: %s", reason);
        } else {
            const char *d = a->uprn;
            while (*d == '0' && d[1] != '\0')
                d++;
            (void)snprintf(uprn, ADDR_CODE_LEN, "%s", d);
        }
    }
    size_t n = 0;
    int any = postcode[0] || other[0] || uprn[0];
    for (size_t i = 0; i < a->n_lines; i++) {
        const char *raw = a->lines[i] ? a->lines[i] : "";
        const char *line = clean(f, "address.home line", raw, '|', 0);
        if (line == NULL)
            return report ? drop(f, MF_ADDR, raw, "%s", f->bad) : 0;
        if (line[0] == '\0')
            continue;
        int w = snprintf(text + n, MASTER_VALUE_MAX - n, "%s%s", n ? "\n" : "", line);
        if (w < 0 || (size_t)w >= MASTER_VALUE_MAX - n)
            return report ? drop(f, MF_ADDR, line, "longer than %d bytes", MASTER_VALUE_MAX - 1)
                          : 0;
        n += (size_t)w;
        any = 1;
    }
    const char *town = clean(f, "address.home town", a->town ? a->town : "", '|', 1);
    if (town == NULL)
        return report ? drop(f, MF_ADDR, a->town, "%s", f->bad) : 0;
    any = any || town[0];
    if (!any)
        return 0;
    char town_copy[MASTER_VALUE_MAX];
    (void)snprintf(town_copy, sizeof town_copy, "%s", town);
    int w = snprintf(text + n, MASTER_VALUE_MAX - n, "|%s|%s|%s", town_copy,
                     postcode[0] ? postcode : other, uprn);
    if (w < 0 || (size_t)w >= MASTER_VALUE_MAX - n)
        return report ? drop(f, MF_ADDR, town_copy, "longer than %d bytes", MASTER_VALUE_MAX - 1)
                      : 0;
    return 1;
}

static int flat_address(flat_t *f, const Joinery__V1__Person *p)
{
    const Joinery__V1__Address *a = home_address(p);
    if (a == NULL)
        return 0;
    char text[MASTER_VALUE_MAX], postcode[ADDR_CODE_LEN], uprn[ADDR_CODE_LEN];
    if (address_text(f, a, true, text, postcode, uprn) <= 0)
        return 0;
    if (keep(f, MF_ADDR, literal(f, text)) != 0)
        return -1;
    if (postcode[0] && keep(f, MF_ADDR_POSTCODE, literal(f, postcode)) != 0)
        return -1;
    if (uprn[0] && keep(f, MF_ADDR_UPRN, literal(f, uprn)) != 0)
        return -1;
    return 0;
}

/* The shared identifier: the value of the first of the Person's identifiers whose system is the
 * configured one, as the matcher compares it (letters upper case, and digits). */
static int flat_shared(flat_t *f, const Joinery__V1__Person *p)
{
    const char *system = f->m->shared_system;
    for (size_t i = 0; system != NULL && i < p->n_identifiers; i++) {
        const Joinery__V1__Identifier *id = p->identifiers[i];
        if (id == NULL || id->system == NULL || strcmp(id->system, system) != 0 ||
            id->value == NULL || id->value[0] == '\0')
            continue;
        char v[SHARED_ID_MAX + 1];
        size_t n = 0;
        for (const char *c = id->value; *c && n <= SHARED_ID_MAX; c++)
            if ((*c >= '0' && *c <= '9') || (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z'))
                v[n++] = (char)(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c);
        if (n == 0 || n > SHARED_ID_MAX)
            return drop(f, MF_SHARED_ID, id->value,
                        "not usable: the shared identifier must have 1 to %d letters and digits",
                        SHARED_ID_MAX);
        v[n] = '\0';
        return keep(f, MF_SHARED_ID, literal(f, v));
    }
    return 0;
}

/* Previous values the sender names (issue 17, item 8) ------------------------------------- */

/* Keeps TEXT in the arena as a previous value of KIND the event names (master_prev_plan takes
 * them); past MASTER_PREV_IN they are left out: the newest few say enough. */
static int keep_previous(flat_t *f, int kind, const char *text)
{
    master_t *m = f->m;
    /* Evidence only: without room it is left out, never the Person refused. */
    if (m->nprev_in >= MASTER_PREV_IN || text[0] == '\0' ||
        f->used + strlen(text) + 1 > m->incoming_cap)
        return 0;
    const char *v = literal(f, text);
    if (v == NULL)
        return -1;
    f->used += strlen(v) + 1;
    m->prev_in[m->nprev_in++] = (mprev_in_t){(uint8_t)kind, v};
    return 0;
}

/* "forenames\nsurname" of another name the person is known by, as flat_name would keep them;
 * 1, or 0 when nothing usable is left. */
static int other_name_text(flat_t *f, const Joinery__V1__HumanName *name, char *text, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < name->n_given; i++) {
        const char *g = clean(f, "name.given", name->given[i] ? name->given[i] : "", 0, 0);
        if (g == NULL)
            return 0;
        size_t gl = strlen(g);
        if (gl == 0)
            continue;
        if (n + gl + 2 > len)
            return 0;
        if (n > 0)
            text[n++] = ' ';
        memcpy(text + n, g, gl);
        n += gl;
    }
    const char *family = clean(f, "name.family", name->family ? name->family : "", 0, 0);
    if (family == NULL || n + strlen(family) + 2 > len || (n == 0 && family[0] == '\0'))
        return 0;
    text[n++] = '\n';
    memcpy(text + n, family, strlen(family) + 1);
    return 1;
}

/* Addresses the sender marks "old" and the other names it holds (maiden, alias, former):
 * evidence only, never fields of the golden record; what cannot be read is left out. */
static int flat_previous(flat_t *f, const Joinery__V1__Person *p)
{
    char text[MASTER_VALUE_MAX], postcode[ADDR_CODE_LEN], uprn[ADDR_CODE_LEN];
    for (size_t i = 0; i < p->n_addresses; i++) {
        const Joinery__V1__Address *a = p->addresses[i];
        if (a == NULL || a->use == NULL || !ascii_ieq(a->use, "old"))
            continue;
        if (address_text(f, a, false, text, postcode, uprn) > 0 &&
            keep_previous(f, MPREV_ADDRESS, text) != 0)
            return -1;
    }
    for (size_t i = 0; i < p->n_other_names; i++) {
        const Joinery__V1__HumanName *n = p->other_names[i];
        if (n != NULL && other_name_text(f, n, text, sizeof text) > 0 &&
            keep_previous(f, MPREV_NAME, text) != 0)
            return -1;
    }
    return 0;
}

/* Phone numbers keep their digits and a leading '+': "07700 900-123" and
 * "07700900123" are one number. Anything else is kept as cleaned text, which
 * the matcher then treats as missing. */
static int flat_phone(flat_t *f, const char *value)
{
    const char *c = clean(f, "telecom phone", value, 0, 0);
    if (c == NULL)
        return drop(f, MF_PHONE, value, "%s", f->bad);
    char digits[MASTER_VALUE_MAX];
    size_t n = 0;
    int ok = 1;
    for (const char *s = c; *s; s++) {
        if (*s >= '0' && *s <= '9')
            digits[n++] = *s;
        else if (*s == '+' && n == 0 && s == c)
            digits[n++] = '+';
        else if (*s != ' ' && *s != '-' && *s != '(' && *s != ')' && *s != '.')
            ok = 0;
    }
    digits[n] = '\0';
    return keep(f, MF_PHONE, ok && n > 0 ? literal(f, digits) : c);
}

static int flat_telecom(flat_t *f, const Joinery__V1__Person *p)
{
    int phone = 0, email = 0;
    for (size_t i = 0; i < p->n_telecom; i++) {
        const Joinery__V1__ContactPoint *t = p->telecom[i];
        if (t == NULL || t->value == NULL || t->value[0] == '\0' || t->system == NULL)
            continue;
        if (!phone && (ascii_ieq(t->system, "phone") || ascii_ieq(t->system, "sms"))) {
            phone = 1;
            if (flat_phone(f, t->value) != 0)
                return -1;
        } else if (!email && ascii_ieq(t->system, "email")) {
            email = 1;
            if (keep_clean(f, MF_EMAIL, clean(f, "telecom email", t->value, 0, -1), t->value) != 0)
                return -1;
        }
    }
    return 0;
}

/* Codes: letters, digits and (for languages) hyphens, in one case. */
static int code_ok(const char *s, size_t min, size_t max, int hyphen)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && !(hyphen && c == '-' && i > 0 && i + 1 < n))
            return 0;
    }
    return 1;
}

static int flat_codes(flat_t *f, const Joinery__V1__Person *p)
{
    if (p->gp_practice_ods && p->gp_practice_ods[0]) {
        if (!code_ok(p->gp_practice_ods, 3, 10, 0))
            (void)drop(f, MF_GP, p->gp_practice_ods,
                       "not valid: an ODS code is 3 to 10 letters and digits, e.g. A81001");
        else if (keep(f, MF_GP, clean(f, "gp_practice_ods", p->gp_practice_ods, 0, 1)) != 0)
            return -1;
    }
    if (p->preferred_language && p->preferred_language[0]) {
        if (!code_ok(p->preferred_language, 2, CODE_MAX - 1, 1))
            (void)drop(f, MF_LANGUAGE, p->preferred_language,
                       "not valid: use an ISO 639-1 code such as 'en' or 'pl' (optionally with a "
                       "region, 'pt-BR')");
        else if (keep(f, MF_LANGUAGE,
                      clean(f, "preferred_language", p->preferred_language, 0, -1)) != 0)
            return -1;
    }
    if (p->interpreter_required && keep(f, MF_INTERPRETER, literal(f, "true")) != 0)
        return -1;
    if (p->sex > 0 && p->sex < (int)(sizeof sex_names / sizeof sex_names[0]))
        return keep(f, MF_SEX, literal(f, sex_names[p->sex]));
    return 0;
}

static int flat_consents(flat_t *f, const Joinery__V1__Person *p)
{
    if (p->n_consents > MASTER_MAX_CONSENTS) {
        return refuse(f, "consents: at most %d purposes in one Person", MASTER_MAX_CONSENTS);
    }
    size_t first = f->n;
    for (size_t i = 0; i < p->n_consents; i++) {
        const Joinery__V1__Consent *c = p->consents[i];
        if (c == NULL)
            continue;
        const char *purpose = c->purpose ? c->purpose : "";
        if (!purpose_ok(purpose))
            return refuse(f,
                          "consents: purpose '%.64s' is not valid; use 1 to 64 of a-z, 0-9, '_' "
                          "and '-', e.g. 'direct-care'",
                          purpose);
        char path[sizeof CONSENT_PREFIX + PURPOSE_MAX];
        (void)snprintf(path, sizeof path, "%s%s", CONSENT_PREFIX, purpose);
        int id = master_field_id(f->m, path, true);
        if (id < 0)
            return refuse(f, "consents: too many distinct consent purposes (at '%.64s')", purpose);
        for (size_t j = first; j < f->n; j++)
            if (f->out[j].field == id)
                return refuse(f, "consents: purpose '%.64s' appears twice", purpose);
        if (keep(f, id, literal(f, c->granted ? "granted" : "refused")) != 0)
            return -1;
    }
    return 0;
}

static int by_field(const void *a, const void *b)
{
    const incoming_t *x = a, *y = b;
    return (x->field > y->field) - (x->field < y->field);
}

int master_flatten(master_t *m, const Joinery__V1__Person *p, const char *today, incoming_t *out,
                   size_t *n, char *why, size_t why_len)
{
    flat_t f = {.m = m, .out = out, .why = why, .why_len = why_len};
    m->ndropped = 0;
    m->nprev_in = 0;
    if (flat_nhs(&f, p) != 0 || flat_ni(&f, p) != 0 || flat_name(&f, p) != 0 ||
        flat_dates(&f, p, today) != 0 || flat_address(&f, p) != 0 || flat_telecom(&f, p) != 0 ||
        flat_codes(&f, p) != 0 || flat_consents(&f, p) != 0 || flat_shared(&f, p) != 0 ||
        flat_previous(&f, p) != 0)
        return -1;
    /* Nothing left to keep: the record is unusable, and the sender must hear why as a refusal
     * (a finding about a record the hub does not hold would name nothing). */
    if (f.n == 0 && m->ndropped > 0)
        return refuse(&f, "no field could be taken: %s %s", m->dropped[0].field,
                      m->dropped[0].reason);
    qsort(out, f.n, sizeof *out, by_field);
    *n = f.n;
    return 0;
}

/* Person from fields ---------------------------------------------------------- */

/* Splits S in place at each SEP into at most MAX pieces. */
static size_t split(char *s, char sep, char **out, size_t max)
{
    size_t n = 0;
    while (s != NULL && *s && n < max) {
        out[n++] = s;
        s = strchr(s, sep);
        if (s != NULL)
            *s++ = '\0';
    }
    return n;
}

static void build_address(mperson_t *pb, char *text)
{
    char *town = strchr(text, '|');
    if (town != NULL)
        *town++ = '\0';
    pb->addr.n_lines = split(text, '\n', pb->lines, MASTER_OUT_LIST);
    pb->addr.lines = pb->lines;
    char *parts[3] = {NULL, NULL, NULL};
    size_t n = 0;
    for (char *s = town; s != NULL && n < 3; n++) {
        parts[n] = s;
        s = strchr(s, '|');
        if (s != NULL)
            *s++ = '\0';
    }
    if (parts[0])
        pb->addr.town = parts[0];
    if (parts[1] && parts[1][0])
        pb->addr.postcode = parts[1];
    if (parts[2] && parts[2][0])
        pb->addr.uprn = parts[2];
}

static Joinery__V1__AdministrativeSex sex_of(const char *v)
{
    for (size_t i = 1; i < sizeof sex_names / sizeof sex_names[0]; i++)
        if (strcmp(v, sex_names[i]) == 0)
            return (Joinery__V1__AdministrativeSex)i;
    return JOINERY__V1__ADMINISTRATIVE_SEX__SEX_UNSPECIFIED;
}

static void build_one(master_t *m, mperson_t *pb, int field, char *v)
{
    Joinery__V1__Person *p = &pb->person;
    switch (field) {
    case MF_NHS:
        p->nhs_number = v;
        break;
    case MF_NHS_VERIFICATION:
        p->nhs_number_verification = (Joinery__V1__NhsNumberVerification)strtol(v, NULL, 10);
        break;
    case MF_NI:
        p->ni_number = v;
        break;
    case MF_GIVEN:
        pb->name.n_given = split(v, ' ', pb->given, MASTER_OUT_LIST);
        pb->name.given = pb->given;
        p->name = &pb->name;
        break;
    case MF_FAMILY:
        pb->name.family = v;
        p->name = &pb->name;
        break;
    case MF_PREFIX:
        pb->name.prefix = v;
        p->name = &pb->name;
        break;
    case MF_BIRTH:
        p->birth_date = v;
        break;
    case MF_SEX:
        p->sex = sex_of(v);
        break;
    case MF_DEATH:
        p->death_date = v;
        break;
    case MF_ADDR:
        build_address(pb, v);
        break;
    case MF_ADDR_POSTCODE:
        pb->addr.postcode = v;
        break;
    case MF_ADDR_UPRN:
        pb->addr.uprn = v;
        break;
    case MF_PHONE:
    case MF_EMAIL: {
        Joinery__V1__ContactPoint *t = &pb->tel[p->n_telecom];
        t->system = field == MF_PHONE ? "phone" : "email";
        t->value = v;
        pb->tels[p->n_telecom++] = t;
        p->telecom = pb->tels;
        break;
    }
    case MF_GP:
        p->gp_practice_ods = v;
        break;
    case MF_LANGUAGE:
        p->preferred_language = v;
        break;
    case MF_INTERPRETER:
        p->interpreter_required = strcmp(v, "true") == 0;
        break;
    case MF_SHARED_ID:
        if (m->shared_system == NULL)
            break;
        pb->ident.system = m->shared_system;
        pb->ident.value = v;
        pb->idents[0] = &pb->ident;
        p->identifiers = pb->idents;
        p->n_identifiers = 1;
        break;
    default: {
        const char *name = md_field_name(person_kind(m), field);
        size_t k = strlen(CONSENT_PREFIX);
        if (strncmp(name, CONSENT_PREFIX, k) != 0 || p->n_consents >= MASTER_OUT_CONSENTS)
            break;
        static const Joinery__V1__Consent consent_init = JOINERY__V1__CONSENT__INIT;
        Joinery__V1__Consent *c = &pb->consent[p->n_consents];
        *c = consent_init;
        c->purpose = (char *)name + k;
        c->granted = strcmp(v, "granted") == 0;
        pb->consents[p->n_consents++] = c;
        p->consents = pb->consents;
        break;
    }
    }
}

int master_person_build(master_t *m, const uint16_t *fields, const char *const *values, size_t n,
                        mperson_t *pb)
{
    static const Joinery__V1__Person person_init = JOINERY__V1__PERSON__INIT;
    static const Joinery__V1__HumanName name_init = JOINERY__V1__HUMAN_NAME__INIT;
    static const Joinery__V1__Address addr_init = JOINERY__V1__ADDRESS__INIT;
    static const Joinery__V1__ContactPoint tel_init = JOINERY__V1__CONTACT_POINT__INIT;
    static const Joinery__V1__Identifier ident_init = JOINERY__V1__IDENTIFIER__INIT;
    pb->person = person_init;
    pb->ident = ident_init;
    pb->name = name_init;
    pb->addr = addr_init;
    pb->addr.use = "home";
    pb->tel[0] = pb->tel[1] = tel_init;
    /* Values are split in place, so they are copied first; one reservation
     * keeps the pointers into m->e.text valid. */
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += strlen(values[i]) + 1;
    m->e.text.len = 0;
    if (master_buf_reserve(&m->e.text, total + 1) != 0)
        return -1;
    int addr = 0;
    for (size_t i = 0; i < n; i++) {
        char *v = m->e.text.p + m->e.text.len;
        size_t len = strlen(values[i]);
        memcpy(v, values[i], len + 1);
        m->e.text.len += len + 1;
        build_one(m, pb, fields[i], v);
        addr = addr || fields[i] == MF_ADDR || fields[i] == MF_ADDR_POSTCODE ||
               fields[i] == MF_ADDR_UPRN;
    }
    if (addr) {
        pb->addrs[0] = &pb->addr;
        pb->person.addresses = pb->addrs;
        pb->person.n_addresses = 1;
    }
    return 0;
}
