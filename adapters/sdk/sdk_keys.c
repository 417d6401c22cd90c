/* sdk_keys.c - CurveZMQ key files: one Z85 key and a newline per file, NAME.key (secret, 0600)
 * beside NAME.pub. The same format serves adapters and the hub's own pair.
 *
 * The name says which half a file holds, so a NAME.key that group or others can read is
 * refused when it is read: a secret key anyone on the machine can copy lets them connect as
 * that adapter. (The hub checks its own key the same way, in hub/base/secret.c.) */
#include "../../include/joinery/joinery.h" /* by path: see sdk_codec.h */

#include "sdk_util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

static int key_check(const char *key, const char *what, char *err, size_t errlen)
{
    uint8_t raw[32];
    if (key == NULL || strlen(key) != 40 || zmq_z85_decode(raw, key) == NULL) {
        sdk_errf(err, errlen, "%s is not a 40-character Z85 Curve key", what);
        return -1;
    }
    return 0;
}

#define SECRET_SUFFIX ".key"

static int is_secret_key_path(const char *path)
{
    size_t n = strlen(path), m = strlen(SECRET_SUFFIX);
    return n >= m && strcmp(path + n - m, SECRET_SUFFIX) == 0;
}

/* 0 when the open secret key file can be read by its owner only. */
static int check_private(FILE *f, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        sdk_errf(err, errlen, "cannot stat key file %s: %s", path, strerror(errno));
        return -1;
    }
    if ((st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
        sdk_errf(err, errlen,
                 "key file %s is readable by group or others (mode %04o): it holds a secret key; "
                 "chmod 600 %s",
                 path, (unsigned)(st.st_mode & 07777), path);
        return -1;
    }
    return 0;
}

static int write_file(const char *path, const char *text, mode_t mode, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        sdk_errf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    int rc = (n == (ssize_t)len) ? fsync(fd) : -1;
    int saved = n < 0 ? errno : (rc != 0 ? errno : EIO);
    if (close(fd) != 0 && rc == 0) {
        rc = -1;
        saved = errno;
    }
    if (rc != 0) {
        sdk_errf(err, errlen, "cannot write %s: %s", path, strerror(saved));
        unlink(path);
        return -1;
    }
    return 0;
}

int joinery_keygen(const char *dir, const char *name, char *err, size_t errlen)
{
    if (dir == NULL || dir[0] == '\0') {
        dir = ".";
    }
    if (!sdk_name_valid(name)) {
        sdk_errf(err, errlen, "key name \"%s\" is not [a-z0-9_-]{1,64}", name ? name : "");
        return -1;
    }
    if (!zmq_has("curve")) {
        sdk_errf(err, errlen, "this libzmq was built without CurveZMQ");
        return -1;
    }
    /* A fresh key directory is the usual case (first adapter, new machine):
     * make it, private to its owner, rather than fail. */
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        sdk_errf(err, errlen, "cannot create key directory %s: %s", dir, strerror(errno));
        return -1;
    }
    char keypath[PATH_MAX], pubpath[PATH_MAX];
    int a = snprintf(keypath, sizeof keypath, "%s/%s.key", dir, name);
    int b = snprintf(pubpath, sizeof pubpath, "%s/%s.pub", dir, name);
    if (a < 0 || b < 0 || (size_t)a >= sizeof keypath || (size_t)b >= sizeof pubpath) {
        sdk_errf(err, errlen, "key directory path is too long");
        return -1;
    }
    /* Refusing to overwrite: replacing a key by accident locks the adapter out of the hub. */
    if (access(keypath, F_OK) == 0 || access(pubpath, F_OK) == 0) {
        sdk_errf(err, errlen, "%s or %s already exists; remove both to make a new pair", keypath,
                 pubpath);
        return -1;
    }
    char pub[41], sec[41];
    if (zmq_curve_keypair(pub, sec) != 0) {
        sdk_errf(err, errlen, "zmq_curve_keypair: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    char line[43];
    snprintf(line, sizeof line, "%s\n", sec);
    if (write_file(keypath, line, 0600, err, errlen) != 0) {
        return -1;
    }
    snprintf(line, sizeof line, "%s\n", pub);
    if (write_file(pubpath, line, 0644, err, errlen) != 0) {
        unlink(keypath);
        return -1;
    }
    return 0;
}

int joinery_key_read(const char *path, char out[JOINERY_KEY_LEN], char *err, size_t errlen)
{
    if (path == NULL) {
        sdk_errf(err, errlen, "no key file given");
        return -1;
    }
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        sdk_errf(err, errlen, "cannot open key file %s: %s", path, strerror(errno));
        return -1;
    }
    if (is_secret_key_path(path) && check_private(f, path, err, errlen) != 0) {
        fclose(f);
        return -1;
    }
    char buf[128];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        sdk_errf(err, errlen, "cannot read key file %s", path);
        return -1;
    }
    buf[n] = '\0';
    while (n > 0 &&
           (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t')) {
        buf[--n] = '\0';
    }
    char what[PATH_MAX + 16];
    snprintf(what, sizeof what, "key file %s", path);
    if (key_check(buf, what, err, errlen) != 0) {
        return -1;
    }
    memcpy(out, buf, 41);
    return 0;
}

int joinery_key_public(const char *secret_key, char out[JOINERY_KEY_LEN], char *err, size_t errlen)
{
    if (key_check(secret_key, "secret key", err, errlen) != 0) {
        return -1;
    }
    if (zmq_curve_public(out, secret_key) != 0) {
        sdk_errf(err, errlen, "zmq_curve_public: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}
