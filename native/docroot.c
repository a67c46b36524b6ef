/* Static documents: see docroot.h. */
#include "docroot.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int docroot_hex(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes path[0..len) into out (cap bytes, NUL-terminated) and
 * checks the result segment by segment. Refused (BAD_PATH): a path not
 * starting with '/', a '%' not followed by two hex digits, a decoded control
 * character (NUL included), a backslash, an encoded '/' (which would let one
 * segment pose as two), and the segments "", "." and "..": an empty segment
 * ("//") is refused rather than collapsed, except the last one of a path
 * ending in '/', which names the directory's index.html. */
static int docroot_decode(const char *path, size_t len, char *out, size_t cap) {
    size_t n = 0;
    if (len == 0 || path[0] != '/') return WS_DOCROOT_BAD_PATH;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)path[i];
        int encoded = 0;
        if (c == '%') {
            int hi = i + 2 < len ? docroot_hex((unsigned char)path[i + 1]) : -1;
            int lo = i + 2 < len ? docroot_hex((unsigned char)path[i + 2]) : -1;
            if (hi < 0 || lo < 0) return WS_DOCROOT_BAD_PATH;
            c = hi * 16 + lo;
            encoded = 1;
            i += 2;
        }
        if (c < 0x20 || c == 0x7f || c == '\\' || (encoded && c == '/')) return WS_DOCROOT_BAD_PATH;
        if (n + 1 >= cap) return WS_DOCROOT_NOT_FOUND; /* too long to exist */
        out[n++] = (char)c;
    }
    out[n] = '\0';

    /* Segments: each starts after a '/'. */
    for (size_t s = 1; s <= n; s++) {
        size_t e = s;
        while (e < n && out[e] != '/') e++;
        size_t seg = e - s;
        if (seg == 0 && e < n) return WS_DOCROOT_BAD_PATH;                   /* "//" */
        if (seg == 1 && out[s] == '.') return WS_DOCROOT_BAD_PATH;           /* "." */
        if (seg == 2 && out[s] == '.' && out[s + 1] == '.') return WS_DOCROOT_BAD_PATH; /* ".." */
        s = e;
    }
    return WS_DOCROOT_OK;
}

int ws_docroot_resolve(const char *root, const char *path, size_t len, char *out, size_t cap) {
    char decoded[PATH_MAX];
    char real_root[PATH_MAX];
    char joined[PATH_MAX];
    char real[PATH_MAX];
    static const char index[] = "index.html";

    int r = docroot_decode(path, len, decoded, sizeof decoded);
    if (r != WS_DOCROOT_OK) return r;

    /* The root is documented as resolved; resolving it again costs little and
     * keeps the prefix check right if it is not (a symlinked /tmp, a
     * trailing slash). */
    if (!realpath(root, real_root)) return WS_DOCROOT_NOT_FOUND;
    size_t root_len = strlen(real_root);
    if (root_len == 1) root_len = 0; /* root "/": every path is below it */

    size_t dec_len = strlen(decoded);
    int dir = decoded[dec_len - 1] == '/';
    if (root_len + dec_len + (dir ? sizeof index - 1 : 0) + 1 > sizeof joined) return WS_DOCROOT_NOT_FOUND;
    memcpy(joined, real_root, root_len);
    memcpy(joined + root_len, decoded, dec_len);
    joined[root_len + dec_len] = '\0';
    if (dir) memcpy(joined + root_len + dec_len, index, sizeof index);

    if (!realpath(joined, real)) return WS_DOCROOT_NOT_FOUND;
    /* Under the root: the root itself followed by '/' (the root itself is a
     * directory, refused below as not a regular file). */
    if (strncmp(real, real_root, root_len) != 0 || real[root_len] != '/') return WS_DOCROOT_NOT_FOUND;

    struct stat st;
    if (stat(real, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
        (unsigned long long)st.st_size > WS_DOCROOT_MAX_FILE)
        return WS_DOCROOT_NOT_FOUND;

    size_t real_len = strlen(real);
    if (real_len + 1 > cap) return WS_DOCROOT_NOT_FOUND;
    memcpy(out, real, real_len + 1);
    return WS_DOCROOT_OK;
}

static int docroot_ext_eq(const char *ext, const char *want) {
    for (; *ext && *want; ext++, want++) {
        int c = (unsigned char)*ext;
        if (c >= 'A' && c <= 'Z') c += 32;
        if (c != *want) return 0;
    }
    return *ext == '\0' && *want == '\0';
}

const char *ws_docroot_content_type(const char *filename) {
    static const struct {
        const char *ext;
        const char *type;
    } types[] = {
        {"html", "text/html; charset=utf-8"},
        {"htm", "text/html; charset=utf-8"},
        {"js", "application/javascript; charset=utf-8"},
        {"mjs", "application/javascript; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"json", "application/json"},
        {"map", "application/json"},
        {"txt", "text/plain; charset=utf-8"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"svg", "image/svg+xml"},
        {"ico", "image/x-icon"},
        {"wasm", "application/wasm"},
        {"woff", "font/woff"},
        {"woff2", "font/woff2"},
    };
    const char *base = strrchr(filename, '/');
    base = base ? base + 1 : filename;
    const char *dot = strrchr(base, '.');
    if (dot && dot != base) {
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
            if (docroot_ext_eq(dot + 1, types[i].ext)) return types[i].type;
        }
    }
    return "application/octet-stream";
}
