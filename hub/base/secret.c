/* secret.c - see secret.h. */
#include "base/secret.h"

#include "base/err.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define PUB_SUFFIX ".pub"
#define KEY_SUFFIX ".key"
#define LINE_MAX_LEN 4096
#define PASSWORD_WORD "password"

/* Group or others may read it: whoever they are, the secret is theirs too. */
#define READABLE_BY_OTHERS (S_IRGRP | S_IROTH)

int secret_check_private(int fd, const char *what, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return err_set(err, errlen, "cannot stat %s '%s'", what, path);
    if ((st.st_mode & READABLE_BY_OTHERS) == 0)
        return 0;
    return err_set(err, errlen,
                   "%s '%s' is readable by group or others (mode %04o): it holds a secret key; "
                   "chmod 600 %s",
                   what, path, (unsigned)(st.st_mode & 07777), path);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void trim_end(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
}

/* The NAME.pub beside PATH (NAME.key or NAME): malloc'd, NULL when out of memory. */
static char *sibling_pub(const char *path)
{
    size_t n = strlen(path);
    if (ends_with(path, KEY_SUFFIX))
        n -= strlen(KEY_SUFFIX);
    size_t len = n + strlen(PUB_SUFFIX) + 1;
    char *out = malloc(len);
    if (out != NULL)
        (void)snprintf(out, len, "%.*s%s", (int)n, path, PUB_SUFFIX);
    return out;
}

static bool first_line_is(const char *path, const char *want)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return false;
    char line[128] = "";
    bool same = fgets(line, sizeof line, f) != NULL;
    (void)fclose(f);
    trim_end(line);
    return same && strcmp(line, want) == 0;
}

bool secret_is_public_key_file(const char *path, const char *key)
{
    if (ends_with(path, PUB_SUFFIX))
        return true;
    char *pub = sibling_pub(path);
    bool same = pub != NULL && first_line_is(pub, key);
    free(pub);
    return same;
}

/* "password" then '=' (a conninfo) or ':' (a YAML key), outside a comment. */
static bool names_password(const char *line)
{
    const char *p = line + strspn(line, " \t");
    if (*p == '#')
        return false;
    size_t wl = strlen(PASSWORD_WORD);
    for (; *p != '\0'; p++) {
        if (strncasecmp(p, PASSWORD_WORD, wl) != 0)
            continue;
        const char *q = p + wl;
        q += strspn(q, " \t");
        if (*q == '=' || *q == ':')
            return true;
    }
    return false;
}

bool secret_config_exposes_password(const char *path, mode_t *mode)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return false;
    struct stat st;
    bool exposed = false;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & READABLE_BY_OTHERS) != 0) {
        *mode = st.st_mode & 07777;
        char line[LINE_MAX_LEN];
        while (!exposed && fgets(line, sizeof line, f) != NULL)
            exposed = names_password(line);
    }
    (void)fclose(f);
    return exposed;
}
