/* permessage-deflate (RFC 7692): the negotiation of Sec-WebSocket-Extensions
 * and the per-connection compressor and decompressor, over the classic zlib
 * API with raw deflate streams. Plain C, no I/O: bytes in, bytes out.
 *
 * Memory is the point of the design. A connection costs a small struct; the
 * zlib streams exist only once used, and only where they carry context:
 *   - with server_no_context_takeover a connection owns no compressor at all:
 *     every message goes through the thread's shared compressor (reset after
 *     each message), which also serves multicast (ws_deflate_compress_shared);
 *   - with client_no_context_takeover the decompressor is reset after each
 *     message and ws_deflate_trim frees it when the connection goes idle, and a
 *     message inflated whole (ws_deflate_inflate_message) uses the thread's
 *     shared decompressor, so the connection never allocates one;
 *   - with context takeover in force the streams hold the LZ77 window the peer
 *     relies on and are kept for the life of the connection.
 * zlib's allocations go through counting hooks, so ws_deflate_memory is the
 * exact number of bytes held (malloc's own bookkeeping aside).
 *
 * Window bits: zlib's deflate rejects 8 for raw streams, so a window of 8
 * (negotiated when the client asks server_max_window_bits=8, or configured) is
 * compressed with 9. That is still within the promise: a 9-bit zlib deflater
 * never emits a distance over 250 (512 minus its 262-byte lookahead), so its
 * output inflates with a 256-byte window. Inflating uses the negotiated bits
 * as they are (8 is valid for raw inflate). */
#ifndef WS_DEFLATE_H
#define WS_DEFLATE_H

#include <stddef.h>
#include <stdint.h>

#include "buffer.h"

typedef struct {
    uint32_t threshold;                 /* messages below this many bytes are sent uncompressed
                                           (the caller's check; default 1024) */
    uint8_t server_no_context_takeover; /* always answer it: the server keeps no compression
                                           context between messages (default 0) */
    uint8_t client_no_context_takeover; /* always answer it: the client must not keep one
                                           (default 0; answered anyway when the client offers it) */
    uint8_t server_max_window_bits;     /* 8..15, default 15; the client may ask for less */
    uint8_t client_max_window_bits;     /* 8..15, default 15; sent only when the client offered
                                           client_max_window_bits (otherwise the client may use
                                           15, and the decompressor does) */
    uint8_t mem_level;                  /* 1..9, default 8: zlib's memLevel of the compressor */
    int8_t level;                       /* 0..9, or -1 (default) for Z_DEFAULT_COMPRESSION (6) */
} ws_deflate_config;

/* What one connection negotiated. Window bits are 8..15. */
typedef struct {
    uint8_t server_no_context_takeover, client_no_context_takeover;
    uint8_t server_max_window_bits, client_max_window_bits;
} ws_deflate_params;

/* Errors, negative, each with a close code (as the frame parser's). After one,
 * the message is lost and the connection is expected to close; the inflate
 * stream was reset, so the struct stays safe to use and to free. */
enum ws_deflate_error {
    WS_DEFLATE_TOO_BIG = -300,    /* the inflated message exceeds max -> close 1009 */
    WS_DEFLATE_DATA_ERROR = -301, /* not a valid compressed message -> close 1007 */
    WS_DEFLATE_NO_MEMORY = -501,  /* -> close 1011 */
};

/* One line, static storage, fit for a close reason ("inflated message too big"). */
const char *ws_deflate_strerror(int err);
/* The close code for an error above: 1009, 1007, 1011 (1011 for anything else). */
uint16_t ws_deflate_close_code(int err);

/* The defaults listed beside the fields above. */
void ws_deflate_config_init(ws_deflate_config *cfg);

/* NULL when every field is in range, else a one-line message naming the
 * option as users write it ("perMessageDeflate.serverMaxWindowBits must be an
 * integer from 8 to 15"). */
const char *ws_deflate_config_check(const ws_deflate_config *cfg);

