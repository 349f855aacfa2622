// One Init function per exported group; addon.cc calls them all.
#pragma once
#include <napi.h>

namespace mimic::bind {
void init_info(Napi::Env env, Napi::Object exports);
void init_gemm(Napi::Env env, Napi::Object exports);
void init_kde(Napi::Env env, Napi::Object exports);
void init_ops(Napi::Env env, Napi::Object exports);
void init_optim(Napi::Env env, Napi::Object exports);
void init_network(Napi::Env env, Napi::Object exports);
void init_losses(Napi::Env, Napi::Object);
void init_augment(Napi::Env, Napi::Object);
void init_perturb(Napi::Env, Napi::Object);
}  // namespace mimic::bind
