/* fhir_patient.c - UK Core Patient <-> Person with jansson. Reading walks only the elements
 * Joinery keeps, at fixed depths and over at most FHIR_MAX_ITEMS elements of any array, so a
 * hostile document costs no more than jansson's own parse (which bounds nesting itself). Every
 * value kept goes the way hl7_map.c's do: cleaned as the hub cleans text, then checked by the
 * hub's own rules (match/validate.h), so what the hub would refuse is refused here, alone. */
#include "fhir_patient.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "match/validate.h"

#define LOCAL_ID_MAX 256 /* the protocol's limit for source_record_id */
#define ODS_SYSTEM "https://fhir.nhs.uk/Id/ods-organization-code"

typedef struct {
    const fhir_read_opts_t *o;
    fhir_patient_t *out;
    const char *birth; /* the birth date kept, for the death date's check */
} ctx_t;

const char *fhir_issue_name(fhir_issue_t code)
{
    static const char *const names[] = {"invalid",  "structure",     "required", "value",
                                        "too-long", "not-supported", "not-found"};
    return (unsigned)code < sizeof names / sizeof names[0] ? names[code] : "invalid";
}

const char *fhir_severity_name(fhir_severity_t s)
{
    return s == FHIR_WARNING ? "warning" : s == FHIR_INFORMATION ? "information" : "error";
}

static int nonempty(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* Problems ------------------------------------------------------------------------------- */

static void problem(ctx_t *c, fhir_severity_t sev, fhir_issue_t code, const char *person_field,
                    const char *loc, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void problem(ctx_t *c, fhir_severity_t sev, fhir_issue_t code, const char *person_field,
                    const char *loc, const char *fmt, ...)
{
    fhir_patient_t *out = c->out;
    if (out->n_problems == FHIR_MAX_PROBLEMS) {
        out->problems_lost++;
        return;
    }
    fhir_problem_t *p = &out->problems[out->n_problems++];
    p->severity = sev;
    p->code = code;
    p->person_field = person_field;
    (void)snprintf(p->location, sizeof p->location, "%s", loc);
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(p->reason, sizeof p->reason, fmt, ap);
    va_end(ap);
}

/* LOC.KEY, or LOC[I] when KEY is NULL, in BUF. */
static const char *path(char buf[FHIR_LOCATION], const char *loc, const char *key, size_t i)
{
    /* Locations are short by construction (fixed depths, indices below FHIR_MAX_ITEMS); one
     * that would not fit is cut, visibly. */
    int n = key ? snprintf(buf, FHIR_LOCATION, "%s.%s", loc, key)
                : snprintf(buf, FHIR_LOCATION, "%s[%zu]", loc, i);
    if (n < 0 || (size_t)n >= FHIR_LOCATION)
        memcpy(buf + FHIR_LOCATION - 4, "...", 4);
    return buf;
}

/* Text ------------------------------------------------------------------------------------- */

static int is_blank(unsigned char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\v' || ch == '\f';
}

/* Copies S (valid UTF-8: jansson's guarantee) into the store with blanks collapsed and trimmed,
 * as the hub cleans text. NULL and a problem when it holds a control character or does not fit;
 * "" when it is blank. */
static const char *keep(ctx_t *c, const char *s, size_t n, const char *loc, const char *field)
{
    fhir_store_t *st = &c->out->st;
    if (n > FHIR_MAX_TEXT) {
        problem(c, FHIR_ERROR, FHIR_ISSUE_TOO_LONG, field, loc,
                "the value is longer than this interface takes (%d bytes); it was refused",
                FHIR_MAX_TEXT);
        return NULL;
    }
    if (st->used + n + 1 > sizeof st->text) {
        problem(c, FHIR_ERROR, FHIR_ISSUE_TOO_LONG, field, loc,
                "the Patient holds more text than this interface takes (%d bytes); the value "
                "was refused",
                FHIR_TEXT);
        return NULL;
    }
    char *dst = st->text + st->used;
    size_t k = 0;
    int pending = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (is_blank(ch)) {
            pending = k > 0;
            continue;
        }
        if (ch < 0x20 || ch == 0x7f) {
            problem(c, FHIR_ERROR, FHIR_ISSUE_VALUE, field, loc,
                    "the value contains a control character; it was refused");
            return NULL;
        }
        if (pending)
            dst[k++] = ' ';
        pending = 0;
        dst[k++] = (char)ch;
    }
    dst[k] = '\0';
    st->used += k + 1;
    return dst;
}

static const char *store(ctx_t *c, const char *s)
{
    return keep(c, s, strlen(s), "Patient", NULL);
}

/* The string at OBJ.KEY (location LOC.KEY), kept: NULL when absent, blank or refused. */
static const char *str(ctx_t *c, const json_t *obj, const char *key, const char *loc,
                       const char *field)
{
    const json_t *v = json_object_get(obj, key);
    char at[FHIR_LOCATION];
    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        problem(c, FHIR_ERROR, FHIR_ISSUE_STRUCTURE, field, path(at, loc, key, 0),
                "must be a JSON string; it was refused");
        return NULL;
    }
    const char *s =
        keep(c, json_string_value(v), json_string_length(v), path(at, loc, key, 0), field);
    return nonempty(s) ? s : NULL;
}

