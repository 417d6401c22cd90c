/* cli_keygen.c - `joinery keygen NAME [--dir DIR]`: makes a Curve key pair for an adapter (or,
 * with NAME hub, for the hub) and prints the public key for the hub's configuration. */
#include "cli_commands.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "Usage: joinery keygen NAME [--dir DIR]\n"
    "\n"
    "Makes a CurveZMQ key pair: DIR/NAME.key (secret, mode 0600) and DIR/NAME.pub, one Z85\n"
    "key per file. Prints the public key, which goes into the hub's configuration as the\n"
    "adapter's public_key. Use NAME hub for the hub's own pair (security.hub_key_file points\n"
    "at hub.key; adapters need hub.pub). Existing files are never overwritten.\n"
    "\n"
    "  --dir DIR   where to write (default $JOINERY_KEYS, else the current directory)\n";

int cli_keygen_main(int argc, char **argv, cli_common_t *common)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'}, {0}};
    const char *dir = common->keys ? common->keys : ".";
    int opt;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == 'd') {
            dir = optarg;
        } else if (opt == 'h') {
            fputs(usage, stdout);
            return CLI_OK;
        } else {
            fputs(usage, stderr);
            return CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    const char *name = argv[optind];
    char err[512];
    if (joinery_keygen(dir, name, err, sizeof err) != 0) {
        fprintf(stderr, "joinery keygen: %s\n", err);
        return CLI_FAIL;
    }
    char path[4096], pub[JOINERY_KEY_LEN];
    snprintf(path, sizeof path, "%s/%s.pub", dir, name);
    if (joinery_key_read(path, pub, err, sizeof err) != 0) {
        fprintf(stderr, "joinery keygen: %s\n", err);
        return CLI_FAIL;
    }
    fprintf(stderr, "wrote %s/%s.key (secret) and %s\n", dir, name, path);
    printf("%s\n", pub);
    return CLI_OK;
}
