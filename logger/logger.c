/* Logger (see logger.h): handlers with a level and a %(...)s format. */
#include "logger/logger.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "utils/config.h"

typedef struct {
    FILE *f;
    bool owned;
    LogLevel level;
    char format[256];
} Handler;

static Handler handlers[4];
static int n_handlers;

static LogLevel parse_level(const char *s)
{
    if (strcmp(s, "DEBUG") == 0) return LOG_DEBUG;
    if (strcmp(s, "WARNING") == 0) return LOG_WARNING;
    if (strcmp(s, "ERROR") == 0) return LOG_ERROR;
    return LOG_INFO;
}

static const char *level_name(LogLevel l)
{
    switch (l) {
    case LOG_DEBUG: return "DEBUG";
    case LOG_INFO: return "INFO";
    case LOG_WARNING: return "WARNING";
    default: return "ERROR";
    }
}

static void add_handler(FILE *f, bool owned, LogLevel level, const char *format)
{
    if (n_handlers == (int)(sizeof handlers / sizeof handlers[0])) return;
    Handler *h = &handlers[n_handlers++];
    h->f = f;
    h->owned = owned;
    h->level = level;
    snprintf(h->format, sizeof h->format, "%s", format);
}

int setup_logging(const char *log_dir, const char *config_path)
{
    shutdown_logging();
    Config *cfg = config_load(config_path);
    if (!cfg) {
        engine_clear_error();
        fprintf(stderr, "Warning: logging configuration file is not found in %s.\n", config_path);
        add_handler(stdout, false, LOG_DEBUG, "%(message)s");
        return 0;
    }
    const cJSON *hs = config_find(cfg, "handlers");
    const cJSON *h;
    int rc = 0;
    cJSON_ArrayForEach(h, hs)
    {
        char key[128];
        const char *level = "INFO", *formatter = "simple", *filename = NULL, *format = "%(message)s";
        snprintf(key, sizeof key, "handlers.%s.level", h->string);
        rc |= config_string_or(cfg, key, level, &level);
        snprintf(key, sizeof key, "handlers.%s.formatter", h->string);
        rc |= config_string_or(cfg, key, formatter, &formatter);
        snprintf(key, sizeof key, "handlers.%s.filename", h->string);
        rc |= config_string_or(cfg, key, NULL, &filename);
        snprintf(key, sizeof key, "formatters.%s.format", formatter);
        rc |= config_string_or(cfg, key, format, &format);
        if (rc) break;
        if (!filename) {
            add_handler(stdout, false, parse_level(level), format);
        } else if (log_dir) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", log_dir, filename);
            FILE *f = fopen(path, "a");
            if (!f) {
                engine_error("%s: cannot open log file", path);
                rc = -1;
                break;
            }
            add_handler(f, true, parse_level(level), format);
        }
    }
    config_free(cfg);
    return rc ? -1 : 0;
}

void shutdown_logging(void)
{
    for (int i = 0; i < n_handlers; i++)
        if (handlers[i].owned) fclose(handlers[i].f);
    n_handlers = 0;
}

int get_logger(Logger *out, const char *name, int verbosity)
{
    ENGINE_CHECK_INT(verbosity >= 0 && verbosity <= 2, "verbosity option %d is invalid. Valid options are 0, 1, 2.",
                     verbosity);
    static const LogLevel levels[] = {LOG_WARNING, LOG_INFO, LOG_DEBUG};
    snprintf(out->name, sizeof out->name, "%s", name);
    out->level = levels[verbosity];
    return 0;
}

/* Writes one record through a handler's format. */
static void emit(const Handler *h, const Logger *lg, LogLevel level, const char *message)
{
    const char *p = h->format;
    while (*p) {
        if (strncmp(p, "%(message)s", 11) == 0) {
            fputs(message, h->f);
            p += 11;
        } else if (strncmp(p, "%(asctime)s", 11) == 0) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            struct tm tm;
            localtime_r(&ts.tv_sec, &tm);
            char buf[64];
            strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
            fprintf(h->f, "%s,%03ld", buf, ts.tv_nsec / 1000000);
            p += 11;
        } else if (strncmp(p, "%(name)s", 8) == 0) {
            fputs(lg->name, h->f);
            p += 8;
        } else if (strncmp(p, "%(levelname)s", 13) == 0) {
            fputs(level_name(level), h->f);
            p += 13;
        } else {
            fputc(*p++, h->f);
        }
    }
    fputc('\n', h->f);
    fflush(h->f);
}

void log_msg(const Logger *lg, LogLevel level, const char *fmt, ...)
{
    if (level < lg->level) return;
    char message[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (n_handlers == 0) { /* before setup: plain console */
        puts(message);
        return;
    }
    for (int i = 0; i < n_handlers; i++)
        if (level >= handlers[i].level) emit(&handlers[i], lg, level, message);
}
