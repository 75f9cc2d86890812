/* The engine's user-error slot (thread-local) and the invariant-failure abort. */
#include "engine/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static _Thread_local char error_message[4096];
static _Thread_local bool error_set;

void *engine_error(const char *fmt, ...)
{
    if (error_set) return NULL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    error_set = true;
    return NULL;
}

void engine_error_context(const char *fmt, ...)
{
    char context[sizeof error_message], cause[sizeof error_message];
    snprintf(cause, sizeof cause, "%s", error_set ? error_message : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(context, sizeof context, fmt, ap);
    va_end(ap);
    snprintf(error_message, sizeof error_message, "%s%s%s", context, cause[0] ? ": " : "", cause);
    error_set = true;
}

const char *engine_last_error(void) { return error_set ? error_message : ""; }
bool engine_has_error(void) { return error_set; }

void engine_clear_error(void)
{
    error_set = false;
    error_message[0] = '\0';
}

void engine_panic(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: internal error: %s\n", file, line, what);
    fflush(stderr);
    abort();
}
