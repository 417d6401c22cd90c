/* joinery.c - the operator CLI's entry point: common options, then one of the subcommands
 * keygen, publish, tail, status, steward, xref, golden, match, trace, dead-letters, subscriptions,
 * reload (see `joinery COMMAND --help`). */
#include "cli_commands.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "Usage: joinery [connection options] COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  keygen NAME       make a Curve key pair for an adapter or the hub\n"
    "  publish [FILE]    publish a JSON event (or --type T --count N synthetic events)\n"
    "  tail PATTERN...   print delivered events as JSON lines\n"
    "  status            show the hub's status\n"
    "  steward ACTION    the steward queue: list, link, keep-apart, merge, unmerge\n"
    "  xref export       the cross-reference of local ids as CSV\n"
    "  golden show ID    a golden record with its local ids and history\n"
    "  match train       estimate the matcher's m and u from the golden records\n"
    "  disclosures       what was shared with partners about a person (--person ID)\n"
    "  trace             an event, a correlation id or a golden record, end to end (admin API)\n"
    "  dead-letters ACTION  list, show, replay, discard dead letters (admin API)\n"
    "  subscriptions ACTION list or delete durable subscriptions (admin API)\n"
    "  reload            reload the hub's configuration without a restart (admin API)\n"
    "\n"
    "Run `joinery COMMAND --help` for a command's options.\n"
    "\n" CLI_COMMON_HELP;

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         CLI_COMMON_OPTIONS,
                                         {0}};
    cli_common_t common;
    cli_common_init(&common);
    int opt;
    /* "+": stop at the command name; its own options are parsed by the command. */
    while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        if (cli_common_option(&common, opt, optarg)) {
            continue;
        }
        if (opt == 'h') {
            fputs(usage, stdout);
            return CLI_OK;
        }
        if (opt == 'V') {
            printf("joinery %s\n", joinery_version());
            return CLI_OK;
        }
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    if (optind >= argc) {
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    static const struct {
        const char *name;
        int (*run)(int, char **, cli_common_t *);
    } commands[] = {{"keygen", cli_keygen_main},
                    {"publish", cli_publish_main},
                    {"tail", cli_tail_main},
                    {"status", cli_status_main},
                    {"steward", cli_steward_main},
                    {"xref", cli_xref_main},
                    {"golden", cli_golden_main},
                    {"match", cli_match_main},
                    {"disclosures", cli_disclosures_main},
                    {"trace", cli_trace_main},
                    {"dead-letters", cli_deadletters_main},
                    {"subscriptions", cli_subs_main},
                    {"reload", cli_reload_main}};
    const char *cmd = argv[optind];
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(cmd, commands[i].name) == 0) {
            int sub_argc = argc - optind;
            char **sub_argv = argv + optind;
            optind = 0; /* glibc: 0 fully restarts getopt on the command's arguments */
            return commands[i].run(sub_argc, sub_argv, &common);
        }
    }
    fprintf(stderr, "joinery: unknown command \"%s\"\n\n%s", cmd, usage);
    return CLI_USAGE;
}
