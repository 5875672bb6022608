#include "cli.h"

#include "client.h"
#include "config.h"
#include "daemon.h"
#include "evaluate.h"
#include "export.h"
#include "keys.h"
#include "loader.h"
#include "log.h"
#include "plugin_set.h"
#include "script.h"
#include "simulation.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


static const char usage_text[] =
    "usage: hydra [--help] [--version] COMMAND [ARGS]\n"
    "\n"
    "Human-gated predictive autoscaling.\n"
    "\n"
    "commands:\n"
    "  check-config FILE            check a config: syntax, settings, plugins, policy script\n"
    "  plugins [--config FILE]      list plugins: kind, name, version, ABI and file\n"
    "  plugins --load FILE.so       load one file and say what it is, or why it is refused\n"
    "        [--kind KIND]          ... and require it to be of this kind\n"
    "  serve [--config FILE] [--listen HOST:PORT] [--data FILE] [--reports DIR]\n"
    "        [--scenario FILE [--speed N] [--start-day D]]\n"
    "                               run the daemon: the controller on the wall clock and the HTTP API; with a\n"
    "                               scenario, a live demo on a clock N (600) times faster, D days in\n"
    "  keys create --tenant T --name N --scopes ingest,read,approve,admin [--config FILE] [--data FILE]\n"
    "  keys list [--tenant T] | keys revoke --tenant T --name N\n"
    "                               manage API keys (a new key is printed once; only its hash is kept)\n"
    "  recommendations list [--status S] | show ID | approve ID | reject ID [--reason TEXT] [--url URL]\n"
    "                               ask a running daemon (key from HYDRA_API_KEY; URL http://127.0.0.1:8080)\n"
    "  ingest FILE.csv [--url URL] [--batch N] [--retries N]\n"
    "                               send samples (service,metric,ts,value) to a running daemon\n"
    "  backup FILE | restore FILE [--config FILE] [--data FILE]\n"
    "                               copy the whole store to FILE while it is in use; put such a copy back\n"
    "  export [--since T] [--what metrics|decisions] [--format csv|json] [--tenant T] [--output FILE]\n"
    "                               a tenant's samples or decisions since T (a time, or an age such as 7d)\n"
    "  simulate SCENARIO.lua        replay a scenario through the controller on a virtual clock\n"
    "        [--policy FILE.lua] [--config FILE] [--seed N] [--days N]\n"
    "        [--json FILE] [--csv FILE] [--report FILE.png|.svg] [--decisions FILE.csv]\n"
    "        [--compare A.lua,B.cfg,...] [--quiet]\n"
    "  detect --detector NAME FILE.csv [--out FILE] [--config FILE]\n"
    "                               score every row (timestamp,value) with an anomaly detector, seeing only\n"
    "                               the past; writes timestamp,value,anomaly_score (NAB's results format)\n"
    "  score-nab RESULTS.csv... --labels WINDOWS.json [--profile P] [--threshold T]\n"
    "                               score detections against labelled windows as NAB does (profiles standard,\n"
    "                               reward_low_FP_rate, reward_low_FN_rate; the best threshold unless given)\n"
    "  backtest --model NAME FILE.csv [--config FILE] [--horizons 1,5,15] [--out FILE.csv]\n"
    "        [--report FILE.png] [--season N] [--warmup N] [--every N]\n"
    "                               rolling-origin backtest of a forecaster: MAE, RMSE, MAPE, sMAPE, MASE\n"
    "\n"
    "options:\n"
    "  -h, --help                   this text\n"
    "  -V, --version                the version and plugin ABI\n"
    "\n"
    "Exit status: 0 ok, 1 the command failed, 2 a usage error.\n";

int cli_usage_error(const char *fmt, ...)
{
    char reason[512];
    va_list args;
    va_start(args, fmt);
    vformat_into(reason, sizeof reason, fmt, args);
    va_end(args);
    fprintf(stderr, "hydra: %s (see 'hydra --help')\n", reason);
    return CLI_EXIT_USAGE;
}

