/* cli_event.h - the CLI's JSON view of events and confirmations: `joinery publish` input,
 * `joinery tail` output lines, and the printed confirmation. */
#ifndef JOINERY_CLI_EVENT_H
#define JOINERY_CLI_EVENT_H

#include <joinery/joinery.h>

#include <jansson.h>

/* An event parsed from JSON; ev points into the rest, which the struct owns. */
typedef struct {
    joinery_event_t ev;
    json_t *root;
    char *payload; /* serialised object payload or decoded payload_b64 */
    joinery_attr_t *attrs;
} cli_event_t;

/* Parses one JSON event:
 *   {"type", "source_record_id"?, "event_id"?, "payload_type"?, "payload"?: string | JSON,
 *    "payload_b64"?, "attributes"?: {k: string}, "correlation_id"?, "causation_id"?,
 *    "occurred_at"?: µs, "base_version"?, "schema_version"?}
 * A non-string payload is stored as its compact JSON text with payload_type
 * "application/json" unless one is given. Unknown keys are errors (they are usually typos).
 * 0, or -1 with err. */
int cli_event_parse(const char *text, cli_event_t *out, char *err, size_t errlen);
void cli_event_free(cli_event_t *e);

/* One `joinery tail` line: {seq, attempt, event_id, type, source, source_record_id, master_id,
 * occurred_at, received_at, payload_type, payload | payload_b64, attributes, correlation_id,
 * causation_id}. payload is the text when it is valid UTF-8 without control characters,
 * otherwise payload_b64 carries the bytes in base64. */
json_t *cli_event_json(const joinery_event_t *ev, uint64_t seq, unsigned attempt);

/* {"event_id","status","seq","master_id","reason"}; status is OK, DUPLICATE, REJECTED or
 * UNCONFIRMED. */
json_t *cli_confirm_json(const joinery_confirm_t *cf);
const char *cli_status_name(joinery_status_t s);

/* Prints v as one compact line on stdout and flushes (readers are often pipes); frees v. */
int cli_print_line(json_t *v);

#endif