/* Room for any response ws_deflate_negotiate writes, with its NUL: all four
 * parameters, both window bits two digits. */
#define WS_DEFLATE_RESPONSE_MAX 129

/* Negotiation over the value(s) of Sec-WebSocket-Extensions (several header
 * lines joined with ", "). The whole value is parsed as an extension-list
 * (RFC 6455 9.1 with RFC 7230 lists): extension names and parameter names are
 * tokens, compared ASCII case-insensitively; parameters with or without a
 * value; values are tokens or quoted-strings whose unescaped content is a
 * token; optional whitespace (SP, HTAB) around ',', ';' and '='; empty list
 * elements (", ,") are ignored. Anything else -- an element with parameters
 * but no name, a ';' or '=' with nothing after it, an unbalanced quote, a
 * quoted value that is not a token, a control or non-ASCII character outside
 * quotes -- makes the header malformed: -1 (answer 400), whatever offers come
 * before it. Other extensions are parsed and ignored.
 *
 * The FIRST acceptable permessage-deflate offer is accepted: 1, with *params
 * the parameters in force and response[0..*response_len) the value to send
 * (also NUL-terminated), e.g. "permessage-deflate; server_no_context_takeover;
 * client_max_window_bits=10". An offer is declined (the next one is tried) when
 * it has an unknown parameter, a repeated parameter, *_no_context_takeover
 * with a value, server_max_window_bits without a value or with one that is not
 * 8..15 written without leading zeros (quoted or not), or
 * client_max_window_bits with such a value. No acceptable offer (or no offer,
 * or an empty value): 0, send no header. For the accepted offer:
 *   server_no_context_takeover: in force when offered or cfg forces it; answered.
 *   client_no_context_takeover: in force when offered or cfg forces it; answered
 *     (answering an offered one lets the decompressor drop its window).
 *   server_max_window_bits: min(cfg, offered value); answered when offered (as
 *     RFC 7692 requires) or when below 15.
 *   client_max_window_bits: when offered, min(cfg, offered value if any),
 *     answered when below 15; when not offered, 15 and never answered.
 * cfg's window bits outside 8..15 are clamped. cap must be at least
 * WS_DEFLATE_RESPONSE_MAX to be sure to fit; when the response does not fit,
 * the result is 0 (decline), never a truncated value. params and response are
 * written only when the result is 1. */
int ws_deflate_negotiate(const ws_deflate_config *cfg, const char *value, size_t len,
                         ws_deflate_params *params, char *response, size_t cap, size_t *response_len);

typedef struct ws_deflate ws_deflate; /* per connection; zlib streams created lazily */

/* A connection's state for negotiated params (copied; window bits clamped to
 * 8..15) with cfg's level and mem_level (copied: cfg may go away). Allocates
 * only the small struct; NULL when memory is exhausted. */
ws_deflate *ws_deflate_new(const ws_deflate_params *params, const ws_deflate_config *cfg);
void ws_deflate_free(ws_deflate *d);

/* The params d was made with. */
const ws_deflate_params *ws_deflate_get_params(const ws_deflate *d);

/* Incremental inflate of one compressed message (the payload of a message
 * whose first frame had RSV1): call ws_deflate_inflate_chunk for each chunk of
 * the payload as it arrives, in order, then ws_deflate_inflate_end, which
 * feeds the 00 00 ff ff tail of RFC 7692 7.2.2 and checks that the message
 * ended at a block boundary. Inflated bytes are appended to *out (a ws_bytes,
 * which may already hold other data). max bounds the inflated size of the
 * message, summed over its chunks (pass the same max for every call of one
 * message; 0 = no limit): past it the result is WS_DEFLATE_TOO_BIG, detected
 * while inflating and before growing *out, so *out is never grown beyond its
 * length at the start of the message plus max, however the input was crafted
 * (an inflate bomb costs at most max bytes of output buffer). Corrupt input, a message cut inside a
 * deflate block, or a distance beyond the negotiated window gives
 * WS_DEFLATE_DATA_ERROR. An empty payload is an empty message. Blocks with
 * BFINAL set are accepted (RFC 7692 7.2.3.4): data after them starts a new
 * deflate stream that keeps the window. After the message, with
 * client_no_context_takeover the decompressor is reset (ws_deflate_trim frees
 * it). Returns 0 or an enum ws_deflate_error. The caller validates UTF-8 of
 * text messages on the inflated bytes. */
