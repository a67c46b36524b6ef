{
  "variables": {
    "have_hiredis%": "<!(node -e \"var fs=require('fs'),ok=fs.existsSync('/usr/include/hiredis/hiredis.h');if(process.env.NODE_WEBSOCKET_HIREDIS==='0')ok=null;else if(!ok)try{require('child_process').execFileSync('pkg-config',['--exists','hiredis']);ok=true}catch(e){}process.stdout.write(ok?'1':'0')\")",
    "hiredis_static%": "<!(node -e \"process.stdout.write(process.env.NODE_WEBSOCKET_HIREDIS==='static'?'1':'0')\")"
  },
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
        "native/history.c",
        "native/tls.c",
        "native/deflate.c",
        "native/proxy.c",
        "native/frame.c",
        "native/utf8.c",
        "native/http.c",
        "native/handshake.c",
        "native/hixie.c",
        "native/policy.c",
        "native/docroot.c",
        "native/redis.c",
        "native/gateway.c",
        "native/gwframe.c",
        "native/gwpath.c",
        "native/gwproto.c",
        "native/sockjs.c",
        "native/sockjs_session.c"
      ],
      "cflags": ["-Wall", "-Wextra", "-Werror", "-O2"],
      "cflags_c": ["-std=c11", "-D_GNU_SOURCE"],
      "conditions": [
        ["have_hiredis==1", {
          "defines": ["HAVE_HIREDIS"]
        }],
        ["have_hiredis==1 and hiredis_static==0", {
          "libraries": ["-lhiredis"]
        }],
        ["have_hiredis==1 and hiredis_static==1", {
          "libraries": ["-Wl,-Bstatic", "-lhiredis", "-Wl,-Bdynamic", "-Wl,--exclude-libs,libhiredis.a"]
        }],
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
