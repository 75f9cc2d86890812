/* The TensorBoard writer (logger/visualization.h) and the layers under it:
 * CRC-32C against published vectors, the protobuf wire format, TFRecord
 * framing (every record's length and data CRC), and event files written by
 * TensorboardWriter decoded back field by field (file_version first, tags
 * with their mode, steps, values, images, histograms). TensorBoard's own
 * reader is tried in test_tensorboard_reader.c. */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "logger/crc32c.h"
#include "logger/image_grid.h"
#include "logger/protobuf.h"
#include "logger/tfrecord.h"
#include "logger/visualization.h"
#include "tests/support/check.h"
#include "tests/support/event_reader.h"
#include "tests/support/png_read.h"
#include "tests/support/temp_dir.h"

static void test_crc32c_vectors(void **state)
{
    (void)state;
    /* the check value of CRC-32C, and the vectors of RFC 3720 (iSCSI), B.4 */
    assert_int_equal(crc32c("123456789", 9), 0xE3069283u);
    assert_int_equal(crc32c("", 0), 0);
    uint8_t buf[32];
    memset(buf, 0, sizeof buf);
    assert_int_equal(crc32c(buf, 32), 0x8A9136AAu);
    memset(buf, 0xFF, sizeof buf);
    assert_int_equal(crc32c(buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++) buf[i] = (uint8_t)i;
    assert_int_equal(crc32c(buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++) buf[i] = (uint8_t)(31 - i);
    assert_int_equal(crc32c(buf, 32), 0x113FDB5Cu);
    /* extending in pieces gives the same CRC as one pass */
    assert_int_equal(crc32c_extend(crc32c("1234", 4), "56789", 5), 0xE3069283u);
    /* the mask: rotate right by 15, add 0xa282ead8 */
    assert_int_equal(crc32c_mask(0), 0xa282ead8u);
    assert_int_equal(crc32c_mask(0x00008000u), 0xa282ead9u);
    assert_int_equal(crc32c_mask(0x00000001u), 0xa282ead8u + 0x00020000u);
}

static void test_protobuf_wire(void **state)
{
    (void)state;
    PbBuf b;
    pb_init(&b);
    pb_varint_field(&b, 1, 150); /* the protobuf documentation's example: 08 96 01 */
    const uint8_t want[] = {0x08, 0x96, 0x01};
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, want, 3);
    pb_string_field(&b, 2, "testing"); /* 12 07 74 65 73 74 69 6e 67 */
    assert_int_equal(b.len, 12);
    assert_int_equal(b.data[3], 0x12);
    assert_int_equal(b.data[4], 7);
    pb_varint_field(&b, 3, (uint64_t)(int64_t)-2); /* int64 -2: ten bytes */
    pb_double_field(&b, 4, -0.375);
    pb_float_field(&b, 5, 1.5f);
    double values[3] = {1, -2.5, 1e300};
    pb_packed_doubles_field(&b, 6, values, 3);
    pb_varint_field(&b, 300, 1); /* a field number needing a two-byte key */

    PbReader r = pb_reader(b.data, b.len);
    PbField f;
    assert_true(pb_next(&r, &f));
    assert_int_equal(f.field, 1);
    assert_int_equal(f.wire, PB_VARINT);
    assert_int_equal(f.varint, 150);
    assert_true(pb_next(&r, &f));
    assert_int_equal(f.wire, PB_BYTES);
    assert_int_equal(f.len, 7);
    assert_memory_equal(f.data, "testing", 7);
    assert_true(pb_next(&r, &f));
    assert_int_equal((int64_t)f.varint, -2);
    assert_true(pb_next(&r, &f));
    assert_int_equal(f.wire, PB_FIXED64);
    assert_true(pb_as_double(&f) == -0.375);
    assert_int_equal(f.data[7], 0xBF); /* little-endian: the sign byte last */
    assert_true(pb_next(&r, &f));
    assert_int_equal(f.wire, PB_FIXED32);
    assert_true(pb_as_float(&f) == 1.5f);
    assert_true(pb_next(&r, &f));
    assert_int_equal(f.field, 6);
    assert_int_equal(pb_packed_count(&f), 3);
    for (int i = 0; i < 3; i++) assert_true(pb_packed_double(&f, (size_t)i) == values[i]);
    assert_true(pb_next(&r, &f));
    assert_int_equal(f.field, 300);
    assert_false(pb_next(&r, &f));
    assert_false(r.error);

    /* a length running past the end, and a varint without its last byte */
    const uint8_t bad_len[] = {0x12, 0x09, 'a', 'b'}, bad_varint[] = {0x08, 0x96};
    r = pb_reader(bad_len, sizeof bad_len);
    assert_false(pb_next(&r, &f));
    assert_true(r.error);
    r = pb_reader(bad_varint, sizeof bad_varint);
    assert_false(pb_next(&r, &f));
    assert_true(r.error);
    pb_free(&b);
}

/* Writes records "alpha", "" and 300 bytes to path. */
static void write_three_records(const char *path)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint8_t big[300];
    for (int i = 0; i < 300; i++) big[i] = (uint8_t)(i * 7);
    assert_int_equal(tfrecord_write(f, path, "alpha", 5), 0);
    assert_int_equal(tfrecord_write(f, path, "", 0), 0);
    assert_int_equal(tfrecord_write(f, path, big, sizeof big), 0);
    fclose(f);
}