int ws_deflate_inflate_chunk(ws_deflate *d, const uint8_t *in, size_t len, ws_bytes *out, uint64_t max);
int ws_deflate_inflate_end(ws_deflate *d, ws_bytes *out, uint64_t max);

/* Both at once, for a payload that arrived whole: the same as one
 * ws_deflate_inflate_chunk and ws_deflate_inflate_end, except that with
 * client_no_context_takeover (and no chunked message in progress) it uses the
 * thread's shared decompressor and the connection allocates nothing. */
int ws_deflate_inflate_message(ws_deflate *d, const uint8_t *in, size_t len, ws_bytes *out,
                               uint64_t max);

/* Compresses one whole message, appending the payload to send with RSV1 to
 * *out: deflate with Z_SYNC_FLUSH and the 00 00 ff ff tail removed (RFC 7692
 * 7.2.1); an empty message is the single byte 00 (7.2.3.6). With
 * server_no_context_takeover it goes through the thread's shared compressor
 * (exactly ws_deflate_compress_shared at the negotiated window), otherwise
 * through the connection's own, which keeps its window for the next message.
 * With context takeover, once compressed the message must be sent (compressed):
 * the window already holds it. Returns 0 or WS_DEFLATE_NO_MEMORY. */
int ws_deflate_compress(ws_deflate *d, const uint8_t *in, size_t len, ws_bytes *out);

/* Multicast: compresses a message once, with no context, for a frame shared by
 * many connections. Uses a compressor shared by the thread for (window_bits,
 * cfg->level, cfg->mem_level), reset after each message. The output is valid
 * for every connection whose negotiated server_max_window_bits >= window_bits
 * (a smaller window than the peer allows is always decodable), so compress at
 * the smallest window among the recipients.
 *   - A connection with server_no_context_takeover takes the frame as it is.
 *   - A connection WITH server context takeover cannot take it as it is: its
 *     peer's window would hold the shared message while the connection's own
 *     compressor does not, and its next message would refer to the wrong
 *     bytes. Either compress for it separately with ws_deflate_compress, or
 *     send it the shared frame and then call ws_deflate_forget(d), which drops
 *     the compressor's window so the next message refers to nothing before it.
 * Returns 0 or WS_DEFLATE_NO_MEMORY. */
int ws_deflate_compress_shared(const ws_deflate_config *cfg, uint8_t window_bits, const uint8_t *in,
                               size_t len, ws_bytes *out);

/* Drops the connection's compression context (frees its compressor): to be
 * called after the connection was sent a frame it did not compress itself (see
 * above). Costs compression ratio, never correctness. */
void ws_deflate_forget(ws_deflate *d);

/* Frees zlib streams that hold no context worth keeping: the decompressor with
 * client_no_context_takeover when no message is in progress. To be called when
 * a connection goes idle. With context takeover the streams are kept: the
 * peer's next message may refer to the window. */
void ws_deflate_trim(ws_deflate *d);

/* Bytes held for this connection now: the struct, the z_streams and every
 * zlib allocation (counted by the allocation hooks), not the shared streams. */
size_t ws_deflate_memory(const ws_deflate *d);

/* Bytes held by this thread's shared compressors and decompressor. */
size_t ws_deflate_shared_memory(void);

/* Frees this thread's shared streams (at exit, so leak checkers stay quiet;
 * they are made again when needed). */
void ws_deflate_shared_free(void);

#endif
