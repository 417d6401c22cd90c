/* core.h - the state owned by the hub's one core thread, and core.c, the
 * part of the core every module may call: making and freeing the core,
 * sending to adapters (core_send, core_send_error, the CONFIRMs gathered per
 * session), the session table, and handing the pending batch to the store.
 *
 * Everything here is touched by the core thread only; other threads (the
 * store) receive batches and jobs by pointer and give them back. Like Redis's
 * server struct, one struct holds it all so a reader finds the whole state in
 * one place; each module owns its part of it.
 *
 * The modules above core.c (hub/README.md, "Files of the core thread"):
 *   router.c   the poll loop and message dispatch; the only module that calls
 *              the others (router.h)
 *   session.c  HELLO's session, heartbeats, expiry (session.h)
 *   ingest.c   PUBLISH, CONFIRM after commit (ingest.h); ingest_master.c
 *              puts the master-data engine on that path (ingest_master.h)
 *   deliver.c  subscriptions (deliver.h)
 * Each of them calls core.c and its own header; none calls another's. */
#ifndef JOINERY_CORE_H
#define JOINERY_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/config.h"
#include "base/hmap.h"
#include "base/pbarena.h"
#include "base/pbwire.h"
#include "dbstate.h"
#include "master/entity.h"
#include "master/master.h"
#include "store/journal.h"
#include "store/store.h"

#define CORE_MAX_SESSIONS 1024
#define CORE_ROUTING_ID_MAX 256
/* A session id is its slot plus a generation, so a CONFIRM owed to a session
 * that has gone is never sent to whoever took its slot. */
#define SESSION_SLOT(id) ((id) & (CORE_MAX_SESSIONS - 1))
#define SESSION_GEN(id) ((uint32_t)(id) >> 10)
#define DEDUP_CAPACITY (512u * 1024)

typedef struct sub sub_t;

/* A transient event of the message being handled: ingest.c notes it, and
 * deliver.c routes it once the router has dispatched the message, before the
 * message is released. The envelope is not copied: it stays in the message;
 * the hub's fields to append to it are. */
typedef struct {
    const char *type;
    const uint8_t *env;
    uint32_t env_len, type_len;
    uint16_t extra_len;
    uint8_t extra[160];
} transient_t;

typedef struct {
    uint64_t published, delivered, rejected;
    int64_t last_seen_us;
    /* Refused input (ingest.c's quota; the entry after the last adapter is
     * '', input refused before HELLO): kept today, and not kept for the
     * quota since the hub started, of which some not yet counted in
     * rejected_dropped and some not yet logged. */
    uint64_t refused_bytes, refused_rows;
    uint64_t refusals_dropped, refusals_unsaved, refusals_unlogged;
} adapter_stats_t;

/* One source of log lines that a client can trigger at will (a refused
 * HELLO): at most one line per interval, and how many were left out. */
typedef struct {
    int64_t last_us;
    uint64_t suppressed;
} log_limit_t;

typedef struct {
    bool active;
    uint32_t gen;
    int32_t id;
    uint8_t rid[CORE_ROUTING_ID_MAX];
    size_t rid_len;
    const config_adapter_t *adapter;
    size_t adapter_index;
    int64_t last_seen_us;
    pb_buf_t confirm; /* ConfirmEntry fields waiting to be sent (core_confirm) */
    sub_t **subs;     /* subscriptions attached to this session (deliver.c's) */
    size_t nsubs, capsubs;
} session_t;

/* A CONFIRM owed once a commit's outcome is known, for a publish that is not
 * an entry of that batch: a refusal (kept as a rejected_event row) or a
 * re-send of an event still on its way to the journal. */
typedef struct {
    int32_t session;
    uint8_t status; /* ConfirmStatus */
    uint64_t seq;
    char event_id[129];
    char reason[256];
    char master_id[MASTER_ID_MAX]; /* "" or the golden record a re-sent entity event resolved to */
} owed_t;

typedef struct {
    owed_t *v;
    size_t n, cap;
} owed_list_t;

/* What the core keeps of a group commit. The batch itself (jbatch_t: the
 * events and rows the store writes) passes to the store thread with
 * store_submit and comes back with store_receive; in between the core holds
 * no pointer to it, so it cannot touch it. What the core adds to a commit
 * while it is away (a re-send's CONFIRM) goes here, in memory the store never
 * sees. */
typedef struct {
    bool away;        /* with the store thread */
    owed_list_t owed; /* CONFIRMs to send when it comes back */
    int64_t sent_us;  /* when it was handed over (the commit latency metric) */
} commit_t;

/* A Prometheus histogram kept by the core: counts per bucket (the last is
 * +Inf), their sum; observed once per commit, never per event. */
#define CORE_HIST_BUCKETS 12
typedef struct {
    uint64_t counts[CORE_HIST_BUCKETS];
    double sum;
    uint64_t count;
} core_hist_t;