/* One of the CODES: the code as the static text, NULL when absent or refused. */
static const char *code_of(ctx_t *c, const json_t *obj, const char *key, const char *loc,
                           const char *field, const char *const *codes)
{
    const char *s = str(c, obj, key, loc, field);
    if (s == NULL)
        return NULL;
    for (size_t i = 0; codes[i]; i++)
        if (strcmp(s, codes[i]) == 0)
            return codes[i];
    char at[FHIR_LOCATION];
    problem(c, FHIR_ERROR, FHIR_ISSUE_VALUE, field, path(at, loc, key, 0),
            "is not one of the codes FHIR allows here; it was refused");
    return NULL;
}

/* The array at OBJ.KEY: how many of its elements to look at (a warning for the rest). */
static size_t items(ctx_t *c, const json_t *obj, const char *key, const char *loc,
                    const char *field, size_t max, const json_t **arr)
{
    const json_t *v = json_object_get(obj, key);
    char at[FHIR_LOCATION];
    *arr = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_array(v)) {
        problem(c, FHIR_ERROR, FHIR_ISSUE_STRUCTURE, field, path(at, loc, key, 0),
                "must be a JSON array; it was refused");
        return 0;
    }
    *arr = v;
    size_t n = json_array_size(v);
    if (n > max) {
        problem(c, FHIR_WARNING, FHIR_ISSUE_TOO_LONG, field, path(at, loc, key, 0),
                "has %zu elements; only the first %zu were read", n, max);
        n = max;
    }
    return n;
}

/* Element I of ARR if it is an object (LOC[I] in AT); NULL and a problem if it is not. */
static const json_t *element(ctx_t *c, const json_t *arr, size_t i, const char *loc,
                             const char *field, char at[FHIR_LOCATION])
{
    const json_t *e = json_array_get(arr, i);
    path(at, loc, NULL, i);
    if (json_is_object(e))
        return e;
    problem(c, FHIR_ERROR, FHIR_ISSUE_STRUCTURE, field, at,
            "must be a JSON object; it was refused");
    return NULL;
}

/* Identifiers ------------------------------------------------------------------------------ */

static void add_identifier(ctx_t *c, const char *system, const char *value)
{
    fhir_store_t *st = &c->out->st;
    Joinery__V1__Person *p = &c->out->person;
    if (p->n_identifiers == FHIR_MAX_IDS)
        return;
    Joinery__V1__Identifier *id = &st->ids[p->n_identifiers];
    joinery__v1__identifier__init(id);
    id->system = (char *)system;
    id->value = (char *)value;
    st->id_ptrs[p->n_identifiers++] = id;
    p->identifiers = st->id_ptrs;
}

static int verification_code(const char *s)
{
    if (s && strlen(s) == 2 && s[0] == '0' && s[1] >= '1' && s[1] <= '8')
        return s[1] - '0';
    return 0;
}

/* The status in one coding of the extension; 1 if it held one. */
static int verification_coding(ctx_t *c, const json_t *coding, const char *at)
{
    const char *field = "nhs_number_verification";
    const char *system = str(c, coding, "system", at, field);
    char loc[FHIR_LOCATION];
    if (system && strcmp(system, FHIR_NHS_VERIFICATION_SYSTEM) != 0) {
        problem(c, FHIR_ERROR, FHIR_ISSUE_VALUE, field, path(loc, at, "system", 0),
                "must be " FHIR_NHS_VERIFICATION_SYSTEM "; the status was refused");
        return 0;
    }
    const char *code = str(c, coding, "code", at, field);
    int v = verification_code(code);
    if (code && v == 0)
        problem(c, FHIR_ERROR, FHIR_ISSUE_VALUE, field, path(loc, at, "code", 0),
                "the NHS number verification status must be 01 to 08; it was refused");
    if (v)
        c->out->person.nhs_number_verification = (Joinery__V1__NhsNumberVerification)v;
    return v != 0;
}

static void verification(ctx_t *c, const json_t *ident, const char *loc)
{
    const json_t *exts, *codings;
    char at[FHIR_LOCATION], cc[FHIR_LOCATION], ca[FHIR_LOCATION], k[FHIR_LOCATION];
    size_t n = items(c, ident, "extension", loc, NULL, FHIR_MAX_ITEMS, &exts);
    for (size_t i = 0; i < n; i++) {
        const json_t *ext = element(c, exts, i, path(k, loc, "extension", 0), NULL, at);
        const json_t *url = ext ? json_object_get(ext, "url") : NULL;
        if (!json_is_string(url) || strcmp(json_string_value(url), FHIR_NHS_VERIFICATION_URL))
            continue;
        const json_t *cc_obj = json_object_get(ext, "valueCodeableConcept");
        path(cc, at, "valueCodeableConcept", 0);
        if (!json_is_object(cc_obj)) {
            problem(c, FHIR_ERROR, FHIR_ISSUE_STRUCTURE, "nhs_number_verification", cc,
                    "must be a CodeableConcept; the status was refused");
            continue;
        }
        size_t m =
            items(c, cc_obj, "coding", cc, "nhs_number_verification", FHIR_MAX_ITEMS, &codings);
        for (size_t j = 0; j < m; j++) {
            const json_t *coding =
                element(c, codings, j, path(k, cc, "coding", 0), "nhs_number_verification", ca);
            if (coding && verification_coding(c, coding, ca))
                break;
        }
    }
}