/* Reading path fails with a message containing piece. */
static void expect_read_error(const char *path, const char *piece)
{
    TFRecordReader r;
    assert_int_equal(tfrecord_open(&r, path), 0);
    int rc;
    while ((rc = tfrecord_next(&r)) == 1) {}
    tfrecord_close(&r);
    assert_int_equal(rc, -1);
    print_message("  error: %s\n", engine_last_error());
    if (!strstr(engine_last_error(), piece)) fail_msg("expected \"%s\" in: %s", piece, engine_last_error());
    engine_clear_error();
}

static void write_bytes(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void test_tfrecord_framing(void **state)
{
    (void)state;
    char dir[512], path[600];
    temp_dir_make(dir, sizeof dir, "tfrecord");
    snprintf(path, sizeof path, "%s/records", dir);
    write_three_records(path);
    size_t len;
    char *bytes = read_whole_file(path, &len);
    assert_non_null(bytes);
    assert_int_equal(len, 3 * 16 + 5 + 0 + 300);
    /* the layout, by hand: length 5 little-endian, then the masked CRCs */
    const uint8_t len5[8] = {5, 0, 0, 0, 0, 0, 0, 0};
    assert_memory_equal(bytes, len5, 8);
    uint32_t stored = (uint32_t)(uint8_t)bytes[8] | (uint32_t)(uint8_t)bytes[9] << 8 |
                      (uint32_t)(uint8_t)bytes[10] << 16 | (uint32_t)(uint8_t)bytes[11] << 24;
    assert_int_equal(stored, crc32c_mask(crc32c(len5, 8)));
    stored = (uint32_t)(uint8_t)bytes[17] | (uint32_t)(uint8_t)bytes[18] << 8 | (uint32_t)(uint8_t)bytes[19] << 16 |
             (uint32_t)(uint8_t)bytes[20] << 24;
    assert_int_equal(stored, crc32c_mask(crc32c("alpha", 5)));

    TFRecordReader r;
    assert_int_equal(tfrecord_open(&r, path), 0);
    assert_int_equal(tfrecord_next(&r), 1);
    assert_int_equal(r.len, 5);
    assert_memory_equal(r.data, "alpha", 5);
    assert_int_equal(tfrecord_next(&r), 1);
    assert_int_equal(r.len, 0);
    assert_int_equal(tfrecord_next(&r), 1);
    assert_int_equal(r.len, 300);
    assert_int_equal(r.data[299], (uint8_t)(299 * 7));
    assert_int_equal(tfrecord_next(&r), 0);
    tfrecord_close(&r);

    /* corruptions: a data byte, a length byte, a missing tail */
    bytes[14] ^= 1;
    write_bytes(path, bytes, len);
    expect_read_error(path, "data's CRC");
    bytes[14] ^= 1;
    bytes[16 + 5] ^= 0x40; /* the second record's length */
    write_bytes(path, bytes, len);
    expect_read_error(path, "length's CRC");
    bytes[16 + 5] ^= 0x40;
    write_bytes(path, bytes, len - 3);
    expect_read_error(path, "truncated");
    free(bytes);
    temp_dir_remove(dir);
}

/* An event's expected contents. */
typedef struct {
    EventKind kind;
    const char *tag;
    int64_t step;
    double value; /* scalars; NAN: any positive value (steps_per_sec) */
} Expected;

/* Writes a small run like the trainer's into dir and returns the batch of
 * images it logged (for the image check). */
static Tensor *write_demo_run(const char *dir)
{
    TensorboardWriter w;
    assert_int_equal(tensorboard_writer_init(&w, dir, true), 0);
    assert_int_equal(writer_set_step(&w, 0, "train"), 0);
    assert_int_equal(writer_add_scalar(&w, "loss", 0.75), 0);
    assert_int_equal(writer_add_scalar(&w, "accuracy", 0.5), 0);
    assert_int_equal(writer_set_step(&w, 1, "train"), 0);
    assert_int_equal(writer_add_scalar(&w, "loss", 0.25), 0);
    assert_int_equal(writer_set_step(&w, (int64_t)1 << 40, "valid"), 0);
    assert_int_equal(writer_add_scalar(&w, "loss", -3.5), 0);
    Tensor *images = tensor_arange(0, 3 * 4 * 5, 1, DT_F32, CPU);
    images = t_view(images, SHAPE(3, 1, 4, 5));
    REQUIRE_OK(images);
    assert_int_equal(writer_add_image(&w, "input", images), 0);
    Tensor *weights = t_view(tensor_arange(0, 100, 1, DT_F32, CPU), SHAPE(10, 10));
    REQUIRE_OK(weights);
    assert_int_equal(writer_add_histogram(&w, "fc1.weight", weights, HISTOGRAM_AUTO), 0);
    assert_int_equal(writer_add_histogram(&w, "fc1.bias", weights, 5), 0);
    assert_int_equal(writer_flush(&w), 0);
    writer_close(&w);
    return images;
}

static void check_image_event(const DecodedEvent *e, Tensor *images)
{
    assert_int_equal(e->colorspace, 3);
    /* 3 images of 4x5 in one row of a make_grid(nrow=8, padding=2) grid */
    assert_int_equal(e->height, 4 + 2 * 2);
    assert_int_equal(e->width, 3 * (5 + 2) + 2);
    int w, h;
    uint8_t *px = png_decode_rgb(e->png, e->png_len, &w, &h);
    assert_non_null(px);
    assert_int_equal(w, e->width);
    assert_int_equal(h, e->height);
    const float *v = tensor_f32(images);
    for (int k = 0; k < 3; k++)
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 5; x++) {
                int gx = 2 + k * 7 + x, gy = 2 + y;
                uint8_t want = (uint8_t)lrintf(v[k * 20 + y * 5 + x] / 59.0f * 255.0f); /* normalised by max 59 */
                for (int c = 0; c < 3; c++) assert_int_equal(px[(gy * w + gx) * 3 + c], want);
            }
    for (int x = 0; x < w; x++) assert_int_equal(px[x * 3], 0); /* the top padding row */
    free(px);
}

