#include "evaluate.h"

#include "backtest.h"
#include "cli.h"
#include "config.h"
#include "loader.h"
#include "nab.h"
#include "plugin_set.h"
#include "report.h"
#include "series_csv.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_OPTIONS 8
#define MAX_FILES 256

/* ## Arguments: --name VALUE pairs from an allowed list, and files --------------------------------------------- */

typedef struct arguments {
    const char *names[MAX_OPTIONS];
    const char *values[MAX_OPTIONS];
    size_t option_count;
    const char *files[MAX_FILES];
    size_t file_count;
} arguments;

static int parse_arguments(const char *command, int argc, char **argv, const char *const *allowed, arguments *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) != 0) {
            if (out->file_count == MAX_FILES)
                return cli_usage_error("%s: at most %d files", command, MAX_FILES);
            out->files[out->file_count++] = argv[i];
            continue;
        }
        size_t k = 0;
        while (allowed[k] && strcmp(allowed[k], argv[i]) != 0)
            k++;
        if (!allowed[k])
            return cli_usage_error("%s: unknown option '%s'", command, argv[i]);
        if (i + 1 >= argc)
            return cli_usage_error("%s: %s needs a value", command, argv[i]);
        if (out->option_count == MAX_OPTIONS)
            return cli_usage_error("%s: too many options", command);
        out->names[out->option_count] = argv[i];
        out->values[out->option_count++] = argv[++i];
    }
    return 0;
}

static const char *option(const arguments *args, const char *name)
{
    const char *value = NULL;
    for (size_t i = 0; i < args->option_count; i++)
        if (strcmp(args->names[i], name) == 0)
            value = args->values[i];
    return value;
}

/* ## A model to evaluate: an instance from a config, or a built plugin with default settings --------------------- */

typedef struct evaluated_model {
    hydra_clock clock;
    hydra_config config;
    bool has_config;
    plugin_set set;
    loader_registry registry;
    plugin_instance *own_instance; /* when not from a config */
    plugin_instance *instance;
} evaluated_model;

static int model_from_config(evaluated_model *m, int kind, const char *name, const char *config_path, char *error,
                             size_t size)
{
    if (config_load(&m->config, config_path, error, size) != 0)
        return -1;
    m->has_config = true;
    if (plugin_set_open(&m->set, &m->config, &m->clock, error, size) != 0)
        return -1;
    m->instance = plugin_set_find(&m->set, kind, name);
    if (!m->instance)
        format_into(error, size, "%s: no %s plugin instance named '%s'", config_path, loader_kind_name(kind), name);
    return m->instance ? 0 : -1;
}

static int model_from_plugin_dir(evaluated_model *m, int kind, const char *name, char *error, size_t size)
{
    char *dir = loader_default_plugin_dir();
    char *path = loader_plugin_path(dir, kind, name);
    loader_module *module = NULL;
    if (!path_is_file(path))
        format_into(error, size, "no %s plugin '%s' (looked for %s); name a built plugin, or an instance with --config",
                    loader_kind_name(kind), name, path);
    else
        module = loader_load(&m->registry, path, kind, error, size);
    instance_context context = {.clock = &m->clock, .base_dir = "."};
    if (module)
        m->own_instance = instance_create(module, name, NULL, &context, error, size);
    m->instance = m->own_instance;
    free(path);
    free(dir);
    return m->instance ? 0 : -1;
}

static void evaluated_model_close(evaluated_model *m)
{
    if (m->own_instance)
        instance_destroy(m->own_instance);
    loader_registry_free(&m->registry);
    plugin_set_close(&m->set);
    if (m->has_config)
        config_free(&m->config);
    memset(m, 0, sizeof *m);
}

static int evaluated_model_open(evaluated_model *m, int kind, const char *name, const char *config_path, char *error,
                                size_t size)
{
    memset(m, 0, sizeof *m);
    clock_init_real(&m->clock);
    int status = config_path ? model_from_config(m, kind, name, config_path, error, size)
                             : model_from_plugin_dir(m, kind, name, error, size);
    if (status != 0)
        evaluated_model_close(m);
    return status;
}

/* ## detect ------------------------------------------------------------------------------------------------------- */

/* Scores on the grid, one sample at a time through a model when the plugin has them, so each score sees only the
 * samples before it; otherwise score() over the whole grid, whose contract is the same. */
