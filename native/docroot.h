/* Static documents for plain HTTP GETs: maps a request path onto a file
 * below a root directory, never outside it. */
#ifndef WS_DOCROOT_H
#define WS_DOCROOT_H

#include <stddef.h>

#define WS_DOCROOT_MAX_FILE (16u << 20) /* larger files are refused with 404 */

enum {
    WS_DOCROOT_OK = 0,
    WS_DOCROOT_NOT_FOUND = -404, /* no such file, a directory without index.html, a link leading out */
    WS_DOCROOT_BAD_PATH = -400,  /* bad percent-encoding, NUL, backslash, a "." or ".." segment */
};

/* Resolves path[0..len) (the request path without query, percent-encoded)
 * against root (an absolute, resolved directory path). "/" and paths ending
 * in "/" map to index.html there. The resolved file (after realpath) must
 * lie under root and be a regular file of at most WS_DOCROOT_MAX_FILE bytes.
 * BAD_PATH also covers: a path not starting with '/', a decoded control
 * character, an encoded slash or backslash (%2F, %5C), and an empty segment ("//"
 * is refused, not collapsed). A file whose path does not fit in out is
 * NOT_FOUND. On success writes the absolute file path to out (cap bytes,
 * NUL-terminated). */
int ws_docroot_resolve(const char *root, const char *path, size_t len, char *out, size_t cap);

/* The Content-Type for a file name by its extension ("text/html; charset=utf-8",
 * "application/javascript; charset=utf-8", "text/css; charset=utf-8",
 * "image/png", "image/svg+xml", "application/json", ...;
 * "application/octet-stream" when unknown). */
const char *ws_docroot_content_type(const char *filename);

#endif
