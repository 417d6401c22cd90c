/* admin_auth.h - who may call the admin API: a bearer token from the
 * configuration (admin.tokens), compared in constant time, and its role
 * against the role an endpoint needs. */
#ifndef JOINERY_ADMIN_AUTH_H
#define JOINERY_ADMIN_AUTH_H

#include "base/config.h"

#include <stddef.h>

typedef enum {
    AUTH_OK = 0,
    AUTH_MISSING,   /* no Authorization: Bearer header: 401 */
    AUTH_WRONG,     /* no such token: 401 */
    AUTH_FORBIDDEN, /* a token whose role is too weak: 403 */
} auth_result_t;

/* Checks the Authorization header's value HEADER (may be NULL) against
 * CFG's tokens for an endpoint needing NEED. With no tokens configured (only
 * allowed on loopback) every caller is taken to hold every role: the
 * machine's own users are trusted, as with the private cluster's socket.
 * *WHO is the token's name ("local" without tokens) on AUTH_OK and
 * AUTH_FORBIDDEN. */
auth_result_t admin_auth_check(const config_t *cfg, const char *header, admin_role_t need,
                               const char **who);
/* Equal in time that depends on the lengths only, not on where they differ. */
int admin_auth_equal(const char *a, size_t alen, const char *b, size_t blen);
const char *admin_role_name(admin_role_t role);

#endif
