/* Replays fuzz inputs through a target's LLVMFuzzerTestOneInput without
 * libFuzzer, so that a plain build can run under valgrind memcheck.
 *
 *   replay [-max_len=N] FILE|DIR...
 *
 * A directory is read one level deep, its files in name order. Each input is
 * passed in an allocation of exactly its size (as libFuzzer does), so a read
 * past its end is seen. Inputs longer than max_len (default 65536) are cut
 * there: valgrind is slow and the corpora are kept small anyway. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t max_len = 65536;
static unsigned long replayed;

static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    uint8_t *buf = malloc(max_len ? max_len : 1);
    if (!buf) abort();
    size_t n = fread(buf, 1, max_len, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "%s: read error\n", path);
        free(buf);
        return -1;
    }
    /* An exact-size copy: the spare capacity of buf would hide overreads. */
    uint8_t *input = malloc(n ? n : 1);
    if (!input) abort();
    memcpy(input, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(input, n);
    free(input);
    replayed++;
    return 0;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        return -1;
    }
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (count == cap) {
            cap = cap ? 2 * cap : 64;
            names = realloc(names, cap * sizeof *names);
            if (!names) abort();
        }
        size_t len = strlen(dir) + 1 + strlen(e->d_name) + 1;
        names[count] = malloc(len);
        if (!names[count]) abort();
        snprintf(names[count], len, "%s/%s", dir, e->d_name);
        count++;
    }
    closedir(d);
    if (count) qsort(names, count, sizeof *names, by_name);
    int rc = 0;
    for (size_t i = 0; i < count; i++) {
        struct stat st;
        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode) && replay_file(names[i]) != 0) rc = -1;
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv) {
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "-max_len=", 9) == 0) {
            max_len = strtoul(argv[i] + 9, NULL, 10);
            continue;
        }
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            rc = 1;
        } else if (S_ISDIR(st.st_mode) ? replay_dir(argv[i]) : replay_file(argv[i])) {
            rc = 1;
        }
    }
    printf("replayed %lu inputs\n", replayed);
    return rc;
}
