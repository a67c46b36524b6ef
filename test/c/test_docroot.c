/* Static document resolution (native/docroot.c) against a real directory
 * tree made under a fresh temporary directory. */
#include "docroot.h"
#include "harness.h"

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

static char base[256]; /* the temporary directory */
static char root[300]; /* base/www: the document root */

static void make_file(const char *rel, const char *content) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", base, rel);
    FILE *f = fopen(p, "w");
    if (!f) {
        perror(p);
        abort();
    }
    fputs(content, f);
    fclose(f);
}

static void make_dir(const char *rel) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", base, rel);
    if (mkdir(p, 0755) != 0) {
        perror(p);
        abort();
    }
}

static void make_link(const char *target, const char *rel) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", base, rel);
    if (symlink(target, p) != 0) {
        perror(p);
        abort();
    }
}

/* base/
 *   secret.txt            outside the root
 *   www/                  the root
 *     index.html
 *     app.js
 *     a/b/c.css
 *     docs/index.html
 *     empty/              a directory without index.html
 *     out.txt  -> ../secret.txt   (a link leading out)
 *     outdir   -> ..              (a directory link leading out)
 *     in.js    -> app.js          (a link staying inside)
 *     dangling -> nowhere
 *     fifo                not a regular file
 *     big.bin             larger than WS_DOCROOT_MAX_FILE (sparse)
 *     max.bin             exactly WS_DOCROOT_MAX_FILE (sparse)
 *     sp ace.txt
 *   www2/x.txt            a sibling whose name starts with the root's */
static void make_tree(void) {
    char tmpl[] = "/tmp/ws-docroot-XXXXXX";
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        abort();
    }
    char resolved[PATH_MAX];
    if (!realpath(tmpl, resolved) || strlen(resolved) >= sizeof base) abort();
    strcpy(base, resolved);
    snprintf(root, sizeof root, "%s/www", base);
    make_file("secret.txt", "secret\n");
    make_dir("www");
    make_file("www/index.html", "<h1>hi</h1>\n");
    make_file("www/app.js", "1;\n");
    make_dir("www/a");
    make_dir("www/a/b");
    make_file("www/a/b/c.css", "a{}\n");
    make_dir("www/docs");
    make_file("www/docs/index.html", "docs\n");
    make_dir("www/empty");
    make_link("../secret.txt", "www/out.txt");
    make_link("..", "www/outdir");
    make_link("app.js", "www/in.js");
    make_link("nowhere", "www/dangling");
    make_file("www/sp ace.txt", "x\n");
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/www/fifo", base);
    if (mkfifo(p, 0644) != 0) abort();
    make_file("www/big.bin", "");
    snprintf(p, sizeof p, "%s/www/big.bin", base);
    if (truncate(p, (off_t)WS_DOCROOT_MAX_FILE + 1) != 0) abort();
    make_file("www/max.bin", "");
    snprintf(p, sizeof p, "%s/www/max.bin", base);
    if (truncate(p, (off_t)WS_DOCROOT_MAX_FILE) != 0) abort();
    make_dir("www2");
    make_file("www2/x.txt", "x\n");
}

static void remove_tree(void) {
    static const char *const files[] = {
        "www/index.html", "www/app.js", "www/a/b/c.css", "www/docs/index.html", "www/out.txt",
        "www/outdir", "www/in.js", "www/dangling", "www/sp ace.txt", "www/fifo", "www/big.bin",
        "www/max.bin", "www2/x.txt", "secret.txt",
    };
    static const char *const dirs[] = {"www/a/b", "www/a", "www/docs", "www/empty", "www", "www2", ""};
    char p[PATH_MAX];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", base, files[i]);
        unlink(p);
    }
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", base, dirs[i]);
        rmdir(p);
    }
}

/* Resolves `path` (from an exact-size copy) against the root. */
static int resolve(const char *path, char *out, size_t cap) {
    size_t len = strlen(path);
    unsigned char *copy = test_exact_copy(path, len);
    int r = ws_docroot_resolve(root, (const char *)copy, len, out, cap);
    free(copy);
    return r;
}