static int score_grid(plugin_instance *instance, const series_csv *csv, double *scores, char *error, size_t size)
{
    hydra_series series = series_csv_view(csv);
    if (!instance_has_models(instance)) {
        if (instance_score(instance, &series, scores) == 0)
            return 0;
        format_into(error, size, "detector %s: %s", instance_name(instance), instance_error(instance));
        return -1;
    }
    hydra_series empty = {.values = NULL, .count = 0, .start = csv->start, .step = csv->step};
    void *model = instance_model_open(instance, &empty);
    int status = model ? 0 : -1;
    for (size_t i = 0; status == 0 && i < csv->count; i++)
        status = instance_model_score(instance, model, csv->values[i], &scores[i]);
    if (model)
        instance_model_close(instance, model);
    if (status != 0)
        format_into(error, size, "detector %s: %s", instance_name(instance), instance_error(instance));
    return status;
}

static void format_nab_time(double seconds, char *buffer, size_t size)
{
    time_t whole = (time_t)floor(seconds);
    struct tm parts;
    gmtime_r(&whole, &parts);
    strftime(buffer, size, "%Y-%m-%d %H:%M:%S", &parts);
}

/* A score outside [0, 1] or NAN is the plugin's bug; clamped so the file stays valid, and counted. */
static int write_detections(FILE *out, const series_csv *csv, const double *scores)
{
    if (fprintf(out, "timestamp,value,anomaly_score\n") < 0)
        return -1;
    for (size_t row = 0; row < csv->row_count; row++) {
        double score = scores[series_csv_row_slot(csv, row)];
        score = isnan(score) ? 0 : fmin(1, fmax(0, score));
        char when[32];
        format_nab_time(csv->row_times[row], when, sizeof when);
        if (fprintf(out, "%s,%.10g,%.9g\n", when, csv->row_values[row], score) < 0)
            return -1;
    }
    return 0;
}

static int detect_write(const char *out_path, const series_csv *csv, const double *scores, char *error, size_t size)
{
    FILE *out = out_path ? fopen(out_path, "w") : stdout;
    if (!out) {
        format_into(error, size, "cannot write %s: %s", out_path, strerror(errno));
        return -1;
    }
    int status = write_detections(out, csv, scores);
    if ((out_path ? fclose(out) : fflush(out)) != 0)
        status = -1;
    if (status != 0)
        format_into(error, size, "cannot write %s: %s", out_path ? out_path : "the output", strerror(errno));
    return status;
}

int evaluate_detect(int argc, char **argv)
{
    static const char *const allowed[] = {"--detector", "--out", "--config", NULL};
    arguments args;
    int status = parse_arguments("detect", argc, argv, allowed, &args);
    if (status != 0)
        return status;
    const char *detector = option(&args, "--detector");
    if (!detector)
        return cli_usage_error("detect: which detector? (hydra detect --detector NAME FILE.csv)");
    if (args.file_count != 1)
        return cli_usage_error("detect: takes one CSV file, found %zu", args.file_count);
    char error[2048];
    series_csv csv = {0};
    evaluated_model model;
    double *scores = NULL;
    status = 1;
    if (series_csv_read(args.files[0], 0, &csv, error, sizeof error) != 0 ||
        evaluated_model_open(&model, HYDRA_KIND_ANOMALY, detector, option(&args, "--config"), error,
                             sizeof error) != 0) {
        fprintf(stderr, "hydra: %s\n", error);
        series_csv_free(&csv);
        return 1;
    }
    scores = xcalloc(csv.count + 1, sizeof *scores);
    if (score_grid(model.instance, &csv, scores, error, sizeof error) == 0 &&
        detect_write(option(&args, "--out"), &csv, scores, error, sizeof error) == 0)
        status = 0;
    else
        fprintf(stderr, "hydra: %s\n", error);
    free(scores);
    evaluated_model_close(&model);
    series_csv_free(&csv);
    return status;
}

/* ## score-nab ---------------------------------------------------------------------------------------------------- */

typedef struct scored_file {
    double *times, *scores;
    nab_window *windows;
    nab_file file;
} scored_file;

static int scored_file_read(scored_file *f, const char *path, const char *labels, char *error, size_t size)
{
    memset(f, 0, sizeof *f);
    if (nab_results_read(path, &f->times, &f->scores, &f->file.count, error, size) != 0 ||
        nab_labels_read(labels, path, &f->windows, &f->file.window_count, error, size) != 0)
        return -1;
    f->file = (nab_file){path, f->times, f->scores, f->file.count, f->windows, f->file.window_count};
    return 0;
}