static void nhs_number(ctx_t *c, const json_t *ident, const char *loc)
{
    const char *v = str(c, ident, "value", loc, "nhs_number");
    char at[FHIR_LOCATION], why[200], digits[11];
    path(at, loc, "value", 0);
    if (v == NULL)
        return;
    if (validate_nhs_number(v, why, sizeof why) != 0 ||
        validate_nhs_number_normalise(v, digits) != 0) {
        problem(c, FHIR_ERROR, FHIR_ISSUE_VALUE, "nhs_number", at,
                "%s. The NHS number was refused; the rest of the Patient was taken", why);
        return;
    }
    Joinery__V1__Person *p = &c->out->person;
    if (nonempty(p->nhs_number) && strcmp(p->nhs_number, digits) != 0) {
        problem(c, FHIR_ERROR, FHIR_ISSUE_VALUE, "nhs_number", at,
                "a second, different NHS number; the first was kept");
        return;
    }
    p->nhs_number = (char *)store(c, digits);
    verification(c, ident, loc);
}

static int is_local_system(const ctx_t *c, const char *system)
{
    const char *want = c->o->local_system;
    if (nonempty(want))
        return system && strcmp(system, want) == 0;
    return c->out->local_id == NULL; /* none configured: the first that is not an NHS number */
}

static void local_id(ctx_t *c, const json_t *ident, const char *loc, const char *system)
{
    const char *v = str(c, ident, "value", loc, NULL);
    char at[FHIR_LOCATION];
    if (v == NULL)
        return;
    if (strlen(v) > LOCAL_ID_MAX) {
        problem(c, FHIR_ERROR, FHIR_ISSUE_TOO_LONG, NULL, path(at, loc, "value", 0),
                "the trust's id for the patient is longer than %d bytes", LOCAL_ID_MAX);
        return;
    }
    if (c->out->local_id == NULL)
        c->out->local_id = v;
    else if (strcmp(c->out->local_id, v) != 0)
        problem(c, FHIR_ERROR, FHIR_ISSUE_VALUE, NULL, path(at, loc, "value", 0),
                "a second, different id in the trust's system; the first was kept");
    if (system)
        add_identifier(c, system, v);
}

static void identifiers(ctx_t *c, const json_t *pat)
{
    const json_t *arr;
    char at[FHIR_LOCATION];
    size_t n = items(c, pat, "identifier", "Patient", NULL, FHIR_MAX_ITEMS, &arr);
    for (size_t i = 0; i < n; i++) {
        const json_t *ident = element(c, arr, i, "Patient.identifier", NULL, at);
        if (ident == NULL)
            continue;
        const char *system = str(c, ident, "system", at, NULL);
        if (system && strcmp(system, FHIR_NHS_NUMBER_SYSTEM) == 0) {
            nhs_number(c, ident, at);
        } else if (is_local_system(c, system)) {
            local_id(c, ident, at, system);
        } else if (system) {
            const char *v = str(c, ident, "value", at, NULL);
            if (v)
                add_identifier(c, system, v);
        }
    }
}

/* Names ------------------------------------------------------------------------------------ */

static const char *const NAME_USES[] = {"usual",     "official", "temp",   "nickname",
                                        "anonymous", "old",      "maiden", NULL};

/* The strings of an array (at most MAX, kept); how many. */
static size_t strings(ctx_t *c, const json_t *obj, const char *key, const char *loc,
                      const char *field, char **dst, size_t max)
{
    const json_t *arr;
    char k[FHIR_LOCATION], at[FHIR_LOCATION];
    size_t n = items(c, obj, key, loc, field, max, &arr), kept = 0;
    path(k, loc, key, 0);
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(arr, i);
        path(at, k, NULL, i);
        if (!json_is_string(v)) {
            problem(c, FHIR_ERROR, FHIR_ISSUE_STRUCTURE, field, at,
                    "must be a JSON string; it was refused");
            continue;
        }
        const char *s = keep(c, json_string_value(v), json_string_length(v), at, field);
        if (nonempty(s))
            dst[kept++] = (char *)s;
    }
    return kept;
}

/* One HumanName; 1 if it held a name. */
static int one_name(ctx_t *c, const json_t *nm, const char *at, Joinery__V1__HumanName *name,
                    char **given)
{
    joinery__v1__human_name__init(name);
    name->given = given;
    const char *use = code_of(c, nm, "use", at, NULL, NAME_USES);
    const char *family = str(c, nm, "family", at, "name.family");
    name->n_given = strings(c, nm, "given", at, "name.given", given, FHIR_MAX_GIVEN);
    char *prefixes[FHIR_MAX_GIVEN];
    size_t np = strings(c, nm, "prefix", at, NULL, prefixes, FHIR_MAX_GIVEN);
    if (use)
        name->use = (char *)use;
    if (family)
        name->family = (char *)family;
    if (np > 0) /* Person has one prefix: the first ("Dr", not "Dr Prof") */
        name->prefix = prefixes[0];
    return family != NULL || name->n_given > 0;
}

