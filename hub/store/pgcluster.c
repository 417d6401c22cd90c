/* pgcluster.c - the hub's private PostgreSQL cluster (contract in pgcluster.h).
 *
 * With no database configured the hub owns one under DATA_DIR/pg: initdb on
 * first use, our settings in DIR/data/joinery.conf (included from
 * postgresql.conf, so ALTER SYSTEM still overrides them), pg_ctl start, and the
 * "joinery" database. The server listens only on a Unix socket in DIR/run.
 *
 * Child programs run through fork/execv/waitpid; no shell ever sees a path.
 * initdb and postgres refuse to run as root, so a root hub runs them as an
 * unprivileged user (the owner of an existing cluster, else "postgres", else
 * "nobody"). Start and stop hold an flock on DIR/pgcluster.lock so two hubs
 * sharing a data directory cannot initdb or start it twice. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "store/pgcluster.h"

#include "base/err.h"
#include "base/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <limits.h>
#include <locale.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PG_LOG "pg"
#define DB_NAME "joinery"
#define DB_USER "joinery"
#define RUN_USER_MAX_GROUPS 64
#define PASSWD_BUF 16384
/* sockaddr_un.sun_path is 108 bytes; the server appends "/.s.PGSQL.NNNNN". */
#define SUN_PATH_MAX 108
#define SOCKET_NAME_RESERVE 16
#define READY_TIMEOUT_MS 60000
#define READY_POLL_MS 100
#define RECHECK_MS 1000
#define DEBIAN_PG_ROOT "/usr/lib/postgresql"
/* Exit codes the forked child uses before exec; no PostgreSQL tool uses them. */
#define CHILD_NO_DIR 126
#define CHILD_NO_EXEC 127
/* pg_ctl status: 3 means "no server running". */
#define PG_CTL_NOT_RUNNING 3

/* Who child programs run as. drop is false when the hub is not root: then
 * children simply inherit our identity. Resolved before fork because
 * getpwnam/initgroups are not async-signal-safe in a threaded process. */
typedef struct {
    bool drop;
    uid_t uid;
    gid_t gid;
    gid_t groups[RUN_USER_MAX_GROUPS];
    int ngroups;
    char name[64];
} run_user_t;

struct pgcluster {
    char *dir; /* absolute */
    char *datadir;
    char *rundir;
    char *initdb;
    char *pg_ctl;
    char *conninfo;       /* dbname=joinery */
    char *admin_conninfo; /* dbname=postgres, for CREATE DATABASE */
    run_user_t user;
};

/* Small helpers ---------------------------------------------------------- */

static char *strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A malloc'd formatted string; NULL only when out of memory. */
static char *strfmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (s == NULL)
        return NULL;
    va_start(ap, fmt);
    (void)vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static bool is_executable(const char *dir, const char *prog)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%s", dir, prog);
    return n > 0 && (size_t)n < sizeof path && access(path, X_OK) == 0;
}

/* pg_ctl finds postgres next to itself, so all three must share a directory. */
static bool has_server_programs(const char *dir)
{
    return is_executable(dir, "initdb") && is_executable(dir, "pg_ctl") &&
           is_executable(dir, "postgres");
}

static bool path_exists(const char *dir, const char *name)
{
    char path[PATH_MAX];
    struct stat st;
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);
    return n > 0 && (size_t)n < sizeof path && stat(path, &st) == 0;
}

/* Finding the binaries ---------------------------------------------------- */

static char *bindir_from_path(void)
{
    const char *path = getenv("PATH");
    if (path == NULL)
        return NULL;
    char *copy = strdup(path);
    if (copy == NULL)
        return NULL;
    char *found = NULL;
    char *save = NULL;
    for (char *d = strtok_r(copy, ":", &save); d != NULL && found == NULL;
         d = strtok_r(NULL, ":", &save))
        if (d[0] == '/' && has_server_programs(d))
            found = strdup(d);
    free(copy);
    return found;
}

/* "15" -> 15000, "9.6" -> 9006: Debian names its version directories this way. */
static long version_rank(const char *name)
{
    char *end = NULL;
    errno = 0;
    long major = strtol(name, &end, 10);
    if (errno != 0 || end == name || major < 0 || major > 100000)
        return -1;
    long minor = 0;
    if (*end == '.') {
        const char *p = end + 1;
        minor = strtol(p, &end, 10);
        if (errno != 0 || end == p || minor < 0 || minor > 999)
            return -1;
    }
    return *end == '\0' ? major * 1000 + minor : -1;
}

