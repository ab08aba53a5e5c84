// Argument checks (type only, better-sqlite3 macros.cpp style). Each declares a local named
// after the argument, or throws a TypeError naming it and returns undefined from the caller.
// The caller must have `Napi::Env env` in scope.
#ifndef BERTH_MACROS_H
#define BERTH_MACROS_H

#include <napi.h>

#include <cmath>
#include <cstdint>

#define THROW_TYPE_ERROR(what)                                      \
  do {                                                              \
    Napi::TypeError::New(env, what).ThrowAsJavaScriptException();   \
    return env.Undefined();                                         \
  } while (0)

static inline bool IsInt32Value(const Napi::Value& v) {
  if (!v.IsNumber()) return false;
  double d = v.As<Napi::Number>().DoubleValue();
  return std::isfinite(d) && d == std::trunc(d) && d >= INT32_MIN && d <= INT32_MAX;
}

// An integer in [0, 2^53): flags and masks wider than 31 bits.
static inline bool IsUint53Value(const Napi::Value& v) {
  if (!v.IsNumber()) return false;
  double d = v.As<Napi::Number>().DoubleValue();
  return std::isfinite(d) && d == std::trunc(d) && d >= 0 && d <= 9007199254740991.0;
}

#define REQUIRE_INT32(i, name)                                                \
  if (!IsInt32Value(info[i])) THROW_TYPE_ERROR(#name " must be an int32");    \
  int32_t name = info[i].As<Napi::Number>().Int32Value()

#define REQUIRE_STRING(i, name)                                               \
  if (!info[i].IsString()) THROW_TYPE_ERROR(#name " must be a string");       \
  std::string name = info[i].As<Napi::String>().Utf8Value()

#define REQUIRE_BOOL(i, name)                                                 \
  if (!info[i].IsBoolean()) THROW_TYPE_ERROR(#name " must be a boolean");     \
  bool name = info[i].As<Napi::Boolean>().Value()

#define REQUIRE_FUNCTION(i, name)                                             \
  if (!info[i].IsFunction()) THROW_TYPE_ERROR(#name " must be a function");   \
  Napi::Function name = info[i].As<Napi::Function>()

#define REQUIRE_OBJECT(i, name)                                               \
  if (!info[i].IsObject()) THROW_TYPE_ERROR(#name " must be an object");      \
  Napi::Object name = info[i].As<Napi::Object>()

// Properties of an options object (spawn's SpawnArgs): `key` is the property, `name` the local.
#define REQUIRE_PROP_INT32(obj, key, name)                                              \
  Napi::Value name##_v = (obj).Get(#key);                                               \
  if (!IsInt32Value(name##_v)) THROW_TYPE_ERROR(#key " must be an int32");              \
  int32_t name = name##_v.As<Napi::Number>().Int32Value()

#define REQUIRE_PROP_UINT53(obj, key, name)                                             \
  Napi::Value name##_v = (obj).Get(#key);                                               \
  if (!IsUint53Value(name##_v)) THROW_TYPE_ERROR(#key " must be a non-negative integer"); \
  uint64_t name = (uint64_t)name##_v.As<Napi::Number>().DoubleValue()

#define REQUIRE_PROP_ARRAY(obj, key, name)                                              \
  Napi::Value name##_v = (obj).Get(#key);                                               \
  if (!name##_v.IsArray()) THROW_TYPE_ERROR(#key " must be an array");                  \
  Napi::Array name = name##_v.As<Napi::Array>()

#endif