static void names(ctx_t *c, const json_t *pat)
{
    fhir_store_t *st = &c->out->st;
    Joinery__V1__Person *p = &c->out->person;
    const json_t *arr;
    char at[FHIR_LOCATION];
    size_t n = items(c, pat, "name", "Patient", "name", FHIR_MAX_NAMES, &arr), used = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *nm = element(c, arr, i, "Patient.name", "name", at);
        if (nm && one_name(c, nm, at, &st->names[used], st->given[used]))
            used++;
    }
    if (used == 0)
        return;
    /* The official name is the name, whatever its place; the others follow in order. */
    size_t first = 0;
    for (size_t i = 0; i < used; i++) {
        if (st->names[i].use && strcmp(st->names[i].use, "official") == 0) {
            first = i;
            break;
        }
    }
    p->name = &st->names[first];
    for (size_t i = 0; i < used; i++)
        if (i != first)
            st->other_ptrs[p->n_other_names++] = &st->names[i];
    p->other_names = st->other_ptrs;
}

/* Dates, gender ---------------------------------------------------------------------------- */

/* A FHIR date (or the date of a dateTime) checked as the hub checks it: NULL and a problem
 * when it is not a whole, real date, or not possible beside BIRTH and today. */
static const char *date(ctx_t *c, const char *s, int datetime, const char *at, const char *field,
                        const char *birth)
{
    char iso[11], why[200];
    size_t n = strlen(s);
    if (n < 10 || (n > 10 && (!datetime || s[10] != 'T'))) {
        problem(c, FHIR_ERROR, FHIR_ISSUE_VALUE, field, at,
                "is not a whole date (YYYY-MM-DD): the hub keeps whole dates only; it was "
                "refused");
        return NULL;
    }
    memcpy(iso, s, 10);
    iso[10] = '\0';
    const char *b = birth, *d = iso;
    if (strcmp(field, "birth_date") == 0) {
        b = iso;
        d = NULL;
    }
    if (validate_date(iso, why, sizeof why) != 0 ||
        (c->o->today && validate_birth_death(b, d, c->o->today, why, sizeof why) != 0)) {
        problem(c, FHIR_ERROR, FHIR_ISSUE_VALUE, field, at, "%s; it was refused", why);
        return NULL;
    }
    return store(c, iso);
}

static void dates(ctx_t *c, const json_t *pat)
{
    Joinery__V1__Person *p = &c->out->person;
    const char *b = str(c, pat, "birthDate", "Patient", "birth_date");
    if (b)
        b = date(c, b, 0, "Patient.birthDate", "birth_date", NULL);
    if (b)
        p->birth_date = (char *)b;
    const json_t *flag = json_object_get(pat, "deceasedBoolean");
    const char *d = str(c, pat, "deceasedDateTime", "Patient", "death_date");
    if (d && flag) {
        problem(c, FHIR_ERROR, FHIR_ISSUE_STRUCTURE, "death_date", "Patient.deceased",
                "deceasedDateTime and deceasedBoolean are one choice: send one; neither was taken");
        return;
    }
    if (d)
        d = date(c, d, 1, "Patient.deceasedDateTime", "death_date", b);
    if (d)
        p->death_date = (char *)d;
    if (flag && !json_is_boolean(flag))
        problem(c, FHIR_ERROR, FHIR_ISSUE_STRUCTURE, "death_date", "Patient.deceasedBoolean",
                "must be true or false; it was refused");
    else if (json_is_true(flag))
        problem(c, FHIR_WARNING, FHIR_ISSUE_NOT_SUPPORTED, "death_date", "Patient.deceasedBoolean",
                "a death without a date is not kept: send deceasedDateTime");
}

static void gender(ctx_t *c, const json_t *pat)
{
    static const char *const codes[] = {"male", "female", "other", "unknown", NULL};
    const char *g = code_of(c, pat, "gender", "Patient", "sex", codes);
    for (size_t i = 0; g && codes[i]; i++)
        if (g == codes[i])
            c->out->person.sex = (Joinery__V1__AdministrativeSex)(i + 1);
}

/* Addresses -------------------------------------------------------------------------------- */

static int uk_country(const char *country)
{
    static const char *const uk[] = {"GB",      "GBR",   "UK",       "United Kingdom",
                                     "England", "Wales", "Scotland", "Northern Ireland"};
    if (country == NULL)
        return 1;
    for (size_t i = 0; i < sizeof uk / sizeof uk[0]; i++)
        if (strcasecmp(country, uk[i]) == 0)
            return 1;
    return 0;
}

static void add_line(Joinery__V1__Address *a, char **lines, const char *s)
{
    if (s && a->n_lines < FHIR_MAX_LINES)
        lines[a->n_lines++] = (char *)s;
}

/* A UK postcode in its canonical form, or refused; a foreign one kept as a line with its
 * country (Address has no country, and its postcode is UK only), as hl7_map.c does. */
static void postcode(ctx_t *c, const json_t *ad, const char *at, Joinery__V1__Address *a,
                     char **lines)
{
    const char *pc = str(c, ad, "postalCode", at, "address.postcode");
    const char *country = str(c, ad, "country", at, NULL);
    if (pc == NULL)
        return;
    if (!uk_country(country)) {
        add_line(a, lines, pc);
        add_line(a, lines, country);
        return;
    }
    char canon[16], why[200], loc[FHIR_LOCATION];
    if (validate_postcode_normalise(pc, canon, sizeof canon) != 0) {
        (void)validate_postcode(pc, why, sizeof why);
        problem(c, FHIR_ERROR, FHIR_ISSUE_VALUE, "address.postcode", path(loc, at, "postalCode", 0),
                "%s. The postcode was refused, the rest of the address taken", why);
        return;
    }
    a->postcode = (char *)store(c, canon);
}

