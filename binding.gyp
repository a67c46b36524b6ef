{
  "targets": [
    {
      "target_name": "websocket",
      "sources": [
        "native/addon.c",
        "native/server.c",
        "native/connection.c",
        "native/buffer.c",
        "native/events.c",
        "native/pubsub.c",
        "native/tls.c",
        "native/deflate.c",
        "native/proxy.c",
        "native/frame.c",
        "native/utf8.c",
        "native/http.c",
        "native/handshake.c",
        "native/policy.c",
        "native/docroot.c",
        "native/gateway.c",
        "native/gwframe.c",
        "native/gwpath.c",
        "native/gwproto.c"
      ],
      "cflags": ["-Wall", "-Wextra", "-Werror", "-O2"],
      "cflags_c": ["-std=c11", "-D_GNU_SOURCE"],
      "conditions": [
        ["OS=='mac'", {
          "xcode_settings": {
            "GCC_C_LANGUAGE_STANDARD": "c11",
            "OTHER_CFLAGS": ["-Wall", "-Wextra", "-Werror", "-O2"]
          }
        }]
      ]
    }
  ]
}
