/* A progress bar for training epochs and ./test: on a terminal, one line on
 * stderr redrawn with \r (count/total, rate, ETA, and a caller's note such
 * as the loss); elsewhere (a log file, CI) a plain line every so often
 * instead, or none when the caller already logs its own progress. */
#ifndef LOGGER_PROGRESS_H
#define LOGGER_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    char label[64];
    int64_t total, count;
    double start, last_draw;
    bool tty, drawn;
    int plain_lines, plain_done; /* lines to print in all when not on a terminal */
    char note[160];              /* the latest note, shown again by progress_end */
    FILE *out;
} Progress;

/* plain_lines: how many plain progress lines (evenly spaced) to print when
 * stderr is not a terminal; 0 for none. */
void progress_begin(Progress *p, const char *label, int64_t total, int plain_lines);
/* count items done so far; note (may be NULL) is shown after the ETA. */
void progress_update(Progress *p, int64_t count, const char *note);
/* Erases the bar so other output can be printed; the next update redraws it. */
void progress_clear(Progress *p);
/* Draws the final state and ends the line (terminal only). */
void progress_end(Progress *p);

/* Pieces of the line, for tests: "1:05" style durations and the bar text. */
void progress_format_duration(double seconds, char *buf, size_t size);
void progress_format(const Progress *p, double now, const char *note, int width, char *buf, size_t size);

#endif
