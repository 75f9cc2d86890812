/* ImageFolder (see datasets.h), as torchvision.datasets.ImageFolder finds
 * its samples: the class folders of root sorted by name, then in each the
 * files of every folder below it (links followed), folders in sorted path
 * order and files sorted by name; files with an image extension are
 * samples, others are skipped. This build decodes PNG and JPEG
 * (image_reader.h); other image formats torchvision takes are an error
 * rather than a silent skip.
 * The images are decoded once, here, and kept in memory as bytes. */
#include "data_loader/datasets.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data_loader/image_reader.h"

/* torchvision's IMG_EXTENSIONS; .png, .jpg and .jpeg are decoded here. */
static const char *const image_extensions[] = {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff",
                                               ".webp", NULL};
/* Folders below a class folder deeper than this are a link cycle, not a dataset. */
enum { MAX_DEPTH = 32 };

typedef struct {
    char **items;
    int n, cap;
} StrList;

static void list_add(StrList *l, char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->items = realloc(l->items, sizeof(char *) * (size_t)l->cap);
        ENGINE_ASSERT(l->items != NULL);
    }
    l->items[l->n++] = s;
}

static void list_free(StrList *l)
{
    for (int i = 0; i < l->n; i++) free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void list_sort(StrList *l)
{
    if (l->n > 1) qsort(l->items, (size_t)l->n, sizeof(char *), cmp_str);
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = malloc(n);
    ENGINE_ASSERT(s != NULL);
    snprintf(s, n, "%s/%s", dir, name);
    return s;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The entries of dir (sorted), split into folders and the rest. */
static int list_dir(const char *dir, StrList *dirs, StrList *files)
{
    DIR *d = opendir(dir);
    ENGINE_CHECK_INT(d != NULL, "%s: cannot list the folder: %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char *path = join(dir, e->d_name);
        if (is_dir(path)) list_add(dirs, path);
        else if (files) list_add(files, path);
        else free(path);
    }
    closedir(d);
    list_sort(dirs);
    if (files) list_sort(files);
    return 0;
}

/* dir and every folder below it, into out. */
static int walk(const char *dir, int depth, StrList *out)
{
    ENGINE_CHECK_INT(depth <= MAX_DEPTH, "%s: folders nested more than %d deep (a link cycle?)", dir, MAX_DEPTH);
    char *self = strdup(dir);
    ENGINE_ASSERT(self != NULL);
    list_add(out, self);
    StrList sub = {0};
    int rc = list_dir(dir, &sub, NULL);
    for (int i = 0; rc == 0 && i < sub.n; i++) rc = walk(sub.items[i], depth + 1, out);
    list_free(&sub);
    return rc;
}

/* The extension of path among image_extensions (case-insensitive), or NULL. */
static const char *image_extension(const char *path)
{
    size_t n = strlen(path);
    for (int i = 0; image_extensions[i]; i++) {
        size_t m = strlen(image_extensions[i]);
        if (n < m) continue;
        bool same = true;
        for (size_t k = 0; k < m && same; k++)
            same = tolower((unsigned char)path[n - m + k]) == image_extensions[i][k];
        if (same) return image_extensions[i];
    }
    return NULL;
}

/* The image files of one class, in torchvision's order. */
static int class_files(const char *class_dir, StrList *files)
{
    StrList dirs = {0};
    int rc = walk(class_dir, 0, &dirs);
    list_sort(&dirs); /* sorted(os.walk(...)): by folder path */
    for (int i = 0; rc == 0 && i < dirs.n; i++) {
        StrList sub = {0}, names = {0};
        rc = list_dir(dirs.items[i], &sub, &names);
        for (int k = 0; rc == 0 && k < names.n; k++) {
            const char *ext = image_extension(names.items[k]);
            if (!ext) continue;
            if (!image_extension_supported(names.items[k])) {
                engine_error("%s: %s images are not supported (this build reads PNG and JPEG)", names.items[k], ext);
                rc = -1;
                break;
            }
            list_add(files, names.items[k]);
            names.items[k] = NULL;
        }
        list_free(&sub);
        list_free(&names);
    }
    list_free(&dirs);
    return rc;
}

/* Appends one decoded image to set; its bytes grow set->pixels. */
static void add_image(ImageSet *set, int64_t *cap, int64_t *bytes_cap, int64_t *bytes, uint8_t *pixels,
                      ImageSize size, int64_t label, char *path)
{
    if (set->n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        set->sizes = realloc(set->sizes, sizeof(ImageSize) * (size_t)*cap);
        set->offsets = realloc(set->offsets, sizeof(int64_t) * (size_t)*cap);
        set->labels = realloc(set->labels, sizeof(int64_t) * (size_t)*cap);
        set->paths = realloc(set->paths, sizeof(char *) * (size_t)*cap);
        ENGINE_ASSERT(set->sizes && set->offsets && set->labels && set->paths);
    }
    int64_t n = (int64_t)size.c * size.h * size.w;
    if (*bytes + n > *bytes_cap) {
        while (*bytes + n > *bytes_cap) *bytes_cap = *bytes_cap ? 2 * *bytes_cap : 1 << 20;
        set->pixels = realloc(set->pixels, (size_t)*bytes_cap);
        ENGINE_ASSERT(set->pixels != NULL);
    }
    memcpy(set->pixels + *bytes, pixels, (size_t)n);
    set->sizes[set->n] = size;
    set->offsets[set->n] = *bytes;
    set->labels[set->n] = label;
    set->paths[set->n] = path;
    set->n++;
    *bytes += n;
}

Dataset *image_folder_dataset(const char *root, int channels, DatasetTransforms tf)
{
    StrList classes = {0}, files = {0};
    ImageSet set = {0};
    char **names = NULL;
    Dataset *ds = NULL;
    if (!is_dir(root)) {
        engine_error("%s: not a folder (ImageFolder reads root/<class>/<image>.png or .jpg)", root);
        goto done;
    }
    if (list_dir(root, &classes, NULL)) goto done;
    if (classes.n == 0) {
        engine_error("%s: no class folders (ImageFolder reads root/<class>/<image>.png or .jpg)", root);
        goto done;
    }
    names = calloc((size_t)classes.n, sizeof(char *));
    ENGINE_ASSERT(names != NULL);
    int64_t cap = 0, bytes_cap = 0, bytes = 0;
    for (int c = 0; c < classes.n; c++) {
        const char *slash = strrchr(classes.items[c], '/');
        names[c] = strdup(slash + 1);
        ENGINE_ASSERT(names[c] != NULL);
        if (class_files(classes.items[c], &files)) goto done;
        if (files.n == 0) {
            engine_error("%s: class folder '%s' holds no images (.png or .jpg files, in it or below it)", classes.items[c],
                         names[c]);
            goto done;
        }
        for (int k = 0; k < files.n; k++) {
            ImageSize size;
            int file_channels;
            uint8_t *pixels = image_read_chw(files.items[k], channels, &size, &file_channels);
            if (!pixels) goto done;
            if (!channels) channels = size.c; /* the first image's, for all */
            add_image(&set, &cap, &bytes_cap, &bytes, pixels, size, c, files.items[k]);
            files.items[k] = NULL;
            free(pixels);
        }
        list_free(&files);
    }
    char name[4200];
    snprintf(name, sizeof name, "ImageFolder(%s)", root);
    ds = image_dataset_new(name, &set, tf, names, classes.n);
    names = NULL;
    tf.train = tf.eval = NULL;
done:
    if (names)
        for (int c = 0; c < classes.n; c++) free(names[c]);
    free(names);
    list_free(&classes);
    list_free(&files);
    image_set_free(&set);
    dataset_transforms_free(&tf);
    return ds;
}