/* ## plugins ------------------------------------------------------------------------------------------------------ */

/* One row per plugin; instance is NULL when listing files rather than a config. */
static void print_plugin_header(bool with_instance)
{
    if (with_instance)
        printf("%-16s ", "INSTANCE");
    printf("%-10s %-16s %-8s %-4s %s\n", "KIND", "NAME", "VERSION", "ABI", "FILE");
}

static void print_plugin_row(const char *instance, const loader_module *module)
{
    const hydra_plugin_descriptor *d = module->descriptor;
    if (instance)
        printf("%-16s ", instance);
    printf("%-10s %-16s %-8s %-4u %s\n", loader_kind_name(d->kind), d->name, d->version ? d->version : "-",
           d->abi_version, module->path);
}

static int plugins_load_one(const char *path, const char *kind_name)
{
    int kind = LOADER_ANY_KIND;
    if (kind_name && !(kind = loader_kind_parse(kind_name)))
        return cli_usage_error("unknown kind '%s' for --kind (expected one of %s)", kind_name, loader_kind_list());
    loader_registry registry = {0};
    char error[2048];
    loader_module *module = loader_load(&registry, path, kind, error, sizeof error);
    if (!module) {
        fprintf(stderr, "hydra: %s\n", error);
        return 1;
    }
    const hydra_plugin_descriptor *d = module->descriptor;
    printf("%s: %s plugin '%s' version %s, ABI %u: %s\n", path, loader_kind_name(d->kind), d->name,
           d->version ? d->version : "-", d->abi_version, d->description ? d->description : "");
    loader_registry_free(&registry);
    return 0;
}

static int plugins_from_config(const char *config_path)
{
    hydra_config config;
    char error[2048];
    int status = 1;
    plugin_set set = {0};
    hydra_clock clock;
    clock_init_real(&clock);
    if (config_load(&config, config_path, error, sizeof error) != 0 ||
        plugin_set_open(&set, &config, &clock, error, sizeof error) != 0) {
        fprintf(stderr, "hydra: %s\n", error);
        goto done;
    }
    print_plugin_header(true);
    for (size_t i = 0; i < set.count; i++)
        print_plugin_row(instance_name(set.instances[i]), instance_module(set.instances[i]));
    status = 0;
done:
    plugin_set_close(&set);
    config_free(&config);
    return status;
}

/* Loads every .so in <dir>/<kind>; a file that is refused is reported and makes the listing fail. */
static int plugins_scan_kind(loader_registry *registry, const char *dir, int kind)
{
    char *kind_dir = xasprintf("%s/%s", dir, loader_kind_name(kind));
    struct dirent **entries = NULL;
    int count = path_is_dir(kind_dir) ? scandir(kind_dir, &entries, NULL, alphasort) : 0;
    int failures = 0;
    for (int i = 0; i < count; i++) {
        if (text_ends_with(entries[i]->d_name, ".so")) {
            char *path = xasprintf("%s/%s", kind_dir, entries[i]->d_name);
            char error[2048];
            loader_module *module = loader_load(registry, path, kind, error, sizeof error);
            if (module)
                print_plugin_row(NULL, module);
            else
                failures += fprintf(stderr, "hydra: %s\n", error) > 0;
            free(path);
        }
        free(entries[i]);
    }
    free(entries);
    free(kind_dir);
    return failures;
}

static int plugins_from_dir(void)
{
    char *dir = loader_default_plugin_dir();
    if (!path_is_dir(dir)) {
        fprintf(stderr, "hydra: plugin folder %s does not exist; run make, or pass --config FILE\n", dir);
        free(dir);
        return 1;
    }
    loader_registry registry = {0};
    print_plugin_header(false);
    int failures = 0;
    for (int kind = HYDRA_KIND_FORECASTER; kind <= HYDRA_KIND_SOURCE; kind++)
        failures += plugins_scan_kind(&registry, dir, kind);
    loader_registry_free(&registry);
    free(dir);
    return failures ? 1 : 0;
}

