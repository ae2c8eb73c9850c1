{
  "variables": {
    "poller%": "<!(node -p \"process.env.COREWS_POLLER || (process.platform === 'linux' ? 'epoll' : 'libuv')\")",
    "sanitize%": "<!(node -p \"process.env.COREWS_SANITIZE ? 1 : 0\")",
    "portable%": "<!(node -p \"process.env.COREWS_PORTABLE === '1' || process.platform !== 'linux' ? 1 : 0\")"
  },
  "targets": [
    {
      "target_name": "corews",
      "sources": [
        "native/core/socket_calls.cpp",
        "native/client/load_generator.cpp",
        "native/client/payloads.cpp",
        "native/client/tls_client.cpp",
        "native/proto/base64.cpp",
        "native/proto/client_deflate.cpp",
        "native/proto/client_handshake.cpp",
        "native/proto/deflate_negotiation.cpp",
        "native/proto/deflater.cpp",
        "native/proto/frame.cpp",
        "native/proto/handshake.cpp",
        "native/proto/http_body.cpp",
        "native/proto/http_request.cpp",
        "native/proto/http_response.cpp",
        "native/proto/inflater.cpp",
        "native/proto/sha1.cpp",
        "native/proto/utf8.cpp",
        "native/proto/utf8_avx2.cpp",
        "native/proto/utf8_avx512.cpp",
        "native/proto/utf8_ssse3.cpp",
        "native/proto/zlib_memory.cpp",
        "native/server/closing.cpp",
        "native/server/command_runner.cpp",
        "native/server/deflate_path.cpp",
        "native/server/deflate_resources.cpp",
        "native/server/deflate_session.cpp",
        "native/server/fanout.cpp",
        "native/server/handshake_flow.cpp",
        "native/server/heartbeat.cpp",
        "native/server/http_flow.cpp",
        "native/server/listener.cpp",
        "native/server/out_queue.cpp",
        "native/server/rate_limit.cpp",
        "native/server/read_path.cpp",
        "native/server/tcp_transport.cpp",
        "native/server/tls_context.cpp",
        "native/server/tls_transport.cpp",
        "native/server/topics.cpp",
        "native/server/worker.cpp",
        "native/server/write_path.cpp",
        "native/addon/batch_to_js.cpp",
        "native/addon/bridge_binding.cpp",
        "native/addon/hot_paths_binding.cpp",
        "native/addon/inline_loop.cpp",
        "native/addon/inline_server.cpp",
        "native/addon/load_generator_binding.cpp",
        "native/addon/module.cpp",
        "native/addon/native_server.cpp",
        "native/addon/payload_slab.cpp",
        "native/addon/tls_binding.cpp"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags": ["-fvisibility=hidden"],
      "cflags_cc": ["-std=c++20", "-fexceptions", "-Wall", "-Wextra", "-fvisibility=hidden", "-fno-semantic-interposition", "-O2"],
      "conditions": [
        ["poller=='epoll'", {"sources": ["native/core/poller_epoll.cpp"]}],
        ["poller=='libuv'", {"sources": ["native/core/poller_libuv.cpp"]}],
        ["portable==0", {"sources": ["native/core/wakeup_eventfd.cpp"]}],
        ["portable==1", {"sources": ["native/core/wakeup_pipe.cpp"], "defines": ["COREWS_PORTABLE"]}],
        ["sanitize==1", {
          "cflags_cc": ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g"],
          "ldflags": ["-fsanitize=address,undefined"]
        }],
        ["OS=='mac'", {
          "xcode_settings": {
            "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
            "CLANG_CXX_LANGUAGE_STANDARD": "c++20",
            "GCC_SYMBOLS_PRIVATE_EXTERN": "YES"
          }
        }]
      ]
    }
  ]
}
