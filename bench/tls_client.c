/* tls_client: see tls_client.h. OpenSSL (the system's libssl) directly on
 * the socket; full handshakes (no session resumption), so connect mode
 * measures what a new client costs. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tls_client.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct tls_conn {
    SSL *ssl;
    uint8_t *pend;     /* bytes accepted by tls_writev() and not yet taken by SSL_write (TLS_CHUNK, made on first need) */
    size_t pend_len;
    int eof;           /* the peer's end of stream was seen */
    int failed;        /* a fatal error: no more I/O, no close_notify */
    int err_errno;     /* a read failure met after some bytes were read: reported by the next tls_read() */
    int read_want_write;
};

static SSL_CTX *ctx;
static int verify_peer;
static _Thread_local char errbuf[512];
static _Thread_local uint8_t scratch[TLS_CHUNK];

const char *tls_error(void) { return errbuf; }

/* errbuf = what, then OpenSSL's error queue (and a verification failure). */
static void set_error(const char *what, const SSL *ssl) {
    int n = snprintf(errbuf, sizeof errbuf, "%s", what);
    unsigned long e;
    while ((e = ERR_get_error()) != 0 && n > 0 && (size_t)n < sizeof errbuf - 2) {
        char one[256];
        ERR_error_string_n(e, one, sizeof one);
        n += snprintf(errbuf + n, sizeof errbuf - (size_t)n, ": %s", one);
    }
    if (ssl && verify_peer && n > 0 && (size_t)n < sizeof errbuf - 2) {
        long v = SSL_get_verify_result(ssl);
        if (v != X509_V_OK)
            snprintf(errbuf + n, sizeof errbuf - (size_t)n, " (certificate verification: %s)",
                     X509_verify_cert_error_string(v));
    }
}

int tls_setup(const char *ca_file, int small_buffers) {
    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        set_error("SSL_CTX_new", NULL);
        return -1;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* A kept write is retried from the connection's own copy, not the buffer first given. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | (small_buffers ? SSL_MODE_RELEASE_BUFFERS : 0));
    /* A TCP close without close_notify reads as an end of stream, as a plain
     * socket's: the WebSocket close handshake is what loadgen checks. */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    static const unsigned char alpn[] = "\x08http/1.1";
    if (SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1) != 0) {
        set_error("ALPN", NULL);
        return -1;
    }
    if (ca_file) {
        if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
            char what[300];
            snprintf(what, sizeof what, "--tls-ca %s: cannot load the CA certificate", ca_file);
            set_error(what, NULL);
            return -1;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        verify_peer = 1;
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    return 0;
}

tls_conn *tls_new(int fd) {
    tls_conn *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(errbuf, sizeof errbuf, "out of memory");
        return NULL;
    }
    ERR_clear_error();
    t->ssl = SSL_new(ctx);
    if (!t->ssl || SSL_set_fd(t->ssl, fd) != 1) {
        set_error("SSL_new", NULL);
        if (t->ssl) SSL_free(t->ssl);
        free(t);
        return NULL;
    }
    /* The request's Host is 127.0.0.1: the certificate must name that address. */
    if (verify_peer && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), "127.0.0.1") != 1) {
        set_error("X509_VERIFY_PARAM_set1_ip_asc", NULL);
        SSL_free(t->ssl);
        free(t);
        return NULL;
    }
    SSL_set_connect_state(t->ssl);
    return t;
}

/* Maps an SSL_get_error() that is not a WANT to TLS_ERROR with errno and errbuf. */
static int fail(tls_conn *t, int e, const char *what) {
    int saved = errno;
    t->failed = 1;
    if (e == SSL_ERROR_SYSCALL && saved) {
        snprintf(errbuf, sizeof errbuf, "%s: %s", what, strerror(saved));
        ERR_clear_error();
        errno = saved;
    } else if (e == SSL_ERROR_SYSCALL) {
        snprintf(errbuf, sizeof errbuf, "%s: the connection was closed", what);
        errno = ECONNRESET;
    } else {
        char w[128];
        snprintf(w, sizeof w, "%s: TLS failure", what);
        set_error(w, t->ssl);
        errno = EPROTO;
    }
    return TLS_ERROR;
}