static int command_plugins(int argc, char **argv)
{
    const char *config_path = NULL, *load_path = NULL, *kind = NULL;
    for (int i = 1; i < argc; i++) {
        const char **slot = strcmp(argv[i], "--config") == 0 ? &config_path
                            : strcmp(argv[i], "--load") == 0 ? &load_path
                            : strcmp(argv[i], "--kind") == 0 ? &kind
                                                             : NULL;
        if (!slot)
            return cli_usage_error("plugins: unknown argument '%s'", argv[i]);
        if (i + 1 >= argc)
            return cli_usage_error("plugins: %s needs a value", argv[i]);
        *slot = argv[++i];
    }
    if (config_path && load_path)
        return cli_usage_error("plugins: --config and --load do not go together");
    if (kind && !load_path)
        return cli_usage_error("plugins: --kind goes with --load");
    if (load_path)
        return plugins_load_one(load_path, kind);
    return config_path ? plugins_from_config(config_path) : plugins_from_dir();
}

/* ## check-config ---------------------------------------------------------------------------------------------- */

static int check_policy(const hydra_config *config, const hydra_clock *clock, char *error, size_t error_size)
{
    if (!config->policy_path)
        return 0;
    script_options options = {config->lua_memory_limit, config->lua_instruction_limit, clock, NULL, NULL};
    hydra_script *policy = script_open(config->policy_path, &options, error, error_size);
    if (!policy)
        return -1;
    bool has_decide = script_has_function(policy, "decide");
    script_close(policy);
    if (!has_decide)
        format_into(error, error_size, "%s: a policy must define a global function decide(rec, ctx)",
                    config->policy_path);
    return has_decide ? 0 : -1;
}

static int command_check_config(int argc, char **argv)
{
    if (argc != 2)
        return cli_usage_error(argc < 2 ? "check-config: which file? (hydra check-config FILE)"
                                    : "check-config: takes one file, found %d arguments", argc - 1);
    hydra_config config;
    plugin_set set = {0};
    char error[2048];
    hydra_clock clock;
    clock_init_real(&clock);
    int status = 1;
    if (config_load(&config, argv[1], error, sizeof error) != 0 ||
        plugin_set_open(&set, &config, &clock, error, sizeof error) != 0 ||
        check_policy(&config, &clock, error, sizeof error) != 0) {
        fprintf(stderr, "hydra: %s\n", error);
        goto done;
    }
    printf("%s: ok: %zu plugins, %zu targets, %zu notifiers, policy %s\n", argv[1], config.plugin_count,
           config.target_count, config.notifier_count, config.policy_path ? config.policy_path : "none (always ask)");
    status = 0;
done:
    plugin_set_close(&set);
    config_free(&config);
    return status;
}

/* ## simulate ------------------------------------------------------------------------------------------------- */

/* The default config: configs/hydra.cfg of the source tree beside build/hydra, else the installed one. */
static char *default_config_path(void)
{
    char *beside = path_beside_executable("../configs/hydra.cfg");
    return beside ? beside : xstrdup(HYDRA_DATA_DIR "/configs/hydra.cfg");
}

typedef struct simulate_args {
    simulation_options options;
    const char *json_path, *csv_path, *compare;
    bool quiet;
} simulate_args;

static bool parse_number(const char *text, double low, double high, double *out)
{
    char *end = NULL;
    double value = strtod(text, &end);
    if (end == text || *end || !(value >= low && value <= high))
        return false;
    *out = value;
    return true;
}

