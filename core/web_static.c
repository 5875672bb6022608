/* The dashboard's built files, served by the daemon from web_root: GET of any path outside /api/ and /metrics, no
 * key needed (the page shows nothing until a key signs it in). A path that names no file but looks like a page of
 * the app (no dot in its last part) gets index.html; nothing outside web_root is ever read. */
#include "web_static.h"

#include "log.h"
#include "util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WEB_FILE_MAX (64u << 20)

static const struct {
    const char *extension;
    const char *type;
} content_types[] = {
    {".html", "text/html; charset=utf-8"},       {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},  {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},               {".map", "application/json"},
    {".svg", "image/svg+xml"},                   {".png", "image/png"},
    {".jpg", "image/jpeg"},                      {".jpeg", "image/jpeg"},
    {".gif", "image/gif"},                       {".webp", "image/webp"},
    {".ico", "image/x-icon"},                    {".woff2", "font/woff2"},
    {".woff", "font/woff"},                      {".txt", "text/plain; charset=utf-8"},
    {".wasm", "application/wasm"},               {".webmanifest", "application/manifest+json"},
};

const char *web_static_content_type(const char *path)
{
    for (size_t i = 0; i < ARRAY_LEN(content_types); i++)
        if (text_ends_with(path, content_types[i].extension))
            return content_types[i].type;
    return "application/octet-stream";
}

char *web_static_default_root(void)
{
    char *beside = path_beside_executable("web");
    if (beside)
        return beside;
    return xasprintf("%s/web", HYDRA_DATA_DIR);
}

/* No part may be "." or ".." (MHD has already decoded %2e%2e), and no backslash or control character. */
static bool path_is_plain(const char *path)
{
    for (const char *c = path; *c; c++)
        if (*c == '\\' || (unsigned char)*c < 0x20)
            return false;
    for (const char *part = path; part; part = strchr(part + 1, '/')) {
        const char *start = part[0] == '/' ? part + 1 : part;
        size_t length = strcspn(start, "/");
        if ((length == 1 && start[0] == '.') || (length == 2 && start[0] == '.' && start[1] == '.'))
            return false;
    }
    return true;
}

/* The file's contents into response; false when it cannot be read. */
static bool send_file(const char *file, http_response *response)
{
    FILE *in = fopen(file, "rb");
    if (!in)
        return false;
    fseek(in, 0, SEEK_END);
    long size = ftell(in);
    rewind(in);
    char *contents = size >= 0 && (unsigned long)size <= WEB_FILE_MAX ? xmalloc((size_t)size + 1) : NULL;
    bool read = contents && fread(contents, 1, (size_t)size, in) == (size_t)size;
    fclose(in);
    if (!read) {
        free(contents);
        return false;
    }
    contents[size] = '\0';
    free(response->text);
    response->text = contents;
    response->text_length = (size_t)size;
    response->text_type = web_static_content_type(file);
    /* The page itself is asked again each time (it names the current bundle); the rest may be kept a while. */
    response->cache_control = text_ends_with(file, ".html") ? "no-cache" : "public, max-age=3600";
    return true;
}

/* root/relative, when it exists as a regular file inside root (links leading out of it refused); newly allocated. */
static char *file_inside(const char *root_real, const char *relative)
{
    char *joined = xasprintf("%s/%s", root_real, relative), resolved[PATH_MAX];
    bool inside = realpath(joined, resolved) && strncmp(resolved, root_real, strlen(root_real)) == 0 &&
                  resolved[strlen(root_real)] == '/' && path_is_file(resolved);
    free(joined);
    return inside ? xstrdup(resolved) : NULL;
}

void web_static_serve(const char *web_root, const http_request *request, http_response *response)
{
    char root_real[PATH_MAX];
    if (!web_root || !realpath(web_root, root_real) || !path_is_dir(root_real)) {
        http_error(response, 404, NULL, "the dashboard is not built: no folder %s (run `make web`, or set web_root)",
                   web_root ? web_root : "(none)");
        return;
    }
    const char *path = request->path;
    if (!path_is_plain(path)) {
        http_error(response, 404, NULL, "no file %s", path);
        return;
    }
    while (*path == '/')
        path++;
    char *file = file_inside(root_real, path[0] ? path : "index.html");
    const char *last = strrchr(request->path, '/');
    bool page = !file && !strchr(last ? last : request->path, '.');
    if (page)
        file = file_inside(root_real, "index.html");
    if (!file || !send_file(file, response))
        http_error(response, 404, NULL, "no file %s in the dashboard", request->path);
    free(file);
}
