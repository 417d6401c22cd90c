/* test_adapter_watch.c - adapters/common/adapter_watch on a real directory with inotify: a file
 * present at start is found by the first scan; a file written and closed is complete only after
 * it has been stable for stable_ms; a file still held open for writing is never complete, however
 * long it is still; a file moved in is found; hidden and .tmp/.part names are ignored; a file
 * handed out is not handed out again until it is released. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/adapter_watch.h"

#define STABLE_MS 150

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Drives the watcher for up to MS (as a loop would: poll on its fd and timeout); the first name
 * it hands out, or NULL. */
static const char *drive(adapter_watch_t *w, int ms)
{
    int64_t end = now_ms() + ms;
    for (;;) {
        const char *n = adapter_watch_next(w);
        if (n != NULL)
            return n;
        int64_t left = end - now_ms();
        if (left <= 0)
            return NULL;
        int t = adapter_watch_timeout_ms(w);
        if (t < 0 || t > left)
            t = (int)left;
        struct pollfd p = {.fd = adapter_watch_fd(w), .events = POLLIN};
        (void)poll(&p, 1, t);
        adapter_watch_handle(w);
    }
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void whole_life(void **state)
{
    (void)state;
    char dir[] = "/tmp/joinery-watch-XXXXXX", path[512];
    assert_non_null(mkdtemp(dir));
    write_file(dir, "before.csv", "a\n");
    write_file(dir, ".hidden", "a\n");
    write_file(dir, "x.tmp", "a\n");
    write_file(dir, "y.part", "a\n");
    adapter_watch_opts_t o = {.dir = dir, .stable_ms = STABLE_MS, .rescan_ms = 200};
    char err[256];
    adapter_watch_t *w = adapter_watch_new(&o, err, sizeof err);
    assert_non_null(w);

    /* Found by the first scan, after one stable interval and not before. */
    int64_t t0 = now_ms();
    const char *n = drive(w, 3000);
    assert_non_null(n);
    assert_string_equal(n, "before.csv");
    assert_true(now_ms() - t0 >= STABLE_MS);
    /* Handed out once, until released; ignored names never. */
    assert_null(drive(w, 3 * STABLE_MS + 300));

    /* Held open by a writer that pauses: never complete, through several rescans. */
    snprintf(path, sizeof path, "%s/slow.csv", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "half,", 5), 5);
    assert_null(drive(w, 4 * STABLE_MS + 400));
    assert_int_equal(write(fd, "rest\n", 5), 5);
    close(fd);
    n = drive(w, 3000);
    assert_non_null(n);
    assert_string_equal(n, "slow.csv");
    adapter_watch_release(w, "slow.csv");
    assert_int_equal(unlink(path), 0);

    /* Moved in from elsewhere: complete once stable. */
    char src[600];
    snprintf(src, sizeof src, "%s/.incoming", dir);
    write_file(dir, ".incoming", "b\n");
    snprintf(path, sizeof path, "%s/moved.csv", dir);
    assert_int_equal(rename(src, path), 0);
    n = drive(w, 3000);
    assert_non_null(n);
    assert_string_equal(n, "moved.csv");

    /* Released while still there: found again (the caller could not move it away). */
    adapter_watch_release(w, "before.csv");
    n = drive(w, 3000);
    assert_non_null(n);
    assert_string_equal(n, "before.csv");

    adapter_watch_destroy(&w);
    assert_null(w);
    const char *names[] = {"before.csv", "moved.csv", ".hidden", "x.tmp", "y.part"};
    for (size_t i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

static void missing_directory(void **state)
{
    (void)state;
    adapter_watch_opts_t o = {.dir = "/nonexistent/joinery-watch"};
    char err[256];
    assert_null(adapter_watch_new(&o, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/joinery-watch"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(whole_life),
        cmocka_unit_test(missing_directory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