static int parse_simulate_option(simulate_args *a, const char *flag, const char *value)
{
    double number;
    if (strcmp(flag, "--policy") == 0)
        a->options.policy_path = value;
    else if (strcmp(flag, "--config") == 0)
        a->options.config_path = value;
    else if (strcmp(flag, "--json") == 0)
        a->json_path = value;
    else if (strcmp(flag, "--csv") == 0)
        a->csv_path = value;
    else if (strcmp(flag, "--report") == 0)
        a->options.report_path = value;
    else if (strcmp(flag, "--decisions") == 0)
        a->options.decisions_path = value;
    else if (strcmp(flag, "--compare") == 0)
        a->compare = value;
    else if (strcmp(flag, "--seed") == 0 && parse_number(value, 0, 9007199254740992.0, &number) && number == (double)(unsigned long long)number)
        a->options.overrides = (scenario_overrides){true, (uint64_t)number, a->options.overrides.days};
    else if (strcmp(flag, "--days") == 0 && parse_number(value, 1.0 / 1440, 3660, &number))
        a->options.overrides.days = number;
    else if (strcmp(flag, "--seed") == 0 || strcmp(flag, "--days") == 0)
        return cli_usage_error("simulate: %s takes a %s, found '%s'", flag,
                           flag[2] == 's' ? "whole number >= 0" : "number of days > 0", value);
    else
        return cli_usage_error("simulate: unknown option '%s'", flag);
    return 0;
}

static int parse_simulate_args(int argc, char **argv, simulate_args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quiet") == 0) {
            a->quiet = true;
        } else if (strncmp(argv[i], "--", 2) == 0) {
            if (i + 1 >= argc)
                return cli_usage_error("simulate: %s needs a value", argv[i]);
            int status = parse_simulate_option(a, argv[i], argv[i + 1]);
            if (status != 0)
                return status;
            i++;
        } else if (!a->options.scenario_path) {
            a->options.scenario_path = argv[i];
        } else {
            return cli_usage_error("simulate: one scenario at a time, found '%s' too", argv[i]);
        }
    }
    if (!a->options.scenario_path)
        return cli_usage_error("simulate: which scenario? (hydra simulate SCENARIO.lua)");
    if (a->compare && a->options.policy_path)
        return cli_usage_error("simulate: --compare names the policies; drop --policy");
    a->options.progress = !a->quiet && isatty(STDERR_FILENO);
    return 0;
}

static int simulate_once(simulate_args *a, simulation_result *result)
{
    char error[4096];
    a->options.csv_path = a->csv_path;
    if (simulation_run(&a->options, result, error, sizeof error) != 0) {
        fprintf(stderr, "hydra: %s\n", error);
        return 1;
    }
    return 0;
}

static void print_comparison(const simulation_result *results, size_t count)
{
    printf("%-28s", "policy or config");
    for (size_t i = 0; i < count; i++)
        printf(" %24.24s", results[i].policy + (strncmp(results[i].policy, "policy ", 7) == 0 ? 7 : 0));
    printf("\n");
    static const char *const rows[] = {"SLO violation minutes", "dropped requests", "replica-hours",
                                       "recommendations", "asked a person", "expired", "policy errors"};
    for (size_t row = 0; row < ARRAY_LEN(rows); row++) {
        printf("%-28s", rows[row]);
        for (size_t i = 0; i < count; i++) {
            const simulation_result *r = &results[i];
            double values[] = {r->slo_violation_minutes, r->dropped_requests, r->replica_hours,
                               (double)r->recommendations.total, (double)r->recommendations.asked,
                               (double)r->recommendations.expired, (double)r->policy_errors};
            printf(" %24.1f", values[row]);
        }
        printf("\n");
    }
}

