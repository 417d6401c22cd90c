/* support_fixture.h - the set-up the master-data unit tests share
 * (test_master.c, test_master_pg.c, test_entity.c): a configuration written
 * to a temporary directory and loaded through config_load, that directory's
 * removal, and master ids from a counter. Failures fail the test. */
#ifndef JOINERY_TEST_SUPPORT_FIXTURE_H
#define JOINERY_TEST_SUPPORT_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "base/config.h"

/* Makes a directory from TEMPLATE (ending in XXXXXX) into DIR (LEN bytes),
 * writes TEXT there as joinery.yaml and loads it. */
config_t *fixture_config(char *dir, size_t len, const char *template_, const char *text);
/* Removes DIR and all under it. */
void fixture_remove_dir(const char *dir);
/* A master_id_fn: CTX is an unsigned counter; ids P0001, P0002, ... */
int fixture_counter_ids(void *ctx, int64_t now_us, char *out, size_t len);

#endif
