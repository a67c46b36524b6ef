/* Names of gateway services: see gwpath.h. */
#include "gwpath.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

static int hex(int ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static int name_byte(unsigned char ch) {
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' ||
           ch == '_' || ch == '-';
}

int ws_gwpath_decode(const char *in, size_t in_len, char *out, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; i < in_len; i++) {
        unsigned char ch = (unsigned char)in[i];
        if (ch == '%') {
            if (i + 2 >= in_len) return -1;
            int hi = hex((unsigned char)in[i + 1]), lo = hex((unsigned char)in[i + 2]);
            if (hi < 0 || lo < 0) return -1;
            ch = (unsigned char)(hi << 4 | lo);
            /* An encoded dot, slash, backslash or NUL is someone probing. */
            if (ch == '.' || ch == '/' || ch == '\\' || ch == 0) return -1;
            i += 2;
        }
        if (!name_byte(ch)) return -1;
        if (n + 1 >= cap || n >= WS_GW_NAME_MAX) return -1;
        out[n++] = (char)ch;
    }
    if (n == 0 || out[0] == '.') return -1; /* ".", "..", hidden entries */
    out[n] = '\0';
    return (int)n;
}

int ws_gwpath_allowed(const char *name, char *const *allow, size_t n_allow, char *const *deny, size_t n_deny) {
    for (size_t i = 0; i < n_deny; i++)
        if (fnmatch(deny[i], name, 0) == 0) return 0;
    for (size_t i = 0; i < n_allow; i++)
        if (fnmatch(allow[i], name, 0) == 0) return 1;
    return 0;
}

size_t ws_gwpath_sun_max(void) {
    return sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
}

static int inside(const char *real, const char *path) {
    size_t n = strlen(real);
    if (n == 1 && real[0] == '/') return path[0] == '/';
    return strncmp(path, real, n) == 0 && path[n] == '/';
}

static ws_gwpath_kind kind_of(const struct stat *st) {
    if (S_ISSOCK(st->st_mode)) return WS_GWPATH_SOCKET;
    if (S_ISDIR(st->st_mode)) return WS_GWPATH_DIR;
    return WS_GWPATH_NOT_SOCKET;
}

ws_gwpath_kind ws_gwpath_lookup(int dirfd, const char *real, const char *rel, char *target, size_t cap) {
    struct stat st;
    if (fstatat(dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) != 0) return WS_GWPATH_MISSING;
    char full[PATH_MAX];
    if (snprintf(full, sizeof full, "%s/%s", real, rel) >= (int)sizeof full) return WS_GWPATH_TOO_LONG;
    if (S_ISLNK(st.st_mode)) {
        char resolved[PATH_MAX];
        if (!realpath(full, resolved)) return errno == ENOENT ? WS_GWPATH_MISSING : WS_GWPATH_OUTSIDE;
        if (!inside(real, resolved)) return WS_GWPATH_OUTSIDE;
        if (stat(resolved, &st) != 0) return WS_GWPATH_MISSING;
        ws_gwpath_kind k = kind_of(&st);
        if (k != WS_GWPATH_SOCKET) return k;
        if (strlen(resolved) > ws_gwpath_sun_max() || strlen(resolved) >= cap) return WS_GWPATH_TOO_LONG;
        strcpy(target, resolved);
        return k;
    }
    ws_gwpath_kind k = kind_of(&st);
    if (k != WS_GWPATH_SOCKET) return k;
    if (strlen(full) <= ws_gwpath_sun_max() && strlen(full) < cap) {
        strcpy(target, full);
        return k;
    }
    int n = snprintf(target, cap, "/proc/self/fd/%d/%s", dirfd, rel);
    if (n < 0 || (size_t)n >= cap || (size_t)n > ws_gwpath_sun_max()) return WS_GWPATH_TOO_LONG;
    return k;
}
