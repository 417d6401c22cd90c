/* route.h - event-type patterns: which events a subscription receives and
 * which types an adapter may publish or subscribe to.
 *
 * A pattern is dot-separated segments. "*" matches exactly one segment, except
 * as the last segment, where it matches one or more: "person.*" matches
 * "person.updated" and "person.address.changed"; "*" matches everything. */
#ifndef JOINERY_ROUTE_H
#define JOINERY_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

bool route_match(const char *pattern, const char *type, size_t type_len);
/* Does any of PATTERNS match TYPE? */
bool route_match_any(char *const *patterns, size_t n, const char *type, size_t type_len);
/* Is every type REQUESTED matches also matched by some pattern in PERMITTED?
 * (A subscription may only ask for what the adapter is allowed to see.) */
bool route_covered(char *const *permitted, size_t n, const char *requested);
/* Is S a well-formed event type (segments of [a-z0-9_-], no '*')? */
bool route_type_valid(const char *s, size_t len);
/* Is S a well-formed pattern? */
bool route_pattern_valid(const char *s);

#endif
