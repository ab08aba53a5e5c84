// Terminals: the window size of a pty (runc resizes the container's console the same way).
#include <sys/ioctl.h>
#include <termios.h>

#include "errors.h"
#include "macros.h"

namespace berth {

// setWindowSize(fd, rows, cols): ioctl(TIOCSWINSZ) on a pty master or its peer; the kernel then
// sends SIGWINCH to the terminal's foreground process group.
Napi::Value SetWindowSize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_INT32(0, fd);
  REQUIRE_INT32(1, rows);
  REQUIRE_INT32(2, cols);
  if (rows < 0 || rows > 65535 || cols < 0 || cols > 65535) THROW_TYPE_ERROR("rows and cols must be 0 to 65535");
  struct winsize ws = {};
  ws.ws_row = (unsigned short)rows;
  ws.ws_col = (unsigned short)cols;
  if (ioctl(fd, TIOCSWINSZ, &ws) < 0) return ThrowErrno(env, errno, "ioctl TIOCSWINSZ");
  return env.Undefined();
}

}  // namespace berth