static void check_histogram_event(const DecodedEvent *e, int n_bins)
{
    assert_true(e->min == 0 && e->max == 99 && e->num == 100 && e->sum == 4950 && e->sum_squares == 328350);
    assert_int_equal(e->n_buckets, n_bins + 1);
    assert_true(e->counts[0] == 0 && e->limits[0] == 0 && e->limits[n_bins] == 99);
    double total = 0;
    for (int i = 0; i < e->n_buckets; i++) {
        total += e->counts[i];
        if (i) assert_true(e->limits[i] > e->limits[i - 1]);
    }
    assert_true(total == 100);
}

static void test_event_file_round_trip(void **state)
{
    (void)state;
    scope_begin();
    char dir[512], path[1024];
    temp_dir_make(dir, sizeof dir, "events");
    double t0 = event_wall_time();
    Tensor *images = write_demo_run(dir);
    double t1 = event_wall_time();
    assert_int_equal(find_event_file(dir, path, sizeof path), 0);
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    if (!strstr(path, "events.out.tfevents.") || !strstr(path, host)) fail_msg("event file name %s", path);
    DecodedEvent *ev;
    int n = read_event_file(path, &ev);
    if (n < 0) fail_msg("%s", engine_last_error());
    const Expected want[] = {
        {EVENT_KIND_VERSION, "", 0, 0},
        {EVENT_KIND_SCALAR, "loss/train", 0, 0.75},
        {EVENT_KIND_SCALAR, "accuracy/train", 0, 0.5},
        {EVENT_KIND_SCALAR, "steps_per_sec/train", 1, NAN},
        {EVENT_KIND_SCALAR, "loss/train", 1, 0.25},
        {EVENT_KIND_SCALAR, "steps_per_sec/valid", (int64_t)1 << 40, NAN},
        {EVENT_KIND_SCALAR, "loss/valid", (int64_t)1 << 40, -3.5},
        {EVENT_KIND_IMAGE, "input/valid", (int64_t)1 << 40, 0},
        {EVENT_KIND_HISTO, "fc1.weight", (int64_t)1 << 40, 0}, /* histograms keep their tag, as the reference */
        {EVENT_KIND_HISTO, "fc1.bias", (int64_t)1 << 40, 0},
    };
    int n_want = (int)(sizeof want / sizeof want[0]);
    assert_int_equal(n, n_want);
    assert_string_equal(ev[0].file_version, "brain.Event:2");
    for (int i = 0; i < n; i++) {
        const DecodedEvent *e = &ev[i];
        if (e->kind != want[i].kind || strcmp(e->tag, want[i].tag) != 0 || e->step != want[i].step)
            fail_msg("event %d: kind %d tag '%s' step %lld, expected kind %d tag '%s' step %lld", i, e->kind, e->tag,
                     (long long)e->step, want[i].kind, want[i].tag, (long long)want[i].step);
        if (e->wall_time < t0 - 1e-3 || e->wall_time > t1 + 1e-3 || (i && e->wall_time < ev[i - 1].wall_time))
            fail_msg("event %d: wall_time %.6f outside [%.6f, %.6f] or going back", i, e->wall_time, t0, t1);
        if (e->kind != EVENT_KIND_SCALAR) continue;
        if (isnan(want[i].value) ? !(e->scalar > 0) : e->scalar != (float)want[i].value)
            fail_msg("event %d (%s): value %g, expected %g", i, e->tag, (double)e->scalar, want[i].value);
    }
    print_message("  %d events decoded, every record's length and data CRC checked\n", n);
    check_image_event(&ev[7], images);
    check_histogram_event(&ev[9], 5);
    /* 'auto' on 0..99: Sturges' width 99 / (log2(100) + 1) is below FD's, so ceil(log2(100) + 1) = 8 bins */
    check_histogram_event(&ev[8], 8);
    free_events(ev, n);
    temp_dir_remove(dir);
    scope_end();
}