static int simulate_compare(simulate_args *a)
{
    char *list = xstrdup(a->compare);
    simulation_result results[16];
    size_t count = 0;
    int status = 0;
    for (char *save = NULL, *policy = strtok_r(list, ",", &save); policy && status == 0;
         policy = strtok_r(NULL, ",", &save)) {
        if (count == ARRAY_LEN(results)) {
            status = cli_usage_error("simulate: --compare takes at most %zu policies", ARRAY_LEN(results));
            break;
        }
        /* A .cfg compares configs (forecasters, planner settings) under their own policy; anything else is a policy. */
        bool is_config = text_ends_with(policy, ".cfg");
        const char *default_config = a->options.config_path;
        a->options.policy_path = is_config ? NULL : policy;
        a->options.config_path = is_config ? policy : default_config;
        status = simulate_once(a, &results[count]);
        a->options.config_path = default_config;
        if (status == 0 && is_config)
            format_into(results[count].policy, sizeof results[count].policy, "%s",
                        strrchr(policy, '/') ? strrchr(policy, '/') + 1 : policy);
        count += status == 0;
    }
    if (status == 0)
        print_comparison(results, count);
    char error[1024];
    if (status == 0 && a->json_path &&
        simulation_write_comparison_json(a->json_path, results, count, error, sizeof error) != 0) {
        fprintf(stderr, "hydra: %s\n", error);
        status = 1;
    }
    for (size_t i = 0; i < count; i++)
        simulation_result_free(&results[i]);
    free(list);
    return status;
}

static int command_simulate(int argc, char **argv)
{
    simulate_args a;
    int status = parse_simulate_args(argc, argv, &a);
    if (status != 0)
        return status;
    char *config_path = a.options.config_path ? NULL : default_config_path();
    if (config_path)
        a.options.config_path = config_path;
    if (a.compare) {
        status = simulate_compare(&a);
        free(config_path);
        return status;
    }
    simulation_result result;
    status = simulate_once(&a, &result);
    if (status == 0) {
        if (!a.quiet)
            simulation_print_scorecard(stdout, &result);
        char error[1024];
        if (a.json_path && simulation_write_json(a.json_path, &result, error, sizeof error) != 0) {
            fprintf(stderr, "hydra: %s\n", error);
            status = 1;
        }
        if (a.options.report_path && !a.quiet)
            printf("report: %s\n", a.options.report_path);
        simulation_result_free(&result);
    }
    free(config_path);
    return status;
}

/* ## serve and keys --------------------------------------------------------------------------------------------- */

typedef struct named_options {
    const char *names[8];
    const char *values[8];
    size_t count;
} named_options;

/* --name VALUE pairs, each name one of `allowed`; returns 0 or a usage error's exit status. */
static int parse_named(const char *command, int argc, char **argv, int first, const char *const *allowed,
                       named_options *out)
{
    memset(out, 0, sizeof *out);
    for (int i = first; i < argc; i += 2) {
        size_t k = 0;
        while (allowed[k] && strcmp(allowed[k], argv[i]) != 0)
            k++;
        if (!allowed[k])
            return cli_usage_error("%s: unknown argument '%s'", command, argv[i]);
        if (i + 1 >= argc)
            return cli_usage_error("%s: %s needs a value", command, argv[i]);
        if (out->count < ARRAY_LEN(out->names)) {
            out->names[out->count] = argv[i];
            out->values[out->count++] = argv[i + 1];
        }
    }
    return 0;
}

static const char *named(const named_options *options, const char *name)
{
    for (size_t i = 0; i < options->count; i++)
        if (strcmp(options->names[i], name) == 0)
            return options->values[i];
    return NULL;
}

static daemon_options daemon_options_from(const named_options *named_args, char **config_owned)
{
    const char *config = named(named_args, "--config");
    *config_owned = config ? NULL : default_config_path();
    return (daemon_options){.config_path = config ? config : *config_owned, .listen = named(named_args, "--listen"),
                            .data_path = named(named_args, "--data")};
}