static void scored_file_free(scored_file *f)
{
    free(f->times);
    free(f->scores);
    free(f->windows);
}

static void print_nab_report(const scored_file *files, size_t count, const nab_profile *profile, double threshold,
                             const char *how, const nab_tally *total)
{
    printf("%-44s %7s %8s %6s %8s\n", "FILE", "WINDOWS", "DETECTED", "FP", "RAW");
    for (size_t i = 0; i < count; i++) {
        nab_tally one = {0};
        nab_score_file(&files[i].file, profile, threshold, &one);
        const char *name = strrchr(files[i].file.name, '/') ? strrchr(files[i].file.name, '/') + 1 : files[i].file.name;
        printf("%-44.44s %7zu %8zu %6zu %8.3f\n", name, one.windows, one.detected, one.false_positives, one.raw);
    }
    double score = nab_normalised(total);
    printf("profile %s, threshold %.6g (%s): %zu of %zu windows detected, %zu false positives\n", profile->name,
           threshold, how, total->detected, total->windows, total->false_positives);
    if (isnan(score))
        printf("score: none (no labelled window; raw %.3f)\n", total->raw);
    else
        printf("score: %.1f (raw %.3f; never firing %.3f, perfect %.3f)\n", score, total->raw, total->null_raw,
               total->perfect_raw);
}

static int score_nab_options(const arguments *args, const nab_profile **profile, double *threshold)
{
    const char *profile_name = option(args, "--profile"), *threshold_text = option(args, "--threshold");
    *profile = nab_profile_find(profile_name ? profile_name : "standard");
    if (!*profile)
        return cli_usage_error("score-nab: --profile is one of %s, found '%s'", nab_profile_list(), profile_name);
    *threshold = NAN;
    if (threshold_text && (!series_csv_parse_number(threshold_text, threshold) || *threshold < 0 || *threshold > 1))
        return cli_usage_error("score-nab: --threshold takes a number in [0, 1], found '%s'", threshold_text);
    if (!option(args, "--labels"))
        return cli_usage_error("score-nab: where are the windows? (--labels WINDOWS.json)");
    if (args->file_count == 0)
        return cli_usage_error("score-nab: which results? (hydra score-nab RESULTS.csv... --labels WINDOWS.json)");
    return 0;
}

int evaluate_score_nab(int argc, char **argv)
{
    static const char *const allowed[] = {"--labels", "--profile", "--threshold", NULL};
    arguments args;
    const nab_profile *profile;
    double threshold;
    int status = parse_arguments("score-nab", argc, argv, allowed, &args);
    if (status != 0 || (status = score_nab_options(&args, &profile, &threshold)) != 0)
        return status;
    scored_file *files = xcalloc(args.file_count, sizeof *files);
    nab_file *views = xcalloc(args.file_count, sizeof *views);
    char error[2048];
    size_t read = 0;
    for (; read < args.file_count; read++) {
        if (scored_file_read(&files[read], args.files[read], option(&args, "--labels"), error, sizeof error) != 0) {
            fprintf(stderr, "hydra: %s\n", error);
            scored_file_free(&files[read]);
            status = 1;
            break;
        }
        views[read] = files[read].file;
    }
    if (status == 0) {
        nab_tally total = {0};
        bool given = !isnan(threshold);
        if (given)
            for (size_t i = 0; i < read; i++)
                nab_score_file(&views[i], profile, threshold, &total);
        else
            threshold = nab_best_threshold(views, read, profile, &total);
        print_nab_report(files, read, profile, threshold, given ? "given" : "the best over these files", &total);
    }
    for (size_t i = 0; i < read; i++)
        scored_file_free(&files[i]);
    free(files);
    free(views);
    return status;
}

/* ## backtest ----------------------------------------------------------------------------------------------------- */

static bool parse_count(const char *text, size_t low, size_t high, size_t *out)
{
    double value;
    if (!series_csv_parse_number(text, &value) || value != floor(value) || value < (double)low || value > (double)high)
        return false;
    *out = (size_t)value;
    return true;
}

static int parse_horizons(const char *text, backtest_options *options)
{
    char *list = xstrdup(text);
    int status = 0;
    options->horizon_count = 0;
    for (char *save = NULL, *item = strtok_r(list, ",", &save); item && status == 0; item = strtok_r(NULL, ",", &save))
        if (options->horizon_count == BACKTEST_MAX_HORIZONS ||
            !parse_count(item, 1, 100000, &options->horizons[options->horizon_count++]))
            status = cli_usage_error("backtest: --horizons takes up to %d whole numbers of steps >= 1, such as "
                                     "1,5,15; found '%s'", BACKTEST_MAX_HORIZONS, text);
    free(list);
    return status || options->horizon_count > 0 ? status
                                                : cli_usage_error("backtest: --horizons is empty");
}