/* Debian keeps initdb off PATH, in /usr/lib/postgresql/<version>/bin. */
static char *bindir_newest_debian(void)
{
    DIR *d = opendir(DEBIAN_PG_ROOT);
    if (d == NULL)
        return NULL;
    char *best = NULL;
    long best_rank = -1;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long rank = version_rank(e->d_name);
        if (rank <= best_rank)
            continue;
        char *bin = strfmt("%s/%s/bin", DEBIAN_PG_ROOT, e->d_name);
        if (bin != NULL && has_server_programs(bin)) {
            free(best);
            best = bin;
            best_rank = rank;
        } else {
            free(bin);
        }
    }
    (void)closedir(d);
    return best;
}

static char *find_bindir(const char *bindir, char *err, size_t errlen)
{
    char *found = NULL;
    if (bindir != NULL) {
        if (!has_server_programs(bindir)) {
            err_set(err, errlen,
                    "PostgreSQL server programs (initdb, pg_ctl, postgres) not found in %s",
                    bindir);
            return NULL;
        }
        found = strdup(bindir);
    } else {
        found = bindir_from_path();
        if (found == NULL)
            found = bindir_newest_debian();
        if (found == NULL) {
            err_set(err, errlen,
                    "PostgreSQL server programs (initdb, pg_ctl, postgres) not found in PATH or "
                    "%s/*/bin: install PostgreSQL or set database.pg_bindir",
                    DEBIAN_PG_ROOT);
            return NULL;
        }
    }
    if (found == NULL)
        err_set(err, errlen, "out of memory");
    return found;
}

/* Who runs the server ----------------------------------------------------- */

static int lookup_user(run_user_t *u, const char *name, uid_t uid, bool by_name)
{
    struct passwd pw;
    struct passwd *res = NULL;
    char buf[PASSWD_BUF];
    int rc = by_name ? getpwnam_r(name, &pw, buf, sizeof buf, &res)
                     : getpwuid_r(uid, &pw, buf, sizeof buf, &res);
    if (rc != 0 || res == NULL)
        return -1;
    u->uid = pw.pw_uid;
    u->gid = pw.pw_gid;
    (void)snprintf(u->name, sizeof u->name, "%s", pw.pw_name);
    u->ngroups = RUN_USER_MAX_GROUPS;
    if (getgrouplist(pw.pw_name, pw.pw_gid, u->groups, &u->ngroups) < 0) {
        /* More supplementary groups than we keep: the primary one suffices. */
        u->groups[0] = pw.pw_gid;
        u->ngroups = 1;
    }
    return 0;
}

/* An existing cluster must keep running as its owner (postgres checks), so
 * the owner wins over the default choice of postgres, then nobody. */
static int run_user_init(run_user_t *u, const char *datadir, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    if (geteuid() != 0) {
        (void)snprintf(u->name, sizeof u->name, "the hub's own user");
        return 0;
    }
    u->drop = true;
    struct stat st;
    if (path_exists(datadir, "PG_VERSION") && stat(datadir, &st) == 0) {
        if (st.st_uid == 0)
            return err_set(err, errlen,
                           "%s belongs to root, but PostgreSQL cannot run as root: "
                           "chown -R postgres: %s (or remove it)",
                           datadir, datadir);
        if (lookup_user(u, NULL, st.st_uid, false) == 0)
            return 0;
        return err_set(err, errlen, "%s belongs to uid %u, which has no passwd entry", datadir,
                       (unsigned)st.st_uid);
    }
    if (lookup_user(u, "postgres", 0, true) == 0 || lookup_user(u, "nobody", 0, true) == 0)
        return 0;
    return err_set(err, errlen,
                   "running as root but neither user postgres nor nobody exists: "
                   "PostgreSQL cannot run as root");
}

/* Running child programs ------------------------------------------------- */

static void child_exec(const pgcluster_t *pc, char *const argv[], int in_fd, int out_fd, long maxfd)
    __attribute__((noreturn));