/* --speed and --start-day of a live demo: positive numbers. */
static int live_demo_numbers(const named_options *args, daemon_options *options)
{
    const char *speed = named(args, "--speed"), *start_day = named(args, "--start-day");
    char *end = NULL;
    options->speed = speed ? strtod(speed, &end) : 600;
    if (speed && (end == speed || *end || !(options->speed > 0 && options->speed <= 1e6)))
        return cli_usage_error("serve: --speed must be a number of simulated seconds per second, found '%s'", speed);
    options->start_day = start_day ? strtod(start_day, &end) : NAN; /* the live demo's default */
    if (start_day && (end == start_day || *end || !(options->start_day >= 0)))
        return cli_usage_error("serve: --start-day must be a number of days >= 0, found '%s'", start_day);
    if ((speed || start_day) && !options->scenario_path)
        return cli_usage_error("serve: --speed and --start-day belong to a live demo: give --scenario FILE");
    return 0;
}

static int command_serve(int argc, char **argv)
{
    static const char *const allowed[] = {"--config", "--listen",    "--data",    "--scenario",
                                          "--speed",  "--start-day", "--reports", NULL};
    named_options args;
    int status = parse_named("serve", argc, argv, 1, allowed, &args);
    if (status != 0)
        return status;
    char *config_owned;
    daemon_options options = daemon_options_from(&args, &config_owned);
    options.scenario_path = named(&args, "--scenario");
    options.reports_dir = named(&args, "--reports");
    options.temporary_store = options.scenario_path && !options.data_path;
    if ((status = live_demo_numbers(&args, &options)) == 0)
        status = daemon_serve(&options);
    free(config_owned);
    return status;
}

static int keys_create(store_handle *store, const named_options *args)
{
    const char *tenant = named(args, "--tenant"), *name = named(args, "--name"), *scopes_text = named(args, "--scopes");
    unsigned scopes;
    const char *bad = NULL;
    if (!tenant || !name || !scopes_text)
        return cli_usage_error("keys create: needs --tenant, --name and --scopes");
    if (!keys_scopes_parse(scopes_text, &scopes, &bad))
        return cli_usage_error("keys create: unknown scope in '%s' (expected ingest, read, approve, admin)", scopes_text);
    char secret[KEYS_SECRET_MAX], hash[KEYS_HASH_HEX], canonical[64];
    if (keys_generate(secret) != 0) {
        fprintf(stderr, "hydra: keys create: the system has no randomness to give\n");
        return 1;
    }
    keys_hash(secret, hash);
    keys_scopes_format(scopes, canonical, sizeof canonical);
    hydra_api_key_record record = {tenant, name, hash, canonical, (double)time(NULL), 0};
    if (store->ops->put_api_key(store->state, &record) != 0) {
        fprintf(stderr, "hydra: keys create: %s\n", instance_error(store->instance));
        return 1;
    }
    printf("%s\n", secret);
    fprintf(stderr, "hydra: key '%s' for tenant '%s' (%s) created; it is shown only this once\n", name, tenant,
            canonical);
    return 0;
}

static int print_key(void *context, const hydra_api_key_record *record)
{
    (void)context;
    printf("%-16s %-20s %-28s %s\n", record->tenant, record->name, record->scopes,
           record->revoked_at > 0 ? "revoked" : "valid");
    return 0;
}

static int keys_list(store_handle *store, const named_options *args)
{
    const char *tenant = named(args, "--tenant");
    printf("%-16s %-20s %-28s %s\n", "TENANT", "NAME", "SCOPES", "STATE");
    if (store->ops->list_api_keys(store->state, tenant ? tenant : store->config.tenant, print_key, NULL) != 0) {
        fprintf(stderr, "hydra: keys list: %s\n", instance_error(store->instance));
        return 1;
    }
    return 0;
}

static int keys_revoke(store_handle *store, const named_options *args)
{
    const char *tenant = named(args, "--tenant"), *name = named(args, "--name");
    if (!tenant || !name)
        return cli_usage_error("keys revoke: needs --tenant and --name");
    int status = store->ops->revoke_api_key(store->state, tenant, name, (double)time(NULL));
    if (status != 0)
        fprintf(stderr, "hydra: keys revoke: %s\n",
                status > 0 ? "no such key in that tenant" : instance_error(store->instance));
    return status == 0 ? 0 : 1;
}