/* Defaults: horizons 1, 5, 15; a daily season when the step divides a day; the first half as warm-up; every origin. */
static int backtest_options_from(const arguments *args, const series_csv *csv, backtest_options *o)
{
    *o = (backtest_options){.horizons = {1, 5, 15}, .horizon_count = 3, .every = 1, .warmup = csv->count / 2};
    double per_day = 86400 / csv->step;
    o->season = per_day >= 2 && per_day == floor(per_day) ? (size_t)per_day : 1;
    const char *horizons = option(args, "--horizons"), *season = option(args, "--season");
    const char *warmup = option(args, "--warmup"), *every = option(args, "--every");
    if (horizons && parse_horizons(horizons, o) != 0)
        return CLI_EXIT_USAGE;
    if (season && !parse_count(season, 1, 10000000, &o->season))
        return cli_usage_error("backtest: --season takes a whole number of samples >= 1, found '%s'", season);
    if (warmup && !parse_count(warmup, 1, 100000000, &o->warmup))
        return cli_usage_error("backtest: --warmup takes a whole number of samples >= 1, found '%s'", warmup);
    if (every && !parse_count(every, 1, 100000000, &o->every))
        return cli_usage_error("backtest: --every takes a whole number of samples >= 1, found '%s'", every);
    return 0;
}

static void print_backtest(const char *model, const char *path, const backtest_options *o, const backtest_result *r)
{
    printf("backtest of %s on %s: %zu origins from sample %zu (every %zu), %zu where the model could not forecast yet; "
           "MASE against a seasonal naive forecast of %zu samples\n",
           model, path, r->origins, o->warmup, o->every, r->unready_origins, o->season);
    printf("%8s %8s %12s %12s %9s %9s %8s\n", "HORIZON", "POINTS", "MAE", "RMSE", "MAPE%", "sMAPE%", "MASE");
    for (size_t k = 0; k < o->horizon_count; k++) {
        const backtest_errors *e = &r->errors[k];
        printf("%8zu %8zu %12.4g %12.4g %9.2f %9.2f %8.3f\n", o->horizons[k], e->count, e->mae, e->rmse, e->mape,
               e->smape, e->mase);
    }
}

