/* agresso_customer.c - Agresso's customer master as Person and back (contract in
 * agresso_customer.h). */
#include "agresso_customer.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "match/validate.h"

#define TEXT_MAX 200 /* longest text value taken from one column */

const char *const CUSTOMER_COLUMNS[COL_COUNT] = {
    [COL_CUSTOMER_ID] = "customer_id",
    [COL_NAME] = "name",
    [COL_GIVEN_NAME] = "given_name",
    [COL_FAMILY_NAME] = "family_name",
    [COL_DATE_OF_BIRTH] = "date_of_birth",
    [COL_ADDRESS_LINE1] = "address_line1",
    [COL_ADDRESS_LINE2] = "address_line2",
    [COL_TOWN] = "town",
    [COL_POSTCODE] = "postcode",
    [COL_PHONE] = "phone",
    [COL_EMAIL] = "email",
    [COL_NHS_NUMBER] = "nhs_number",
};

const char *const CUSTOMER_IMPORT_COLUMNS[CUSTOMER_IMPORT_FIELDS] = {
    "customer_id",   "name",          "given_name", "family_name", "date_of_birth",
    "address_line1", "address_line2", "town",       "postcode",    "phone",
    "email",         "nhs_number",    "master_id",  "version",     "changed_fields",
};

static int failf(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int failf(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
    return -1;
}

/* S without blanks around it, compared to NAME ignoring case. */
static int name_is(const char *s, size_t n, const char *name)
{
    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (strlen(name) != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];
        if (c != name[i])
            return 0;
    }
    return 1;
}

int customer_header(const adapter_csv_row_t *row, customer_header_t *h, char *why, size_t why_len)
{
    int seen[COL_COUNT] = {0};
    for (size_t i = 0; i < row->nfields; i++) {
        int k = -1;
        for (int c = 0; c < COL_COUNT && k < 0; c++)
            if (name_is(row->field[i], row->len[i], CUSTOMER_COLUMNS[c]))
                k = c;
        if (k < 0)
            return failf(why, why_len,
                         "column %zu of the header is '%.40s', which is not a customer-master "
                         "column (expected customer_id, name, given_name, family_name, "
                         "date_of_birth, address_line1, address_line2, town, postcode, phone, "
                         "email, nhs_number)",
                         i + 1, row->field[i]);
        if (seen[k]++)
            return failf(why, why_len, "the header names '%s' twice", CUSTOMER_COLUMNS[k]);
        h->at[k] = i;
    }
    for (int c = 0; c < COL_COUNT; c++)
        if (!seen[c])
            return failf(why, why_len, "the header has no '%s' column", CUSTOMER_COLUMNS[c]);
    h->nfields = row->nfields;
    return 0;
}

/* The column's value with blanks collapsed and trimmed, copied into the customer's text; ""
 * when empty. NULL (and WHY) when it holds a control character or is too long. */
static const char *text(customer_t *c, const adapter_csv_row_t *row, const customer_header_t *h,
                        customer_col_t col, char *why, size_t why_len)
{
    const char *s = row->field[h->at[col]];
    size_t n = row->len[h->at[col]];
    if (n > TEXT_MAX)
        return failf(why, why_len, "longer than %d bytes", TEXT_MAX), NULL;
    if (c->used + n + 1 > sizeof c->text)
        return failf(why, why_len, "the row holds too much text"), NULL;
    char *out = c->text + c->used;
    size_t k = 0;
    int blank = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == ' ' || ch == '\t') {
            blank = k > 0;
            continue;
        }
        if (ch < 0x20 || ch == 0x7f)
            return failf(why, why_len, "holds a control character (byte 0x%02X)", ch), NULL;
        if (blank)
            out[k++] = ' ';
        blank = 0;
        out[k++] = (char)ch;
    }
    out[k] = '\0';
    c->used += k + 1;
    return out;
}

static int id_char(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_' || ch == '/' || ch == '.';
}

