/* Incremental UTF-8 validation (RFC 3629): no overlong forms, no surrogates,
 * nothing above U+10FFFF. Safe on any split of the input. */
#ifndef WS_UTF8_H
#define WS_UTF8_H

#include <stddef.h>
#include <stdint.h>

typedef uint32_t ws_utf8_state;

#define WS_UTF8_ACCEPT 0u  /* at a character boundary: the text so far is valid */
#define WS_UTF8_REJECT 12u /* invalid; sticky: further input never clears it */

/* Feeds len bytes after `state` (WS_UTF8_ACCEPT to start) and returns the new
 * state. A text is valid when the final state is WS_UTF8_ACCEPT; any other
 * non-REJECT state means a character is cut off and more bytes must follow.
 * Runs of ASCII are checked a machine word at a time. */
ws_utf8_state ws_utf8_validate(ws_utf8_state state, const uint8_t *buf, size_t len);

/* Whole-buffer convenience: 1 when buf is complete, valid UTF-8. */
int ws_utf8_is_valid(const uint8_t *buf, size_t len);

#endif
