/* The dashboard's files from web_root (GET /, and every path outside /api/ and /metrics). */
#ifndef HYDRA_WEB_STATIC_H
#define HYDRA_WEB_STATIC_H

#include "http.h"

/* The configured web_root's default: `web` beside the binary (build/web), else PREFIX/share/hydra/web. */
char *web_static_default_root(void);
const char *web_static_content_type(const char *path);
/* The file the request names, index.html for an app page, 404 for anything else or outside web_root. */
void web_static_serve(const char *web_root, const http_request *request, http_response *response);

#endif
