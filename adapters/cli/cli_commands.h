/* cli_commands.h - the `joinery` subcommands. Each takes the arguments after the command name
 * (argv[0] is the command), starting from the common options main() already parsed, and
 * returns the process exit status (CLI_OK, CLI_FAIL or CLI_USAGE). */
#ifndef JOINERY_CLI_COMMANDS_H
#define JOINERY_CLI_COMMANDS_H

#include "cli_common.h"

int cli_keygen_main(int argc, char **argv, cli_common_t *common);
int cli_publish_main(int argc, char **argv, cli_common_t *common);
int cli_tail_main(int argc, char **argv, cli_common_t *common);
int cli_status_main(int argc, char **argv, cli_common_t *common);
/* The master-data commands (cli_steward.c, cli_xref.c, cli_golden.c, cli_match.c; what they
 * share is in cli_master_common.h). */
int cli_steward_main(int argc, char **argv, cli_common_t *common);
int cli_xref_main(int argc, char **argv, cli_common_t *common);
int cli_golden_main(int argc, char **argv, cli_common_t *common);
int cli_match_main(int argc, char **argv, cli_common_t *common);
int cli_disclosures_main(int argc, char **argv, cli_common_t *common); /* cli_disclosures.c */
/* Through the hub's admin HTTP API (cli_admin.h): cli_trace.c, cli_deadletters.c, cli_subs.c. */
int cli_trace_main(int argc, char **argv, cli_common_t *common);
int cli_deadletters_main(int argc, char **argv, cli_common_t *common);
int cli_subs_main(int argc, char **argv, cli_common_t *common);
int cli_reload_main(int argc, char **argv, cli_common_t *common); /* cli_reload.c */

#endif
