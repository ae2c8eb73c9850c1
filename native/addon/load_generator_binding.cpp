#include "load_generator_binding.h"

#include "../client/tls_client.h"
#include "js_values.h"

namespace corews::addon {
namespace {

client::Mode mode_of(const std::string& name) {
  if (name == "latency") return client::Mode::kLatency;
  if (name == "connect") return client::Mode::kConnect;
  if (name == "idle") return client::Mode::kIdle;
  if (name == "fanout") return client::Mode::kFanout;
  return client::Mode::kEcho;
}

double us(uint64_t ns) { return double(ns) / 1000.0; }

}  // namespace

Napi::Function LoadGeneratorBinding::Define(Napi::Env env) {
  return DefineClass(env, "LoadGenerator",
                     {
                         InstanceMethod<&LoadGeneratorBinding::Start>("start"),
                         InstanceMethod<&LoadGeneratorBinding::Progress>("progress"),
                         InstanceMethod<&LoadGeneratorBinding::Stop>("stop"),
                         InstanceMethod<&LoadGeneratorBinding::Finish>("finish"),
                     });
}

// config: { mode, address, port, host, path, connections, depth, size, binary,
//           duration, warmup, threads, sources, payload?, deflate?, messages?,
//           tls? } (validated by the CLI);
// tls (wss://): { host, verify, ca } with ca the trusted issuers' PEM.
LoadGeneratorBinding::LoadGeneratorBinding(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LoadGeneratorBinding>(info) {
  auto o = info[0].As<Napi::Object>();
  client::BenchConfig c;
  c.mode = mode_of(o.Get("mode").As<Napi::String>().Utf8Value());
  c.address = o.Get("address").As<Napi::String>().Utf8Value();
  c.port = o.Get("port").As<Napi::Number>().Int32Value();
  c.host_header = o.Get("host").As<Napi::String>().Utf8Value();
  c.path = o.Get("path").As<Napi::String>().Utf8Value();
  c.connections = o.Get("connections").As<Napi::Number>().Int32Value();
  c.depth = o.Get("depth").As<Napi::Number>().Int32Value();
  c.size = size_t(o.Get("size").As<Napi::Number>().Int64Value());
  c.binary = o.Get("binary").ToBoolean();
  c.duration_s = o.Get("duration").As<Napi::Number>().DoubleValue();
  c.warmup_s = o.Get("warmup").As<Napi::Number>().DoubleValue();
  c.threads = o.Get("threads").As<Napi::Number>().Int32Value();
  auto sources = o.Get("sources").As<Napi::Array>();
  for (uint32_t i = 0; i < sources.Length(); ++i) c.sources.push_back(sources.Get(i).As<Napi::String>().Utf8Value());
  Napi::Value payload = o.Get("payload");
  if (payload.IsString() && payload.As<Napi::String>().Utf8Value() == "json") c.payload = client::Payload::kJson;
  c.deflate = o.Get("deflate").ToBoolean();
  Napi::Value messages = o.Get("messages");
  if (messages.IsNumber()) c.messages = messages.As<Napi::Number>().Int32Value();
  deflate_ = c.deflate;
  Napi::Value tls = o.Get("tls");
  if (tls.IsObject()) {
    auto t = tls.As<Napi::Object>();
    c.tls = true;
    c.tls_host = utf8(t.Get("host"));
    c.tls_verify = t.Get("verify").ToBoolean();
    c.tls_ca_pem = utf8(t.Get("ca"));
  }
  try {
    generator_ = std::make_unique<client::LoadGenerator>(std::move(c));
  } catch (const client::TlsClientError& e) {
    Napi::Error err = Napi::Error::New(info.Env(), e.what());
    err.Set("code", Napi::String::New(info.Env(), "ERR_COREWS_TLS"));
    throw err;
  }
}

void LoadGeneratorBinding::Start(const Napi::CallbackInfo&) { generator_->start(); }

Napi::Value LoadGeneratorBinding::Progress(const Napi::CallbackInfo& info) {
  client::BenchProgress p = generator_->progress();
  auto o = Napi::Object::New(info.Env());
  o.Set("messages", double(p.messages));
  o.Set("open", double(p.open));
  o.Set("errors", double(p.errors));
  o.Set("measuring", p.measuring);
  o.Set("done", p.done);
  return o;
}

void LoadGeneratorBinding::Stop(const Napi::CallbackInfo&) { generator_->stop(); }

Napi::Value LoadGeneratorBinding::Finish(const Napi::CallbackInfo& info) {
  client::BenchResult r = generator_->finish();
  Napi::Env env = info.Env();
  auto o = Napi::Object::New(env);
  o.Set("messages", double(r.messages));
  o.Set("bytes", double(r.bytes));
  o.Set("handshakes", double(r.handshakes));
  o.Set("errors", double(r.errors));
  o.Set("open", double(r.open));
  o.Set("seconds", r.seconds);
  o.Set("tlsHandshakes", double(r.tls_handshakes));
  o.Set("tlsProtocol", r.tls_protocol);
  o.Set("tlsCipher", r.tls_cipher);
  o.Set("tlsAlpn", r.tls_alpn);
  o.Set("firstError", r.first_error);
  o.Set("aborted", r.aborted);
  auto lat = Napi::Object::New(env);
  lat.Set("p50", us(r.latency.quantile(0.5)));
  lat.Set("p90", us(r.latency.quantile(0.9)));
  lat.Set("p99", us(r.latency.quantile(0.99)));
  lat.Set("p999", us(r.latency.quantile(0.999)));
  lat.Set("max", us(r.latency.max()));
  lat.Set("count", double(r.latency.count()));
  o.Set("latencyUs", lat);
  if (deflate_) {
    auto d = Napi::Object::New(env);
    d.Set("negotiated", double(r.deflate_negotiated));
    d.Set("agreed", r.deflate_agreed);
    d.Set("compressedIn", double(r.compressed_in));
    d.Set("wireIn", double(r.wire_in));
    d.Set("wireOut", double(r.wire_out));
    d.Set("payloadOut", double(r.payload_out));
    o.Set("deflate", d);
  }
  return o;
}

}  // namespace corews::addon
