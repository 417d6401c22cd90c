/* core.h - the state owned by the hub's one core thread, and the functions
 * the core modules (router, session, ingest, deliver) call on each other.
 *
 * Everything here is touched by the core thread only; other threads (the
 * store) receive batches by pointer and give them back. Like Redis's server
 * struct, one struct holds it all so a reader finds the whole state in one
 * place; each module owns its part of it. */
#ifndef JOINERY_CORE_H
#define JOINERY_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/config.h"
#include "master/entity.h"
#include "base/hmap.h"
#include "master/master.h"
#include "base/pbarena.h"
#include "store/journal.h"
#include "base/pbwire.h"
#include "store/store.h"

#define CORE_MAX_SESSIONS 1024
#define CORE_ROUTING_ID_MAX 256
/* A session id is its slot plus a generation, so a CONFIRM owed to a session
 * that has gone is never sent to whoever took its slot. */
#define SESSION_SLOT(id) ((id) & (CORE_MAX_SESSIONS - 1))
#define SESSION_GEN(id) ((uint32_t)(id) >> 10)

typedef struct sub sub_t;

typedef struct {
    uint64_t published, delivered, rejected;
    int64_t last_seen_us;
} adapter_stats_t;

typedef struct {
    bool active;
    uint32_t gen;
    int32_t id;
    uint8_t rid[CORE_ROUTING_ID_MAX];
    size_t rid_len;
    const config_adapter_t *adapter;
    size_t adapter_index;
    int64_t last_seen_us;
    pb_buf_t confirm; /* ConfirmEntry fields waiting to be sent */
    sub_t **subs;     /* subscriptions attached to this session */
    size_t nsubs, capsubs;
} session_t;

/* A person payload decodes into well under this; a larger one takes a block of its own. */
#define PB_ARENA_BLOCK 16384

typedef struct core {
    const config_t *cfg;
    void *ctx;
    void *router;
    void *zap;
    store_t *store;
    int signal_fd;

    /* journal */
    window_t *window;
    dedup_t *dedup;
    jbatch_t *pending;  /* gathering the next group commit */
    jbatch_t *inflight; /* with the store; only core-only fields may be touched */
    bool db_up;
    uint64_t next_seq; /* next sequence number to assign */
    uint64_t head_seq; /* highest committed */

    /* sessions */
    session_t sessions[CORE_MAX_SESSIONS];
    adapter_stats_t *adapter_stats; /* one per configured adapter */

    /* subscriptions */
    sub_t **subs;
    size_t nsubs, capsubs;
    uint64_t next_sub_id;
    struct dlv *dlv_free; /* pool of delivery records */
    struct ent *ent_free; /* pool of entity records */

    /* master data */
    master_t *master;
    entity_t *entity;  /* addresses and cases; reloaded with master */
    bool master_stale; /* a commit with master-data rows failed: reload first */
    int64_t master_retry_us;
    const char *conninfo;
    pb_buf_t derived; /* events the engine emitted for the envelope being ingested */
    size_t nderived;

    /* counters */
    uint64_t dead_letters, rejected, malformed;

    /* scratch buffers reused for every message: out for outgoing bodies,
     * env for a transient envelope being routed (it is copied into out) */
    pb_buf_t out;
    pb_buf_t env;
    pbarena_t *arena; /* decoded payloads, reset after each envelope's check */
    bool stopping;
    int64_t now_us;
} core_t;

int64_t core_now_us(void);
/* Sends [rid][command][body] on the ROUTER; drops silently if the peer is gone. */
void core_send(core_t *c, const session_t *s, const char *command, const void *body, size_t len);
/* Sends ERROR to a peer that may have no session. */
void core_send_error(core_t *c, const uint8_t *rid, size_t rid_len, int code, const char *command,
                     const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Hands the pending batch to the store if none is in flight. */
void core_dispatch(core_t *c);
/* The session with this id if it is still open, else NULL. */
session_t *core_session(core_t *c, int32_t id);

/* session.c */
session_t *session_find(core_t *c, const uint8_t *rid, size_t rid_len);
session_t *session_open(core_t *c, const uint8_t *rid, size_t rid_len,
                        const config_adapter_t *adapter);
void session_close(core_t *c, session_t *s, const char *why);
void session_add_confirm(core_t *c, session_t *s, const char *event_id, size_t id_len, int status,
                         uint64_t seq, const char *reason);
/* The same, for a journaled event whose golden record is known (STATUS 0 OK, or DUPLICATE for a
 * re-sent one). */
void session_add_confirm_master(core_t *c, session_t *s, const char *event_id, size_t id_len,
                                int status, uint64_t seq, const char *master_id, size_t master_len);
void session_flush_confirms(core_t *c, session_t *s);
void session_tick(core_t *c); /* heartbeats and expiry */
int session_attach(session_t *s, sub_t *sub);
void session_detach(session_t *s, const sub_t *sub);

/* router.c: runs the hub until SIGTERM/SIGINT; 0 on a clean stop. */
int router_run(const config_t *cfg, const char *conninfo);

/* ingest.c */
/* Rebuilds the master-data engines (persons, addresses and cases) from the
 * database (after a failed commit). */
int ingest_master_reload(core_t *c);
void ingest_publish(core_t *c, session_t *s, const uint8_t *body, size_t len);
void ingest_committed(core_t *c, jbatch_t *b);
void ingest_failed(core_t *c, jbatch_t *b);
/* Keeps refused bytes that never became an envelope (bad frames). */
void ingest_keep_refused(core_t *c, const char *adapter, const char *reason, const void *bytes,
                         size_t len);

#endif
