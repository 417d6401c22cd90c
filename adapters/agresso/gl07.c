/* gl07.c - care packages as GL07 rows (contract in gl07.h). */
#include "gl07.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *const GL07_COLUMNS[GL07_FIELDS] = {
    "batch_id", "interface", "voucher_type", "trans_type",  "client",   "account",
    "dim_1",    "dim_2",     "dim_3",        "dim_4",       "tax_code", "currency",
    "amount",   "period",    "trans_date",   "description", "ext_ref",
};

/* Social care's service types and Agresso's service dimension (dim_2) for each. */
static const struct {
    const char *service, *code;
} SERVICES[] = {
    {"home care", "HC"},
    {"residential", "RES"},
    {"nursing", "NUR"},
    {"direct payment", "DP"},
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

void gl07_amount(int64_t pence, char out[24])
{
    uint64_t mag = pence < 0 ? (uint64_t)0 - (uint64_t)pence : (uint64_t)pence;
    (void)snprintf(out, 24, "%s%" PRIu64 ".%02" PRIu64, pence < 0 ? "-" : "", mag / 100, mag % 100);
}

static const char *service_code(const char *service)
{
    for (size_t i = 0; service && i < sizeof SERVICES / sizeof SERVICES[0]; i++)
        if (strcmp(service, SERVICES[i].service) == 0)
            return SERVICES[i].code;
    return NULL;
}

/* Agresso's dimension values are short codes without separators. */
static int code_ok(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= 0x20 || s[i] >= 0x7f || s[i] == ',' || s[i] == '"')
            return 0;
    return 1;
}

static const char *put(char *text, size_t cap, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static const char *put(char *text, size_t cap, size_t *used, const char *fmt, ...)
{
    if (*used >= cap)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text + *used, cap - *used, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap - *used)
        return NULL;
    const char *s = text + *used;
    *used += (size_t)n + 1;
    return s;
}

gl07_result_t gl07_row(const gl07_coding_t *c, const Joinery__V1__CarePackage *cp, uint64_t seq,
                       const char *date_ymd, const char **f, char *text, size_t cap, char *why,
                       size_t why_len)
{
    const char *status = cp->status ? cp->status : "";
    if (strcmp(status, "suspended") == 0 || strcmp(status, "ended") == 0)
        return GL07_NOTHING;
    if (!code_ok(cp->package_id, 25))
        return failf(why, why_len,
                     "package_id '%.40s' cannot be Agresso's project (dim_3): 1 to 25 printable "
                     "characters without blanks or commas",
                     cp->package_id ? cp->package_id : ""),
               GL07_REFUSED;
    const char *svc = service_code(cp->service_type);
    if (svc == NULL)
        return failf(why, why_len,
                     "service_type '%.40s' has no Agresso service code (home care, residential, "
                     "nursing, direct payment)",
                     cp->service_type ? cp->service_type : ""),
               GL07_REFUSED;
    if (cp->weekly_cost_pence <= 0)
        return failf(why, why_len,
                     "weekly_cost_pence is %" PRId64 ": a care charge must be a positive amount",
                     cp->weekly_cost_pence),
               GL07_REFUSED;
    if (cp->provider_id && cp->provider_id[0] && !code_ok(cp->provider_id, 25))
        return failf(why, why_len, "provider_id '%.40s' cannot be Agresso's dim_4",
                     cp->provider_id),
               GL07_REFUSED;
    char amount[24];
    gl07_amount(cp->weekly_cost_pence, amount);
    size_t used = 0;
    f[0] = put(text, cap, &used, "%s%" PRIu64, c->batch_prefix, seq);
    f[1] = c->interface;
    f[2] = c->voucher_type;
    f[3] = "GL";
    f[4] = c->client;
    f[5] = c->account;
    f[6] = c->cost_centre;
    f[7] = svc;
    f[8] = cp->package_id;
    f[9] = cp->provider_id ? cp->provider_id : "";
    f[10] = c->tax_code;
    f[11] = c->currency;
    f[12] = put(text, cap, &used, "%s", amount);
    f[13] = put(text, cap, &used, "%.6s", date_ymd);
    f[14] = date_ymd;
    f[15] = put(text, cap, &used, "Care charge %.40s package %.25s case %.40s from %.10s weekly",
                cp->service_type, cp->package_id, cp->case_id ? cp->case_id : "",
                cp->start_date ? cp->start_date : "");
    f[16] = put(text, cap, &used, "joinery:%" PRIu64, seq);
    for (size_t i = 0; i < GL07_FIELDS; i++)
        if (f[i] == NULL)
            return failf(why, why_len, "the row does not fit in %zu bytes", cap), GL07_REFUSED;
    return GL07_ROW;
}
