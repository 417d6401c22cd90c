/* admin_auth.c - see admin_auth.h. */
#include "admin/admin_auth.h"

#include <string.h>
#include <strings.h>

int admin_auth_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    /* Every byte of A is compared against B's (or a stand-in), so the time
     * tells nothing about how much of a guess was right. */
    volatile unsigned char diff = alen != blen;
    for (size_t i = 0; i < alen; i++)
        diff |= (unsigned char)a[i] ^ (unsigned char)(i < blen ? b[i] : 0);
    return diff == 0;
}

const char *admin_role_name(admin_role_t role)
{
    switch (role) {
    case ADMIN_ROLE_READ:
        return "read";
    case ADMIN_ROLE_OPERATE:
        return "operate";
    case ADMIN_ROLE_STEWARD:
        return "steward";
    }
    return "none";
}

auth_result_t admin_auth_check(const config_t *cfg, const char *header, admin_role_t need,
                               const char **who)
{
    *who = NULL;
    if (cfg->nadmin_tokens == 0) {
        *who = "local";
        return AUTH_OK;
    }
    if (!header || strncasecmp(header, "Bearer ", 7) != 0)
        return AUTH_MISSING;
    const char *tok = header + 7;
    while (*tok == ' ')
        tok++;
    size_t len = strnlen(tok, 1024);
    const config_admin_token_t *found = NULL;
    /* All tokens are compared, not just up to the match. */
    for (size_t i = 0; i < cfg->nadmin_tokens; i++) {
        const config_admin_token_t *t = &cfg->admin_tokens[i];
        if (admin_auth_equal(tok, len, t->token, strlen(t->token)))
            found = t;
    }
    if (!found)
        return AUTH_WRONG;
    *who = found->name;
    return found->role >= need ? AUTH_OK : AUTH_FORBIDDEN;
}
