/* secret.h - checks on the files that hold secrets: the hub's Curve secret key
 * and a configuration that holds a database password.
 *
 * A secret key anyone on the machine can read is no secret, and a hub key file
 * that holds a public key instead (hub.pub for hub.key) lets the hub start and
 * then fail every client's handshake with nothing in its log: both are caught
 * at start, with the file and the fix in the message. */
#ifndef JOINERY_SECRET_H
#define JOINERY_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* 0 if the open file FD (PATH, described as WHAT) can be read by its owner
 * only; -1 with "WHAT 'PATH' is readable by group or others (mode 0644):
 * chmod 600 PATH" in err otherwise. */
int secret_check_private(int fd, const char *what, const char *path, char *err, size_t errlen);

/* Whether PATH, whose first line is KEY, holds a public key: it is named
 * NAME.pub (as `joinery keygen` names public keys), or the NAME.pub beside it
 * holds the same key. */
bool secret_is_public_key_file(const char *path, const char *key);

/* Whether the configuration file PATH can be read by group or others and
 * names a password (a conninfo's password=, a password: key); *mode gets its
 * permission bits. False when it cannot be read. */
bool secret_config_exposes_password(const char *path, mode_t *mode);

#endif
