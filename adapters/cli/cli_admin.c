/* cli_admin.c - see cli_admin.h. */
#include "cli_admin.h"

#include "cli_common.h"

#include <curl/curl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ANSWER_MAX (64u << 20) /* a trace or a list is far smaller; a runaway answer is cut */
#define TOKEN_MAX 1024

void cli_admin_init(cli_admin_t *a)
{
    a->url = getenv("JOINERY_ADMIN");
    if (a->url != NULL && a->url[0] == '\0') {
        a->url = NULL;
    }
    a->token_file = getenv("JOINERY_ADMIN_TOKEN_FILE");
    if (a->token_file != NULL && a->token_file[0] == '\0') {
        a->token_file = NULL;
    }
    a->json = 0;
}

int cli_admin_option(cli_admin_t *a, int opt, const char *arg)
{
    switch (opt) {
    case CLI_ADMIN_OPT_URL:
        a->url = arg;
        return 1;
    case CLI_ADMIN_OPT_TOKEN:
        a->token_file = arg;
        return 1;
    case CLI_ADMIN_OPT_JSON:
        a->json = 1;
        return 1;
    default:
        return 0;
    }
}

typedef struct {
    char *p;
    size_t len;
    int too_big;
} answer_t;

static size_t on_data(char *data, size_t size, size_t n, void *cls)
{
    answer_t *b = cls;
    size_t add = size * n;
    if (b->len + add > ANSWER_MAX) {
        b->too_big = 1;
        return 0; /* ends the transfer */
    }
    char *p = realloc(b->p, b->len + add + 1);
    if (p == NULL) {
        return 0;
    }
    memcpy(p + b->len, data, add);
    b->p = p;
    b->len += add;
    b->p[b->len] = '\0';
    return add;
}

/* "Authorization: Bearer <the file's first line>" into OUT; -1 with a message if unreadable. */
static int auth_header(const char *file, char *out, size_t len)
{
    size_t n = 0;
    char *tok = cli_read_all(file, TOKEN_MAX, &n);
    if (tok == NULL) {
        return -1; /* cli_read_all said why, naming the file */
    }
    tok[strcspn(tok, "\r\n")] = '\0';
    int w = snprintf(out, len, "Authorization: Bearer %s", tok);
    explicit_bzero(tok, n);
    free(tok);
    if (w < 0 || (size_t)w >= len || strlen(out) == strlen("Authorization: Bearer ")) {
        fprintf(stderr, "joinery: %s holds no token\n", file);
        return -1;
    }
    return 0;
}

/* The API's reason, or the body's start. */
static void say_failure(const char *method, const char *url, long status, const answer_t *b)
{
    json_t *j = b->p != NULL ? json_loads(b->p, 0, NULL) : NULL;
    const char *why = json_string_value(json_object_get(j, "error"));
    fprintf(stderr, "joinery: %s %s: HTTP %ld: %.300s\n", method, url, status,
            why != NULL ? why : (b->p != NULL ? b->p : "(no answer)"));
    json_decref(j);
}

/* Runs the transfer. QUIET: nothing printed, *STATUS gets the HTTP status (0: no answer) and
 * ERR what went wrong; otherwise what went wrong is printed to stderr. */
static json_t *perform(CURL *h, const char *method, const char *url, int quiet, long *status,
                       char *err, size_t errlen)
{
    answer_t b = {NULL, 0, 0};
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(h);
    *status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    json_t *j = NULL;
    if (rc != CURLE_OK) {
        *status = 0;
        (void)snprintf(err, errlen, "%s %s: %s", method, url,
                       b.too_big ? "the answer is larger than 64 MiB" : curl_easy_strerror(rc));
    } else if (*status < 200 || *status > 299) {
        if (!quiet) {
            say_failure(method, url, *status, &b);
        } else {
            json_t *e = b.p != NULL ? json_loads(b.p, 0, NULL) : NULL;
            const char *why = json_string_value(json_object_get(e, "error"));
            (void)snprintf(err, errlen, "%s %s: HTTP %ld: %.300s", method, url, *status,
                           why != NULL ? why : (b.p != NULL ? b.p : "(no answer)"));
            json_decref(e);
        }
        free(b.p);
        return NULL;
    } else if ((j = b.p != NULL ? json_loads(b.p, JSON_DECODE_ANY, NULL) : NULL) == NULL) {
        (void)snprintf(err, errlen, "%s %s: the answer is not JSON", method, url);
    }
    if (j == NULL && !quiet) {
        fprintf(stderr, "joinery: %s\n", err);
    }
    free(b.p);
    return j;
}

/* cli_admin_call and cli_admin_request: QUIET says whether failures are printed or left in
 * ERR. */
static json_t *call(const cli_admin_t *a, const char *method, const char *path, const json_t *body,
                    int quiet, long *status, char *err, size_t errlen)
{
    *status = 0;
    if (a->url == NULL) {
        (void)snprintf(err, errlen,
                       "where is the hub's admin API? Give --admin URL or set "
                       "JOINERY_ADMIN (e.g. http://127.0.0.1:7680)");
        if (!quiet) {
            fprintf(stderr, "joinery: %s\n", err);
        }
        return NULL;
    }
    char auth[TOKEN_MAX + 32];
    if (a->token_file != NULL && auth_header(a->token_file, auth, sizeof auth) < 0) {
        (void)snprintf(err, errlen, "no usable token in %s", a->token_file);
        return NULL;
    }
    size_t ul = strlen(a->url);
    int slash = ul > 0 && a->url[ul - 1] == '/';
    char *url = malloc(ul + strlen(path) + 1);
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    CURL *h = curl_easy_init();
    struct curl_slist *hdr = NULL;
    json_t *j = NULL;
    if (url == NULL || h == NULL || (body != NULL && text == NULL)) {
        (void)snprintf(err, errlen, "out of memory");
        if (!quiet) {
            fprintf(stderr, "joinery: %s\n", err);
        }
        goto out;
    }
    (void)snprintf(url, ul + strlen(path) + 1, "%.*s%s", (int)(ul - (size_t)slash), a->url, path);
    if (a->token_file != NULL) {
        hdr = curl_slist_append(hdr, auth);
    }
    if (text != NULL) {
        hdr = curl_slist_append(hdr, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    j = perform(h, method, url, quiet, status, err, errlen);
out:
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    explicit_bzero(auth, sizeof auth);
    free(text);
    free(url);
    return j;
}

json_t *cli_admin_call(const cli_admin_t *a, const char *method, const char *path,
                       const json_t *body)
{
    char err[512];
    long status;
    return call(a, method, path, body, 0, &status, err, sizeof err);
}

json_t *cli_admin_request(const cli_admin_t *a, const char *method, const char *path,
                          const json_t *body, long *status, char *err, size_t errlen)
{
    return call(a, method, path, body, 1, status, err, errlen);
}

char *cli_admin_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(n * 3 + 1), *o = out;
    if (out == NULL) {
        return NULL;
    }
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

int cli_admin_print_json(const json_t *j)
{
    if (json_dumpf(j, stdout, JSON_INDENT(2)) != 0) {
        return CLI_FAIL;
    }
    putchar('\n');
    return CLI_OK;
}

const char *cli_admin_time(json_int_t us, char *out, size_t len)
{
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    if (us <= 0 || gmtime_r(&t, &tm) == NULL || strftime(out, len, "%Y-%m-%d %H:%M:%S", &tm) == 0) {
        (void)snprintf(out, len, "?");
    }
    return out;
}
