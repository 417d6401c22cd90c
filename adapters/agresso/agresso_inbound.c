/* agresso_inbound.c - customer-master files in, person.updated out (contract in
 * agresso_inbound.h). */
#include "agresso_inbound.h"
#include "agresso_customer.h"
#include "common/adapter_csv.h"
#include "common/adapter_log.h"
#include "common/adapter_pending.h"
#include "common/adapter_watch.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "match/validate.h"

#define LEDGER ".joinery-ledger"
#define ROWS_PER_TURN 2000 /* rows published per loop turn, so the loop stays responsive */
#define PAYLOAD_MAX 8192
#define REASON_MAX 320
#define RAW_MAX 1000 /* bytes of a refused row kept in the report */
#define SHA_HEX 65

typedef struct {
    unsigned long line;
    size_t off, len; /* the row as written, in the file's buffer */
} rowref_t;

typedef struct {
    unsigned long line;
    char column[40];
    char reason[REASON_MAX];
    size_t off, len;
} rowerr_t;

/* The file being applied. */
typedef struct {
    char name[NAME_MAX + 1];
    char *data; /* the whole file; owned */
    size_t len;
    char sha[SHA_HEX];
    adapter_csv_t *csv;
    customer_header_t header;
    rowref_t *rows; /* published rows; owned */
    size_t nrows, caprows;
    rowerr_t *errs; /* owned */
    size_t nerrs, caperrs;
    size_t answered, ok, unconfirmed;
    int eof;
} infile_t;

struct agresso_inbound {
    agresso_inbound_opts_t o;
    joinery_client_t *client; /* borrowed */
    adapter_pending_t *pending;
    adapter_watch_t *watch;
    int dirfd, donefd, failedfd;
    int quiet;
    uint64_t gen;
    infile_t *f; /* the current file, or NULL; owned */
    customer_t cust;
    unsigned char payload[PAYLOAD_MAX];
    char today[11];
    agresso_inbound_counters_t n;
};

/* ---- the error report ------------------------------------------------------------------- */

static void add_err(infile_t *f, unsigned long line, const char *column, const char *reason,
                    const char *raw, size_t raw_len)
{
    if (f->nerrs == f->caperrs) {
        size_t cap = f->caperrs ? f->caperrs * 2 : 16;
        rowerr_t *e = realloc(f->errs, cap * sizeof *e);
        if (e == NULL) {
            adapter_log(ADAPTER_LOG_ERROR, "%s: out of memory for the error report (line %lu: %s)",
                        f->name, line, reason);
            return;
        }
        f->errs = e;
        f->caperrs = cap;
    }
    rowerr_t *e = &f->errs[f->nerrs++];
    e->line = line;
    (void)snprintf(e->column, sizeof e->column, "%s", column);
    (void)snprintf(e->reason, sizeof e->reason, "%s", reason);
    e->off = raw ? (size_t)(raw - f->data) : 0;
    e->len = raw ? raw_len : 0;
}

static int by_line(const void *a, const void *b)
{
    const rowerr_t *x = a, *y = b;
    return (x->line > y->line) - (x->line < y->line);
}

/* The row as it was for the report: as written when it is text, escaped when it is not (a binary
 * file), so the report itself is always a CSV file any tool opens. */
static const char *report_raw(const infile_t *f, const rowerr_t *e, char *out, size_t cap)
{
    size_t n = e->len < RAW_MAX ? e->len : RAW_MAX;
    if (n == 0)
        return "";
    const unsigned char *p = (const unsigned char *)f->data + e->off;
    for (size_t i = 0; i < n;) {
        size_t k = p[i] >= 0x80 ? validate_utf8_char(p + i, n - i) : (p[i] != 0);
        if (k == 0) {
            adapter_log_escape(p, n, out, cap);
            return out;
        }
        i += k;
    }
    if (n >= cap)
        n = cap - 1;
    memcpy(out, p, n);
    out[n] = '\0';
    return out;
}

/* DIRFD/NAME, whole or not at all (a temporary name, fsync, rename, fsync of the directory). */
static int write_file_atomic(int dirfd, const char *name, const char *data, size_t len)
{
    char tmp[NAME_MAX + 16];
    (void)snprintf(tmp, sizeof tmp, ".%.200s.tmp", name);
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
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
    ok = close(fd) == 0 && ok;
    if (!ok || renameat(dirfd, tmp, dirfd, name) != 0 || fsync(dirfd) != 0) {
        (void)unlinkat(dirfd, tmp, 0);
        return -1;
    }
    return 0;
}

