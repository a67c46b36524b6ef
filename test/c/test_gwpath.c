/* Gateway service names (native/gwpath.c): decoding refuses every way out
 * of the directory; lookups relative to an open directory follow links
 * only inside it. */
#include "gwpath.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

static int decodes(const char *in, const char *want) {
    char out[WS_GW_NAME_MAX + 1];
    unsigned char *copy = test_exact_copy(in, strlen(in));
    int n = ws_gwpath_decode((const char *)copy, strlen(in), out, sizeof out);
    free(copy);
    if (!want) return n == -1;
    return n == (int)strlen(want) && strcmp(out, want) == 0;
}

static void test_decode(void) {
    test_cond("a plain name", decodes("echo", "echo"));
    test_cond("dots, dashes, underscores inside", decodes("a.b-c_d", "a.b-c_d"));
    test_cond("an encoded letter", decodes("ech%6F", "echo"));
    const char *refused[] = {"", ".", "..", ".hidden", "%2e%2e", "%2E%2e", "%2e", "a%2fb", "a%2Fb", "a/b", "a%5cb", "a\\b",
                             "a%00", "%00", "a%", "a%2", "a%zz", "a b", "a%20b", "é", "a%c3%a9", "..%2f", "%2e.", "a\n"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) test_cond(refused[i], decodes(refused[i], NULL));
    char longname[300];
    memset(longname, 'a', 256);
    longname[256] = 0;
    test_cond("a name over 255 bytes", decodes(longname, NULL));
    longname[255] = 0;
    test_cond("a name of 255 bytes", decodes(longname, longname));
}

static void test_allowed(void) {
    char *all[] = {"*"}, *some[] = {"echo", "chat*"}, *deny[] = {"chat-admin"};
    test_cond("* allows all", ws_gwpath_allowed("x", all, 1, NULL, 0));
    test_cond("no allow list allows none", !ws_gwpath_allowed("x", NULL, 0, NULL, 0));
    test_cond("a glob", ws_gwpath_allowed("chat2", some, 2, deny, 1));
    test_cond("deny wins", !ws_gwpath_allowed("chat-admin", all, 1, deny, 1));
    test_cond("not in allow", !ws_gwpath_allowed("jsonrpc", some, 2, NULL, 0));
}

static void make_socket(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0) abort();
    close(fd);
}

static void test_lookup(void) {
    char base[] = "/tmp/gwpath-XXXXXX";
    if (!mkdtemp(base)) abort();
    char dir[PATH_MAX], p[PATH_MAX + 64], q[PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/svc", base);
    mkdir(dir, 0700);
    snprintf(p, sizeof p, "%s/echo", dir);
    make_socket(p);
    snprintf(p, sizeof p, "%s/outside", base);
    make_socket(p);
    snprintf(q, sizeof q, "%s/escape", dir);
    if (symlink(p, q) != 0) abort();
    snprintf(q, sizeof q, "%s/alias", dir);
    if (symlink("echo", q) != 0) abort();
    snprintf(q, sizeof q, "%s/file", dir);
    close(open(q, O_CREAT | O_WRONLY, 0600));
    snprintf(q, sizeof q, "%s/sub", dir);
    mkdir(q, 0700);
    snprintf(q, sizeof q, "%s/sub/v1", dir);
    make_socket(q);

    char real[PATH_MAX];
    if (!realpath(dir, real)) abort();
    int dirfd = open(real, O_RDONLY | O_DIRECTORY);
    char target[PATH_MAX];
    test_cond("a socket", ws_gwpath_lookup(dirfd, real, "echo", target, sizeof target) == WS_GWPATH_SOCKET);
    snprintf(q, sizeof q, "%s/echo", real);
    test_cond("its path under the real directory", strcmp(target, q) == 0);
    test_cond("a link inside is followed", ws_gwpath_lookup(dirfd, real, "alias", target, sizeof target) == WS_GWPATH_SOCKET &&
                                               strcmp(target, q) == 0);
    test_cond("a link out is refused", ws_gwpath_lookup(dirfd, real, "escape", target, sizeof target) == WS_GWPATH_OUTSIDE);
    test_cond("a file is not a socket", ws_gwpath_lookup(dirfd, real, "file", target, sizeof target) == WS_GWPATH_NOT_SOCKET);
    test_cond("missing", ws_gwpath_lookup(dirfd, real, "nope", target, sizeof target) == WS_GWPATH_MISSING);
    test_cond("a directory", ws_gwpath_lookup(dirfd, real, "sub", target, sizeof target) == WS_GWPATH_DIR);
    test_cond("a socket in it", ws_gwpath_lookup(dirfd, real, "sub/v1", target, sizeof target) == WS_GWPATH_SOCKET);
    test_cond("a too small target", ws_gwpath_lookup(dirfd, real, "echo", target, 8) == WS_GWPATH_TOO_LONG);
    close(dirfd);
    const char *made[] = {"svc/sub/v1", "svc/sub", "svc/echo", "svc/escape", "svc/alias", "svc/file", "svc", "outside"};
    for (size_t i = 0; i < sizeof made / sizeof *made; i++) {
        snprintf(q, sizeof q, "%s/%s", base, made[i]);
        if (remove(q) != 0) fprintf(stderr, "could not remove %s\n", q);
    }
    rmdir(base);
}

int main(void) {
    test_decode();
    test_allowed();
    test_lookup();
    return test_report();
}
