// `corews bench`'s engine as a JS class: new LoadGenerator(config), start(),
// progress(), stop(), finish() (call once progress().done).
#pragma once
#include <napi.h>

#include <memory>

#include "../client/load_generator.h"

namespace corews::addon {

class LoadGeneratorBinding : public Napi::ObjectWrap<LoadGeneratorBinding> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit LoadGeneratorBinding(const Napi::CallbackInfo& info);

 private:
  void Start(const Napi::CallbackInfo& info);
  Napi::Value Progress(const Napi::CallbackInfo& info);
  void Stop(const Napi::CallbackInfo& info);
  Napi::Value Finish(const Napi::CallbackInfo& info);

  std::unique_ptr<client::LoadGenerator> generator_;
  bool deflate_ = false;
};

}  // namespace corews::addon
