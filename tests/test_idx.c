/* The IDX reader on hostile files: headers whose sizes multiply past 64
 * bits (also behind a zero size), and paths that are not regular files (a
 * FIFO with no writer, a folder, a device), which must fail at once with a
 * message naming the file instead of hanging or reading forever. And a
 * large set lands on huge pages where the kernel grants them
 * (data_loader/huge_pages.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data_loader/idx.h"
#include "tests/support/check.h"
#include "tests/support/temp_dir.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    temp_dir_make(dir, sizeof dir, "idx");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    temp_dir_remove(dir);
    return 0;
}

/* dir/name into buf. */
static const char *path_in_dir(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
    return buf;
}

/* Writes an IDX header of unsigned bytes with the given sizes, then
 * data_bytes zero bytes. */
static void write_idx(const char *path, int ndim, const uint32_t *sizes, size_t data_bytes)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    unsigned char magic[4] = {0, 0, 0x08, (unsigned char)ndim};
    fwrite(magic, 1, 4, f);
    for (int i = 0; i < ndim; i++) {
        unsigned char b[4] = {(unsigned char)(sizes[i] >> 24), (unsigned char)(sizes[i] >> 16),
                              (unsigned char)(sizes[i] >> 8), (unsigned char)sizes[i]};
        fwrite(b, 1, 4, f);
    }
    for (size_t i = 0; i < data_bytes; i++) fputc(0, f);
    assert_int_equal(fclose(f), 0);
}

/* A zero size leaves nothing to read, but strides still multiply the other
 * sizes: headers whose non-zero sizes overflow int64 are refused. */
static void test_zero_size_with_huge_others(void **state)
{
    (void)state;
    char path[512];
    path_in_dir(path, sizeof path, "zero-huge-idx3-ubyte");
    write_idx(path, 4, (const uint32_t[]){0, 0xffffffffu, 0xffffffffu, 0xffffffffu}, 0);
    expect_error(idx_load_u8(path, 0), path, "damaged IDX header: shape [0, 4294967295, 4294967295, 4294967295]");
    write_idx(path, 3, (const uint32_t[]){0xffffffffu, 0, 0xffffffffu}, 0);
    expect_error(idx_load_u8(path, 3), path, "too large");
    /* a zero size with ordinary others is a valid, empty file */
    write_idx(path, 3, (const uint32_t[]){0, 28, 28}, 0);
    Tensor *t = idx_load_u8(path, 3);
    REQUIRE_OK(t);
    assert_true(shape_equal(t->shape, SHAPE(0, 28, 28)));
    tensor_free(t);
    write_idx(path, 2, (const uint32_t[]){3, 2}, 6);
    t = idx_load_u8(path, 2);
    REQUIRE_OK(t);
    assert_true(shape_equal(t->shape, SHAPE(3, 2)));
    tensor_free(t);
}

/* A FIFO with no writer: opening it for reading would wait for one. The
 * alarm only turns a hang into a failure; it measures nothing. */
static void test_fifo_is_refused_without_blocking(void **state)
{
    (void)state;
    char path[512];
    path_in_dir(path, sizeof path, "fifo-idx3-ubyte");
    assert_int_equal(mkfifo(path, 0600), 0);
    alarm(60);
    Tensor *t = idx_load_u8(path, 3);
    alarm(0);
    expect_error(t, path, "cannot read: a FIFO (named pipe), not a regular file");
    unlink(path);
}

static void test_folder_and_devices_are_refused(void **state)
{
    (void)state;
    char path[512];
    path_in_dir(path, sizeof path, "folder-idx3-ubyte");
    assert_int_equal(mkdir(path, 0700), 0);
    expect_error(idx_load_u8(path, 3), path, "cannot read: Is a directory");
    rmdir(path);
    /* endless zeros: would read as a 0-dim magic, or forever */
    expect_error(idx_load_u8("/dev/zero", 3), "/dev/zero: cannot read: a character device, not a regular file",
                 NULL);
    expect_error(idx_load_u8("/dev/urandom", 3), "/dev/urandom: cannot read: a character device", NULL);
    path_in_dir(path, sizeof path, "missing-idx3-ubyte");
    expect_error(idx_load_u8(path, 3), path, "cannot open: No such file or directory");
}

/* Kilobytes of transparent huge pages in the mapping of /proc/self/smaps
 * that holds p, or -1 where it is not found. */
static long huge_kb_at(const void *p)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return -1;
    char line[512];
    bool inside = false;
    long kb = -1;
    while (fgets(line, sizeof line, f)) {
        uintptr_t lo, hi;
        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            inside = (uintptr_t)p >= lo && (uintptr_t)p < hi;
            continue;
        }
        if (inside && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1) break;
    }
    fclose(f);
    return inside ? kb : -1;
}

static void test_large_set_is_on_huge_pages(void **state)
{
    (void)state;
    FILE *thp = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    char mode[128] = "";
    if (thp) {
        if (!fgets(mode, sizeof mode, thp)) mode[0] = 0;
        fclose(thp);
    }
    if (!strstr(mode, "[always]") && !strstr(mode, "[madvise]")) {
        print_message("  SKIPPED: transparent huge pages are off here (%s)\n", thp ? "never" : "no THP");
        skip();
    }
    char path[512];
    path_in_dir(path, sizeof path, "large-idx3-ubyte");
    const uint32_t n = 8000; /* 6.3 MB: at least two whole 2 MiB pages wherever it lands */
    write_idx(path, 3, (const uint32_t[]){n, 28, 28}, (size_t)n * 784);
    Tensor *t = idx_load_u8(path, 3);
    REQUIRE_OK(t);
    long kb = huge_kb_at((const char *)tensor_data(t) + (size_t)n * 784 / 2);
    print_message("  %u images: %ld kB of their mapping on huge pages (THP %s)\n", n, kb,
                  strstr(mode, "[always]") ? "always" : "madvise");
    assert_true(kb >= 2048);
    tensor_free(t);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_size_with_huge_others),
        cmocka_unit_test(test_fifo_is_refused_without_blocking),
        cmocka_unit_test(test_folder_and_devices_are_refused),
        cmocka_unit_test(test_large_set_is_on_huge_pages),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
