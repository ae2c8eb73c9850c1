#include "tls_binding.h"

#include "js_values.h"
#include "native_server.h"

namespace corews::addon {

server::TlsConfig tls_config_from(const Napi::Value& v) {
  server::TlsConfig c;
  auto o = v.As<Napi::Object>();
  Napi::Value keys = o.Get("keys");
  if (keys.IsArray()) {
    auto a = keys.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      auto k = a.Get(i).As<Napi::Object>();
      server::TlsConfig::Key key;
      key.pem = utf8(k.Get("pem"));
      Napi::Value pass = k.Get("passphrase");
      key.has_passphrase = pass.IsString();
      key.passphrase = utf8(pass);
      c.keys.push_back(std::move(key));
    }
  }
  c.certs = string_list(o.Get("certs"));
  c.ca = string_list(o.Get("ca"));
  c.ciphers = utf8(o.Get("ciphers"));
  c.ecdh_curve = utf8(o.Get("ecdhCurve"));
  c.min_version = int(number(o.Get("minVersion")));
  c.max_version = int(number(o.Get("maxVersion")));
  c.session_timeout_s = int64_t(number(o.Get("sessionTimeout")));
  return c;
}

void throw_tls_error(Napi::Env env, const server::TlsError& e) {
  Napi::Error err = Napi::Error::New(env, e.what());
  err.Set("code", Napi::String::New(env, "ERR_COREWS_TLS"));
  throw err;
}

Napi::Object tls_stats_object(Napi::Env env, server::TlsStats& s) {
  auto load = [](const std::atomic<uint64_t>& a) { return double(a.load(std::memory_order_relaxed)); };
  auto o = Napi::Object::New(env);
  o.Set("handshakes", load(s.handshakes));
  o.Set("resumed", load(s.resumed));
  o.Set("tls12", load(s.tls12));
  o.Set("tls13", load(s.tls13));
  o.Set("handshakeFailures", load(s.handshake_failures));
  o.Set("renegotiationsRefused", load(s.renegotiations_refused));
  return o;
}

// addContext(hostname, tls)
void NativeServer::AddContext(const Napi::CallbackInfo& info) {
  if (!config_->tls) throw Napi::Error::New(info.Env(), "addContext: the server has no 'tls' option");
  try {
    config_->tls->add_context(info[0].As<Napi::String>().Utf8Value(), tls_config_from(info[1]));
  } catch (const server::TlsError& e) {
    throw_tls_error(info.Env(), e);
  }
}

// setSecureContext(tls)
void NativeServer::SetSecureContext(const Napi::CallbackInfo& info) {
  if (!config_->tls) throw Napi::Error::New(info.Env(), "setSecureContext: the server has no 'tls' option");
  try {
    config_->tls->set_default(tls_config_from(info[0]));
  } catch (const server::TlsError& e) {
    throw_tls_error(info.Env(), e);
  }
}

}  // namespace corews::addon
