/* Names of gateway services: a request's path segment to an entry of the
 * services directory, resolved relative to an open handle on it (openat
 * style), so no name reaches outside: percent-decoding with encoded dots,
 * slashes, backslashes and NULs refused, names of [A-Za-z0-9._-] only and
 * never starting with '.', symbolic links followed only when their target
 * stays inside the directory. allow / deny glob lists (fnmatch). */
#ifndef WS_GWPATH_H
#define WS_GWPATH_H

#include <stddef.h>

#define WS_GW_NAME_MAX 255

/* Decodes and checks one name of in_len bytes into out (NUL-terminated,
 * cap > WS_GW_NAME_MAX). Returns its length, or -1 when it may not name a
 * service. */
int ws_gwpath_decode(const char *in, size_t in_len, char *out, size_t cap);

/* 1 when name matches one of allow (n_allow == 0: none does) and none of deny. */
int ws_gwpath_allowed(const char *name, char *const *allow, size_t n_allow, char *const *deny, size_t n_deny);

typedef enum {
    WS_GWPATH_SOCKET = 0,
    WS_GWPATH_DIR,
    WS_GWPATH_MISSING,
    WS_GWPATH_NOT_SOCKET,
    WS_GWPATH_OUTSIDE, /* a symbolic link whose target leaves the directory */
    WS_GWPATH_TOO_LONG,
} ws_gwpath_kind;

/* Looks rel ("name" or "name/protocol", each part checked already) up under
 * dirfd, whose real path is real. For a socket, target gets the path to
 * connect to (under real, or /proc/self/fd/<dirfd>/rel when that is too
 * long for sun_path; a link's resolved target). */
ws_gwpath_kind ws_gwpath_lookup(int dirfd, const char *real, const char *rel, char *target, size_t cap);

/* The longest path a sockaddr_un takes. */
size_t ws_gwpath_sun_max(void);

#endif