/* Only async-signal-safe calls from here to execv: the hub may have threads. */
static void child_exec(const pgcluster_t *pc, char *const argv[], int in_fd, int out_fd, long maxfd)
{
    if (dup2(in_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
        dup2(out_fd, STDERR_FILENO) < 0)
        _exit(CHILD_NO_EXEC);
    /* The postmaster outlives us: it must not inherit our sockets or lock. */
    if (close_range(3, ~0U, 0) != 0)
        for (long fd = 3; fd < maxfd; fd++)
            (void)close((int)fd);
    /* Blocked or ignored signals survive exec and would break the postmaster. */
    sigset_t none;
    (void)sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        (void)sigaction(sig, &dfl, NULL);
    const run_user_t *u = &pc->user;
    if (u->drop && (setgroups((size_t)u->ngroups, u->groups) != 0 || setgid(u->gid) != 0 ||
                    setuid(u->uid) != 0 || setuid(0) == 0))
        _exit(CHILD_NO_EXEC);
    /* After dropping privileges, so this also proves the user can reach DIR. */
    if (chdir(pc->dir) != 0)
        _exit(CHILD_NO_DIR);
    (void)umask(077);
    execv(argv[0], argv);
    static const char msg[] = "pgcluster: execv failed\n";
    (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
    _exit(CHILD_NO_EXEC);
}

static int wait_child(pid_t pid)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

/* Run argv[0] with stdout and stderr going to out_fd (-1: /dev/null).
 * Returns its exit status, or -1 with err set. */
static int run_prog(const pgcluster_t *pc, char *const argv[], int out_fd, char *err, size_t errlen)
{
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd < 0)
        return err_set(err, errlen, "cannot open /dev/null: %s", strerror(errno));
    long maxfd = sysconf(_SC_OPEN_MAX);
    pid_t pid = fork();
    if (pid == 0)
        child_exec(pc, argv, null_fd, out_fd >= 0 ? out_fd : null_fd, maxfd > 0 ? maxfd : 1024);
    int saved = errno;
    (void)close(null_fd);
    if (pid < 0)
        return err_set(err, errlen, "cannot fork for %s: %s", argv[0], strerror(saved));
    int rc = wait_child(pid);
    if (rc < 0)
        return err_set(err, errlen, "cannot wait for %s: %s", argv[0], strerror(errno));
    if (rc == CHILD_NO_DIR)
        return err_set(err, errlen,
                       "user %s cannot enter %s: make it and its parent directories traversable "
                       "(chmod o+x)",
                       pc->user.name, pc->dir);
    if (rc == CHILD_NO_EXEC)
        return err_set(err, errlen, "cannot run %s as %s", argv[0], pc->user.name);
    return rc;
}

/* Opens (creating) a log file for a child; chowned so pg_ctl -l can reopen it. */
static int open_log(const pgcluster_t *pc, const char *name, bool truncate, char *err,
                    size_t errlen)
{
    char *path = strfmt("%s/%s", pc->dir, name);
    if (path == NULL)
        return err_set(err, errlen, "out of memory");
    int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (truncate ? O_TRUNC : O_APPEND);
    int fd = open(path, flags, 0600);
    if (fd < 0)
        err_set(err, errlen, "cannot open %s: %s", path, strerror(errno));
    else if (pc->user.drop && fchown(fd, pc->user.uid, pc->user.gid) != 0) {
        err_set(err, errlen, "cannot chown %s to %s: %s", path, pc->user.name, strerror(errno));
        (void)close(fd);
        fd = -1;
    }
    free(path);
    return fd;
}

/* Directories ------------------------------------------------------------- */

static int mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    int n = snprintf(buf, sizeof buf, "%s", path);
    if (n <= 0 || (size_t)n >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, mode) != 0 && errno != EEXIST ? -1 : 0;
}

/* A directory we own, private to the server's user. */
static int make_private_dir(const pgcluster_t *pc, const char *path, char *err, size_t errlen)
{
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return err_set(err, errlen, "cannot create %s: %s", path, strerror(errno));
    if (pc->user.drop && lchown(path, pc->user.uid, pc->user.gid) != 0)
        return err_set(err, errlen, "cannot chown %s to %s: %s", path, pc->user.name,
                       strerror(errno));
    return 0;
}

/* These characters would need quoting rules in postgresql.conf lists and
 * conninfo that are easy to get subtly wrong; nobody needs them in a path. */
static bool path_is_plain(const char *path)
{
    for (const char *p = path; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || strchr("'\"\\,", *p) != NULL)
            return false;
    return true;
}