static int command_keys(int argc, char **argv)
{
    static const char *const allowed[] = {"--config", "--data", "--tenant", "--name", "--scopes", NULL};
    if (argc < 2)
        return cli_usage_error("keys: create, list or revoke?");
    const char *action = argv[1];
    if (strcmp(action, "create") != 0 && strcmp(action, "list") != 0 && strcmp(action, "revoke") != 0)
        return cli_usage_error("keys: unknown action '%s' (create, list or revoke)", action);
    named_options args;
    int status = parse_named("keys", argc, argv, 2, allowed, &args);
    if (status != 0)
        return status;
    char *config_owned;
    daemon_options options = daemon_options_from(&args, &config_owned);
    store_handle store;
    char error[2048];
    if (store_handle_open(&store, &options, error, sizeof error) != 0) {
        fprintf(stderr, "hydra: %s\n", error);
        status = 1;
    } else {
        status = action[0] == 'c' ? keys_create(&store, &args) : action[0] == 'l' ? keys_list(&store, &args)
                                                                                  : keys_revoke(&store, &args);
    }
    store_handle_close(&store);
    free(config_owned);
    return status;
}

/* ## backup, restore and export: straight to the store the config names ------------------------------------------ */

/* Opens the store for a command whose first argument is a FILE and the rest --name VALUE pairs of allowed. */
static int open_store_with_file(const char *command, int argc, char **argv, const char *const *allowed,
                                named_options *args, store_handle *store, char **config_owned)
{
    *config_owned = NULL;
    if (argc < 2 || argv[1][0] == '-')
        return cli_usage_error("%s: which file? (hydra %s FILE)", command, command);
    int status = parse_named(command, argc, argv, 2, allowed, args);
    if (status != 0)
        return status;
    daemon_options options = daemon_options_from(args, config_owned);
    char error[2048];
    if (store_handle_open(store, &options, error, sizeof error) != 0) {
        fprintf(stderr, "hydra: %s\n", error);
        store_handle_close(store);
        free(*config_owned);
        return 1;
    }
    if (!store->ops->backup) {
        fprintf(stderr, "hydra: %s: store %s cannot back up or restore; use the database's own tools\n", command,
                store->config.store.name);
        store_handle_close(store);
        free(*config_owned);
        return 1;
    }
    return 0;
}

static int command_backup(int argc, char **argv)
{
    static const char *const allowed[] = {"--config", "--data", NULL};
    named_options args;
    store_handle store;
    char *config_owned;
    int status = open_store_with_file("backup", argc, argv, allowed, &args, &store, &config_owned);
    if (status != 0)
        return status;
    status = store.ops->backup(store.state, argv[1]) == 0 ? 0 : 1;
    if (status == 0)
        printf("%s: a copy of store %s\n", argv[1], store.config.store.name);
    else
        fprintf(stderr, "hydra: backup: %s\n", instance_error(store.instance));
    store_handle_close(&store);
    free(config_owned);
    return status;
}

/* The copy replaces the whole database; migrate then brings an older copy up to this build's schema. */
static int command_restore(int argc, char **argv)
{
    static const char *const allowed[] = {"--config", "--data", NULL};
    named_options args;
    store_handle store;
    char *config_owned;
    int status = open_store_with_file("restore", argc, argv, allowed, &args, &store, &config_owned);
    if (status != 0)
        return status;
    int version = 0;
    if (store.ops->restore(store.state, argv[1]) != 0 || store.ops->migrate(store.state, &version) != 0) {
        fprintf(stderr, "hydra: restore: %s\n", instance_error(store.instance));
        status = 1;
    } else {
        printf("%s: restored into store %s (schema version %d); restart the daemon if it runs\n", argv[1],
               store.config.store.name, version);
    }
    store_handle_close(&store);
    free(config_owned);
    return status;
}