static int one_address(ctx_t *c, const json_t *ad, const char *at, Joinery__V1__Address *a,
                       char **lines)
{
    static const char *const uses[] = {"home", "work", "temp", "old", "billing", NULL};
    joinery__v1__address__init(a);
    a->lines = lines;
    a->n_lines = strings(c, ad, "line", at, "address.lines", lines, FHIR_MAX_LINES);
    const char *use = code_of(c, ad, "use", at, NULL, uses);
    const char *town = str(c, ad, "city", at, "address.town");
    const char *district = str(c, ad, "district", at, "address.district");
    if (use)
        a->use = (char *)use;
    if (town)
        a->town = (char *)town;
    if (district)
        a->district = (char *)district;
    postcode(c, ad, at, a, lines);
    return a->n_lines > 0 || town || district || a->postcode;
}

static void addresses(ctx_t *c, const json_t *pat)
{
    fhir_store_t *st = &c->out->st;
    Joinery__V1__Person *p = &c->out->person;
    const json_t *arr;
    char at[FHIR_LOCATION];
    size_t n = items(c, pat, "address", "Patient", "addresses", FHIR_MAX_ADDRS, &arr);
    for (size_t i = 0; i < n; i++) {
        const json_t *ad = element(c, arr, i, "Patient.address", "addresses", at);
        Joinery__V1__Address *a = &st->addrs[p->n_addresses];
        if (ad && one_address(c, ad, at, a, st->lines[p->n_addresses]))
            st->addr_ptrs[p->n_addresses++] = a;
    }
    p->addresses = st->addr_ptrs;
}

/* Telecom, GP -------------------------------------------------------------------------------- */

static void one_telecom(ctx_t *c, const json_t *t, const char *at)
{
    static const char *const systems[] = {"phone", "email", "sms",   "fax",
                                          "pager", "url",   "other", NULL};
    static const char *const uses[] = {"home", "work", "temp", "old", "mobile", NULL};
    fhir_store_t *st = &c->out->st;
    Joinery__V1__Person *p = &c->out->person;
    const char *system = code_of(c, t, "system", at, "telecom", systems);
    if (system == NULL)
        return;
    if (strcmp(system, "phone") != 0 && strcmp(system, "email") != 0 &&
        strcmp(system, "sms") != 0) {
        char loc[FHIR_LOCATION];
        problem(c, FHIR_WARNING, FHIR_ISSUE_NOT_SUPPORTED, "telecom", path(loc, at, "system", 0),
                "only phone, sms and email contact points are kept");
        return;
    }
    const char *value = str(c, t, "value", at, "telecom");
    const char *use = code_of(c, t, "use", at, NULL, uses);
    if (value == NULL || p->n_telecom == FHIR_MAX_TELECOM)
        return;
    Joinery__V1__ContactPoint *cp = &st->tel[p->n_telecom];
    joinery__v1__contact_point__init(cp);
    cp->system = (char *)system;
    cp->value = (char *)value;
    if (use)
        cp->use = (char *)use;
    st->tel_ptrs[p->n_telecom++] = cp;
    p->telecom = st->tel_ptrs;
}

static void telecom(ctx_t *c, const json_t *pat)
{
    const json_t *arr;
    char at[FHIR_LOCATION];
    size_t n = items(c, pat, "telecom", "Patient", "telecom", FHIR_MAX_ITEMS, &arr);
    for (size_t i = 0; i < n; i++) {
        const json_t *t = element(c, arr, i, "Patient.telecom", "telecom", at);
        if (t)
            one_telecom(c, t, at);
    }
}

/* The registered GP practice: a generalPractitioner naming an organisation by its ODS code. */
static void gp(ctx_t *c, const json_t *pat)
{
    const json_t *arr;
    char at[FHIR_LOCATION], id[FHIR_LOCATION];
    size_t n =
        items(c, pat, "generalPractitioner", "Patient", "gp_practice_ods", FHIR_MAX_ITEMS, &arr);
    for (size_t i = 0; i < n && !nonempty(c->out->person.gp_practice_ods); i++) {
        const json_t *ref = element(c, arr, i, "Patient.generalPractitioner", NULL, at);
        const json_t *ident = ref ? json_object_get(ref, "identifier") : NULL;
        if (!json_is_object(ident))
            continue;
        path(id, at, "identifier", 0);
        const char *system = str(c, ident, "system", id, NULL);
        if (system == NULL || strcmp(system, ODS_SYSTEM) != 0)
            continue;
        const char *v = str(c, ident, "value", id, "gp_practice_ods");
        if (v)
            c->out->person.gp_practice_ods = (char *)v;
    }
}

/* The whole -------------------------------------------------------------------------------- */

/* A FHIR id: 1 to 64 of A-Z a-z 0-9 - and . */
static int fhir_id_ok(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= 64 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.") == n;
}

static void reset(fhir_patient_t *out)
{
    joinery__v1__person__init(&out->person);
    out->local_id = NULL;
    out->id = NULL;
    out->n_problems = out->problems_lost = 0;
    out->st.used = 0;
}

