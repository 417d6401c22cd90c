/* joinery.h - the Joinery adapter SDK (libjoinery): everything a system owner needs to connect
 * a system to the Joinery hub, publish its events and receive the events it subscribed to.
 *
 * Shape of an adapter:
 *
 *     joinery_options_t o = {.endpoint = "tcp://hub:7600", .adapter = "crm", .keys_dir = "/etc/k"};
 *     char err[256];
 *     joinery_client_t *c = joinery_connect(&o, err, sizeof err);
 *     joinery_subscribe(c, "crm-main", patterns, 1, 0, on_event, NULL);
 *     joinery_event_t ev = {.type = "person.updated", .source_record_id = "C-42", ...};
 *     joinery_confirm_t cf;
 *     joinery_publish(c, &ev, &cf, 5000);
 *     while (running)
 *         joinery_poll(c, 1000);
 *     joinery_close(&c);
 *
 * Threads: a client is single-threaded and NOT thread-safe. Use each client from one thread only;
 * run one client per thread if you need several. Every callback (confirmation or event handler)
 * runs on that thread, from inside an SDK call that waits for the hub: joinery_poll,
 * joinery_publish, joinery_publish_async (when the queue is full), joinery_flush,
 * joinery_subscribe and joinery_status. Callbacks may publish (blocking or async) but must not
 * call joinery_close.
 *
 * Errors: functions return 0 (or a pointer) on success and -1 (or NULL) on failure, and then
 * joinery_last_error(c) - or the caller's err buffer where there is no client yet - says why.
 *
 * Delivery guarantees: publishing is at-least-once with idempotency. Every event carries an
 * event_id unique within its source; the SDK keeps each event until the hub has durably
 * journaled it, resending it with the SAME event_id after reconnects and RETRY answers, and the
 * hub answers a repeat with DUPLICATE. Receiving is at-least-once too; the SDK drops
 * redeliveries of events your handler already acknowledged (within the last 65536 per
 * subscription), so a handler normally sees each event once, but must tolerate a rare repeat.
 *
 * Per-record order: the events of one record (same source_record_id; same master_id for events
 * without one) reach the journal, and so subscribers, in the order they were published, also
 * when some must be resent. While an event of a record awaits a resend (after a RETRY answer,
 * a lost confirmation or a reconnect) the SDK holds newer events of that record back and
 * resends the record's events one at a time, oldest first, each after the one before it is
 * confirmed, refused or withdrawn; events of other records are not held. An event already sent
 * when the hub answered RETRY to an older one of its record cannot be recalled and may be
 * journaled first. docs/protocol.md section 4.4 gives the rule for other clients. */
#ifndef JOINERY_JOINERY_H
#define JOINERY_JOINERY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Wire protocol version spoken by this SDK (docs/protocol.md). */
#define JOINERY_PROTOCOL_VERSION 1u
/* Longest event_id the SDK accepts, in bytes. */
#define JOINERY_EVENT_ID_MAX 128u
/* Size of a buffer that holds a Z85 Curve key and its terminating NUL. */
#define JOINERY_KEY_LEN 41u

typedef struct joinery_client joinery_client_t;

typedef struct {
    /* ZeroMQ endpoint of the hub, e.g. "tcp://127.0.0.1:7600". Required. */
    const char *endpoint;
    /* This adapter's name as configured on the hub ([a-z0-9_-]{1,64}). Required. */
    const char *adapter;
    /* CurveZMQ keys, Z85 text (40 characters). Either give keys_dir, which loads
     * KEYS_DIR/ADAPTER.key and KEYS_DIR/hub.pub, or give the keys themselves; public_key may be
     * NULL and is then derived from secret_key. With no keys at all the connection is plain
     * text and the hub must run with `security.curve: false` (development only). */
    const char *keys_dir;
    const char *hub_public_key;
    const char *public_key;
    const char *secret_key;
    /* Heartbeat interval the adapter asks for; the hub decides. 0 -> 1000. */
    unsigned heartbeat_ms;
    /* Pause between reconnect attempts: starts at reconnect_min_ms and doubles up to
     * reconnect_max_ms. 0 -> 100 and 10000. */
    unsigned reconnect_min_ms;
    unsigned reconnect_max_ms;
    /* Most published events awaiting the hub's confirmation; joinery_publish_async waits for
     * room beyond this. 0 -> 10000. */
    unsigned max_unconfirmed;
    /* How long joinery_connect waits for the hub's WELCOME. 0 -> 10000; -1 -> do not wait:
     * joinery_connect returns at once and the session is set up by later joinery_poll calls. */
    int connect_timeout_ms;
} joinery_options_t;