static void test_disabled_writer(void **state)
{
    (void)state;
    scope_begin();
    char dir[512], path[1024];
    temp_dir_make(dir, sizeof dir, "events_off");
    TensorboardWriter w;
    assert_int_equal(tensorboard_writer_init(&w, dir, false), 0);
    assert_int_equal(writer_set_step(&w, 0, "train"), 0);
    assert_int_equal(writer_set_step(&w, 5, "train"), 0);
    assert_int_equal(writer_add_scalar(&w, "loss", 1), 0);
    assert_int_equal(writer_add_image(&w, "input", tensor_zeros(SHAPE(2, 1, 3, 3), DT_F32, CPU)), 0);
    assert_int_equal(writer_add_histogram(&w, "w", tensor_zeros(SHAPE(4), DT_F32, CPU), 0), 0);
    assert_int_equal(writer_flush(&w), 0);
    writer_close(&w);
    assert_int_equal(find_event_file(dir, path, sizeof path), -1);
    /* an enabled writer with no log folder (no run folders) is disabled too */
    assert_int_equal(tensorboard_writer_init(&w, "", true), 0);
    assert_false(w.enabled);
    writer_close(&w);
    temp_dir_remove(dir);
    scope_end();
}

static void test_writer_errors(void **state)
{
    (void)state;
    scope_begin();
    char dir[512];
    temp_dir_make(dir, sizeof dir, "events_err");
    TensorboardWriter w;
    assert_int_equal(tensorboard_writer_init(&w, "/nonexistent/folder", true), -1);
    print_message("  error: %s\n", engine_last_error());
    assert_non_null(strstr(engine_last_error(), "/nonexistent/folder/events.out.tfevents."));
    engine_clear_error();
    assert_int_equal(tensorboard_writer_init(&w, dir, true), 0);
    assert_int_equal(writer_add_image(&w, "input", tensor_zeros(SHAPE(2, 5), DT_F32, CPU)), -1);
    assert_non_null(strstr(engine_last_error(), "[2, 5]"));
    engine_clear_error();
    Tensor *bad = tensor_full(SHAPE(3), NAN, DT_F32, CPU);
    assert_int_equal(writer_add_histogram(&w, "w", bad, HISTOGRAM_AUTO), -1);
    print_message("  error: %s\n", engine_last_error());
    assert_non_null(strstr(engine_last_error(), "non-finite"));
    engine_clear_error();
    writer_close(&w);
    temp_dir_remove(dir);
    scope_end();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_vectors),
        cmocka_unit_test(test_protobuf_wire),
        cmocka_unit_test(test_tfrecord_framing),
        cmocka_unit_test(test_event_file_round_trip),
        cmocka_unit_test(test_disabled_writer),
        cmocka_unit_test(test_writer_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
