// The `tls` option as the addon takes it from JS (src/tls.ts has normalised
// and validated it): { keys: [{ pem, passphrase? }], certs: [pem], ca: [pem],
// ciphers, ecdhCurve, minVersion, maxVersion (OpenSSL version numbers, 0: the
// default), sessionTimeout (seconds, 0: the default) }.
#pragma once
#include <napi.h>

#include "../server/tls_context.h"

namespace corews::addon {

server::TlsConfig tls_config_from(const Napi::Value& v);
// Loads a certificate set, turning OpenSSL's complaint into a JS Error.
void throw_tls_error(Napi::Env env, const server::TlsError& e);
Napi::Object tls_stats_object(Napi::Env env, server::TlsStats& stats);

}  // namespace corews::addon
