/* fuzz_config.c - libFuzzer harness for the configuration loader (hub/base/config*.c, libyaml
 * underneath): any bytes as the hub's YAML file. A file is either loaded or refused with a
 * message saying why, never a crash, a leak or a read out of bounds; a loaded one is freed
 * whole. The loader reads a path, so each input is written to an in-memory file. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/config.h"

static int fd = -1;
static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fd < 0) {
        fd = memfd_create("fuzz-config", 0);
        if (fd < 0)
            abort();
        (void)snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
    char err[512] = "";
    config_t *cfg = config_load(path, err, sizeof err);
    if (cfg == NULL) {
        if (err[0] == '\0' || memchr(err, '\0', sizeof err) == NULL)
            abort(); /* a refusal always says why */
        return 0;
    }
    config_destroy(&cfg);
    if (cfg != NULL)
        abort();
    return 0;
}
