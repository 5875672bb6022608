/* A response body libcurl hands over in pieces, kept as one NUL-terminated string up to a limit (a larger one is
 * refused, marked too_large, rather than held). Header-only: plugins share code only through plugins/common. */
#ifndef HYDRA_PLUGIN_BODY_BUFFER_H
#define HYDRA_PLUGIN_BODY_BUFFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct body_buffer {
    char *data; /* NULL until something came; free() it */
    size_t length;
    size_t limit;
    bool too_large;
} body_buffer;

/* A CURLOPT_WRITEFUNCTION; the context is the body_buffer. Returning less than given makes libcurl stop. */
static inline size_t body_buffer_collect(char *data, size_t size, size_t count, void *context)
{
    body_buffer *b = context;
    size_t more = size * count;
    if (b->length + more > b->limit) {
        b->too_large = true;
        return 0;
    }
    char *grown = realloc(b->data, b->length + more + 1);
    if (!grown)
        return 0;
    memcpy(grown + b->length, data, more);
    b->length += more;
    grown[b->length] = '\0';
    b->data = grown;
    return more;
}

#endif
