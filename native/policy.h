/* Flash socket-policy: the answer to "<policy-file-request/>\0". */
#ifndef WS_POLICY_H
#define WS_POLICY_H

#include <stddef.h>

#define WS_POLICY_REQUEST "<policy-file-request/>"
#define WS_POLICY_REQUEST_LEN 23 /* including the terminating NUL */

typedef enum {
    WS_POLICY_NO = 0,   /* these bytes are not a policy request */
    WS_POLICY_MAYBE,    /* a prefix of one: wait for more bytes */
    WS_POLICY_YES,      /* a complete policy request (NUL included) */
} ws_policy_match;

/* Looks at the first bytes a connection sent. */
ws_policy_match ws_policy_detect(const char *buf, size_t len);

/* Writes the cross-domain-policy XML document followed by a NUL byte into
 * out: one <allow-access-from domain="D" to-ports="PORT"/> per origin, the
 * domain being the host part of the origin ("*" when n == 0 or an origin is
 * "*"); domains are XML-escaped; an origin with an empty host part is left
 * out. A port outside 1-65535 is written as to-ports="*". Returns the length
 * including the NUL, or 0 when cap is too small. */
size_t ws_policy_document(char *out, size_t cap, const char *const *origins, size_t n, int port);

#endif
