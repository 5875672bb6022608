#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void out_of_memory(size_t bytes)
{
    fprintf(stderr, "hydra: out of memory allocating %zu bytes\n", bytes);
    abort();
}

void *xmalloc(size_t bytes)
{
    void *ptr = malloc(bytes ? bytes : 1);
    if (!ptr)
        out_of_memory(bytes);
    return ptr;
}

void *xcalloc(size_t count, size_t bytes)
{
    void *ptr = calloc(count ? count : 1, bytes ? bytes : 1);
    if (!ptr)
        out_of_memory(count * bytes);
    return ptr;
}

void *xrealloc(void *ptr, size_t bytes)
{
    void *grown = realloc(ptr, bytes ? bytes : 1);
    if (!grown)
        out_of_memory(bytes);
    return grown;
}

char *xstrdup(const char *text)
{
    size_t length = strlen(text);
    char *copy = xmalloc(length + 1);
    memcpy(copy, text, length + 1);
    return copy;
}

char *xasprintf(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    char *text = NULL;
    int length = vasprintf(&text, fmt, args);
    va_end(args);
    if (length < 0)
        out_of_memory(0);
    return text;
}

void vformat_into(char *buffer, size_t size, const char *fmt, va_list args)
{
    if (size == 0)
        return;
    if (vsnprintf(buffer, size, fmt, args) < 0)
        buffer[0] = '\0';
}

void format_into(char *buffer, size_t size, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vformat_into(buffer, size, fmt, args);
    va_end(args);
}

char *path_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    return xasprintf("%.*s", (int)(slash - path), path);
}

char *path_resolve(const char *base_dir, const char *relative)
{
    if (relative[0] == '/' || !base_dir || strcmp(base_dir, ".") == 0)
        return xstrdup(relative);
    return xasprintf("%s/%s", base_dir, relative);
}

bool path_is_file(const char *path)
{
    struct stat info;
    return stat(path, &info) == 0 && S_ISREG(info.st_mode);
}

bool path_is_dir(const char *path)
{
    struct stat info;
    return stat(path, &info) == 0 && S_ISDIR(info.st_mode);
}

bool text_ends_with(const char *text, const char *suffix)
{
    size_t text_length = strlen(text), suffix_length = strlen(suffix);
    return text_length >= suffix_length && strcmp(text + text_length - suffix_length, suffix) == 0;
}

char *path_beside_executable(const char *relative)
{
    char exe[4096];
    ssize_t length = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (length <= 0)
        return NULL;
    exe[length] = '\0';
    char *dir = path_dirname(exe);
    char *beside = xasprintf("%s/%s", dir, relative);
    free(dir);
    struct stat info;
    if (stat(beside, &info) == 0)
        return beside;
    free(beside);
    return NULL;
}