/* Events confirmed and rejected per (adapter, type), for the admin API's
 * metrics: an open-addressed table of fixed size, so a count is a hash and a
 * compare on the core thread, and a type is copied once, when first seen. A
 * full table (a sender of endless new types) counts new pairs only in
 * types_untracked; the per-adapter totals stay exact. */
#define CORE_TYPE_SLOTS 1024
#define CORE_TYPE_MAX_FILL 768
typedef struct {
    char *type; /* NULL: free; owned */
    uint32_t adapter;
    uint64_t hash;
    uint64_t confirmed, rejected;
} type_count_t;

/* Per adapter, published and delivered counts a second apart over the last
 * CORE_RATE_SECONDS, for events/s each way (sampled once a second). */
#define CORE_RATE_SECONDS 10

/* A person payload decodes into well under this; a larger one takes a block of its own. */
#define PB_ARENA_BLOCK 16384

/* Master-data decisions by entity and audit action, for /metrics: written and read only by
 * ingest_master.c on the core thread (see there for how they stay exact). */
#define MASTER_DEC_ENTITIES 3 /* person, address, case */
#define MASTER_DEC_ACTIONS 12 /* ingest_master.c's action_names */
typedef uint64_t master_decision_counts_t[MASTER_DEC_ENTITIES][MASTER_DEC_ACTIONS];
typedef struct {
    master_decision_counts_t made;    /* decided by this process, as the rows went into batches */
    master_decision_counts_t base;    /* the database's count at the last snapshot */
    master_decision_counts_t made_at; /* made[] when that snapshot's job was handed over */
    bool started;                     /* the first snapshot has been wanted */
    bool known;                       /* a snapshot came back */
    bool wanted;                      /* a snapshot is needed (start, a failed commit) */
    bool asked;                       /* a snapshot job is with the store */
    int64_t retry_us;                 /* no snapshot job before this (after one failed) */
    const row_desc_t *audit;          /* master_audit's row descriptor, once seen */
    int action_col, detail_col;       /* its columns */
} master_decisions_t;

typedef struct core {
    /* The configuration in force. Ownership (see hub/reload.c): the one the hub started with is
     * main()'s; each one a reload installs is the core's, in cfg_owned, and so is every one it
     * replaced: nothing is freed before core_destroy, because others still point into them (a
     * session's adapter until the swap re-points it, the master-data engine's own cfg, a
     * partner's link, the admin thread until it is told). A configuration is a few kilobytes and
     * reloads are an operator's act. Only the core thread reads or swaps this pointer; the admin
     * thread gets its own copy of it (admin_server_set_config). */
    const config_t *cfg;
    config_t **cfg_owned;
    size_t ncfg_owned;
    struct admin_server *admin_server; /* the admin API's thread, to tell it of a reload, or NULL */
    void *ctx;
    void *router;
    void *zap;
    store_t *store;
    int signal_fd;

    /* journal */
    window_t *window;
    dedup_t *dedup;
    jbatch_t *pending;        /* gathering the next group commit */
    owed_list_t pending_owed; /* CONFIRMs owed when it commits */
    commit_t inflight;        /* the commit with the store, if any */
    bool db_up;        /* connected: the store has a connection (see db for commits failing) */
    dbstate_t db;      /* up, down or failing, and when to try a commit again */
    uint64_t next_seq; /* next sequence number to assign */
    uint64_t head_seq; /* highest committed */

    /* sessions (the table is core.c's; session.c opens and closes them) */
    session_t sessions[CORE_MAX_SESSIONS];
    /* One per configured adapter (indexed by its slot in cfg->adapters, which a reload never
     * changes: config_keep_slots) and the last for input refused before HELLO; grown by a
     * reload that adds adapters. */
    adapter_stats_t *adapter_stats;

    /* subscriptions (deliver.c's) */
    sub_t **subs;
    size_t nsubs, capsubs;
    uint64_t next_sub_id;
    struct dlv *dlv_free; /* pool of delivery records */
    struct ent *ent_free; /* pool of entity records */
    /* transient events of the message being handled (see transient_t) */
    transient_t *transient;
    size_t ntransient, captransient;

    /* master data (ingest_master.c's) */
    master_t *master;
    entity_t *entity;        /* addresses and cases; reloaded with master */
    bool master_stale;       /* a commit with master-data rows failed: reload first */
    bool master_reloading;   /* a reload is with the store thread */
    uint64_t master_epoch;   /* counts the times the engines went stale */
    int64_t master_retry_us; /* no reload before this (after one failed) */
    pb_buf_t derived;        /* events the engine emitted for the envelope being ingested */
    size_t nderived;

    /* counters; dead_letters and rejected start from the database's counts */
    uint64_t dead_letters, rejected, malformed;
    uint64_t dead_lettered, replayed, discarded; /* since the hub started */

    /* the admin API's end (hub/admin/admin_core.c's): its inproc socket, the
     * request waiting for a store job (0: none), what the metrics show */
    void *admin;
    uint64_t admin_waiting;
    bool replays_done; /* some subscription has settled replays to record */
    bool admin_job_away;
    int64_t admin_retry_us; /* no settled replays recorded before this (after a failure) */
    core_hist_t commit_latency, batch_size;
    type_count_t *types; /* CORE_TYPE_SLOTS */
    size_t ntypes;
    uint64_t types_untracked;
    uint64_t (*rate_samples)[2]; /* [adapter * (CORE_RATE_SECONDS + 1) + i][published, delivered] */
    unsigned rate_pos;
    int64_t rate_next_us;

    /* refused input's daily quota and expiry (ingest.c's) */
    int64_t refusals_day;                         /* UTC day the counts are for */
    uint64_t refused_bytes_day, refused_rows_day; /* kept today, all adapters */
    int64_t refusals_next_job_us, refusals_next_log_us;
    bool refusals_job_away; /* the expiry job is with the store */

    /* The request being handled: the router reads them from the message
     * before it dispatches it and clears them after, and core_send_error puts
     * them in every ERROR meanwhile, so no handler has to pass them on.
     * request_sub points into the message (SUBSCRIBE, ACK, NACK, CREDIT). */
    uint64_t request_id;
    const char *request_sub;
    size_t request_sub_len;
    /* refused HELLOs logged, per Curve key's adapter; the last for no key */
    log_limit_t *hello_refusals;
    log_limit_t zap_refusals; /* connections with keys no adapter has */

    /* scratch buffers reused for every message: out for outgoing bodies,
     * env for an envelope being built (it is copied into a batch) */
    pb_buf_t out;
    pb_buf_t env;
    pbarena_t *arena; /* decoded payloads, reset after each envelope's check */
    bool stopping;
    int64_t now_us;

    struct partner_core *partner; /* partners over Kafka (partner/partner_core.c), or NULL */
    master_decisions_t decisions;
} core_t;

