/* probe.c - what bench_matching measures outside its own data: the clock; CPU used by the hub, by
 * its core thread, by PostgreSQL's processes and by this program; the hypervisor's steal; the
 * hub's resident memory; and PostgreSQL itself: the connection, single numbers, the WAL counters
 * and the rows an entity event writes. */
#include "matching.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------ */
/* Clock, CPU and memory                                                                        */

double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system) used so far by the process or thread whose stat file is PATH, or
 * -1; *PPID (may be NULL) gets its parent. Fields 4, 14 and 15 of /proc/PID/stat, counted after
 * the command name, which may itself hold blanks and parentheses. */
static double stat_cpu_s(const char *path, long *ppid)
{
    char buf[1024];
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    p++;
    unsigned long long ticks[2] = {0, 0}, parent = 0;
    for (int field = 3; field <= 15 && *p; field++) {
        while (*p == ' ')
            p++;
        if (field == 4 || field >= 14) {
            char *end = NULL;
            errno = 0;
            unsigned long long v = strtoull(p, &end, 10);
            if (errno != 0 || end == p)
                return -1;
            if (field == 4)
                parent = v;
            else
                ticks[field - 14] = v;
        }
        while (*p && *p != ' ')
            p++;
    }
    if (ppid)
        *ppid = (long)parent;
    long hz = sysconf(_SC_CLK_TCK);
    return hz > 0 ? (double)(ticks[0] + ticks[1]) / (double)hz : -1;
}

double proc_cpu_s(long pid)
{
    if (pid <= 0)
        return -1;
    char path[64];
    (void)snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    return stat_cpu_s(path, NULL);
}

/* The CPU of a process's first thread: the hub's core thread, which runs the engine. */
double main_thread_cpu_s(long pid)
{
    if (pid <= 0)
        return -1;
    char path[80];
    (void)snprintf(path, sizeof path, "/proc/%ld/task/%ld/stat", pid, pid);
    return stat_cpu_s(path, NULL);
}

/* CPU used so far by PID and every process it started: PostgreSQL's postmaster and its backends,
 * WAL writer and checkpointer. A backend that exited meanwhile is not counted, which makes this a
 * lower bound; the hub's connection lives as long as the hub. */
double tree_cpu_s(long pid)
{
    if (pid <= 0)
        return -1;
    double sum = proc_cpu_s(pid);
    if (sum < 0)
        return -1;
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end = NULL;
        long child = strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end != '\0' || child <= 0)
            continue;
        char path[300];
        (void)snprintf(path, sizeof path, "/proc/%ld/stat", child);
        long parent = 0;
        double c = stat_cpu_s(path, &parent);
        if (c >= 0 && parent == pid)
            sum += c;
    }
    closedir(d);
    return sum;
}

double per_event_us(double cpu_s, size_t events)
{
    return cpu_s >= 0 && events ? cpu_s * 1e6 / (double)events : -1;
}

double self_cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* CPU time the hypervisor gave to others while this machine wanted it (the "steal" column of
 * /proc/stat), in seconds summed over CPUs, or -1. On a shared VM it explains much of the
 * run-to-run spread of the rates. */
double steal_s(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL)
        return -1;
    unsigned long long v[8] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    long hz = sysconf(_SC_CLK_TCK);
    return n == 8 && hz > 0 ? (double)v[7] / (double)hz : -1;
}

/* VmRSS and VmHWM of PID in KiB, or -1. */
int read_rss(long pid, long *rss_kib, long *hwm_kib)
{
    *rss_kib = *hwm_kib = -1;
    if (pid <= 0)
        return -1;
    char path[64], line[256];
    (void)snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        long *dst = strncmp(line, "VmRSS:", 6) == 0   ? rss_kib
                    : strncmp(line, "VmHWM:", 6) == 0 ? hwm_kib
                                                      : NULL;
        if (!dst)
            continue;
        char *end = NULL;
        errno = 0;
        long v = strtol(line + 6, &end, 10);
        if (errno == 0 && end != line + 6)
            *dst = v;
    }
    fclose(f);
    return *rss_kib >= 0 ? 0 : -1;
}

/* ------------------------------------------------------------------------------------------ */
/* PostgreSQL                                                                                   */

int pq_open(pq_t *pq, const char *conninfo)
{
    memset(pq, 0, sizeof *pq);
    pq->conn = PQconnectdb(conninfo);
    if (!pq->conn || PQstatus(pq->conn) != CONNECTION_OK) {
        fprintf(stderr, "bench_matching: connect to PostgreSQL (%s): %s\n", conninfo,
                pq->conn ? PQerrorMessage(pq->conn) : "out of memory");
        return -1;
    }
    return 0;
}

void pq_close(pq_t *pq)
{
    if (pq->conn)
        PQfinish(pq->conn);
    pq->conn = NULL;
}

PGresult *pq_query(pq_t *pq, const char *sql)
{
    PGresult *r = PQexec(pq->conn, sql);
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "bench_matching: %s: %s\n", sql,
                r ? PQresultErrorMessage(r) : PQerrorMessage(pq->conn));
        if (r)
            PQclear(r);
        return NULL;
    }
    return r;
}

walstat_t pg_wal(pq_t *pq)
{
    walstat_t w = {-1, -1, -1, -1};
    PGresult *r = pq_query(pq, "SELECT wal_records, wal_fpi, wal_bytes::bigint, "
                               "(SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter) "
                               "FROM pg_stat_wal");
    if (!r)
        return w;
    long long *out[] = {&w.records, &w.fpi, &w.bytes, &w.checkpoints};
    for (int i = 0; i < 4 && PQntuples(r) == 1; i++) {
        char *end = NULL;
        errno = 0;
        long long x = strtoll(PQgetvalue(r, 0, i), &end, 10);
        if (errno == 0 && end && *end == '\0')
            *out[i] = x;
    }
    PQclear(r);
    return w;
}

/* A single number from SQL, or -1. */
long long pq_count(pq_t *pq, const char *sql)
{
    PGresult *r = pq_query(pq, sql);
    if (!r)
        return -1;
    long long v = -1;
    if (PQntuples(r) == 1) {
        char *end = NULL;
        errno = 0;
        long long x = strtoll(PQgetvalue(r, 0, 0), &end, 10);
        if (errno == 0 && end && *end == '\0')
            v = x;
    }
    PQclear(r);
    return v;
}

/* Rows in the tables an entity event writes to, counted exactly (the statistics views lag
 * behind a busy connection): journal, golden records and their history, xref, queue, audit. */
long long pg_rows(pq_t *pq)
{
    return pq_count(pq, "SELECT (SELECT count(*) FROM journal) + (SELECT count(*) FROM "
                        "golden_person) + (SELECT count(*) FROM golden_person_history) + "
                        "(SELECT count(*) FROM xref) + (SELECT count(*) FROM steward_queue) + "
                        "(SELECT count(*) FROM master_audit)");
}
