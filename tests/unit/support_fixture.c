/* support_fixture.c - shared test set-up (contract in support_fixture.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#include "support_fixture.h"

config_t *fixture_config(char *dir, size_t len, const char *template_, const char *text)
{
    (void)snprintf(dir, len, "%s", template_);
    assert_non_null(mkdtemp(dir));
    char path[300], err[512] = "";
    (void)snprintf(path, sizeof path, "%s/joinery.yaml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
    config_t *cfg = config_load(path, err, sizeof err);
    if (cfg == NULL)
        fail_msg("config: %s", err);
    return cfg;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void fixture_remove_dir(const char *dir)
{
    (void)nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int fixture_counter_ids(void *ctx, int64_t now_us, char *out, size_t len)
{
    (void)now_us;
    unsigned *next = ctx;
    (void)snprintf(out, len, "P%04u", ++*next);
    return 0;
}