/* Creates DIR and makes it absolute; as root, lets the server's user through. */
static int prepare_dir(pgcluster_t *pc, const char *dir, char *err, size_t errlen)
{
    if (mkdir_p(dir, pc->user.drop ? 0711 : 0700) != 0)
        return err_set(err, errlen, "cannot create %s: %s", dir, strerror(errno));
    pc->dir = realpath(dir, NULL);
    if (pc->dir == NULL)
        return err_set(err, errlen, "cannot resolve %s: %s", dir, strerror(errno));
    if (!path_is_plain(pc->dir))
        return err_set(err, errlen,
                       "%s: quotes, backslashes, commas and control characters are "
                       "not supported in the cluster directory",
                       pc->dir);
    if (strlen(pc->dir) + strlen("/run") + SOCKET_NAME_RESERVE >= SUN_PATH_MAX)
        return err_set(err, errlen, "%s: path too long for a Unix socket (limit about %d bytes)",
                       pc->dir, SUN_PATH_MAX - SOCKET_NAME_RESERVE - 4);
    struct stat st;
    if (stat(pc->dir, &st) != 0)
        return err_set(err, errlen, "cannot stat %s: %s", pc->dir, strerror(errno));
    if (pc->user.drop && st.st_uid == 0 && (st.st_mode & S_IXOTH) == 0 &&
        chmod(pc->dir, (st.st_mode & 07777) | S_IXOTH) != 0)
        return err_set(err, errlen, "cannot chmod o+x %s: %s", pc->dir, strerror(errno));
    return 0;
}

/* Settings ---------------------------------------------------------------- */

/* Rewritten at every start so a newer hub brings its settings along. */
static int write_settings(const pgcluster_t *pc, char *err, size_t errlen)
{
    char *path = strfmt("%s/joinery.conf", pc->datadir);
    if (path == NULL)
        return err_set(err, errlen, "out of memory");
    int rc = -1;
    FILE *f = fopen(path, "we");
    if (f == NULL) {
        err_set(err, errlen, "cannot write %s: %s", path, strerror(errno));
        free(path);
        return -1;
    }
    int n = fprintf(f,
                    "# Written by joineryd at every start: edits here are lost.\n"
                    "# Override with ALTER SYSTEM (postgresql.auto.conf) instead.\n"
                    "listen_addresses = ''\n"
                    "unix_socket_directories = '%s'\n"
                    "unix_socket_permissions = 0700\n"
                    "timezone = 'UTC'\n"
                    "# Durability is the point of the journal: never turn these off.\n"
                    "fsync = on\n"
                    "synchronous_commit = on\n"
                    "full_page_writes = on\n"
                    "# PostgreSQL's default pool, not a quarter of memory: a buffer used\n"
                    "# for the first time is memory the kernel must supply, and on a VM\n"
                    "# whose host backs memory lazily a growing database paid that for\n"
                    "# every new page (bench/MATCHING.md: loads ran a quarter faster).\n"
                    "shared_buffers = 128MB\n"
                    "# Append-heavy journal: big WAL, rare checkpoints, spread out.\n"
                    "wal_buffers = 16MB\n"
                    "# A bulk load writes ~3 KiB of WAL per person event: a checkpoint\n"
                    "# every 2 GB came once a minute, and every page first touched after\n"
                    "# one is written to the WAL whole (full-page images were 45%% of it).\n"
                    "max_wal_size = 4GB\n"
                    "# Full-page images compressed (lz4: cheap, and they shrink ~3x).\n"
                    "wal_compression = lz4\n"
                    "min_wal_size = 256MB\n"
                    "checkpoint_timeout = 15min\n"
                    "checkpoint_completion_target = 0.9\n"
                    "# A new WAL segment is not filled with zeros first: at the hub's write\n"
                    "# rate that was a tenth of the database's time until the first\n"
                    "# checkpoint lets old segments be recycled. Every WAL page is still\n"
                    "# written whole and checksummed; only the pre-allocation goes.\n"
                    "wal_init_zero = off\n",
                    pc->rundir);
    bool wrote = n > 0 && fflush(f) == 0 &&
                 (!pc->user.drop || fchown(fileno(f), pc->user.uid, pc->user.gid) == 0);
    int saved = errno;
    if (fclose(f) == 0 && wrote)
        rc = 0;
    else
        err_set(err, errlen, "cannot write %s: %s", path, strerror(saved));
    free(path);
    return rc;
}

