/*
 * CREDS <uid> <gid> <groups> <bnd> <eff> <prm> <inh> <amb>, in runc's order: drop the bounding
 * set, keep capabilities across the uid change (PR_SET_KEEPCAPS), setgroups, setresgid,
 * setresuid, clear KEEPCAPS, capset(eff, prm, inh), then raise the ambient set. Capabilities
 * go through the raw capget/capset syscalls (version 3: two 32-bit words); no libcap.
 * https://man7.org/linux/man-pages/man7/capabilities.7.html
 */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ops.h"

static int given(const char *mask) { return strcmp(mask, "-") != 0; }

static int drop_bounding(struct init_state *st, uint64_t keep) {
  for (int cap = 0; cap <= st->last_cap && cap < 64; cap++) {
    if ((keep >> cap) & 1) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) return fail(st, "prctl", "PR_CAPBSET_DROP");
  }
  return 0;
}

/* "-" means no supplementary groups. */
static int set_groups(struct init_state *st, const char *list) {
  gid_t gids[1024];
  size_t n = 0;
  for (const char *p = list; given(list) && *p != '\0'; n++) {
    if (n == sizeof gids / sizeof gids[0]) return errno = EINVAL, fail(st, "setgroups", "(too many)");
    char *end;
    gids[n] = (gid_t)strtoul(p, &end, 10);
    p = *end == ',' ? end + 1 : end;
  }
  if (setgroups(n, gids) < 0) return fail(st, "setgroups", list);
  return 0;
}

/* capset(eff, prm, inh); a "-" set keeps its current value (read with capget). */
static int set_caps(struct init_state *st, char **masks) {
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &hdr, data) < 0) return fail(st, "capget", "");
  for (int i = 0; i < 3; i++) {
    if (!given(masks[i])) continue;
    uint64_t m = plan_u64(masks[i]);
    uint32_t lo = (uint32_t)m, hi = (uint32_t)(m >> 32);
    if (i == 0) data[0].effective = lo, data[1].effective = hi;
    if (i == 1) data[0].permitted = lo, data[1].permitted = hi;
    if (i == 2) data[0].inheritable = lo, data[1].inheritable = hi;
  }
  if (syscall(SYS_capset, &hdr, data) < 0) return fail(st, "capset", "");
  return 0;
}

/* The ambient set becomes `mask`. The kernel refuses (EPERM) a cap that is not both permitted
 * and inheritable; runc skips those silently, and so does berth, so the default spec (ambient
 * caps, no inheritable ones since CVE-2022-29162) runs the same under both. */
static int set_ambient(struct init_state *st, uint64_t mask) {
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) return fail(st, "prctl", "PR_CAP_AMBIENT_CLEAR_ALL");
  for (int cap = 0; cap < 64; cap++) {
    if (!((mask >> cap) & 1)) continue;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0 && errno != EPERM)
      return fail(st, "prctl", "PR_CAP_AMBIENT_RAISE");
  }
  return 0;
}

int op_creds(struct init_state *st, char **args) {
  uid_t uid = (uid_t)plan_u64(args[0]);
  gid_t gid = (gid_t)plan_u64(args[1]);
  if (given(args[3]) && drop_bounding(st, plan_u64(args[3])) < 0) return -1;
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) return fail(st, "prctl", "PR_SET_KEEPCAPS");
  if (set_groups(st, args[2]) < 0) return -1;
  if (setresgid(gid, gid, gid) < 0) return fail(st, "setresgid", args[1]);
  if (setresuid(uid, uid, uid) < 0) return fail(st, "setresuid", args[0]);
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) return fail(st, "prctl", "PR_SET_KEEPCAPS");
  if (set_caps(st, args + 4) < 0) return -1;
  if (given(args[7]) && set_ambient(st, plan_u64(args[7])) < 0) return -1;
  return 0;
}