typedef struct {
    const char *key;
    const char *value;
} joinery_attr_t;

/* An event. On publish, fill what you know and leave the rest zero/NULL; the SDK copies it, so
 * nothing needs to outlive the call. On delivery, every field is set from the hub's envelope and
 * points into memory that is valid only during the handler call. */
typedef struct {
    const char *event_id;         /* NULL on publish -> the SDK makes a ULID */
    const char *type;             /* dotted, e.g. "person.updated"; required */
    const char *source_record_id; /* the record's id in your system */
    const char *master_id;        /* golden-record id; set by the hub */
    const char *correlation_id;
    const char *causation_id;
    const char *payload_type; /* e.g. "joinery.v1.Person" or "application/json" */
    const void *payload;
    size_t payload_len;
    int64_t occurred_at_us;  /* UTC microseconds since the epoch; 0 on publish -> now */
    uint64_t base_version;   /* golden-record version last seen, 0 if unknown */
    uint32_t schema_version; /* payload schema version, 0 if unversioned */
    const joinery_attr_t *attrs;
    size_t nattrs;
    /* Filled on delivery only: */
    const char *source;     /* the adapter that published it */
    int64_t received_at_us; /* when the hub received it */
} joinery_event_t;

typedef enum {
    JOINERY_OK = 0,         /* durably journaled (or routed, for transient types) */
    JOINERY_DUPLICATE = 1,  /* journaled before under this event_id; seq is the original: success */
    JOINERY_REJECTED = 2,   /* refused for good; reason says why (also when the hub refused, with
                             * an ERROR, the PUBLISH that carried the event by itself: the SDK
                             * names each request, so an ERROR fails only the events of the
                             * request it names). Do not resend unchanged */
    JOINERY_UNCONFIRMED = 3 /* no answer: the client was closed first (async) or the wait timed
                             * out (joinery_publish). The event may or may not be journaled;
                             * publish it again with the same event_id */
} joinery_status_t;

typedef struct {
    const char *event_id;
    joinery_status_t status;
    const char *reason; /* "" unless REJECTED or UNCONFIRMED */
    uint64_t seq;       /* journal sequence number; 0 if none */
    const char *master_id;
} joinery_confirm_t;

/* Called once per joinery_publish_async event when its fate is known; c and its strings are
 * valid only during the call. */
typedef void (*joinery_confirm_fn)(void *ud, const joinery_confirm_t *c);

typedef enum {
    JOINERY_ACK = 0,    /* handled; the hub will not send it again */
    JOINERY_RETRY = 1,  /* could not handle it now; the hub redelivers it later, with backoff */
    JOINERY_REJECT = 2, /* can never handle it; the hub dead-letters it */
    JOINERY_DEFER = 3   /* the handler keeps it and settles it later with joinery_settle */
} joinery_verdict_t;

/* Handles one delivered event. seq is its journal sequence number, attempt is 1 on first
 * delivery. For RETRY and REJECT, write a short reason into reason (reason_len bytes, starts
 * empty). DEFER keeps the delivery unsettled for joinery_settle (e.g. while the event waits
 * for another system's answer); copy what you need from ev, which lives only during the call.
 * Events arrive in journal order per entity and the SDK calls the handler in arrival order. A
 * handler of a transient event type may return anything: transient events are at-most-once and
 * never acknowledged. */
