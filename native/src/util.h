// Shared helpers: throwing JS errors shaped like Node's fs errors (code, errno, syscall).
#pragma once
#include <napi.h>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>
#include <sys/types.h>

inline const char* ErrnoCode(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case EBADF: return "EBADF";
    case ECHILD: return "ECHILD";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENOTDIR: return "ENOTDIR";
    case EINVAL: return "EINVAL";
    case EMFILE: return "EMFILE";
    case ENOTTY: return "ENOTTY";
    case ENOSPC: return "ENOSPC";
    case EPIPE: return "EPIPE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOSYS: return "ENOSYS";
    case ENOTSOCK: return "ENOTSOCK";
    case EADDRINUSE: return "EADDRINUSE";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ENODEV: return "ENODEV";
    case ENOEXEC: return "ENOEXEC";
    case EMSGSIZE: return "EMSGSIZE";
    case ECONNRESET: return "ECONNRESET";
    default: return "EUNKNOWN";
  }
}

inline Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall) {
  std::string msg = std::string(ErrnoCode(err)) + ": " + strerror(err) + ", " + syscall;
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, ErrnoCode(err)));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

inline Napi::Value ThrowType(Napi::Env env, const char* msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

inline std::vector<std::string> StringArray(Napi::Array arr) {
  std::vector<std::string> out;
  for (uint32_t i = 0; i < arr.Length(); i++) out.push_back(arr.Get(i).ToString().Utf8Value());
  return out;
}

/**
 * After a double fork: reaps the intermediate `child` and reads the grandchild's pid it wrote to
 * `pidFd` (closed here); -1 if none came.
 */
pid_t ReapIntermediate(pid_t child, int pidFd);

/** One message with an optional fd (SCM_RIGHTS; fd < 0: none); -1 and errno on failure. */
ssize_t SendWithFd(int sock, const void* data, size_t len, int fd);

Napi::Object InitProcess(Napi::Env env, Napi::Object exports);
Napi::Object InitFd(Napi::Env env, Napi::Object exports);
Napi::Object InitSys(Napi::Env env, Napi::Object exports);
Napi::Object InitPoll(Napi::Env env, Napi::Object exports);
Napi::Object InitHandoff(Napi::Env env, Napi::Object exports);
Napi::Object InitSplice(Napi::Env env, Napi::Object exports);
Napi::Object InitLastWords(Napi::Env env, Napi::Object exports);
Napi::Object InitReexec(Napi::Env env, Napi::Object exports);
Napi::Object InitZygote(Napi::Env env, Napi::Object exports);
