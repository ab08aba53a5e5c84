/*
 * berth-init internals: the state the operations share, the operation table, and the helpers
 * they use. One function per plan operation (plan.h): each returns 0, or -1 with errno set and
 * st->detail naming the failing step and object ("mount /proc"), which init.c reports as
 * "ERR <OP> <errno> <detail>".
 */
#ifndef BERTH_OPS_H
#define BERTH_OPS_H

#include <stddef.h>
#include <stdint.h>

struct hook_list; /* hooks.c */

struct init_state {
  int procfd;     /* the host procfs, opened and verified before any operation */
  int rootfd;     /* O_PATH dirfd of the rootfs bind mount (ROOTFS), -1 before */
  int devnullfd;  /* O_PATH fd of the container's /dev/null, verified char 1:3 (first MASK) */
  int last_cap;   /* /proc/sys/kernel/cap_last_cap */
  int ctlfd;      /* the control socket (CTL_FD) when the runtime passed one, else -1 (chan.c) */
  char **argv;    /* ARG values, NULL-terminated */
  char **envp;    /* ENV values, NULL-terminated */
  int argc, envc;
  char detail[512];
  struct hook_list *hooks; /* HOOK_ARG/HOOK_ENV in progress, startContainer hooks for EXEC */
};

typedef int (*op_fn)(struct init_state *st, char **args);

/*
 * `types` has one character per argument, checked by plan_parse before anything runs:
 *   s any string   p absolute path   n decimal u64   i decimal i64   m decimal u64 or "-"
 *   g comma-separated gids or "-"   o octal   e K=V
 */
struct op_def {
  const char *name;
  const char *types;
  op_fn fn;
};

struct plan_op {
  const struct op_def *def;
  char **args;
};

struct plan {
  struct plan_op *ops;
  int nops, nargs, nenv;
};

/* plan.c */
int plan_parse(char *buf, size_t len, struct plan *out, const char **what);
const struct op_def *op_lookup(const char *name);
uint64_t plan_u64(const char *s);      /* an 'n' or 'm' argument, already validated */
int64_t plan_i64(const char *s);       /* an 'i' argument, already validated */

/* ops.c: failure helper, keeps errno */
int fail(struct init_state *st, const char *step, const char *object);
int write_all(int fd, const char *buf, size_t len);

/* resolve.c: paths inside the rootfs, by fd (openat2 RESOLVE_IN_ROOT) */
enum mk_kind { MK_NONE, MK_DIR, MK_FILE };
int open_in_root(int rootfd, const char *path, int flags, uint64_t resolve);
int mkpath_in_root(int rootfd, const char *path, enum mk_kind kind);
int open_parent_in_root(int rootfd, const char *path, char *base, size_t basesz);
int mount_fds(struct init_state *st, int srcfd, const char *src, int dstfd, const char *fstype,
              unsigned long flags, const char *data);
int remount_fd(struct init_state *st, int fd, unsigned long flags);

/* chan.c: one SEQPACKET message on the control socket, `name` as data and `fd` by SCM_RIGHTS */
int chan_send_fd(struct init_state *st, const char *name, int fd);

/* the operations (ops.c, mounts.c, creds.c, exec.c, terminal.c) */
int op_setsid(struct init_state *st, char **args);
int op_propagation(struct init_state *st, char **args);
int op_rootfs(struct init_state *st, char **args);
int op_mount(struct init_state *st, char **args);
int op_bind(struct init_state *st, char **args);
int op_propagate(struct init_state *st, char **args);
int op_mknod(struct init_state *st, char **args);
int op_symlink(struct init_state *st, char **args);
int op_pivot_root(struct init_state *st, char **args);
int op_mask(struct init_state *st, char **args);
int op_readonly(struct init_state *st, char **args);
int op_root_readonly(struct init_state *st, char **args);
int op_sysctl(struct init_state *st, char **args);
int op_hostname(struct init_state *st, char **args);
int op_domainname(struct init_state *st, char **args);
int op_rlimit(struct init_state *st, char **args);
int op_oom_score_adj(struct init_state *st, char **args);
int op_creds(struct init_state *st, char **args);
int op_no_new_privs(struct init_state *st, char **args);
int op_umask(struct init_state *st, char **args);
int op_cwd(struct init_state *st, char **args);
int op_env(struct init_state *st, char **args);
int op_arg(struct init_state *st, char **args);
int op_exec(struct init_state *st, char **args);
int op_terminal(struct init_state *st, char **args);
int op_hooks_sync(struct init_state *st, char **args);
int op_hook_arg(struct init_state *st, char **args);
int op_hook_env(struct init_state *st, char **args);
int op_hook(struct init_state *st, char **args);

/* hooks.c: runs the startContainer hooks; on a failure reports on fifofd and exits */
void run_start_hooks(struct init_state *st, int fifofd);
int op_move_mount(struct init_state *st, char **args);     /* mountapi.c */
int op_mount_setattr(struct init_state *st, char **args);  /* mountapi.c */
int op_tmpcopyup(struct init_state *st, char **args);      /* mountapi.c */

/* copyup.c: the entries of dirfd `from` copied into dirfd `to` (TMPCOPYUP) */
int copy_tree(int from, int to, int depth);

/* process.c: personality, I/O priority, LSM exec labels */
int op_personality(struct init_state *st, char **args);
int op_ioprio(struct init_state *st, char **args);
int op_apparmor_exec(struct init_state *st, char **args);
int op_selinux_exec(struct init_state *st, char **args);

/* seccomp.c: the filter is built by SECCOMP_* and, when deferred, installed by EXEC */
int op_seccomp_init(struct init_state *st, char **args);
int op_seccomp_arch(struct init_state *st, char **args);
int op_seccomp_arg(struct init_state *st, char **args);
int op_seccomp_rule(struct init_state *st, char **args);
int op_seccomp_load(struct init_state *st, char **args);
void seccomp_install_deferred(void);
int seccomp_print_version(void);
int op_exec_now(struct init_state *st, char **args);
/* ns.c */
int op_wait(struct init_state *st, char **args);
int op_setns(struct init_state *st, char **args);
int op_unshare(struct init_state *st, char **args);
int op_timens_offset(struct init_state *st, char **args);
int op_fork(struct init_state *st, char **args);

#endif