#define INCLUDE_LINE "include = 'joinery.conf'"

/* Appended once after initdb; checked every start in case we died in between. */
static int ensure_include(const pgcluster_t *pc, char *err, size_t errlen)
{
    char *path = strfmt("%s/postgresql.conf", pc->datadir);
    if (path == NULL)
        return err_set(err, errlen, "out of memory");
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        err_set(err, errlen, "cannot read %s: %s", path, strerror(errno));
        free(path);
        return -1;
    }
    bool present = false;
    char *line = NULL;
    size_t cap = 0;
    while (!present && getline(&line, &cap, f) >= 0)
        present = strncmp(line, INCLUDE_LINE, strlen(INCLUDE_LINE)) == 0;
    free(line);
    (void)fclose(f);
    int rc = 0;
    if (!present) {
        f = fopen(path, "ae");
        if (f == NULL ||
            fputs("\n# Joinery's settings (hub/store/pgcluster.c)\n" INCLUDE_LINE "\n", f) < 0)
            rc = err_set(err, errlen, "cannot append to %s: %s", path, strerror(errno));
        if (f != NULL && fclose(f) != 0 && rc == 0)
            rc = err_set(err, errlen, "cannot append to %s: %s", path, strerror(errno));
    }
    free(path);
    return rc;
}

/* Lifecycle steps ---------------------------------------------------------- */

static int run_initdb(const pgcluster_t *pc, char *err, size_t errlen)
{
    locale_t utf8 = newlocale(LC_ALL_MASK, "C.UTF-8", (locale_t)0);
    const char *locale_arg = utf8 != (locale_t)0 ? "--locale=C.UTF-8" : "--locale=C";
    if (utf8 != (locale_t)0)
        freelocale(utf8);
    int fd = open_log(pc, "initdb.log", true, err, errlen);
    if (fd < 0)
        return -1;
    log_info(PG_LOG, "initialising a PostgreSQL cluster in %s", pc->datadir);
    char *argv[] = {pc->initdb, "-D",   pc->datadir,        "-U", DB_USER, "--auth=trust",
                    "-E",       "UTF8", (char *)locale_arg, NULL};
    int rc = run_prog(pc, argv, fd, err, errlen);
    (void)close(fd);
    if (rc > 0)
        return err_set(err, errlen, "initdb failed (exit %d): see %s/initdb.log", rc, pc->dir);
    return rc;
}

/* 1: running, 0: not running, -1: error. */
static int server_running(const pgcluster_t *pc, char *err, size_t errlen)
{
    char *argv[] = {pc->pg_ctl, "-D", pc->datadir, "status", NULL};
    int rc = run_prog(pc, argv, -1, err, errlen);
    return rc < 0 ? -1 : rc == 0;
}

