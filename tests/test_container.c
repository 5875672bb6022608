/* The container build file (deploy/container/Containerfile), checked without pulling an image (none can be pulled
 * here): every library the built binary and plugins link is installed in the runtime stage, both stages are Debian
 * bookworm, hydra serve runs as an unprivileged user with a config volume and a health check on /api/v1/health, the
 * config the image ships checks, and make install places the file. */
#include "support.h"
#include "util.h"

#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define CONTAINERFILE "deploy/container/Containerfile"

static char *read_text(const char *path)
{
    FILE *file = fopen(path, "r");
    if (!file)
        fail_msg("cannot read %s", path);
    char *text = xcalloc(1, 65536);
    size_t length = fread(text, 1, 65535, file);
    text[length] = '\0';
    fclose(file);
    return text;
}

/* The text of the last stage (from its FROM on), where the image that runs is made. */
static const char *runtime_stage(const char *containerfile)
{
    const char *last = NULL;
    for (const char *at = containerfile; (at = strstr(at, "\nFROM ")); at++)
        last = at;
    if (!last)
        fail_msg(CONTAINERFILE " has no FROM line");
    return last;
}

/* Each shared library the binary and the plugins name (NEEDED) belongs to a Debian package the runtime stage
 * installs; libc6 comes with every Debian image, and the sanitizers' runtimes only with a SANITIZE=1 build. */
static void test_container_runtime_stage_installs_every_linked_library(void **state)
{
    (void)state;
    char *containerfile = read_text(CONTAINERFILE);
    const char *runtime = runtime_stage(containerfile);
    char *line = xasprintf("for f in %s/hydra %s/plugins/*/*.so; do objdump -p $f | awk '/NEEDED/ {print $2}'; "
                           "done | sort -u | while read lib; do "
                           "dpkg -S \"*/$(gcc -print-multiarch)/$lib\" | head -n 1 | cut -d: -f1; done | sort -u",
                           support_build_dir(), support_build_dir());
    const char *output;
    assert_int_equal(support_run(line, &output), 0);
    free(line);
    char *packages = xstrdup(output);
    size_t checked = 0;
    for (char *name = strtok(packages, "\n"); name; name = strtok(NULL, "\n")) {
        char wanted[128];
        format_into(wanted, sizeof wanted, " %s ", name);
        bool sanitizer = strncmp(name, "libasan", 7) == 0 || strncmp(name, "libubsan", 8) == 0;
        if (strcmp(name, "libc6") != 0 && !sanitizer && !strstr(runtime, wanted))
            fail_msg("the runtime stage of " CONTAINERFILE " does not install %s, which hydra links", name);
        checked++;
    }
    assert_true(checked >= 8); /* lua, libconfig, microhttpd, jansson, sqlite, ssl, itl, curl, pq, libc */
    free(packages);
    free(containerfile);
}

static void test_container_runs_serve_unprivileged_with_health_check(void **state)
{
    (void)state;
    char *containerfile = read_text(CONTAINERFILE);
    const char *runtime = runtime_stage(containerfile);
    assert_contains(containerfile, "ARG BASE=debian:bookworm\n");
    assert_contains(containerfile, "ARG RUNTIME_BASE=debian:bookworm-slim\n");
    assert_contains(containerfile, "FROM ${BASE} AS build\n");
    assert_contains(runtime, "\nFROM ${RUNTIME_BASE}\n");
    assert_contains(runtime, "\nUSER hydra\n");
    assert_null(strstr(runtime, "USER root"));
    assert_contains(runtime, "useradd --system --uid 10001");
    assert_contains(runtime, "VOLUME [\"/etc/hydra\", \"/var/lib/hydra\"]");
    assert_contains(runtime, "HEALTHCHECK ");
    assert_contains(runtime, "CMD curl -fsS http://127.0.0.1:8080/api/v1/health || exit 1");
    assert_contains(runtime, "ENTRYPOINT [\"/usr/bin/hydra\"]");
    assert_contains(runtime, "CMD [\"serve\", \"--config\", \"/etc/hydra/hydra.cfg\", \"--listen\", \"0.0.0.0:8080\"");
    assert_contains(runtime, "EXPOSE 8080");
    free(containerfile);
}

/* make install places the file; the config the image writes to /etc/hydra (configs/hydra.cfg with its relative paths
 * made absolute by the Containerfile's own sed line) checks against the installed plugins and scripts. */
static void test_container_file_is_installed_and_its_config_checks(void **state)
{
    (void)state;
    char stage[64];
    const char *output;
    int status = support_make_install("/usr", stage, sizeof stage, &output);
    if (status != 0)
        fail_msg("make install failed: %s", output);
    char *installed = xasprintf("%s/usr/share/hydra/deploy/container/Containerfile", stage);
    assert_int_equal(access(installed, R_OK), 0);
    free(installed);

    char *containerfile = read_text(CONTAINERFILE);
    const char *sed = strstr(containerfile, "sed -e '");
    assert_non_null(sed);
    char expression[256];
    format_into(expression, sizeof expression, "%.*s", (int)strcspn(sed + 8, "'"), sed + 8);
    free(containerfile);
    assert_string_equal(expression, "s|\"\\.\\./|\"/usr/share/hydra/|");
    /* The same substitution, pointed into the staging folder where the image's /usr is. */
    char *check = xasprintf("sed -e 's|\"\\.\\./|\"%s/usr/share/hydra/|' configs/hydra.cfg > %s/hydra.cfg && "
                            "HYDRA_PLUGIN_DIR=%s/usr/lib/hydra/plugins %s/usr/bin/hydra check-config %s/hydra.cfg 2>&1",
                            stage, stage, stage, stage, stage);
    status = support_run(check, &output);
    free(check);
    if (status != 0)
        fail_msg("the image's config does not check: %s", output);
    char *clean = xasprintf("rm -rf %s", stage);
    support_run(clean, NULL);
    free(clean);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_container_runtime_stage_installs_every_linked_library),
        cmocka_unit_test(test_container_runs_serve_unprivileged_with_health_check),
        cmocka_unit_test(test_container_file_is_installed_and_its_config_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
