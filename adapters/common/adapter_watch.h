/* adapter_watch.h - an inbound directory watched for files that are complete.
 *
 * Systems such as Agresso hand data over as files dropped into a directory. A file must not be
 * read while it is still being written, so a file is COMPLETE when:
 *
 *   1. it was closed after writing (inotify IN_CLOSE_WRITE) or moved in (IN_MOVED_TO), or was
 *      found by a rescan and no process has it open for writing (a read lease can be taken on
 *      it; where leases cannot be used - a file of another user, a network file system - the
 *      rule is the next one alone), and
 *   2. its size and modification time were the same at two checks STABLE_MS apart.
 *
 * The directory is rescanned at start (files dropped while the adapter was down), every
 * RESCAN_MS, and when inotify says its queue overflowed, so a lost notification delays a file
 * but never loses it. Names that begin with '.' or end with ".tmp" or ".part" are never taken:
 * they are how writers name a file they have not finished (and where adapters keep their own
 * state). Only regular files directly in the directory count.
 *
 * A complete file is handed out once (adapter_watch_next) and then left alone until the caller
 * says it is finished with it (adapter_watch_release), normally after moving it out of the
 * directory; a file that is still there after its release is a new candidate.
 *
 * Memory is fixed at creation: a table of candidates. Not thread-safe. */
#ifndef JOINERY_ADAPTER_WATCH_H
#define JOINERY_ADAPTER_WATCH_H

#include <stddef.h>

typedef struct {
    const char *dir;       /* the directory watched; borrowed */
    unsigned stable_ms;    /* 0 -> 1000 */
    unsigned rescan_ms;    /* 0 -> 30000 */
    size_t max_candidates; /* files tracked at once; 0 -> 1024 (more wait for a rescan) */
} adapter_watch_opts_t;

typedef struct adapter_watch adapter_watch_t;

/* Starts watching O->dir (which must exist) and scans it once. NULL and ERR on failure. */
adapter_watch_t *adapter_watch_new(const adapter_watch_opts_t *o, char *err, size_t errlen);
void adapter_watch_destroy(adapter_watch_t **w);

/* The inotify descriptor, for the adapter's poll set (POLLIN). */
int adapter_watch_fd(const adapter_watch_t *w);
/* Milliseconds until adapter_watch_handle has a check or rescan to do (-1: none due). */
int adapter_watch_timeout_ms(const adapter_watch_t *w);
/* Reads inotify's notifications (without waiting), rescans when due and checks candidates whose
 * time has come. Call after every poll. */
void adapter_watch_handle(adapter_watch_t *w);

/* The name (in the directory, no path) of a complete file not yet handed out, or NULL. Valid
 * until its release. */
const char *adapter_watch_next(adapter_watch_t *w);
/* The caller is finished with NAME (handed out by adapter_watch_next). */
void adapter_watch_release(adapter_watch_t *w, const char *name);

#endif