static int start_server(const pgcluster_t *pc, char *err, size_t errlen)
{
    char *logpath = strfmt("%s/postgres.log", pc->dir);
    if (logpath == NULL)
        return err_set(err, errlen, "out of memory");
    /* pg_ctl's own complaints land in the server log too: one place to look. */
    int fd = open_log(pc, "postgres.log", false, err, errlen);
    int rc = -1;
    if (fd >= 0) {
        char *argv[] = {pc->pg_ctl, "-D", pc->datadir, "-l",    logpath,
                        "-w",       "-t", "60",        "start", NULL};
        rc = run_prog(pc, argv, fd, err, errlen);
        (void)close(fd);
        if (rc > 0)
            rc = err_set(err, errlen, "pg_ctl start failed (exit %d): see %s", rc, logpath);
    }
    free(logpath);
    return rc;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* A reused server may still be starting (another hub just launched it), or
 * may have died since pg_ctl status looked (its postmaster was killed and not
 * yet reaped): while nothing answers, keep checking and start it if gone. */
static int wait_ready(const pgcluster_t *pc, bool reused, char *err, size_t errlen)
{
    for (long waited = 0;; waited += READY_POLL_MS) {
        PGPing ping = PQping(pc->admin_conninfo);
        if (ping == PQPING_OK)
            return 0;
        if (ping == PQPING_NO_ATTEMPT)
            return err_set(err, errlen, "bad conninfo: %s", pc->admin_conninfo);
        if (waited >= READY_TIMEOUT_MS)
            return err_set(err, errlen,
                           "PostgreSQL in %s not accepting connections after %d s: "
                           "see %s/postgres.log",
                           pc->dir, READY_TIMEOUT_MS / 1000, pc->dir);
        if (reused && ping == PQPING_NO_RESPONSE && waited % RECHECK_MS == 0 && waited > 0) {
            int running = server_running(pc, err, errlen);
            if (running < 0)
                return -1;
            if (!running) {
                log_warn(PG_LOG, "the PostgreSQL server in %s went away; starting it", pc->dir);
                if (start_server(pc, err, errlen) != 0)
                    return -1;
                reused = false;
            }
        }
        sleep_ms(READY_POLL_MS);
    }
}

static int create_database(PGconn *conn, char *err, size_t errlen)
{
    const char *params[1] = {DB_NAME};
    PGresult *res = PQexecParams(conn, "SELECT 1 FROM pg_database WHERE datname = $1", 1, NULL,
                                 params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        err_set(err, errlen, "cannot query pg_database: %s", PQerrorMessage(conn));
        PQclear(res);
        return -1;
    }
    bool exists = PQntuples(res) > 0;
    PQclear(res);
    if (exists)
        return 0;
    res = PQexec(conn, "CREATE DATABASE " DB_NAME);
    int rc = 0;
    /* 42P04 duplicate_database: another hub won the race, which is fine. */
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && (state == NULL || strcmp(state, "42P04") != 0))
        rc = err_set(err, errlen, "CREATE DATABASE " DB_NAME " failed: %s", PQerrorMessage(conn));
    else if (PQresultStatus(res) == PGRES_COMMAND_OK)
        log_info(PG_LOG, "created database " DB_NAME);
    PQclear(res);
    return rc;
}

static int ensure_database(const pgcluster_t *pc, char *err, size_t errlen)
{
    PGconn *conn = PQconnectdb(pc->admin_conninfo);
    int rc;
    if (PQstatus(conn) != CONNECTION_OK)
        rc = err_set(err, errlen, "cannot connect to %s: %s", pc->admin_conninfo,
                     PQerrorMessage(conn));
    else
        rc = create_database(conn, err, errlen);
    PQfinish(conn);
    return rc;
}

/* Held across start and stop; released by closing. */
static int lock_dir(const pgcluster_t *pc, char *err, size_t errlen)
{
    char *path = strfmt("%s/pgcluster.lock", pc->dir);
    if (path == NULL)
        return err_set(err, errlen, "out of memory");
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    int rc = fd;
    if (fd < 0)
        rc = err_set(err, errlen, "cannot open %s: %s", path, strerror(errno));
    else if (flock(fd, LOCK_EX) != 0) {
        rc = err_set(err, errlen, "cannot lock %s: %s", path, strerror(errno));
        (void)close(fd);
    }
    free(path);
    return rc;
}

/* Host values with spaces must be quoted in a conninfo string. */
static char *make_conninfo(const char *rundir, const char *dbname)
{
    const char *q = strchr(rundir, ' ') != NULL ? "'" : "";
    return strfmt("host=%s%s%s dbname=%s user=" DB_USER, q, rundir, q, dbname);
}

static pgcluster_t *cluster_new(const char *dir, const char *bindir, char *err, size_t errlen)
{
    pgcluster_t *pc = calloc(1, sizeof *pc);
    if (pc == NULL) {
        err_set(err, errlen, "out of memory");
        return NULL;
    }
    char *bin = find_bindir(bindir, err, errlen);
    char *datadir = bin != NULL ? strfmt("%s/data", dir) : NULL;
    if (bin == NULL || datadir == NULL || run_user_init(&pc->user, datadir, err, errlen) != 0 ||
        prepare_dir(pc, dir, err, errlen) != 0) {
        if (bin != NULL && datadir == NULL)
            err_set(err, errlen, "out of memory");
        free(bin);
        free(datadir);
        pgcluster_destroy(&pc);
        return NULL;
    }
    free(datadir);
    pc->datadir = strfmt("%s/data", pc->dir);
    pc->rundir = strfmt("%s/run", pc->dir);
    pc->initdb = strfmt("%s/initdb", bin);
    pc->pg_ctl = strfmt("%s/pg_ctl", bin);
    free(bin);
    pc->conninfo = pc->rundir ? make_conninfo(pc->rundir, DB_NAME) : NULL;
    pc->admin_conninfo = pc->rundir ? make_conninfo(pc->rundir, "postgres") : NULL;
    if (!pc->datadir || !pc->rundir || !pc->initdb || !pc->pg_ctl || !pc->conninfo ||
        !pc->admin_conninfo) {
        err_set(err, errlen, "out of memory");
        pgcluster_destroy(&pc);
    }
    return pc;
}

