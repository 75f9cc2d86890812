/* Logging as pytorch-template sets it up: a console handler and an
 * info.log file in the run's log folder, formats and levels read from
 * logger/logger_config.json, and per-logger verbosity (0 warning, 1 info,
 * 2 debug). */
#ifndef LOGGER_LOGGER_H
#define LOGGER_LOGGER_H

#include <stdarg.h>

#include "engine/error.h"

typedef enum { LOG_DEBUG = 10, LOG_INFO = 20, LOG_WARNING = 30, LOG_ERROR = 40 } LogLevel;

/* Reads config_path (missing: a warning and plain console output) and opens
 * the file handlers in log_dir (NULL: console only). Returns 0 or -1. */
int setup_logging(const char *log_dir, const char *config_path);
void shutdown_logging(void);

typedef struct {
    char name[32];
    LogLevel level;
} Logger;

/* verbosity 0, 1, 2 -> warning, info, debug; -1 with an error otherwise. */
int get_logger(Logger *out, const char *name, int verbosity);

void log_msg(const Logger *lg, LogLevel level, const char *fmt, ...) ENGINE_PRINTF(3, 4);
#define log_debug(lg, ...) log_msg(lg, LOG_DEBUG, __VA_ARGS__)
#define log_info(lg, ...) log_msg(lg, LOG_INFO, __VA_ARGS__)
#define log_warning(lg, ...) log_msg(lg, LOG_WARNING, __VA_ARGS__)

#endif