int64_t core_now_us(void);

/* The core with its window, dedup table and first pending batch; the rest
 * (sockets, store, engines) is filled in by the router as it starts. */
core_t *core_new(const config_t *cfg);
/* Frees what core_new and the router's start put in: stops the store thread
 * first. Sessions must have been closed (session_close) and subscriptions
 * freed (deliver_destroy_all) before. */
void core_destroy(core_t **c);

/* Sends [rid][command][body] on the ROUTER without waiting. -1: not queued (the peer is gone, or
 * its send queue is full); most callers may ignore it, since a session that cannot be written to
 * expires, but a DELIVER must not be lost. */
int core_send(core_t *c, const session_t *s, const char *command, const void *body, size_t len);
/* Sends ERROR to a peer that may have no session. Client bytes in the reason
 * are escaped (text_clean, base/text.h); the request's id and subscription, if the
 * router noted them, go with it. */
void core_send_error(core_t *c, const uint8_t *rid, size_t rid_len, int code, const char *command,
                     const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* The session with this id if it is still open, else NULL. */
session_t *core_session(core_t *c, int32_t id);
/* The open session on this routing id, or NULL. */
session_t *core_session_find(core_t *c, const uint8_t *rid, size_t rid_len);

/* One ConfirmEntry for S, sent with the others gathered in this turn (one
 * CONFIRM per session per turn). Its strings are escaped where they are not
 * valid UTF-8 (a refused event's id, a reason quoting the envelope). */
void core_confirm(core_t *c, session_t *s, const char *event_id, size_t id_len, int status,
                  uint64_t seq, const char *reason);
/* The same, for a journaled event whose golden record is known (STATUS 0 OK, or DUPLICATE for a
 * re-sent one). */
void core_confirm_master(core_t *c, session_t *s, const char *event_id, size_t id_len, int status,
                         uint64_t seq, const char *master_id, size_t master_len);
/* The same with a REASON (may be NULL): an entity event kept without some of its fields says
 * which ("kept; dropped birth_date: ..."). */
void core_confirm_master_note(core_t *c, session_t *s, const char *event_id, size_t id_len,
                              int status, uint64_t seq, const char *master_id, size_t master_len,
                              const char *reason);
/* Sends S's gathered CONFIRM entries. */
void core_flush_confirms(core_t *c, session_t *s);

/* Counts one event of TYPE from adapter ADAPTER (its index) as confirmed or
 * rejected, per type (core_t.types). */
void core_count_type(core_t *c, size_t adapter, const char *type, size_t len, bool confirmed);

/* Hands the pending batch to the store if none is in flight. */
void core_dispatch(core_t *c);
/* Is there nothing to commit? */
bool core_pending_empty(const core_t *c);

#endif