/* Everything after the lock: initdb if needed, start unless running, database. */
static int bring_up(const pgcluster_t *pc, char *err, size_t errlen)
{
    if (make_private_dir(pc, pc->rundir, err, errlen) != 0)
        return -1;
    bool fresh = !path_exists(pc->datadir, "PG_VERSION");
    if (fresh &&
        (make_private_dir(pc, pc->datadir, err, errlen) != 0 || run_initdb(pc, err, errlen) != 0))
        return -1;
    int running = fresh ? 0 : server_running(pc, err, errlen);
    if (running < 0)
        return -1;
    if (write_settings(pc, err, errlen) != 0 || ensure_include(pc, err, errlen) != 0)
        return -1;
    if (running) {
        log_info(PG_LOG, "reusing the PostgreSQL server already running in %s", pc->dir);
    } else {
        if (start_server(pc, err, errlen) != 0)
            return -1;
        log_info(PG_LOG, "PostgreSQL started in %s (socket in %s)", pc->dir, pc->rundir);
    }
    if (wait_ready(pc, running, err, errlen) != 0)
        return -1;
    return ensure_database(pc, err, errlen);
}

/* Public API ------------------------------------------------------------- */

pgcluster_t *pgcluster_start(const char *dir, const char *bindir, char *err, size_t errlen)
{
    if (dir == NULL || dir[0] == '\0') {
        err_set(err, errlen, "pgcluster_start: no directory given");
        return NULL;
    }
    pgcluster_t *pc = cluster_new(dir, bindir, err, errlen);
    if (pc == NULL)
        return NULL;
    if (pc->user.drop)
        log_warn(PG_LOG,
                 "running as root: the PostgreSQL cluster in %s runs as user %s "
                 "(initdb and postgres refuse root)",
                 pc->dir, pc->user.name);
    int lock = lock_dir(pc, err, errlen);
    if (lock < 0 || bring_up(pc, err, errlen) != 0)
        pgcluster_destroy(&pc);
    if (lock >= 0)
        (void)close(lock);
    return pc;
}

const char *pgcluster_conninfo(const pgcluster_t *pc)
{
    return pc != NULL ? pc->conninfo : NULL;
}

static int stop_server(const pgcluster_t *pc, char *err, size_t errlen)
{
    int fd = open_log(pc, "postgres.log", false, err, errlen);
    if (fd < 0)
        return -1;
    char *argv[] = {pc->pg_ctl, "-D", pc->datadir, "-m", "fast", "-w", "-t", "60", "stop", NULL};
    int rc = run_prog(pc, argv, fd, err, errlen);
    (void)close(fd);
    if (rc <= 0)
        return rc;
    /* Already stopped is what we wanted; anything else is a real failure. */
    char *status_argv[] = {pc->pg_ctl, "-D", pc->datadir, "status", NULL};
    if (run_prog(pc, status_argv, -1, err, errlen) == PG_CTL_NOT_RUNNING)
        return 0;
    return err_set(err, errlen, "pg_ctl stop failed (exit %d): see %s/postgres.log", rc, pc->dir);
}

int pgcluster_stop(pgcluster_t **pc, char *err, size_t errlen)
{
    if (pc == NULL || *pc == NULL)
        return 0;
    int lock = lock_dir(*pc, err, errlen);
    int rc = lock < 0 ? -1 : stop_server(*pc, err, errlen);
    if (lock >= 0)
        (void)close(lock);
    if (rc == 0)
        log_info(PG_LOG, "PostgreSQL in %s stopped", (*pc)->dir);
    pgcluster_destroy(pc);
    return rc;
}

void pgcluster_destroy(pgcluster_t **pc)
{
    if (pc == NULL || *pc == NULL)
        return;
    free((*pc)->dir);
    free((*pc)->datadir);
    free((*pc)->rundir);
    free((*pc)->initdb);
    free((*pc)->pg_ctl);
    free((*pc)->conninfo);
    free((*pc)->admin_conninfo);
    free(*pc);
    *pc = NULL;
}