/* NAME.errors.csv in DIRFD: line, column, reason, row. */
static int write_report(infile_t *f, int dirfd, const char *name)
{
    qsort(f->errs, f->nerrs, sizeof *f->errs, by_line);
    size_t cap = 256 + f->nerrs * (RAW_MAX * 5 + REASON_MAX * 2 + 128), used = 0;
    char *buf = malloc(cap), raw[RAW_MAX * 4 + 8], line[24];
    if (buf == NULL)
        return -1;
    static const char *const head[] = {"line", "column", "reason", "row"};
    int rc = adapter_csv_write_row(buf, cap, &used, head, 4, ',');
    for (size_t i = 0; i < f->nerrs && rc == 0; i++) {
        const rowerr_t *e = &f->errs[i];
        (void)snprintf(line, sizeof line, "%lu", e->line);
        const char *row[] = {line, e->column, e->reason, report_raw(f, e, raw, sizeof raw)};
        rc = adapter_csv_write_row(buf, cap, &used, row, 4, ',');
    }
    char rname[NAME_MAX + 16];
    (void)snprintf(rname, sizeof rname, "%.230s.errors.csv", name);
    if (rc == 0)
        rc = write_file_atomic(dirfd, rname, buf, used);
    free(buf);
    return rc;
}

/* ---- the ledger ------------------------------------------------------------------------- */

