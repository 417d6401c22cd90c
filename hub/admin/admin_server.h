/* admin_server.h - the admin HTTP API (docs/operations.md, "Admin API"):
 * libmicrohttpd with its own thread, bearer tokens with roles (admin_auth.h),
 * optional TLS. It never touches the core's state: live state (adapters,
 * subscriptions, the core's metrics) and the operations that change delivery
 * (replay, discard, delete a subscription) are requests to the core thread
 * over an inproc socket the core polls (admin_proto.h); dead letters are read
 * on the admin thread's own read-only PostgreSQL connection, so a large read
 * holds up neither the core nor the store's group commits. */
#ifndef JOINERY_ADMIN_SERVER_H
#define JOINERY_ADMIN_SERVER_H

#include "base/config.h"

#include <stddef.h>

typedef struct admin_server admin_server_t;

/* Listens on cfg->admin_listen and connects to the core's socket on CTX
 * (the core must have bound it). NULL with a message in ERR. */
admin_server_t *admin_server_start(const config_t *cfg, void *ctx, const char *conninfo, char *err,
                                   size_t errlen);
/* A reload installed CFG (called by the core thread; CFG stays alive until after
 * admin_server_stop): the next request is checked against its tokens. */
void admin_server_set_config(admin_server_t *s, const config_t *cfg);
/* Stops the thread and closes everything; *S becomes NULL. */
void admin_server_stop(admin_server_t **s);

#endif