static int write_backtest_csv(const char *path, const series_csv *csv, const backtest_options *o,
                              const backtest_result *r, char *error, size_t size)
{
    FILE *out = fopen(path, "w");
    if (!out) {
        format_into(error, size, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(out, "origin,horizon,timestamp,actual,forecast,lower80,upper80,lower95,upper95,seasonal_naive\n");
    for (size_t i = 0; i < r->point_count; i++) {
        const backtest_point *p = &r->points[i];
        char origin[32], target[32];
        format_nab_time(csv->start + (double)p->origin * csv->step, origin, sizeof origin);
        format_nab_time(csv->start + (double)p->target * csv->step, target, sizeof target);
        fprintf(out, "%s,%zu,%s,%.10g,%.10g,%.10g,%.10g,%.10g,%.10g,%.10g\n", origin, o->horizons[p->horizon_index],
                target, p->actual, p->mean, p->lower80, p->upper80, p->lower95, p->upper95, p->naive);
    }
    if (fclose(out) != 0) {
        format_into(error, size, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ## The backtest picture: one panel per horizon (at most three), actual against forecast with both intervals --- */

#define PICTURE_PANELS 3

typedef struct backtest_picture {
    const char *title;
    const series_csv *csv;
    const backtest_options *options;
    const backtest_result *result;
} backtest_picture;

static int picture_data(const backtest_picture *p, size_t k, const char *path, char *error, size_t size)
{
    FILE *out = fopen(path, "w");
    if (!out) {
        format_into(error, size, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < p->result->point_count; i++) {
        const backtest_point *q = &p->result->points[i];
        if (q->horizon_index == k)
            fprintf(out, "%.0f %.10g %.10g %.10g %.10g %.10g %.10g\n", p->csv->start + (double)q->target * p->csv->step,
                    q->actual, q->mean, q->lower80, q->upper80, q->lower95, q->upper95);
    }
    return fclose(out) == 0 ? 0 : -1;
}

static int picture_script(FILE *script, const char *dir, void *context, char *error, size_t size)
{
    const backtest_picture *p = context;
    size_t panels = p->options->horizon_count < PICTURE_PANELS ? p->options->horizon_count : PICTURE_PANELS;
    fprintf(script, "set xdata time\nset timefmt '%%s'\nset format x \"%%m-%%d\\n%%H:%%M\"\nset grid\n"
                    "set key top left opaque\nset multiplot layout %zu,1 title 'backtest: %s'\n", panels, p->title);
    for (size_t k = 0; k < panels; k++) {
        char *data = xasprintf("%s/horizon-%zu.dat", dir, k);
        int status = picture_data(p, k, data, error, size);
        if (status == 0)
            fprintf(script,
                    "set title '%zu step(s) ahead: MAE %.4g, MASE %.3f'\n"
                    "plot '%s' using 1:6:7 with filledcurves lc rgb '#dbe8f5' title '95 %%', "
                    "'' using 1:4:5 with filledcurves lc rgb '#a9c8e8' title '80 %%', "
                    "'' using 1:2 with lines lw 1.2 lc rgb '#222222' title 'actual', "
                    "'' using 1:3 with lines lw 1.4 lc rgb '#c0392b' title 'forecast'\n",
                    p->options->horizons[k], p->result->errors[k].mae, p->result->errors[k].mase, data);
        free(data);
        if (status != 0)
            return -1;
    }
    fputs("unset multiplot\n", script);
    return 0;
}

static int backtest_outputs(const arguments *args, const char *title, const series_csv *csv,
                            const backtest_options *o, const backtest_result *r, char *error, size_t size)
{
    const char *out = option(args, "--out"), *report = option(args, "--report");
    if (out && write_backtest_csv(out, csv, o, r, error, size) != 0)
        return -1;
    if (report && r->point_count == 0) {
        format_into(error, size, "%s: nothing to draw: the model forecast at no origin (a longer warm-up, --warmup?)",
                    report);
        return -1;
    }
    backtest_picture picture = {title, csv, o, r};
    size_t panels = o->horizon_count < PICTURE_PANELS ? o->horizon_count : PICTURE_PANELS;
    if (report && report_draw(report, 1600, 380 * (int)panels + 60, picture_script, &picture, error, size) != 0)
        return -1;
    return 0;
}

int evaluate_backtest(int argc, char **argv)
{
    static const char *const allowed[] = {"--model", "--config", "--horizons", "--out", "--report",
                                          "--season", "--warmup", "--every", NULL};
    arguments args;
    int status = parse_arguments("backtest", argc, argv, allowed, &args);
    if (status != 0)
        return status;
    const char *model_name = option(&args, "--model");
    if (!model_name)
        return cli_usage_error("backtest: which forecaster? (hydra backtest --model NAME FILE.csv)");
    if (args.file_count != 1)
        return cli_usage_error("backtest: takes one CSV file, found %zu", args.file_count);
    char error[2048];
    series_csv csv = {0};
    if (series_csv_read(args.files[0], 0, &csv, error, sizeof error) != 0) {
        fprintf(stderr, "hydra: %s\n", error);
        return 1;
    }
    backtest_options options;
    if ((status = backtest_options_from(&args, &csv, &options)) != 0) {
        series_csv_free(&csv);
        return status;
    }
    evaluated_model model;
    backtest_result result = {0};
    hydra_series series = series_csv_view(&csv);
    status = 1;
    if (evaluated_model_open(&model, HYDRA_KIND_FORECASTER, model_name, option(&args, "--config"), error,
                             sizeof error) == 0) {
        if (backtest_run(model.instance, &series, &options, &result, error, sizeof error) == 0) {
            print_backtest(model_name, args.files[0], &options, &result);
            const char *file = strrchr(args.files[0], '/') ? strrchr(args.files[0], '/') + 1 : args.files[0];
            char *title = xasprintf("%s on %s", model_name, file);
            for (char *c = title; *c; c++) /* it goes between single quotes in the script */
                *c = *c == '\'' || *c == '\\' || (unsigned char)*c < 32 ? ' ' : *c;
            status = backtest_outputs(&args, title, &csv, &options, &result, error, sizeof error) == 0 ? 0 : 1;
            free(title);
        }
        evaluated_model_close(&model);
    }
    if (status != 0)
        fprintf(stderr, "hydra: %s\n", error);
    backtest_result_free(&result);
    series_csv_free(&csv);
    return status;
}