/* 1 when the ledger has applied NAME with checksum SHA before. */
static int ledger_has(const agresso_inbound_t *in, const char *name, const char *sha)
{
    int fd = openat(in->dirfd, LEDGER, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    FILE *fp = fdopen(fd, "r");
    if (fp == NULL) {
        close(fd);
        return 0;
    }
    char line[NAME_MAX + 256];
    size_t shalen = strlen(sha), namelen = strlen(name);
    int found = 0;
    while (!found && fgets(line, sizeof line, fp) != NULL)
        found = strncmp(line, sha, shalen) == 0 && line[shalen] == '\t' &&
                strncmp(line + shalen + 1, name, namelen) == 0 &&
                line[shalen + 1 + namelen] == '\t';
    fclose(fp);
    return found;
}

static int ledger_append(agresso_inbound_t *in, const infile_t *f, size_t refused)
{
    char line[NAME_MAX + 256], when[32];
    time_t now = time(NULL);
    struct tm tm;
    (void)gmtime_r(&now, &tm);
    (void)strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    int n = snprintf(line, sizeof line, "%s\t%s\t%zu\t%zu\t%s\n", f->sha, f->name, f->ok, refused,
                     when);
    int fd = openat(in->dirfd, LEDGER, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    int ok = n > 0 && (size_t)n < sizeof line && write(fd, line, (size_t)n) == n && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    /* A new ledger's name must be durable too. */
    return ok && fsync(in->dirfd) == 0 ? 0 : -1;
}

/* ---- moving files out ------------------------------------------------------------------- */

/* A name in DIRFD not yet taken: NAME, else NAME.1, NAME.2, ... (a file of the same name sent
 * again with other content must not replace the first). */
static void free_name(int dirfd, const char *name, char *out, size_t cap)
{
    (void)snprintf(out, cap, "%s", name);
    for (unsigned i = 1; i < 10000 && faccessat(dirfd, out, F_OK, 0) == 0; i++)
        (void)snprintf(out, cap, "%.230s.%u", name, i);
}

static int move_out(agresso_inbound_t *in, const char *name, int todir, const char *to)
{
    if (renameat2(in->dirfd, name, todir, to, RENAME_NOREPLACE) != 0 || fsync(todir) != 0 ||
        fsync(in->dirfd) != 0) {
        adapter_log(ADAPTER_LOG_ERROR, "cannot move %s out of %s: %s", name, in->o.dir,
                    strerror(errno));
        return -1;
    }
    return 0;
}

static void file_free(infile_t **fp)
{
    infile_t *f = *fp;
    if (f == NULL)
        return;
    adapter_csv_destroy(&f->csv);
    free(f->data);
    free(f->rows);
    free(f->errs);
    free(f);
    *fp = NULL;
}

/* The file is not a customer-master export: failed/ with a report saying why. */
static void file_failed(agresso_inbound_t *in, infile_t *f, unsigned long line, const char *why,
                        const char *raw, size_t raw_len)
{
    char to[NAME_MAX + 1];
    free_name(in->failedfd, f->name, to, sizeof to);
    f->nerrs = 0;
    add_err(f, line, "", why, raw, raw_len);
    if (write_report(f, in->failedfd, to) != 0)
        adapter_log(ADAPTER_LOG_ERROR, "%s: cannot write its report in %s: %s", f->name,
                    in->o.failed_dir, strerror(errno));
    if (move_out(in, f->name, in->failedfd, to) == 0)
        adapter_log(ADAPTER_LOG_WARN,
                    "%s: not a customer-master file (line %lu: %s); moved to %s/%s", f->name, line,
                    why, in->o.failed_dir, to);
    in->n.files_failed++;
    adapter_watch_release(in->watch, f->name);
    file_free(&in->f);
}

/* Every row answered: the report, the ledger, then the move to done/. */
static void file_done(agresso_inbound_t *in)
{
    infile_t *f = in->f;
    if (f->unconfirmed > 0) {
        /* The client is closing: the file stays, and the next run republishes it (DUPLICATE). */
        adapter_watch_release(in->watch, f->name);
        file_free(&in->f);
        return;
    }
    char to[NAME_MAX + 1];
    free_name(in->donefd, f->name, to, sizeof to);
    if (f->nerrs > 0 && write_report(f, in->donefd, to) != 0)
        adapter_log(ADAPTER_LOG_ERROR, "%s: cannot write its error report in %s: %s", f->name,
                    in->o.done_dir, strerror(errno));
    if (ledger_append(in, f, f->nerrs) != 0)
        adapter_log(ADAPTER_LOG_ERROR, "%s: cannot append to %s/%s: %s", f->name, in->o.dir, LEDGER,
                    strerror(errno));
    if (move_out(in, f->name, in->donefd, to) == 0)
        adapter_log(ADAPTER_LOG_INFO,
                    "%s: %zu customers taken, %zu rows refused%s%s%s; moved to %s/%s", f->name,
                    f->ok, f->nerrs, f->nerrs ? " (" : "", f->nerrs ? to : "",
                    f->nerrs ? ".errors.csv)" : "", in->o.done_dir, to);
    in->n.files_done++;
    in->n.rows_taken += f->ok;
    in->n.rows_refused += f->nerrs;
    adapter_watch_release(in->watch, f->name);
    file_free(&in->f);
}

/* ---- one file --------------------------------------------------------------------------- */

static int read_whole(agresso_inbound_t *in, infile_t *f, char *why, size_t why_len)
{
    int fd = openat(in->dirfd, f->name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        (void)snprintf(why, why_len, "cannot read it: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if ((uint64_t)st.st_size > in->o.max_file_bytes) {
        (void)snprintf(why, why_len, "it is %lld bytes; inbound.max_file_bytes is %zu",
                       (long long)st.st_size, in->o.max_file_bytes);
        close(fd);
        return 1;
    }
    f->data = malloc((size_t)st.st_size + 1); /* owned by the file */
    if (f->data == NULL) {
        (void)snprintf(why, why_len, "out of memory for %lld bytes", (long long)st.st_size);
        close(fd);
        return -1;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, f->data + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    f->len = got;
    unsigned char sum[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(sum, (const unsigned char *)f->data, f->len);
    for (size_t i = 0; i < sizeof sum; i++)
        (void)snprintf(f->sha + 2 * i, 3, "%02x", sum[i]);
    return 0;
}

static void file_start(agresso_inbound_t *in, const char *name)
{
    char why[REASON_MAX];
    infile_t *f = calloc(1, sizeof *f);
    if (f == NULL) {
        adapter_watch_release(in->watch, name);
        return;
    }
    (void)snprintf(f->name, sizeof f->name, "%s", name);
    in->f = f;
    int rc = read_whole(in, f, why, sizeof why);
    if (rc < 0) {
        adapter_log(ADAPTER_LOG_ERROR, "%s: %s; it is tried again later", name, why);
        adapter_watch_release(in->watch, name);
        file_free(&in->f);
        return;
    }
    if (rc > 0)
        return file_failed(in, f, 0, why, NULL, 0);
    if (ledger_has(in, f->name, f->sha)) {
        char to[NAME_MAX + 1];
        free_name(in->donefd, f->name, to, sizeof to);
        if (move_out(in, f->name, in->donefd, to) == 0)
            adapter_log(ADAPTER_LOG_WARN,
                        "%s: applied before (the same name and SHA-256 %.16s... are in the "
                        "ledger); not applied again, moved to %s/%s",
                        f->name, f->sha, in->o.done_dir, to);
        in->n.files_again++;
        adapter_watch_release(in->watch, f->name);
        file_free(&in->f);
        return;
    }
    adapter_csv_opts_t co = {.delimiter = in->o.delimiter};
    f->csv = adapter_csv_new(&co, f->data, f->len);
    if (f->csv == NULL) {
        adapter_log(ADAPTER_LOG_ERROR, "%s: out of memory; it is tried again later", name);
        adapter_watch_release(in->watch, name);
        file_free(&in->f);
        return;
    }
    adapter_csv_row_t row;
    adapter_csv_error_t e = {0};
    rc = adapter_csv_next(f->csv, &row, &e);
    if (rc == 0)
        return file_failed(in, f, 1, "the file is empty: no header row", NULL, 0);
    if (rc < 0) {
        char text[REASON_MAX];
        (void)snprintf(text, sizeof text, "the header row cannot be read: %s (byte %lu)", e.reason,
                       e.column);
        return file_failed(in, f, e.line, text, e.raw, e.raw_len);
    }
    if (customer_header(&row, &f->header, why, sizeof why) != 0)
        return file_failed(in, f, row.line, why, row.raw, row.raw_len);
    in->gen++;
    adapter_log(ADAPTER_LOG_INFO, "%s: reading (%zu bytes, SHA-256 %.16s...)", name, f->len,
                f->sha);
}

/* adapter_pending's answer for one row (token: its index + 1). Only records. */
static void on_answer(void *ud, void *token, int ok, const char *reason,
                      const joinery_confirm_t *cf)
{
    agresso_inbound_t *in = ud;
    infile_t *f = in->f;
    size_t i = (size_t)(uintptr_t)token - 1;
    if (f == NULL || i >= f->nrows)
        return;
    f->answered++;
    if (ok) {
        f->ok++;
    } else if (cf != NULL && cf->status == JOINERY_UNCONFIRMED) {
        f->unconfirmed++;
    } else {
        char text[REASON_MAX];
        (void)snprintf(text, sizeof text, "the hub refused it: %s", reason);
        add_err(f, f->rows[i].line, "", text, f->data + f->rows[i].off, f->rows[i].len);
    }
}

static int room(const agresso_inbound_t *in)
{
    return adapter_pending_room(in->pending) > 0 &&
           joinery_unconfirmed(in->client) + 1 < in->o.max_in_flight;
}

static void publish_row(agresso_inbound_t *in, infile_t *f, const adapter_csv_row_t *row)
{
    const char *column;
    char why[REASON_MAX];
    if (customer_from_row(&f->header, row, in->today, &in->cust, &column, why, sizeof why) != 0) {
        add_err(f, row->line, column, why, row->raw, row->raw_len);
        return;
    }
    size_t len = joinery__v1__person__get_packed_size(&in->cust.person);
    if (len > sizeof in->payload) {
        add_err(f, row->line, "", "the customer is too large to publish", row->raw, row->raw_len);
        return;
    }
    if (f->nrows == f->caprows) {
        size_t cap = f->caprows ? f->caprows * 2 : 1024;
        rowref_t *r = realloc(f->rows, cap * sizeof *r);
        if (r == NULL) {
            add_err(f, row->line, "", "out of memory", row->raw, row->raw_len);
            return;
        }
        f->rows = r;
        f->caprows = cap;
    }
    size_t idx = f->nrows;
    f->rows[idx] = (rowref_t){row->line, (size_t)(row->raw - f->data), row->raw_len};
    char id[JOINERY_EVENT_ID_MAX + 1];
    (void)snprintf(id, sizeof id, "agr-%.32s-%lu", f->sha, row->line);
    int rc = adapter_pending_add(in->pending, id, (void *)(uintptr_t)(idx + 1), in->gen);
    if (rc < 0) {
        add_err(f, row->line, "", "too many rows waiting for the hub", row->raw, row->raw_len);
        return;
    }
    f->nrows++;
    if (rc == 1)
        return; /* the same event still in flight: answered with it */
    len = joinery__v1__person__pack(&in->cust.person, in->payload);
    joinery_event_t ev = {.event_id = id,
                          .type = "person.updated",
                          .source_record_id = in->cust.customer_id,
                          .payload_type = "joinery.v1.Person",
                          .payload = in->payload,
                          .payload_len = len};
    if (joinery_publish_async(in->client, &ev, adapter_pending_on_confirm, in->pending, NULL) != 0)
        adapter_pending_fail(in->pending, id, joinery_last_error(in->client));
}

static void refresh_today(agresso_inbound_t *in)
{
    time_t now = time(NULL);
    struct tm tm;
    (void)gmtime_r(&now, &tm);
    (void)strftime(in->today, sizeof in->today, "%Y-%m-%d", &tm);
}

static void publish_some(agresso_inbound_t *in)
{
    infile_t *f = in->f;
    refresh_today(in);
    for (int i = 0; i < ROWS_PER_TURN && !f->eof && room(in) && !in->quiet; i++) {
        adapter_csv_row_t row;
        adapter_csv_error_t e = {0};
        int rc = adapter_csv_next(f->csv, &row, &e);
        if (rc == 0) {
            f->eof = 1;
        } else if (rc < 0) {
            char column[40] = "", text[REASON_MAX];
            if (e.field <= f->header.nfields) {
                for (int k = 0; k < COL_COUNT; k++)
                    if (f->header.at[k] == e.field - 1)
                        (void)snprintf(column, sizeof column, "%s", CUSTOMER_COLUMNS[k]);
            } else {
                (void)snprintf(column, sizeof column, "field %zu", e.field);
            }
            (void)snprintf(text, sizeof text, "%s (byte %lu of the line)", e.reason, e.column);
            add_err(f, e.line, column, text, e.raw, e.raw_len);
        } else {
            publish_row(in, f, &row);
        }
    }
}

/* ---- the module ------------------------------------------------------------------------- */

static int open_dir(const char *path, char *err, size_t errlen)
{
    if (mkdir(path, 0750) != 0 && errno != EEXIST) {
        (void)snprintf(err, errlen, "cannot make the directory %s: %s", path, strerror(errno));
        return -1;
    }
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        (void)snprintf(err, errlen, "cannot open the directory %s: %s", path, strerror(errno));
    return fd;
}

agresso_inbound_t *agresso_inbound_new(const agresso_inbound_opts_t *o, joinery_client_t *c,
                                       char *err, size_t errlen)
{
    if (sodium_init() < 0) {
        (void)snprintf(err, errlen, "libsodium cannot start");
        return NULL;
    }
    agresso_inbound_t *in = calloc(1, sizeof *in);
    if (in == NULL) {
        (void)snprintf(err, errlen, "out of memory");
        return NULL;
    }
    in->o = *o;
    in->client = c;
    in->donefd = in->failedfd = -1;
    in->dirfd = open_dir(o->dir, err, errlen);
    if (in->dirfd >= 0)
        in->donefd = open_dir(o->done_dir, err, errlen);
    if (in->donefd >= 0)
        in->failedfd = open_dir(o->failed_dir, err, errlen);
    if (in->failedfd < 0) {
        agresso_inbound_destroy(&in);
        return NULL;
    }
    in->pending = adapter_pending_new(o->max_in_flight, o->max_in_flight, on_answer, in);
    if (in->pending == NULL) {
        (void)snprintf(err, errlen, "out of memory");
        agresso_inbound_destroy(&in);
        return NULL;
    }
    adapter_watch_opts_t wo = {.dir = o->dir, .stable_ms = o->stable_ms, .rescan_ms = o->rescan_ms};
    in->watch = adapter_watch_new(&wo, err, errlen);
    if (in->watch == NULL) {
        agresso_inbound_destroy(&in);
        return NULL;
    }
    return in;
}

void agresso_inbound_destroy(agresso_inbound_t **ip)
{
    if (ip == NULL || *ip == NULL)
        return;
    agresso_inbound_t *in = *ip;
    file_free(&in->f);
    adapter_watch_destroy(&in->watch);
    adapter_pending_destroy(&in->pending);
    if (in->dirfd >= 0)
        close(in->dirfd);
    if (in->donefd >= 0)
        close(in->donefd);
    if (in->failedfd >= 0)
        close(in->failedfd);
    free(in);
    *ip = NULL;
}

size_t agresso_inbound_fds(agresso_inbound_t *in, struct pollfd *fds, size_t cap)
{
    if (cap == 0)
        return 0;
    fds[0] = (struct pollfd){.fd = adapter_watch_fd(in->watch), .events = POLLIN};
    return 1;
}

int agresso_inbound_timeout_ms(const agresso_inbound_t *in)
{
    if (in->quiet)
        return -1;
    if (in->f != NULL)
        return !in->f->eof && room(in) ? 0 : -1;
    return adapter_watch_timeout_ms(in->watch);
}

void agresso_inbound_handle(agresso_inbound_t *in)
{
    adapter_watch_handle(in->watch);
    if (in->f == NULL && !in->quiet) {
        const char *name = adapter_watch_next(in->watch);
        if (name != NULL)
            file_start(in, name);
    }
    if (in->f == NULL)
        return;
    publish_some(in);
    if (in->f->eof && in->f->answered == in->f->nrows)
        file_done(in);
}

void agresso_inbound_quiesce(agresso_inbound_t *in)
{
    in->quiet = 1;
}

size_t agresso_inbound_in_flight(const agresso_inbound_t *in)
{
    return in->f ? in->f->nrows - in->f->answered : 0;
}

const agresso_inbound_counters_t *agresso_inbound_counters(const agresso_inbound_t *in)
{
    return &in->n;
}