static void expect_file(const char *path, const char *rel) {
    char out[PATH_MAX], want[PATH_MAX];
    snprintf(want, sizeof want, "%s/%s", root, rel);
    int r = resolve(path, out, sizeof out);
    int ok = r == WS_DOCROOT_OK && strcmp(out, want) == 0;
    if (!ok) fprintf(stderr, "  %s: returned %d, out %s\n", path, r, r == WS_DOCROOT_OK ? out : "-");
    test_cond("a file under the root is served", ok);
}

static void expect(const char *path, int want) {
    char out[PATH_MAX];
    int r = resolve(path, out, sizeof out);
    if (r != want) fprintf(stderr, "  %s: returned %d, wanted %d\n", path, r, want);
    test_cond("refused", r == want);
}

static void test_files_under_the_root_are_found(void) {
    expect_file("/", "index.html");
    expect_file("/index.html", "index.html");
    expect_file("/app.js", "app.js");
    expect_file("/a/b/c.css", "a/b/c.css");
    expect_file("/docs/", "docs/index.html");
    expect_file("/in.js", "app.js");
    expect_file("/sp%20ace.txt", "sp ace.txt");
    expect_file("/%61pp.js", "app.js");
    expect_file("/a/%62/c.css", "a/b/c.css");
    expect_file("/max.bin", "max.bin");
}

static void test_missing_and_unservable_files_are_not_found(void) {
    expect("/nope.html", WS_DOCROOT_NOT_FOUND);
    expect("/docs", WS_DOCROOT_NOT_FOUND);          /* a directory */
    expect("/empty/", WS_DOCROOT_NOT_FOUND);        /* a directory without index.html */
    expect("/fifo", WS_DOCROOT_NOT_FOUND);          /* not a regular file */
    expect("/big.bin", WS_DOCROOT_NOT_FOUND);       /* too large */
    expect("/dangling", WS_DOCROOT_NOT_FOUND);
    expect("/app.js/", WS_DOCROOT_NOT_FOUND);       /* a file named as a directory */
}

static void test_links_leading_out_are_not_found(void) {
    expect("/out.txt", WS_DOCROOT_NOT_FOUND);
    expect("/outdir/secret.txt", WS_DOCROOT_NOT_FOUND);
    expect("/outdir/www2/x.txt", WS_DOCROOT_NOT_FOUND); /* a sibling sharing the root's name as prefix */
    expect("/outdir/www/app.js", WS_DOCROOT_OK);        /* leads back inside: allowed */
}

static void test_traversal_attempts_are_refused(void) {
    static const char *const bad[] = {
        "/../secret.txt", "/..", "/../", "/a/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt",
        "/.%2e/secret.txt", "/%2e./secret.txt", "/a/%2F", "/..%2fsecret.txt", "/..%2Fsecret.txt",
        "/a%2f..%2f..%2fsecret.txt", "/a%5c..%5csecret.txt", "/a\\..\\secret.txt", "//etc/passwd",
        "/a//b/c.css", "/./index.html", "/a/./b/c.css", "/.", "/%2e", "/a/..", "/index.html%00.txt",
        "/%00", "/%", "/%2", "/%zz", "/%2g", "/a%", "index.html", "", "/a\x01", "/%0a", "/%7f",
        "/..\\", "/%2e%2e%2f%2e%2e%2fetc/passwd", "/a%2fb/c.css", "/a%2Fb%2Fc.css", "/a/b%5cc.css",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char out[PATH_MAX];
        int r = resolve(bad[i], out, sizeof out);
        if (r != WS_DOCROOT_BAD_PATH) fprintf(stderr, "  %s: returned %d\n", bad[i], r);
        test_cond("a traversal attempt is a bad path", r == WS_DOCROOT_BAD_PATH);
    }
    /* Not traversal: dots inside a name. */
    expect("/...", WS_DOCROOT_NOT_FOUND);
    expect("/..a", WS_DOCROOT_NOT_FOUND);
    expect("/.hidden", WS_DOCROOT_NOT_FOUND);
}