int tls_handshake(tls_conn *t) {
    ERR_clear_error();
    int r = SSL_connect(t->ssl);
    if (r == 1) return 1;
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ) return TLS_WANT_READ;
    if (e == SSL_ERROR_WANT_WRITE) return TLS_WANT_WRITE;
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && !errno)) {
        t->failed = 1;
        snprintf(errbuf, sizeof errbuf, "the server closed the connection during the TLS handshake");
        ERR_clear_error();
        errno = ECONNRESET;
        return TLS_ERROR;
    }
    return fail(t, e, "TLS handshake");
}

ssize_t tls_read(tls_conn *t, void *buf, size_t len) {
    if (t->err_errno) {
        errno = t->err_errno;
        return TLS_ERROR;
    }
    if (t->eof) return 0;
    size_t got = 0;
    t->read_want_write = 0;
    while (got < len) {
        ERR_clear_error();
        size_t chunk = len - got > 1u << 30 ? 1u << 30 : len - got;
        int r = SSL_read(t->ssl, (uint8_t *)buf + got, (int)chunk);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        int e = SSL_get_error(t->ssl, r);
        if (e == SSL_ERROR_WANT_READ) return got ? (ssize_t)got : TLS_WANT_READ;
        if (e == SSL_ERROR_WANT_WRITE) {
            t->read_want_write = 1;
            return got ? (ssize_t)got : TLS_WANT_WRITE;
        }
        if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && !errno)) {
            t->eof = 1;
            return (ssize_t)got;
        }
        fail(t, e, "TLS");
        if (!got) return TLS_ERROR;
        t->err_errno = errno; /* as a socket would: the bytes first, the error on the next read */
        return (ssize_t)got;
    }
    return (ssize_t)got;
}

int tls_has_pending(const tls_conn *t) { return !t->eof && !t->failed && SSL_pending(t->ssl) > 0; }

int tls_pending(const tls_conn *t) { return t->pend_len != 0; }

int tls_read_wants_write(const tls_conn *t) { return t->read_want_write; }

int tls_flush(tls_conn *t) {
    if (!t->pend_len) return 1;
    if (t->failed) {
        errno = EPIPE;
        return TLS_ERROR;
    }
    ERR_clear_error();
    int r = SSL_write(t->ssl, t->pend, (int)t->pend_len);
    if (r > 0) { /* without SSL_MODE_ENABLE_PARTIAL_WRITE: all of it */
        t->pend_len = 0;
        return 1;
    }
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ) return TLS_WANT_READ;
    if (e == SSL_ERROR_WANT_WRITE) return TLS_WANT_WRITE;
    return fail(t, e, "TLS");
}

ssize_t tls_writev(tls_conn *t, const struct iovec *iov, int n) {
    int f = tls_flush(t);
    if (f != 1) return f;
    size_t len = 0;
    for (int i = 0; i < n && len < TLS_CHUNK; i++) {
        size_t take = iov[i].iov_len < TLS_CHUNK - len ? iov[i].iov_len : TLS_CHUNK - len;
        memcpy(scratch + len, iov[i].iov_base, take);
        len += take;
    }
    if (!len) return 0;
    ERR_clear_error();
    int r = SSL_write(t->ssl, scratch, (int)len);
    if (r > 0) return (ssize_t)len;
    int e = SSL_get_error(t->ssl, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return fail(t, e, "TLS");
    /* OpenSSL has taken a record or more of these bytes: the retry must offer
     * the same ones, so they are kept here and counted as written. */
    if (!t->pend && !(t->pend = malloc(TLS_CHUNK))) {
        t->failed = 1;
        snprintf(errbuf, sizeof errbuf, "out of memory");
        errno = ENOMEM;
        return TLS_ERROR;
    }
    memcpy(t->pend, scratch, len);
    t->pend_len = len;
    return (ssize_t)len;
}

void tls_free(tls_conn *t) {
    if (!t) return;
    if (!t->eof && !t->failed && SSL_is_init_finished(t->ssl)) {
        ERR_clear_error();
        (void)SSL_shutdown(t->ssl); /* one non-blocking try: close_notify if the socket takes it */
    }
    ERR_clear_error();
    SSL_free(t->ssl);
    free(t->pend);
    free(t);
}

const char *tls_version_of(const tls_conn *t) { return SSL_get_version(t->ssl); }

const char *tls_cipher_of(const tls_conn *t) { return SSL_get_cipher_name(t->ssl); }