typedef joinery_verdict_t (*joinery_handler_fn)(void *ud, const joinery_event_t *ev, uint64_t seq,
                                                unsigned attempt, char *reason, size_t reason_len);

/* Settles a delivery its handler answered JOINERY_DEFER: ACK, RETRY (the hub redelivers it
 * later) or REJECT (dead-lettered with REASON; NULL or "" says "rejected by handler"). Until it
 * is settled, a deferred delivery keeps its credit, so the subscription's credit bounds how many
 * a handler can hold, and the hub delivers no later event of the same entity. Returns 0, or -1
 * (joinery_last_error says why) when SUBSCRIPTION has no deferred delivery SEQ in the current
 * session - never deferred, settled already, or its session was lost meanwhile - or V is
 * JOINERY_DEFER. A lost session takes its deferred deliveries with it: the hub delivers them
 * again to the next session, with a higher attempt, and the handler sees the same seq again
 * (the SDK's de-duplication skips only events settled with ACK). So an adapter must cope with a
 * redelivery of an event it still holds: keep one copy, answer JOINERY_DEFER again, and settle
 * it once: a settle applies to the current delivery of that seq. May be called from a handler,
 * for another delivery. */
int joinery_settle(joinery_client_t *c, const char *subscription, uint64_t seq, joinery_verdict_t v,
                   const char *reason);

/* Connects and opens a session (HELLO/WELCOME), waiting up to o->connect_timeout_ms. Returns
 * NULL with a message in err when the options are wrong, the keys cannot be read, the hub
 * refuses this adapter, or no WELCOME came in time. Once connected the client reconnects by
 * itself whenever the session is lost, for as long as it lives. */
joinery_client_t *joinery_connect(const joinery_options_t *o, char *err, size_t errlen);

/* Sends pending acknowledgements and GOODBYE, then frees the client and sets *c to NULL.
 * Call joinery_flush first if you want queued events confirmed: events still unconfirmed are
 * reported to their callbacks as JOINERY_UNCONFIRMED. */
void joinery_close(joinery_client_t **c);

/* Publishes one event and waits for the hub's answer. Returns 0 when the hub answered and *out
 * says how (OK, DUPLICATE or REJECTED; strings valid until the next call on c). Returns -1 on a
 * bad event or when timeout_ms (-1: no limit) passed without an answer; the event is then
 * withdrawn and may or may not have been journaled: out->status is JOINERY_UNCONFIRMED,
 * out->reason says why, and out->event_id still names it, so publish it again with that
 * event_id to find out. RETRY answers are handled inside (resent after a
 * backoff) and never reach the caller. */
int joinery_publish(joinery_client_t *c, const joinery_event_t *ev, joinery_confirm_t *out,
                    int timeout_ms);

/* Queues one event (copied) and returns; queued events go out in batches from joinery_poll.
 * cb (may be NULL) is called once with the hub's answer. Waits inside while max_unconfirmed
 * events are unconfirmed. If event_id_out is not NULL it receives the event's id
 * (JOINERY_EVENT_ID_MAX + 1 bytes). Returns -1 for an event the hub could never take (no type,
 * too large, event_id already awaiting confirmation), while closing, or when the hub refused
 * this adapter while the call waited for room. */
int joinery_publish_async(joinery_client_t *c, const joinery_event_t *ev, joinery_confirm_fn cb,
                          void *ud, char *event_id_out);

/* Drives the client until every queued event is confirmed: 0, or -1 when timeout_ms (-1: no
 * limit) passed first. */
int joinery_flush(joinery_client_t *c, int timeout_ms);

/* Number of published events not yet confirmed. */
size_t joinery_unconfirmed(const joinery_client_t *c);

/* Opens (or resumes) the durable subscription NAME (1-64 of a-z 0-9 _ - .) to the event-type
 * patterns and calls h for each delivered event. credit is how many unacknowledged deliveries
 * the hub may have outstanding (0 -> the hub's delivery.default_credit). A new subscription
 * starts after the newest journaled event; an existing one resumes after the last event it
 * acknowledged. If a session is open, waits for the hub's answer: -1 if the hub refused (a
 * pattern this adapter may not subscribe to); 0 once subscribed, or when no session is open
 * (or the hub is slow to answer), in which case it is subscribed as soon as one is. After
 * every reconnect the SDK subscribes again by itself. Patterns: dot-separated segments; "*"
 * matches one segment, and a trailing "*" matches one or more ("person.*", "case.*.created",
 * "*"). */