/* The document as a Patient object; NULL and a problem when it is not one. */
static json_t *load(ctx_t *c, const void *buf, size_t len)
{
    if (buf == NULL || len > FHIR_MAX_BYTES) {
        problem(c, FHIR_ERROR, FHIR_ISSUE_TOO_LONG, NULL, "",
                "the resource is larger than this interface takes (%u bytes)", FHIR_MAX_BYTES);
        return NULL;
    }
    json_error_t e;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e);
    if (root == NULL) {
        problem(c, FHIR_ERROR, FHIR_ISSUE_STRUCTURE, NULL, "",
                "the body is not JSON: %s (line %d, column %d)", e.text, e.line, e.column);
        return NULL;
    }
    const json_t *rt = json_is_object(root) ? json_object_get(root, "resourceType") : NULL;
    if (!json_is_string(rt) || strcmp(json_string_value(rt), "Patient") != 0) {
        problem(c, FHIR_ERROR, FHIR_ISSUE_INVALID, NULL, json_is_object(root) ? "resourceType" : "",
                "the resource is not a Patient: this endpoint takes a UK Core Patient only");
        json_decref(root);
        return NULL;
    }
    return root;
}

fhir_read_t fhir_patient_read(const void *json, size_t len, const fhir_read_opts_t *o,
                              fhir_patient_t *out)
{
    static const fhir_read_opts_t defaults = {0};
    ctx_t c = {o ? o : &defaults, out, NULL};
    reset(out);
    json_t *root = load(&c, json, len);
    if (root == NULL)
        return FHIR_READ_UNREADABLE;
    const char *id = str(&c, root, "id", "Patient", NULL);
    if (id && !fhir_id_ok(id))
        problem(&c, FHIR_ERROR, FHIR_ISSUE_VALUE, NULL, "Patient.id",
                "is not a FHIR id (1 to 64 letters, digits, '-' and '.'); it was ignored");
    else
        out->id = id;
    identifiers(&c, root);
    names(&c, root);
    dates(&c, root);
    gender(&c, root);
    addresses(&c, root);
    telecom(&c, root);
    gp(&c, root);
    json_decref(root); /* nothing points into it: every string kept was copied to OUT */
    if (out->local_id != NULL)
        return FHIR_READ_OK;
    problem(&c, FHIR_ERROR, FHIR_ISSUE_REQUIRED, NULL, "Patient.identifier",
            "no identifier gives the trust's own id for the patient%s%s: nothing was taken",
            nonempty(c.o->local_system) ? " (system " : "",
            nonempty(c.o->local_system) ? "as configured)" : "");
    return FHIR_READ_INVALID;
}

/* Writing ------------------------------------------------------------------------------------ */

typedef struct {
    int bad; /* a string was not UTF-8, or jansson ran out of memory */
} jw_t;

/* OBJ[KEY] = V when V is not empty; V must be UTF-8. */
static void set_str(jw_t *j, json_t *obj, const char *key, const char *v)
{
    if (!nonempty(v))
        return;
    if (json_object_set_new(obj, key, json_string(v)) != 0)
        j->bad = 1;
}

static void set_new(jw_t *j, json_t *obj, const char *key, json_t *v)
{
    if (v == NULL || json_object_set_new(obj, key, v) != 0)
        j->bad = 1;
}

/* OBJ[KEY] = ARR when it has elements; ARR is taken either way. */
static void set_array(jw_t *j, json_t *obj, const char *key, json_t *arr)
{
    if (arr == NULL) {
        j->bad = 1;
        return;
    }
    if (json_array_size(arr) == 0) {
        json_decref(arr);
        return;
    }
    set_new(j, obj, key, arr);
}

static void append(jw_t *j, json_t *arr, json_t *v)
{
    if (arr == NULL || v == NULL || json_array_append_new(arr, v) != 0)
        j->bad = 1;
}

static void append_str(jw_t *j, json_t *arr, const char *v)
{
    if (nonempty(v))
        append(j, arr, json_string(v));
}

static const char *verification_display(int code)
{
    static const char *const d[] = {"",
                                    "Number present and verified",
                                    "Number present but not traced",
                                    "Trace required",
                                    "Trace attempted - No match or multiple match found",
                                    "Trace needs to be resolved - (NHS number or patient detail "
                                    "conflict)",
                                    "Trace in progress",
                                    "Number not present and trace not required",
                                    "Trace postponed (baby under six weeks old)"};
    return code >= 1 && code <= 8 ? d[code] : "";
}

static json_t *nhs_identifier(jw_t *j, const Joinery__V1__Person *p)
{
    json_t *id = json_object();
    int code = (int)p->nhs_number_verification;
    if (code >= 1 && code <= 8) {
        char v[3];
        (void)snprintf(v, sizeof v, "0%d", code);
        json_t *coding = json_pack("{s:s, s:s, s:s}", "system", FHIR_NHS_VERIFICATION_SYSTEM,
                                   "code", v, "display", verification_display(code));
        json_t *ext = json_pack("[{s:s, s:{s:[o]}}]", "url", FHIR_NHS_VERIFICATION_URL,
                                "valueCodeableConcept", "coding", coding);
        if (id)
            set_new(j, id, "extension", ext);
        else
            json_decref(ext);
    }
    if (id) {
        set_str(j, id, "system", FHIR_NHS_NUMBER_SYSTEM);
        set_str(j, id, "value", p->nhs_number);
    }
    return id;
}

