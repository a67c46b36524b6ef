/* TLS for wss:// over memory BIOs: ciphertext in and out as byte buffers, no
 * I/O, so the connection owns the socket exactly as it does for ws://. Uses
 * the OpenSSL inside Node (its headers, the symbols the node binary exports).
 *
 * Everything runs on the one loop thread: contexts and sessions are not
 * thread-safe and the reference count is a plain counter.
 *
 * Memory per session (test/c/test_tls.c counts every allocation through
 * CRYPTO_set_mem_functions; tls.c allocates its own structs with OPENSSL_zalloc
 * so they count too; OpenSSL 3.0, x86-64, RSA-2048 certificate): a new
 * session 9.0 KB (OpenSSL's SSL object alone is 7.6 KB); during the
 * handshake about 42 KB (TLS 1.2) / 44 KB (TLS 1.3); idle once established
 * 13.9 KB in 38 blocks (TLS 1.2) / 14.3 KB in 46 blocks (TLS 1.3), plus
 * malloc's per-block overhead. No 16 KB record buffer stays behind
 * (SSL_MODE_RELEASE_BUFFERS) and a drained memory BIO keeps at most
 * WS_TLS_BIO_RETAIN bytes. */
#ifndef WS_TLS_H
#define WS_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define WS_TLS_ERROR (-1)  /* the session failed: ws_tls_error() says why */
#define WS_TLS_CLOSED (-2) /* ws_tls_read: the peer sent close_notify; no more plaintext */

/* A drained memory BIO whose buffer grew beyond this many bytes gives it
 * back (the handshake flights, a large message), so an idle session keeps at
 * most this much per direction, while small messages reuse their buffer. */
#define WS_TLS_BIO_RETAIN 512

/* Only the strings below are read by ws_tls_ctx_new; it copies what it keeps,
 * so the caller may free them as soon as it returns. */
typedef struct {
    const char *cert_pem; size_t cert_len;  /* PEM: the certificate, then any intermediates */
    const char *key_pem; size_t key_len;    /* PEM private key, possibly encrypted */
    const char *passphrase;                 /* NUL-terminated; NULL when none */
    const char *ca_pem; size_t ca_len;      /* extra chain certificates sent after cert_pem's, may be NULL */
} ws_tls_cert;

typedef struct {
    ws_tls_cert main;
    int min_version;          /* 0 or 0x0303: TLS 1.2 (default); 0x0304: TLS 1.3 */
    const char **sni_names;   /* names, possibly "*.example.com" */
    ws_tls_cert *sni_certs;   /* sni_certs[i] serves sni_names[i] */
    size_t n_sni;
} ws_tls_config;

typedef struct ws_tls_ctx ws_tls_ctx;   /* SSL_CTX(s); reference counted */

/* Builds the context (reference count 1); on failure returns NULL and writes a
 * one-line reason to err naming what failed: "certificate: <openssl reason>",
 * "private key: <openssl reason>", "private key: bad passphrase",
 * "private key: encrypted and no passphrase given", "private key does not
 * match the certificate", "ca: <openssl reason>", "min version: ...",
 * "sni 'name': <one of those>" (the JS layer prefixes the file name).
 * TLS 1.2 and 1.3 only; ALPN selects "http/1.1" when the client offers it (and
 * proceeds without ALPN when it does not); renegotiation refused
 * (SSL_OP_NO_RENEGOTIATION), no compression; session tickets for resumption,
 * no server-side session cache (its memory would grow with the clients); SNI
 * picks the matching certificate (exact, then wildcard one label deep,
 * case-insensitive), else the main one. err may be NULL when errlen is 0. */
ws_tls_ctx *ws_tls_ctx_new(const ws_tls_config *cfg, char *err, size_t errlen);
void ws_tls_ctx_ref(ws_tls_ctx *ctx);
/* Sessions hold a reference: a reload makes a new ctx for new connections,
 * unrefs the old one, and the old sessions keep working until freed. */
void ws_tls_ctx_unref(ws_tls_ctx *ctx);

typedef struct ws_tls ws_tls;               /* one connection */
/* A server-side session holding a reference to ctx; NULL when out of memory. */
ws_tls *ws_tls_new(ws_tls_ctx *ctx);
void ws_tls_free(ws_tls *t);                /* NULL is fine */

/* Ciphertext received from the peer; it is only buffered here, ws_tls_read
 * processes it. Returns 0, or WS_TLS_ERROR when out of memory or the session
 * already failed. */
int ws_tls_feed(ws_tls *t, const uint8_t *in, size_t len);
/* Plaintext out: returns bytes (> 0), 0 when nothing more is available now,
 * WS_TLS_CLOSED once the peer's close_notify arrived, or WS_TLS_ERROR (the
 * handshake failed: garbage instead of a ClientHello, bad version, an alert,
 * a record that does not decrypt...; ws_tls_error() says why, and every later
 * call returns WS_TLS_ERROR again). Drives the handshake as needed, flushing
 * writes buffered before it finished. Call it in a loop after ws_tls_feed
 * until it returns <= 0. After it, whatever the result (an error too: the
 * fatal alert), ws_tls_pending may hold ciphertext to send. */
ssize_t ws_tls_read(ws_tls *t, uint8_t *out, size_t cap);
/* Plaintext in: encrypts all of it (the memory BIO grows) and returns 0, or
 * WS_TLS_ERROR (failed session, after ws_tls_shutdown, out of memory). Before
 * the handshake finishes it copies the bytes aside and encrypts them as soon
 * as ws_tls_read completes the handshake. */
int ws_tls_write(ws_tls *t, const uint8_t *in, size_t len);
/* Ciphertext to send to the peer: how much is waiting, and take up to cap
 * bytes of it (returns how many were copied to out). */
size_t ws_tls_pending(const ws_tls *t);
size_t ws_tls_take(ws_tls *t, uint8_t *out, size_t cap);
/* close_notify into the outgoing ciphertext (once; nothing when the handshake
 * has not finished or failed). Writes fail afterwards; reads still work, and
 * return WS_TLS_CLOSED when the peer answers with its close_notify. */
void ws_tls_shutdown(ws_tls *t);
/* 1 once the handshake finished (and the session has not failed). */
int ws_tls_established(const ws_tls *t);
/* Why the session failed, an OpenSSL reason such as "wrong version number"
 * or "sslv3 alert handshake failure"; NULL when it has not failed. Static
 * strings: valid for the whole process. */
const char *ws_tls_error(const ws_tls *t);
/* For tests and logging: the negotiated protocol version ("TLSv1.3"), the
 * ALPN protocol chosen ("http/1.1", or NULL when none), the SNI name the
 * client sent (NULL when none; valid while the session lives). */
const char *ws_tls_version(const ws_tls *t);
const char *ws_tls_alpn(const ws_tls *t);
const char *ws_tls_servername(const ws_tls *t);

#endif
