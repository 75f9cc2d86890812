/* Progress bars (see progress.h). The bar is redrawn at most ten times a
 * second, so a fast loop does not spend its time writing to the terminal. */
#include "logger/progress.h"

#include <math.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int terminal_width(FILE *f)
{
    struct winsize ws;
    if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
    return 80;
}

void progress_begin(Progress *p, const char *label, int64_t total, int plain_lines)
{
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label);
    p->total = total > 0 ? total : 0;
    p->out = stderr;
    p->tty = isatty(fileno(stderr));
    p->plain_lines = plain_lines;
    p->start = now_seconds();
}

void progress_format_duration(double seconds, char *buf, size_t size)
{
    if (!isfinite(seconds) || seconds < 0) {
        snprintf(buf, size, "?");
        return;
    }
    long s = lround(seconds);
    if (s >= 3600) snprintf(buf, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else snprintf(buf, size, "%ld:%02ld", s / 60, s % 60);
}

void progress_format(const Progress *p, double now, const char *note, int width, char *buf, size_t size)
{
    double elapsed = now - p->start, rate = elapsed > 0 ? (double)p->count / elapsed : 0;
    char eta[32], spent[32], tail[256];
    progress_format_duration(p->total > p->count && rate > 0 ? (double)(p->total - p->count) / rate : 0, eta,
                             sizeof eta);
    progress_format_duration(elapsed, spent, sizeof spent);
    bool done = p->total > 0 && p->count >= p->total;
    snprintf(tail, sizeof tail, " %lld/%lld  %.1f it/s  %s %s%s%s", (long long)p->count, (long long)p->total, rate,
             done ? "in" : "ETA", done ? spent : eta, note ? "  " : "", note ? note : "");
    int fixed = (int)strlen(p->label) + 3 + (int)strlen(tail);
    int bar = width - 1 - fixed;
    if (bar > 30) bar = 30;
    if (bar < 5 || p->total == 0) { /* too narrow for a bar: the numbers alone */
        snprintf(buf, size, "%s%s", p->label, tail);
        return;
    }
    char cells[32];
    int filled = (int)((double)bar * (double)(p->count < p->total ? p->count : p->total) / (double)p->total);
    for (int i = 0; i < bar; i++) cells[i] = i < filled ? '#' : '.';
    cells[bar] = '\0';
    snprintf(buf, size, "%s [%s]%s", p->label, cells, tail);
}

static void draw(Progress *p, double now, const char *note)
{
    char line[512];
    int width = terminal_width(p->out);
    progress_format(p, now, note, width, line, sizeof line);
    /* \033[K clears what a longer previous line left behind */
    fprintf(p->out, "\r%s\033[K", line);
    fflush(p->out);
    p->drawn = true;
    p->last_draw = now;
}

void progress_update(Progress *p, int64_t count, const char *note)
{
    p->count = count;
    snprintf(p->note, sizeof p->note, "%s", note ? note : "");
    double now = now_seconds();
    if (p->tty) {
        if (!p->drawn || now - p->last_draw >= 0.1 || count >= p->total) draw(p, now, note);
        return;
    }
    /* plain lines at evenly spaced counts */
    if (p->plain_lines <= 0 || p->total <= 0) return;
    int64_t due = p->total * (p->plain_done + 1) / p->plain_lines;
    if (count < due || p->plain_done >= p->plain_lines) return;
    char line[512];
    progress_format(p, now, note, 0, line, sizeof line);
    fprintf(p->out, "%s\n", line);
    fflush(p->out);
    while (p->plain_done < p->plain_lines && p->total * (p->plain_done + 1) / p->plain_lines <= count) p->plain_done++;
}

void progress_clear(Progress *p)
{
    if (!p->tty || !p->drawn) return;
    fprintf(p->out, "\r\033[K");
    fflush(p->out);
    p->drawn = false;
}

void progress_end(Progress *p)
{
    if (!p->tty) return;
    draw(p, now_seconds(), p->note[0] ? p->note : NULL);
    fputc('\n', p->out);
    fflush(p->out);
    p->drawn = false;
}