static json_t *identifiers_json(jw_t *j, const Joinery__V1__Person *p, const fhir_view_t *v)
{
    json_t *arr = json_array();
    if (nonempty(p->nhs_number))
        append(j, arr, nhs_identifier(j, p));
    if (nonempty(v->local_id) && nonempty(v->local_system)) {
        json_t *id = json_object();
        if (id) {
            set_str(j, id, "system", v->local_system);
            set_str(j, id, "value", v->local_id);
        }
        append(j, arr, id);
    }
    return arr;
}

static json_t *name_json(jw_t *j, const Joinery__V1__HumanName *n)
{
    json_t *o = json_object(), *given = json_array(), *prefix = json_array();
    if (o == NULL) {
        json_decref(given);
        json_decref(prefix);
        return NULL;
    }
    set_str(j, o, "use", n->use);
    set_str(j, o, "family", n->family);
    for (size_t i = 0; i < n->n_given; i++)
        append_str(j, given, n->given[i]);
    set_array(j, o, "given", given);
    append_str(j, prefix, n->prefix);
    set_array(j, o, "prefix", prefix);
    return o;
}

static json_t *names_json(jw_t *j, const Joinery__V1__Person *p)
{
    json_t *arr = json_array();
    if (p->name)
        append(j, arr, name_json(j, p->name));
    for (size_t i = 0; i < p->n_other_names; i++)
        if (p->other_names[i])
            append(j, arr, name_json(j, p->other_names[i]));
    return arr;
}

static json_t *telecom_json(jw_t *j, const Joinery__V1__Person *p)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < p->n_telecom; i++) {
        const Joinery__V1__ContactPoint *t = p->telecom[i];
        if (t == NULL || !nonempty(t->value))
            continue;
        json_t *o = json_object();
        if (o) {
            set_str(j, o, "system", t->system);
            set_str(j, o, "value", t->value);
            set_str(j, o, "use", t->use);
        }
        append(j, arr, o);
    }
    return arr;
}

static json_t *addresses_json(jw_t *j, const Joinery__V1__Person *p)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < p->n_addresses; i++) {
        const Joinery__V1__Address *a = p->addresses[i];
        json_t *o = a ? json_object() : NULL;
        if (o == NULL)
            continue;
        set_str(j, o, "use", a->use);
        json_t *lines = json_array();
        for (size_t k = 0; k < a->n_lines; k++)
            append_str(j, lines, a->lines[k]);
        set_array(j, o, "line", lines);
        set_str(j, o, "city", a->town);
        set_str(j, o, "district", a->district);
        set_str(j, o, "postalCode", a->postcode);
        append(j, arr, o);
    }
    return arr;
}

static const char *gender_name(Joinery__V1__AdministrativeSex s)
{
    static const char *const g[] = {NULL, "male", "female", "other", "unknown"};
    return (unsigned)s < sizeof g / sizeof g[0] ? g[s] : NULL;
}

static json_t *patient_json(jw_t *j, const Joinery__V1__Person *p, const fhir_view_t *v)
{
    char version[24];
    (void)snprintf(version, sizeof version, "%" PRIu64, v->version);
    json_t *pat = json_object(), *meta = json_object();
    if (pat == NULL || meta == NULL) {
        json_decref(pat);
        json_decref(meta);
        j->bad = 1;
        return NULL;
    }
    set_str(j, pat, "resourceType", "Patient");
    set_str(j, pat, "id", v->master_id);
    set_str(j, meta, "versionId", version);
    set_str(j, meta, "lastUpdated", v->last_updated);
    set_new(j, meta, "profile", json_pack("[s]", FHIR_UKCORE_PATIENT));
    set_new(j, pat, "meta", meta);
    set_array(j, pat, "identifier", identifiers_json(j, p, v));
    set_array(j, pat, "name", names_json(j, p));
    set_array(j, pat, "telecom", telecom_json(j, p));
    set_str(j, pat, "gender", gender_name(p->sex));
    set_str(j, pat, "birthDate", p->birth_date);
    set_str(j, pat, "deceasedDateTime", p->death_date);
    set_array(j, pat, "address", addresses_json(j, p));
    if (nonempty(p->gp_practice_ods))
        set_new(j, pat, "generalPractitioner",
                json_pack("[{s:{s:s, s:s}}]", "identifier", "system", ODS_SYSTEM, "value",
                          p->gp_practice_ods));
    return pat;
}

/* ROOT (taken) dumped compactly into OUT; 0 and *LEN, or -1. */
static int dump(json_t *root, char *out, size_t cap, size_t *len)
{
    if (root == NULL)
        return -1;
    size_t n = json_dumpb(root, out, cap, JSON_COMPACT);
    json_decref(root);
    if (n == 0 || n >= cap) {
        if (cap > 0)
            out[0] = '\0';
        return -1;
    }
    out[n] = '\0';
    if (len)
        *len = n;
    return 0;
}

