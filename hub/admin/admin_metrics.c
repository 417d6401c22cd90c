/* admin_metrics.c - see admin_metrics.h. */
#include "admin/admin_metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reserve(metrics_t *m, size_t more)
{
    if (m->failed)
        return -1;
    if (m->len + more + 1 <= m->cap)
        return 0;
    size_t ncap = m->cap ? m->cap : 4096;
    while (ncap < m->len + more + 1)
        ncap *= 2;
    char *n = realloc(m->data, ncap);
    if (!n) {
        m->failed = 1;
        return -1;
    }
    m->data = n;
    m->cap = ncap;
    return 0;
}

void metrics_append(metrics_t *m, const char *text, size_t len)
{
    if (reserve(m, len) < 0)
        return;
    memcpy(m->data + m->len, text, len);
    m->len += len;
    m->data[m->len] = '\0';
}

static void put(metrics_t *m, const char *s)
{
    metrics_append(m, s, strlen(s));
}

static void putf(metrics_t *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(metrics_t *m, const char *fmt, ...)
{
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0)
        metrics_append(m, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* HELP text escapes backslash and newline; a label value also the quote. */
static void escaped(metrics_t *m, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            put(m, "\\\\");
        else if (*s == '\n')
            put(m, "\\n");
        else if (quote && *s == '"')
            put(m, "\\\"");
        else
            metrics_append(m, s, 1);
    }
}

void metrics_family(metrics_t *m, const char *name, const char *type, const char *help)
{
    putf(m, "# HELP %s ", name);
    escaped(m, help, 0);
    putf(m, "\n# TYPE %s %s\n", name, type);
}

static void labels_out(metrics_t *m, const char *const *labels, size_t nlabels, const char *le)
{
    if (nlabels == 0 && !le)
        return;
    put(m, "{");
    for (size_t i = 0; i < nlabels; i++) {
        putf(m, "%s%s=\"", i ? "," : "", labels[2 * i]);
        escaped(m, labels[2 * i + 1], 1);
        put(m, "\"");
    }
    if (le)
        putf(m, "%sle=\"%s\"", nlabels ? "," : "", le);
    put(m, "}");
}

/* Integers as integers (counters are), anything else with enough digits. */
static void value_out(metrics_t *m, double v)
{
    if (isnan(v))
        put(m, " NaN\n");
    else if (isinf(v))
        put(m, v > 0 ? " +Inf\n" : " -Inf\n");
    else if (v == floor(v) && fabs(v) < 9e15)
        putf(m, " %.0f\n", v);
    else
        putf(m, " %.9g\n", v);
}

void metrics_sample(metrics_t *m, const char *name, const char *const *labels, size_t nlabels,
                    double value)
{
    put(m, name);
    labels_out(m, labels, nlabels, NULL);
    value_out(m, value);
}

void metrics_histogram(metrics_t *m, const char *name, const char *const *labels, size_t nlabels,
                       const double *bounds, size_t nbounds, const uint64_t *counts, double sum)
{
    uint64_t total = 0;
    char le[48];
    for (size_t i = 0; i <= nbounds; i++) {
        total += counts[i];
        if (i < nbounds)
            snprintf(le, sizeof le, "%.9g", bounds[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        putf(m, "%s_bucket", name);
        labels_out(m, labels, nlabels, le);
        value_out(m, (double)total);
    }
    putf(m, "%s_sum", name);
    labels_out(m, labels, nlabels, NULL);
    value_out(m, sum);
    putf(m, "%s_count", name);
    labels_out(m, labels, nlabels, NULL);
    value_out(m, (double)total);
}

void metrics_free(metrics_t *m)
{
    free(m->data);
    m->data = NULL;
    m->len = m->cap = 0;
    m->failed = 0;
}
