// Module init: the exports table only. Each file registers its own functions.
#include "util.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitProcess(env, exports);
  InitFd(env, exports);
  InitSys(env, exports);
  InitPoll(env, exports);
  InitHandoff(env, exports);
  InitSplice(env, exports);
  InitLastWords(env, exports);
  InitReexec(env, exports);
  InitZygote(env, exports);
  return exports;
}

NODE_API_MODULE(shim_native, Init)
