/* agresso_inbound.h - joinery-agresso's inbound side: customer-master CSV exports dropped into a
 * directory, as person.updated events.
 *
 * The directory is watched (adapter_watch: a file is taken only when it is complete). One file at
 * a time, read whole: its SHA-256 is looked up in the ledger (DIR/.joinery-ledger, one line per
 * file applied: checksum, name, counts, time); a file applied before - same name, same checksum -
 * is moved to done/ without publishing anything. Otherwise the header must name the customer
 * columns (docs/adapters.md), or the file goes to failed/ with a report saying why. Each good row
 * is published as person.updated with the customer id as source_record_id and the event id
 * "agr-" + the file's checksum + "-" + its line, so a file read again after a crash republishes
 * the same ids and the hub answers DUPLICATE: nothing is applied twice. A row the reader or the
 * mapping refuses, or the hub REJECTs, goes into done/NAME.errors.csv (line, column, reason, the
 * row as written). When every published row is confirmed (OK or DUPLICATE), the report is
 * written, the ledger appended (fsync) and the file moved to done/.
 *
 * Rows are published as the SDK has room, a bounded number per loop turn, so the loop keeps
 * serving the hub's deliveries and signals while a large file goes through. Memory per file: the
 * file, and one small record per published row (for the error report). */
#ifndef JOINERY_AGRESSO_INBOUND_H
#define JOINERY_AGRESSO_INBOUND_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include <joinery/joinery.h>

typedef struct {
    const char *dir, *done_dir, *failed_dir;
    char delimiter;
    unsigned stable_ms, rescan_ms;
    size_t max_file_bytes;
    size_t max_in_flight; /* rows published and not yet confirmed */
} agresso_inbound_opts_t;

typedef struct {
    uint64_t files_done, files_failed, files_again, rows_taken, rows_refused;
} agresso_inbound_counters_t;

typedef struct agresso_inbound agresso_inbound_t;

/* Opens the directories (done/ and failed/ are made if missing) and starts watching. C is the
 * SDK client (borrowed). NULL and ERR on failure. */
agresso_inbound_t *agresso_inbound_new(const agresso_inbound_opts_t *o, joinery_client_t *c,
                                       char *err, size_t errlen);
void agresso_inbound_destroy(agresso_inbound_t **in);

/* The poll set (the watcher's descriptor) into FDS (CAP >= 1); how many. */
size_t agresso_inbound_fds(agresso_inbound_t *in, struct pollfd *fds, size_t cap);
/* How long the loop may wait: 0 while rows are ready to publish. */
int agresso_inbound_timeout_ms(const agresso_inbound_t *in);
/* After each poll: notices files, publishes rows, finishes a file whose rows are all answered. */
void agresso_inbound_handle(agresso_inbound_t *in);
/* Takes no new file and publishes no more rows (a stop); answers still count. */
void agresso_inbound_quiesce(agresso_inbound_t *in);
/* Rows published and not yet answered. */
size_t agresso_inbound_in_flight(const agresso_inbound_t *in);

const agresso_inbound_counters_t *agresso_inbound_counters(const agresso_inbound_t *in);

#endif