static void test_the_length_bounds_the_path(void) {
    char out[PATH_MAX];
    /* "/app.jsX" with len 7 is "/app.js". */
    unsigned char *copy = test_exact_copy("/app.jsX", 8);
    int r = ws_docroot_resolve(root, (const char *)copy, 7, out, sizeof out);
    test_cond("only len bytes are read", r == WS_DOCROOT_OK);
    free(copy);
}

static void test_the_output_buffer_is_respected(void) {
    char out[PATH_MAX];
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s/app.js", root);
    size_t need = strlen(want) + 1;
    test_cond("an exact-size output suffices", resolve("/app.js", out, need) == WS_DOCROOT_OK && strcmp(out, want) == 0);
    test_cond("one byte short is not found", resolve("/app.js", out, need - 1) == WS_DOCROOT_NOT_FOUND);
}

static void test_root_forms(void) {
    char out[PATH_MAX], r2[PATH_MAX];
    snprintf(r2, sizeof r2, "%s/", root);
    test_cond("a root with a trailing slash works", ws_docroot_resolve(r2, "/app.js", 7, out, sizeof out) == WS_DOCROOT_OK);
    snprintf(r2, sizeof r2, "%s/www/../www", base);
    test_cond("an unresolved root works", ws_docroot_resolve(r2, "/app.js", 7, out, sizeof out) == WS_DOCROOT_OK);
    test_cond("a missing root finds nothing",
              ws_docroot_resolve("/nonexistent-ws-root", "/app.js", 7, out, sizeof out) == WS_DOCROOT_NOT_FOUND);
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s/app.js", root);
    test_cond("the root / serves absolute paths below it",
              ws_docroot_resolve("/", want, strlen(want), out, sizeof out) == WS_DOCROOT_OK && strcmp(out, want) == 0);
}

static void test_content_types(void) {
    static const struct {
        const char *name;
        const char *type;
    } types[] = {
        {"index.html", "text/html; charset=utf-8"},
        {"/x/page.HTM", "text/html; charset=utf-8"},
        {"app.js", "application/javascript; charset=utf-8"},
        {"mod.mjs", "application/javascript; charset=utf-8"},
        {"s.css", "text/css; charset=utf-8"},
        {"d.json", "application/json"},
        {"app.js.map", "application/json"},
        {"i.png", "image/png"},
        {"i.jpg", "image/jpeg"},
        {"i.JPEG", "image/jpeg"},
        {"i.gif", "image/gif"},
        {"i.svg", "image/svg+xml"},
        {"favicon.ico", "image/x-icon"},
        {"r.txt", "text/plain; charset=utf-8"},
        {"m.wasm", "application/wasm"},
        {"f.woff", "font/woff"},
        {"f.woff2", "font/woff2"},
        {"archive.tar.gz", "application/octet-stream"},
        {"noext", "application/octet-stream"},
        {".html", "application/octet-stream"},
        {"/dir.html/file", "application/octet-stream"},
        {"x.htmlx", "application/octet-stream"},
        {"x.", "application/octet-stream"},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        const char *got = ws_docroot_content_type(types[i].name);
        if (strcmp(got, types[i].type) != 0) fprintf(stderr, "  %s: %s\n", types[i].name, got);
        test_cond("content type", strcmp(got, types[i].type) == 0);
    }
}

int main(void) {
    make_tree();
    test_files_under_the_root_are_found();
    test_missing_and_unservable_files_are_not_found();
    test_links_leading_out_are_not_found();
    test_traversal_attempts_are_refused();
    test_the_length_bounds_the_path();
    test_the_output_buffer_is_respected();
    test_root_forms();
    test_content_types();
    remove_tree();
    return test_report();
}