/* YYYY-MM-DD, or DD/MM/YYYY as a UK Agresso export writes it; ISO into OUT (11 bytes). */
static int iso_date(const char *s, char out[11], char *why, size_t why_len)
{
    if (strlen(s) == 10 && s[2] == '/' && s[5] == '/') {
        (void)snprintf(out, 11, "%.4s-%.2s-%.2s", s + 6, s + 3, s);
    } else if (strlen(s) == 10) {
        memcpy(out, s, 11);
    } else {
        return failf(why, why_len, "'%.20s' is not a date (write YYYY-MM-DD or DD/MM/YYYY)", s);
    }
    char reason[160];
    if (validate_date(out, reason, sizeof reason) != 0)
        return failf(why, why_len, "'%s' is not a date: %s", s, reason);
    return 0;
}

static int email_ok(const char *s)
{
    const char *at = strchr(s, '@');
    return at != NULL && at != s && at[1] != '\0' && strchr(at + 1, '@') == NULL &&
           strchr(at + 1, '.') != NULL && strchr(s, ' ') == NULL;
}

static int phone_ok(const char *s)
{
    int digits = 0;
    for (; *s; s++) {
        if (*s >= '0' && *s <= '9')
            digits++;
        else if (!strchr(" +()-", *s))
            return 0;
    }
    return digits >= 6 && digits <= 15;
}

/* Copies S into the customer's text; NULL when there is no room. */
static char *keep(customer_t *c, const char *s)
{
    size_t n = strlen(s);
    if (c->used + n + 1 > sizeof c->text)
        return NULL;
    char *out = c->text + c->used;
    memcpy(out, s, n + 1);
    c->used += n + 1;
    return out;
}

static void init(customer_t *out)
{
    static const Joinery__V1__Person person_init = JOINERY__V1__PERSON__INIT;
    static const Joinery__V1__HumanName name_init = JOINERY__V1__HUMAN_NAME__INIT;
    static const Joinery__V1__Address addr_init = JOINERY__V1__ADDRESS__INIT;
    static const Joinery__V1__ContactPoint tel_init = JOINERY__V1__CONTACT_POINT__INIT;
    out->person = person_init;
    out->name = name_init;
    out->addr = addr_init;
    out->tel[0] = out->tel[1] = tel_init;
    out->used = 0;
    out->person.name = &out->name;
}

typedef struct {
    customer_t *c;
    const customer_header_t *h;
    const adapter_csv_row_t *row;
    const char **column;
    char *why;
    size_t why_len;
} mapctx_t;

static const char *col(mapctx_t *m, customer_col_t k)
{
    char reason[160];
    const char *v = text(m->c, m->row, m->h, k, reason, sizeof reason);
    if (v == NULL) {
        *m->column = CUSTOMER_COLUMNS[k];
        (void)failf(m->why, m->why_len, "%s", reason);
    }
    return v;
}

