/* agresso_outbound.c - deliveries as Agresso import files (contract in agresso_outbound.h). */
#include "agresso_outbound.h"
#include "agresso_customer.h"
#include "common/adapter_arena.h"
#include "common/adapter_csv.h"
#include "common/adapter_log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "joinery/v1/person.pb-c.h"

#define ARENA_BYTES (256 * 1024) /* a decoded payload; a larger one is refused */
#define FILE_BYTES (64 * 1024)
#define TEXT_BYTES 2048

struct agresso_outbound {
    agresso_outbound_opts_t o;
    int dirfd, tmpfd;
    adapter_arena_t *arena; /* deliveries decoded without an allocation, reset per one; owned */
    char file[FILE_BYTES];
    char text[TEXT_BYTES];
    agresso_outbound_counters_t n;
};

static int open_dir(int at, const char *path, char *err, size_t errlen)
{
    if (mkdirat(at, path, 0750) != 0 && errno != EEXIST) {
        (void)snprintf(err, errlen, "cannot make the directory %s: %s", path, strerror(errno));
        return -1;
    }
    int fd = openat(at, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        (void)snprintf(err, errlen, "cannot open the directory %s: %s", path, strerror(errno));
    return fd;
}

agresso_outbound_t *agresso_outbound_new(const agresso_outbound_opts_t *opts, char *err,
                                         size_t errlen)
{
    agresso_outbound_t *o = calloc(1, sizeof *o);
    if (o == NULL || (o->arena = adapter_arena_new(ARENA_BYTES)) == NULL) {
        free(o);
        (void)snprintf(err, errlen, "out of memory");
        return NULL;
    }
    o->o = *opts;
    o->tmpfd = -1;
    o->dirfd = open_dir(AT_FDCWD, opts->dir, err, errlen);
    if (o->dirfd >= 0)
        o->tmpfd = open_dir(o->dirfd, ".tmp", err, errlen);
    if (o->tmpfd < 0) {
        agresso_outbound_destroy(&o);
        return NULL;
    }
    return o;
}

void agresso_outbound_destroy(agresso_outbound_t **op)
{
    if (op == NULL || *op == NULL)
        return;
    agresso_outbound_t *o = *op;
    if (o->dirfd >= 0)
        close(o->dirfd);
    if (o->tmpfd >= 0)
        close(o->tmpfd);
    adapter_arena_destroy(&o->arena);
    free(o);
    *op = NULL;
}

const agresso_outbound_counters_t *agresso_outbound_counters(const agresso_outbound_t *o)
{
    return &o->n;
}

/* NAME with LEN bytes of DATA, whole or not at all: .tmp/NAME written and fsynced, renamed into
 * the directory, the directory fsynced. Only then may the delivery be acknowledged. */
static int write_atomic(agresso_outbound_t *o, const char *name, const char *data, size_t len,
                        char *why, size_t why_len)
{
    int fd = openat(o->tmpfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        (void)snprintf(why, why_len, "cannot write %s/.tmp/%s: %s", o->o.dir, name,
                       strerror(errno));
        return -1;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, data + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    int ok = done == len && fsync(fd) == 0;
    int saved = errno;
    if (close(fd) != 0 && ok) {
        ok = 0;
        saved = errno;
    }
    if (!ok || renameat(o->tmpfd, name, o->dirfd, name) != 0 || fsync(o->dirfd) != 0) {
        if (ok)
            saved = errno;
        (void)unlinkat(o->tmpfd, name, 0);
        (void)snprintf(why, why_len, "cannot write %s/%s: %s", o->o.dir, name, strerror(saved));
        return -1;
    }
    return 0;
}

/* A header row and one data row, as the whole file. */
static int file_of(agresso_outbound_t *o, const char *const *header, const char *const *row,
                   size_t n, size_t *len)
{
    *len = 0;
    return adapter_csv_write_row(o->file, sizeof o->file, len, header, n, o->o.delimiter) == 0 &&
                   adapter_csv_write_row(o->file, sizeof o->file, len, row, n, o->o.delimiter) == 0
               ? 0
               : -1;
}

static joinery_verdict_t write_file(agresso_outbound_t *o, const char *prefix, uint64_t seq,
                                    const char *const *header, const char *const *row, size_t n,
                                    char *reason, size_t reason_len)
{
    char name[96];
    size_t len;
    (void)snprintf(name, sizeof name, "%s-%012" PRIu64 ".csv", prefix, seq);
    if (file_of(o, header, row, n, &len) != 0) {
        (void)snprintf(reason, reason_len, "the row is longer than %d bytes", FILE_BYTES);
        o->n.rejected++;
        return JOINERY_REJECT;
    }
    if (write_atomic(o, name, o->file, len, reason, reason_len) != 0) {
        o->n.write_failures++;
        adapter_log(ADAPTER_LOG_ERROR, "delivery %" PRIu64 ": %s; it will come again", seq, reason);
        return JOINERY_RETRY;
    }
    adapter_log(ADAPTER_LOG_DEBUG, "delivery %" PRIu64 " written as %s", seq, name);
    return JOINERY_ACK;
}

static joinery_verdict_t person_changed(agresso_outbound_t *o, const joinery_event_t *ev,
                                        uint64_t seq, char *reason, size_t reason_len)
{
    Joinery__V1__PersonChanged *pc = joinery__v1__person_changed__unpack(
        adapter_arena_pb(o->arena), ev->payload_len, (const uint8_t *)ev->payload);
    if (pc == NULL) {
        (void)snprintf(reason, reason_len, "the payload does not decode as PersonChanged");
        o->n.rejected++;
        return JOINERY_REJECT;
    }
    if (pc->local_id == NULL || pc->local_id[0] == '\0') {
        /* The hub tells every subscriber, in its own id or none: no id, no Agresso customer. */
        o->n.skipped++;
        return JOINERY_ACK;
    }
    const char *row[CUSTOMER_IMPORT_FIELDS];
    if (customer_import_row(pc, row, o->text, sizeof o->text, reason, reason_len) != 0) {
        o->n.rejected++;
        return JOINERY_REJECT;
    }
    joinery_verdict_t v = write_file(o, o->o.customer_prefix, seq, CUSTOMER_IMPORT_COLUMNS, row,
                                     CUSTOMER_IMPORT_FIELDS, reason, reason_len);
    if (v == JOINERY_ACK)
        o->n.customers++;
    return v;
}

static void ymd(int64_t us, char out[9])
{
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    (void)gmtime_r(&t, &tm);
    (void)strftime(out, 9, "%Y%m%d", &tm);
}

static joinery_verdict_t care_package(agresso_outbound_t *o, const joinery_event_t *ev,
                                      uint64_t seq, char *reason, size_t reason_len)
{
    if (ev->payload_type == NULL || strcmp(ev->payload_type, "joinery.v1.CarePackage") != 0) {
        (void)snprintf(reason, reason_len, "%s carries %.60s, not joinery.v1.CarePackage", ev->type,
                       ev->payload_type ? ev->payload_type : "no payload type");
        o->n.rejected++;
        return JOINERY_REJECT;
    }
    Joinery__V1__CarePackage *cp = joinery__v1__care_package__unpack(
        adapter_arena_pb(o->arena), ev->payload_len, (const uint8_t *)ev->payload);
    if (cp == NULL) {
        (void)snprintf(reason, reason_len, "the payload does not decode as CarePackage");
        o->n.rejected++;
        return JOINERY_REJECT;
    }
    char date[9];
    ymd(ev->occurred_at_us, date);
    const char *row[GL07_FIELDS];
    switch (
        gl07_row(&o->o.coding, cp, seq, date, row, o->text, sizeof o->text, reason, reason_len)) {
    case GL07_NOTHING:
        o->n.skipped++;
        return JOINERY_ACK;
    case GL07_REFUSED:
        o->n.rejected++;
        adapter_log(ADAPTER_LOG_WARN, "delivery %" PRIu64 " (%s) refused: %s", seq, ev->type,
                    reason);
        return JOINERY_REJECT;
    case GL07_ROW:
        break;
    }
    joinery_verdict_t v =
        write_file(o, o->o.gl07_prefix, seq, GL07_COLUMNS, row, GL07_FIELDS, reason, reason_len);
    if (v == JOINERY_ACK)
        o->n.gl07++;
    return v;
}

joinery_verdict_t agresso_outbound_handle(void *ud, const joinery_event_t *ev, uint64_t seq,
                                          unsigned attempt, char *reason, size_t reason_len)
{
    agresso_outbound_t *o = ud;
    (void)attempt;
    adapter_arena_reset(o->arena);
    if (strcmp(ev->type, "person.changed") == 0)
        return person_changed(o, ev, seq, reason, reason_len);
    if (strncmp(ev->type, "case.care_package.", 18) == 0)
        return care_package(o, ev, seq, reason, reason_len);
    /* Corrections, merges, proposals: nothing Agresso's customer import takes. */
    o->n.skipped++;
    return JOINERY_ACK;
}
