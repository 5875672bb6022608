/* Small helpers every core module uses: allocation that aborts on out-of-memory (core bookkeeping only),
 * bounded string formatting and path handling. */
#ifndef HYDRA_UTIL_H
#define HYDRA_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t bytes);
void *xcalloc(size_t count, size_t bytes);
void *xrealloc(void *ptr, size_t bytes);
char *xstrdup(const char *text);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* snprintf that always terminates and never overflows; truncation is silent by design (error text). */
void format_into(char *buffer, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void vformat_into(char *buffer, size_t size, const char *fmt, va_list args);

/* The folder part of path ("." when it has none); newly allocated. */
char *path_dirname(const char *path);
/* relative resolved against base_dir, unless it is absolute; newly allocated. */
char *path_resolve(const char *base_dir, const char *relative);
bool path_is_file(const char *path);
bool path_is_dir(const char *path);

/* <folder of the running binary>/relative when that exists, newly allocated; NULL otherwise. */
char *path_beside_executable(const char *relative);

bool text_ends_with(const char *text, const char *suffix);

#endif