int joinery_subscribe(joinery_client_t *c, const char *name, const char *const *patterns,
                      size_t npatterns, unsigned credit, joinery_handler_fn h, void *ud);

/* The same with every option, for options joinery_subscribe leaves at their defaults. */
typedef struct {
    const char *name;
    const char *const *patterns;
    size_t npatterns;
    unsigned credit;
    /* A new subscription starts from the oldest event still in the journal instead of after
     * the newest (no effect on a subscription that already exists). */
    int from_beginning;
    joinery_handler_fn handler;
    void *ud;
} joinery_subscription_t;
int joinery_subscribe_with(joinery_client_t *c, const joinery_subscription_t *s);

/* Does the client's work - reads from the hub, calls handlers and confirmation callbacks, sends
 * batched events and acknowledgements, heartbeats, reconnects - waiting up to timeout_ms (-1:
 * no limit) for the hub to say something. Returns the number of hub messages handled (0 on
 * timeout or when a signal interrupted the wait), or -1 when the hub refused this adapter, or
 * one of its subscriptions when subscribing again after a reconnect (joinery_last_error says
 * why and names the subscription; the client keeps trying, so you may poll on or give up). */
int joinery_poll(joinery_client_t *c, int timeout_ms);

/* A file descriptor for another event loop (ZeroMQ's ZMQ_FD: edge-triggered, may be readable
 * with nothing to read). When it is readable, and at least every joinery_timeout_ms(c), call
 * joinery_poll(c, 0). The descriptor changes on reconnect: fetch it again after every poll.
 * -1 while disconnected. */
int joinery_fd(joinery_client_t *c);
/* Milliseconds until the client next needs joinery_poll for timers (heartbeats, resends). */
int joinery_timeout_ms(joinery_client_t *c);

/* 1 while a session with the hub is open, else 0. */
int joinery_connected(const joinery_client_t *c);

/* Asks the hub for its status (operator adapters only) and returns it as JSON text in
 * *json_out (caller frees with free()). */
int joinery_status(joinery_client_t *c, char **json_out, int timeout_ms);

/* Why the last call on c failed. Never NULL. */
const char *joinery_last_error(const joinery_client_t *c);

/* Writes a new ULID (26 characters, Crockford base32, sortable by creation time) and its NUL
 * into out. Ids from one thread are strictly increasing. */
void joinery_event_id_new(char out[27]);

/* Makes a Curve key pair: DIR/NAME.key (secret, mode 0600) and DIR/NAME.pub, each one Z85 key
 * and a newline. Refuses to overwrite an existing key. The hub's own pair is made the same way
 * with NAME "hub". */
int joinery_keygen(const char *dir, const char *name, char *err, size_t errlen);
/* Reads a key file written by joinery_keygen into out (40 characters and NUL). */
int joinery_key_read(const char *path, char out[JOINERY_KEY_LEN], char *err, size_t errlen);
/* Derives the public key that belongs to a secret key. */
int joinery_key_public(const char *secret_key, char out[JOINERY_KEY_LEN], char *err, size_t errlen);

/* A payload of one of the hub's schema messages (payload_type "joinery.v1.Person",
 * "joinery.v1.PersonChanged", ...: schemas/joinery/v1) as compact JSON text: fields by their
 * proto names, fields at their default left out, enums by name, bytes in base64. NULL when the
 * type is not one of them or the bytes do not parse as it (then show them some other way).
 * Caller frees with free(). */
char *joinery_payload_json(const char *payload_type, const void *payload, size_t len);

/* The SDK's version, e.g. "0.1.0". */
const char *joinery_version(void);

#ifdef __cplusplus
}
#endif

#endif