static int bad(mapctx_t *m, customer_col_t k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(mapctx_t *m, customer_col_t k, const char *fmt, ...)
{
    *m->column = CUSTOMER_COLUMNS[k];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(m->why, m->why_len, fmt, ap);
    va_end(ap);
    return -1;
}

static int map_identity(mapctx_t *m, const char *today)
{
    customer_t *c = m->c;
    const char *id = col(m, COL_CUSTOMER_ID);
    if (id == NULL)
        return -1;
    size_t n = strlen(id);
    if (n == 0 || n > 25)
        return bad(m, COL_CUSTOMER_ID,
                   n == 0 ? "is empty: every customer needs its id"
                          : "is longer than Agresso's 25 characters");
    for (size_t i = 0; i < n; i++)
        if (!id_char(id[i]))
            return bad(m, COL_CUSTOMER_ID,
                       "'%s' holds '%c'; a customer id is letters, digits and - _ / .", id, id[i]);
    c->customer_id = id;
    const char *given = col(m, COL_GIVEN_NAME), *family = col(m, COL_FAMILY_NAME);
    if (given == NULL || family == NULL || col(m, COL_NAME) == NULL)
        return -1;
    if (family[0] == '\0')
        return bad(m, COL_FAMILY_NAME,
                   "is empty: a customer billed for care is a person with a "
                   "family name");
    c->name.family = (char *)family;
    if (given[0]) {
        c->given[0] = (char *)given;
        c->name.given = c->given;
        c->name.n_given = 1;
    }
    const char *dob = col(m, COL_DATE_OF_BIRTH);
    if (dob == NULL)
        return -1;
    if (dob[0]) {
        char iso[11], reason[160];
        if (iso_date(dob, iso, reason, sizeof reason) != 0)
            return bad(m, COL_DATE_OF_BIRTH, "%s", reason);
        if (validate_birth_death(iso, NULL, today, reason, sizeof reason) != 0)
            return bad(m, COL_DATE_OF_BIRTH, "'%s': %s", dob, reason);
        if ((c->person.birth_date = keep(c, iso)) == NULL)
            return bad(m, COL_DATE_OF_BIRTH, "the row holds too much text");
    }
    const char *nhs = col(m, COL_NHS_NUMBER);
    if (nhs == NULL)
        return -1;
    if (nhs[0]) {
        char digits[11], reason[160];
        if (validate_nhs_number_normalise(nhs, digits) != 0) {
            (void)validate_nhs_number(nhs, reason, sizeof reason);
            return bad(m, COL_NHS_NUMBER, "%s", reason);
        }
        if ((c->person.nhs_number = keep(c, digits)) == NULL)
            return bad(m, COL_NHS_NUMBER, "the row holds too much text");
    }
    return 0;
}

static int map_address(mapctx_t *m)
{
    customer_t *c = m->c;
    const char *l1 = col(m, COL_ADDRESS_LINE1), *l2 = col(m, COL_ADDRESS_LINE2);
    const char *town = col(m, COL_TOWN), *pc = col(m, COL_POSTCODE);
    if (l1 == NULL || l2 == NULL || town == NULL || pc == NULL)
        return -1;
    char norm[16] = "";
    if (pc[0] && validate_postcode_normalise(pc, norm, sizeof norm) != 0) {
        char reason[160];
        (void)validate_postcode(pc, reason, sizeof reason);
        return bad(m, COL_POSTCODE, "'%s' is not a UK postcode: %s", pc, reason);
    }
    if (!(l1[0] || l2[0] || town[0] || pc[0]))
        return 0;
    size_t n = 0;
    if (l1[0])
        c->lines[n++] = (char *)l1;
    if (l2[0])
        c->lines[n++] = (char *)l2;
    c->addr.use = "home"; /* where the customer lives and is billed: the golden home address */
    c->addr.lines = c->lines;
    c->addr.n_lines = n;
    c->addr.town = (char *)town;
    if (norm[0] && (c->addr.postcode = keep(c, norm)) == NULL)
        return bad(m, COL_POSTCODE, "the row holds too much text");
    c->addrs[0] = &c->addr;
    c->person.addresses = c->addrs;
    c->person.n_addresses = 1;
    return 0;
}

static int map_contact(mapctx_t *m)
{
    customer_t *c = m->c;
    const char *phone = col(m, COL_PHONE), *email = col(m, COL_EMAIL);
    if (phone == NULL || email == NULL)
        return -1;
    if (phone[0] && !phone_ok(phone))
        return bad(m, COL_PHONE,
                   "'%s' is not a telephone number (6 to 15 digits, with blanks, "
                   "+, ( ) or -)",
                   phone);
    if (email[0] && !email_ok(email))
        return bad(m, COL_EMAIL, "'%s' is not an e-mail address", email);
    size_t n = 0;
    if (phone[0]) {
        c->tel[n] = (Joinery__V1__ContactPoint)JOINERY__V1__CONTACT_POINT__INIT;
        c->tel[n].system = "phone";
        c->tel[n].value = (char *)phone;
        c->tel[n].use = "home";
        c->tels[n] = &c->tel[n];
        n++;
    }
    if (email[0]) {
        c->tel[n] = (Joinery__V1__ContactPoint)JOINERY__V1__CONTACT_POINT__INIT;
        c->tel[n].system = "email";
        c->tel[n].value = (char *)email;
        c->tel[n].use = "home";
        c->tels[n] = &c->tel[n];
        n++;
    }
    c->person.telecom = n ? c->tels : NULL;
    c->person.n_telecom = n;
    return 0;
}

int customer_from_row(const customer_header_t *h, const adapter_csv_row_t *row, const char *today,
                      customer_t *out, const char **column, char *why, size_t why_len)
{
    *column = "";
    if (row->nfields != h->nfields)
        return failf(why, why_len, "the row has %zu fields; the header has %zu", row->nfields,
                     h->nfields);
    init(out);
    mapctx_t m = {out, h, row, column, why, why_len};
    if (map_identity(&m, today) != 0 || map_address(&m) != 0 || map_contact(&m) != 0)
        return -1;
    return 0;
}

/* The import row ------------------------------------------------------------------------- */

static const char *telecom_value(const Joinery__V1__Person *p, const char *system)
{
    for (size_t i = 0; p != NULL && i < p->n_telecom; i++)
        if (p->telecom[i] && p->telecom[i]->system && strcmp(p->telecom[i]->system, system) == 0)
            return p->telecom[i]->value;
    return "";
}

static const Joinery__V1__Address *home(const Joinery__V1__Person *p)
{
    for (size_t i = 0; p != NULL && i < p->n_addresses; i++)
        if (p->addresses[i] && (p->addresses[i]->use == NULL || p->addresses[i]->use[0] == '\0' ||
                                strcmp(p->addresses[i]->use, "home") == 0))
            return p->addresses[i];
    return NULL;
}

static const char *put(char *text, size_t cap, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static const char *put(char *text, size_t cap, size_t *used, const char *fmt, ...)
{
    if (*used >= cap)
        return "";
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text + *used, cap - *used, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap - *used)
        return "";
    const char *s = text + *used;
    *used += (size_t)n + 1;
    return s;
}

int customer_import_row(const Joinery__V1__PersonChanged *pc, const char **f, char *text,
                        size_t cap, char *why, size_t why_len)
{
    if (pc->local_id == NULL || pc->local_id[0] == '\0')
        return failf(why, why_len, "the person is not an Agresso customer (no local id)");
    const Joinery__V1__Person *p = pc->person;
    const Joinery__V1__HumanName *nm = p ? p->name : NULL;
    const Joinery__V1__Address *a = home(p);
    size_t used = 0;
    for (size_t i = 0; i < CUSTOMER_IMPORT_FIELDS; i++)
        f[i] = "";
    f[COL_CUSTOMER_ID] = pc->local_id;
    if (nm != NULL) {
        const char *given = nm->n_given > 0 && nm->given[0] ? nm->given[0] : "";
        f[COL_GIVEN_NAME] = given;
        f[COL_FAMILY_NAME] = nm->family ? nm->family : "";
        if (given[0] || f[COL_FAMILY_NAME][0])
            f[COL_NAME] =
                put(text, cap, &used, "%s%s%s", given, given[0] ? " " : "", f[COL_FAMILY_NAME]);
    }
    if (p != NULL) {
        f[COL_DATE_OF_BIRTH] = p->birth_date ? p->birth_date : "";
        f[COL_NHS_NUMBER] = p->nhs_number ? p->nhs_number : "";
        f[COL_PHONE] = telecom_value(p, "phone");
        f[COL_EMAIL] = telecom_value(p, "email");
    }
    if (a != NULL) {
        f[COL_ADDRESS_LINE1] = a->n_lines > 0 && a->lines[0] ? a->lines[0] : "";
        f[COL_ADDRESS_LINE2] = a->n_lines > 1 && a->lines[1] ? a->lines[1] : "";
        f[COL_TOWN] = a->town ? a->town : "";
        f[COL_POSTCODE] = a->postcode ? a->postcode : "";
    }
    f[COL_COUNT] = pc->master_id ? pc->master_id : "";
    f[COL_COUNT + 1] = put(text, cap, &used, "%" PRIu64, pc->version);
    char *changed = text + used;
    size_t k = 0;
    for (size_t i = 0; i < pc->n_changed_fields && used + k + 1 < cap; i++) {
        int n = snprintf(changed + k, cap - used - k, "%s%s", i ? " " : "", pc->changed_fields[i]);
        if (n < 0 || (size_t)n >= cap - used - k)
            break;
        k += (size_t)n;
    }
    if (used < cap) {
        changed[k] = '\0';
        f[COL_COUNT + 2] = changed;
    }
    return 0;
}