int fhir_patient_write(const Joinery__V1__Person *p, const fhir_view_t *v, char *out, size_t cap,
                       size_t *len, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (p == NULL || v == NULL || !nonempty(v->master_id) || out == NULL) {
        if (err && errlen)
            (void)snprintf(err, errlen, "a Person and its master id are required");
        return -1;
    }
    jw_t j = {0};
    json_t *root = patient_json(&j, p, v);
    if (j.bad) {
        json_decref(root);
        if (err && errlen)
            (void)snprintf(err, errlen, "the golden record holds text that is not UTF-8");
        return -1;
    }
    if (dump(root, out, cap, len) != 0) {
        if (err && errlen)
            (void)snprintf(err, errlen, "the Patient does not fit in %zu bytes", cap);
        return -1;
    }
    return 0;
}

int fhir_outcome_write(const fhir_problem_t *problems, size_t n, char *out, size_t cap, size_t *len)
{
    jw_t j = {0};
    json_t *root = json_object(), *issues = json_array();
    set_str(&j, root, "resourceType", "OperationOutcome");
    for (size_t i = 0; i < n; i++) {
        const fhir_problem_t *p = &problems[i];
        json_t *o = json_object();
        if (o) {
            set_str(&j, o, "severity", fhir_severity_name(p->severity));
            set_str(&j, o, "code", fhir_issue_name(p->code));
            set_str(&j, o, "diagnostics", p->reason);
            if (nonempty(p->location))
                set_new(&j, o, "expression", json_pack("[s]", p->location));
        }
        append(&j, issues, o);
    }
    if (n == 0)
        append(&j, issues,
               json_pack("{s:s, s:s, s:s}", "severity", "information", "code", "informational",
                         "diagnostics", "no problems"));
    if (root)
        set_new(&j, root, "issue", issues);
    else
        json_decref(issues);
    if (j.bad) {
        json_decref(root);
        return -1;
    }
    return dump(root, out, cap, len);
}

static json_t *search_param(const fhir_capability_t *c)
{
    char doc[512];
    (void)snprintf(doc, sizeof doc, "system|value: " FHIR_NHS_NUMBER_SYSTEM "|{NHS number}%s%s%s",
                   nonempty(c->local_system) ? ", or " : "",
                   nonempty(c->local_system) ? c->local_system : "",
                   nonempty(c->local_system) ? "|{the trust's id}" : "");
    return json_pack("[{s:s, s:s, s:s, s:s}]", "name", "identifier", "definition",
                     "http://hl7.org/fhir/SearchParameter/Patient-identifier", "type", "token",
                     "documentation", doc);
}

int fhir_capability_write(const fhir_capability_t *c, char *out, size_t cap, size_t *len)
{
    if (c == NULL || !nonempty(c->date) || out == NULL)
        return -1;
    jw_t j = {0};
    json_t *root = json_object(), *software = json_object(), *impl = json_object();
    if (root == NULL || software == NULL || impl == NULL) {
        json_decref(root);
        json_decref(software);
        json_decref(impl);
        return -1;
    }
    set_str(&j, root, "resourceType", "CapabilityStatement");
    set_str(&j, root, "status", "active");
    set_str(&j, root, "date", c->date);
    set_str(&j, root, "kind", "instance");
    set_str(&j, software, "name", c->software ? c->software : "joinery-health");
    set_str(&j, software, "version", c->version);
    set_new(&j, root, "software", software);
    set_str(&j, impl, "description", "Joinery: a council's golden person records for NHS trusts");
    set_str(&j, impl, "url", c->base_url);
    set_new(&j, root, "implementation", impl);
    set_str(&j, root, "fhirVersion", "4.0.1");
    set_new(&j, root, "format", json_pack("[s, s]", "application/fhir+json", "json"));
    json_t *interactions = json_pack("[{s:s}, {s:s}, {s:s}, {s:s}]", "code", "read", "code",
                                     "search-type", "code", "create", "code", "update");
    json_t *resource =
        json_pack("{s:s, s:s, s:o, s:s, s:b, s:b, s:o}", "type", "Patient", "profile",
                  FHIR_UKCORE_PATIENT, "interaction", interactions, "versioning", "versioned",
                  "readHistory", 0, "updateCreate", 0, "searchParam", search_param(c));
    set_new(&j, root, "rest", json_pack("[{s:s, s:[o]}]", "mode", "server", "resource", resource));
    if (j.bad) {
        json_decref(root);
        return -1;
    }
    return dump(root, out, cap, len);
}

int fhir_search_nhs_number(const char *token, char out[11], fhir_problem_t *why)
{
    static const char sys[] = FHIR_NHS_NUMBER_SYSTEM "|";
    char reason[200] = "";
    out[0] = '\0';
    if (token == NULL || strncmp(token, sys, sizeof sys - 1) != 0)
        (void)snprintf(reason, sizeof reason,
                       "search by identifier=" FHIR_NHS_NUMBER_SYSTEM "|{NHS number}");
    else if (validate_nhs_number(token + sizeof sys - 1, reason, sizeof reason) == 0 &&
             validate_nhs_number_normalise(token + sizeof sys - 1, out) == 0)
        return 0;
    if (why) {
        memset(why, 0, sizeof *why);
        why->severity = FHIR_ERROR;
        why->code = FHIR_ISSUE_VALUE;
        (void)snprintf(why->location, sizeof why->location, "identifier");
        (void)snprintf(why->reason, sizeof why->reason, "%s", reason);
    }
    return -1;
}
