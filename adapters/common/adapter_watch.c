/* adapter_watch.c - the inbound directory watcher (contract and the "complete" rule in
 * adapter_watch.h). */
#include "adapter_watch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef enum { C_FREE, C_WAIT, C_READY, C_TAKEN } cstate_t;

typedef struct {
    cstate_t state;
    int closed; /* seen closed after writing or moved in (else found by a rescan) */
    off_t size;
    struct timespec mtime;
    int64_t due_ms; /* when to check it next */
    char name[NAME_MAX + 1];
} cand_t;

struct adapter_watch {
    adapter_watch_opts_t o;
    int dirfd, ifd;
    int64_t next_rescan_ms;
    cand_t *c; /* max_candidates; owned */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int ignored(const char *name)
{
    size_t n = strlen(name);
    return name[0] == '.' || (n >= 4 && strcmp(name + n - 4, ".tmp") == 0) ||
           (n >= 5 && strcmp(name + n - 5, ".part") == 0);
}

static cand_t *find(adapter_watch_t *w, const char *name)
{
    for (size_t i = 0; i < w->o.max_candidates; i++)
        if (w->c[i].state != C_FREE && strcmp(w->c[i].name, name) == 0)
            return &w->c[i];
    return NULL;
}

/* NAME as a candidate (again); CLOSED when inotify saw it closed or moved in. A file handed out
 * is left alone: its writer may be the adapter's own move out of the directory. */
static void note(adapter_watch_t *w, const char *name, int closed)
{
    if (ignored(name) || strlen(name) > NAME_MAX)
        return;
    cand_t *c = find(w, name);
    if (c != NULL && c->state == C_TAKEN)
        return;
    if (c == NULL) {
        for (size_t i = 0; i < w->o.max_candidates && c == NULL; i++)
            if (w->c[i].state == C_FREE)
                c = &w->c[i];
        if (c == NULL)
            return; /* table full: the next rescan finds it */
        memset(c, 0, sizeof *c);
        (void)snprintf(c->name, sizeof c->name, "%s", name);
        c->size = -1;
    }
    c->closed |= closed;
    c->state = C_WAIT;
    c->due_ms = now_ms() + w->o.stable_ms;
}

/* Whether a process has NAME open for writing: the kernel refuses a read lease then. -1 when
 * leases cannot tell (another user's file, a file system without them). */
static int open_for_writing(const adapter_watch_t *w, const char *name)
{
    int fd = openat(w->dirfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    int rc = -1;
    if (fcntl(fd, F_SETLEASE, F_RDLCK) == 0) {
        (void)fcntl(fd, F_SETLEASE, F_UNLCK);
        rc = 0;
    } else if (errno == EAGAIN) {
        rc = 1;
    }
    close(fd);
    return rc;
}

static void check(adapter_watch_t *w, cand_t *c, int64_t now)
{
    struct stat st;
    if (fstatat(w->dirfd, c->name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
        c->state = C_FREE; /* gone (or never a file): nothing to wait for */
        return;
    }
    int same = c->size == st.st_size && c->mtime.tv_sec == st.st_mtim.tv_sec &&
               c->mtime.tv_nsec == st.st_mtim.tv_nsec;
    c->size = st.st_size;
    c->mtime = st.st_mtim;
    c->due_ms = now + w->o.stable_ms;
    if (!same)
        return;
    /* Stable, but a writer that pauses (or a file found by a rescan, whose close was never
     * seen) may still hold it open: wait for it. */
    if (open_for_writing(w, c->name) == 1)
        return;
    c->state = C_READY;
}

static void rescan(adapter_watch_t *w)
{
    int fd = dup(w->dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return;
    }
    rewinddir(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN)
            continue;
        cand_t *c = find(w, e->d_name);
        if (c == NULL)
            note(w, e->d_name, 0);
    }
    closedir(d);
    w->next_rescan_ms = now_ms() + w->o.rescan_ms;
}

adapter_watch_t *adapter_watch_new(const adapter_watch_opts_t *o, char *err, size_t errlen)
{
    adapter_watch_t *w = calloc(1, sizeof *w);
    if (w == NULL) {
        (void)snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->o = *o;
    w->ifd = w->dirfd = -1;
    if (w->o.stable_ms == 0)
        w->o.stable_ms = 1000;
    if (w->o.rescan_ms == 0)
        w->o.rescan_ms = 30000;
    if (w->o.max_candidates == 0)
        w->o.max_candidates = 1024;
    w->c = calloc(w->o.max_candidates, sizeof *w->c);
    if (w->c == NULL) {
        (void)snprintf(err, errlen, "out of memory");
        adapter_watch_destroy(&w);
        return NULL;
    }
    w->dirfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (w->dirfd < 0) {
        (void)snprintf(err, errlen, "cannot open the directory %s: %s", o->dir, strerror(errno));
        adapter_watch_destroy(&w);
        return NULL;
    }
    w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->ifd < 0 || inotify_add_watch(w->ifd, o->dir, IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
        (void)snprintf(err, errlen, "cannot watch %s with inotify: %s", o->dir, strerror(errno));
        adapter_watch_destroy(&w);
        return NULL;
    }
    rescan(w);
    return w;
}

void adapter_watch_destroy(adapter_watch_t **w)
{
    if (w == NULL || *w == NULL)
        return;
    if ((*w)->ifd >= 0)
        close((*w)->ifd);
    if ((*w)->dirfd >= 0)
        close((*w)->dirfd);
    free((*w)->c);
    free(*w);
    *w = NULL;
}

int adapter_watch_fd(const adapter_watch_t *w)
{
    return w->ifd;
}

int adapter_watch_timeout_ms(const adapter_watch_t *w)
{
    int64_t now = now_ms(), due = w->next_rescan_ms;
    for (size_t i = 0; i < w->o.max_candidates; i++)
        if (w->c[i].state == C_WAIT && w->c[i].due_ms < due)
            due = w->c[i].due_ms;
    for (size_t i = 0; i < w->o.max_candidates; i++)
        if (w->c[i].state == C_READY)
            return 0;
    return due <= now ? 0 : (int)(due - now > INT_MAX ? INT_MAX : due - now);
}

static void read_events(adapter_watch_t *w)
{
    char buf[16 * (sizeof(struct inotify_event) + NAME_MAX + 1)]
        __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t n = read(w->ifd, buf, sizeof buf);
        if (n <= 0)
            return;
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(void *)p;
            if (ev->mask & IN_Q_OVERFLOW)
                w->next_rescan_ms = 0; /* some were lost: look at everything */
            else if (ev->len > 0 && !(ev->mask & IN_ISDIR))
                note(w, ev->name, 1);
            p += sizeof *ev + ev->len;
        }
    }
}

void adapter_watch_handle(adapter_watch_t *w)
{
    read_events(w);
    int64_t now = now_ms();
    if (now >= w->next_rescan_ms)
        rescan(w);
    for (size_t i = 0; i < w->o.max_candidates; i++)
        if (w->c[i].state == C_WAIT && w->c[i].due_ms <= now)
            check(w, &w->c[i], now);
}

const char *adapter_watch_next(adapter_watch_t *w)
{
    for (size_t i = 0; i < w->o.max_candidates; i++)
        if (w->c[i].state == C_READY) {
            w->c[i].state = C_TAKEN;
            return w->c[i].name;
        }
    return NULL;
}

void adapter_watch_release(adapter_watch_t *w, const char *name)
{
    cand_t *c = find(w, name);
    if (c == NULL)
        return;
    c->state = C_FREE;
    /* Still there (it could not be moved away)? Then it is found again by the next rescan. */
}