/* --since: a time ("2027-02-08T00:00:00Z", Unix seconds) or an age back from now ("7d", "90m"). */
static bool parse_since(const char *text, double *since)
{
    double age;
    if (clock_parse_time(text, since))
        return true;
    if (!clock_parse_duration(text, &age))
        return false;
    *since = (double)time(NULL) - age;
    return true;
}

static int export_options_from(const named_options *args, export_options *o)
{
    const char *since = named(args, "--since"), *what = named(args, "--what"), *format = named(args, "--format");
    *o = (export_options){EXPORT_METRICS, false, 0, named(args, "--tenant")};
    if (since && !parse_since(since, &o->since))
        return cli_usage_error("export: --since takes a time (2027-02-08T00:00:00Z, Unix seconds) or an age (7d), "
                           "found '%s'", since);
    if (what && strcmp(what, "metrics") != 0 && strcmp(what, "decisions") != 0)
        return cli_usage_error("export: --what is metrics or decisions, found '%s'", what);
    if (format && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0)
        return cli_usage_error("export: --format is csv or json, found '%s'", format);
    o->what = what && strcmp(what, "decisions") == 0 ? EXPORT_DECISIONS : EXPORT_METRICS;
    o->json = format && strcmp(format, "json") == 0;
    return 0;
}

static int command_export(int argc, char **argv)
{
    static const char *const allowed[] = {"--config", "--data", "--since", "--what", "--format", "--tenant",
                                          "--output", NULL};
    named_options args;
    export_options options;
    int status = parse_named("export", argc, argv, 1, allowed, &args);
    if (status != 0 || (status = export_options_from(&args, &options)) != 0)
        return status;
    char *config_owned;
    daemon_options daemon = daemon_options_from(&args, &config_owned);
    store_handle store;
    char error[2048];
    const char *output = named(&args, "--output");
    FILE *out = NULL;
    if (store_handle_open(&store, &daemon, error, sizeof error) != 0) {
        status = 1;
    } else if (!(out = output ? fopen(output, "w") : stdout)) {
        format_into(error, sizeof error, "export: cannot write %s: %s", output, strerror(errno));
        status = 1;
    } else {
        options.tenant = options.tenant ? options.tenant : store.config.tenant;
        status = export_write(&store, &options, out, error, sizeof error) == 0 ? 0 : 1;
        if ((output ? fclose(out) : fflush(out)) != 0 && status == 0) {
            format_into(error, sizeof error, "export: cannot write %s: %s", output ? output : "the output",
                        strerror(errno));
            status = 1;
        }
    }
    if (status != 0)
        fprintf(stderr, "hydra: %s\n", error);
    store_handle_close(&store);
    free(config_owned);
    return status;
}

/* ## Dispatch ---------------------------------------------------------------------------------------------------- */

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
} command;

static const command commands[] = {
    {"check-config", command_check_config},
    {"plugins", command_plugins},
    {"simulate", command_simulate},
    {"serve", command_serve},
    {"keys", command_keys},
    {"recommendations", client_recommendations},
    {"ingest", client_ingest},
    {"backup", command_backup},
    {"restore", command_restore},
    {"export", command_export},
    {"detect", evaluate_detect},
    {"score-nab", evaluate_score_nab},
    {"backtest", evaluate_backtest},
};

int cli_main(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("no command given");
    const char *first = argv[1];
    if (strcmp(first, "-h") == 0 || strcmp(first, "--help") == 0 || strcmp(first, "help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (strcmp(first, "-V") == 0 || strcmp(first, "--version") == 0) {
        printf("hydra %s (plugin ABI %u)\n", HYDRA_VERSION, HYDRA_ABI_VERSION);
        return 0;
    }
    for (size_t i = 0; i < ARRAY_LEN(commands); i++)
        if (strcmp(first, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    if (first[0] == '-')
        return cli_usage_error("unknown option '%s'", first);
    return cli_usage_error("unknown command '%s'", first);
}
