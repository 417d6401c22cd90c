/* sdk_status.h - renders the hub's STATUS-REPLY as JSON text, so SDK users (the operator CLI,
 * monitoring scripts) never see protobuf types. */
#ifndef JOINERY_SDK_STATUS_H
#define JOINERY_SDK_STATUS_H

#include <joinery/v1/protocol.pb-c.h>

/* Compact JSON text (caller frees with free()), or NULL when out of memory. Field names are
 * those of protocol.proto. */
char *sdk_status_json(const Joinery__V1__StatusReply *r);

#endif
