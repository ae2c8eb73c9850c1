// The bridged mode's binding: server.handleUpgrade on an https.Server's TLS
// socket, which cannot hand over a descriptor (its TLS lives in Node). A
// socketpair is made (in the listener layer, where socket calls live); the
// worker adopts one end exactly as an attached TCP connection, and Node gets
// the other to pipe to and from the TLS socket (src/bridge.ts).
#include <string>

#include "../server/commands.h"
#include "../server/listener.h"
#include "js_values.h"
#include "native_server.h"

namespace corews::addon {

// bridge(worker, request: Uint8Array, remoteAddress) → Node's end of the
// bridge (an fd for net.Socket), or -errno. `request` is what Node read of the
// connection; `remoteAddress` the client's, which the socketpair cannot show.
Napi::Value NativeServer::Bridge(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* box = outbox(info);
  // An address longer than any numeric one is not an address: it would also overflow the u16 length.
  std::string address = utf8(info[2]);
  if (box == nullptr || !info[1].IsTypedArray() || address.size() > 64) return Napi::Number::New(env, -22);  // EINVAL
  auto request = info[1].As<Napi::Uint8Array>();
  int fds[2];
  if (int r = server::open_bridge(fds); r < 0) return Napi::Number::New(env, r);
  int32_t worker_end = fds[0];
  server::CommandWriter(*box).add(server::CommandType::kAdoptBridged, 0, 0, uint16_t(address.size()),
                                  {{reinterpret_cast<const char*>(&worker_end), 4},
                                   address,
                                   {reinterpret_cast<const char*>(request.Data()), request.ByteLength()}});
  flush();
  return Napi::Number::New(env, fds[1]);
}

}  // namespace corews::addon
