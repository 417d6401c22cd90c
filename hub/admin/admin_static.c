/* admin_static.c - see admin_static.h. The files are static arrays, so a
 * response points at them (MHD_RESPMEM_PERSISTENT): nothing is copied. */
#include "admin/admin_static.h"

#include <microhttpd.h>
#include <string.h>

#define PREFIX "/dashboard/"

/* Only this server's own files, no inline script or style, not framed: the
 * page holds a token, so nothing else may run beside it. */
static const char csp[] = "default-src 'self'; base-uri 'none'; form-action 'self'; "
                          "frame-ancestors 'none'";

bool admin_static_owns(const char *url)
{
    return strcmp(url, "/") == 0 || strcmp(url, "/dashboard") == 0 ||
           strncmp(url, PREFIX, strlen(PREFIX)) == 0;
}

static const char *content_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".svg", "image/svg+xml"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof *types; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

static const admin_static_file_t *find(const char *url)
{
    const char *name = "index.html";
    if (strncmp(url, PREFIX, strlen(PREFIX)) == 0 && url[strlen(PREFIX)])
        name = url + strlen(PREFIX);
    else if (strcmp(url, "/") != 0 && strcmp(url, "/dashboard") != 0 && strcmp(url, PREFIX) != 0)
        return NULL;
    /* An exact name from the table: a path the table does not hold (../,
     * anything on disk) cannot be asked for. */
    for (size_t i = 0; i < admin_static_nfiles; i++)
        if (strcmp(admin_static_files[i].name, name) == 0)
            return &admin_static_files[i];
    return NULL;
}

struct MHD_Response *admin_static_response(const char *url)
{
    const admin_static_file_t *f = find(url);
    if (!f)
        return NULL;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(f->len, (void *)f->data, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return NULL;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type(f->name));
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "Content-Security-Policy", csp);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    return r;
}
