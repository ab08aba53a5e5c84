/*
 * The plan parser (wire format in plan.h). The whole plan is validated before the first
 * operation runs, so a malformed plan fails with "ERR PLAN 22 <what>" and changes nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "plan.h"

static const struct op_def OP_DEFS[] = {
    {"SETSID", "", op_setsid},
    {"PROPAGATION", "n", op_propagation},
    {"ROOTFS", "p", op_rootfs},
    {"MOUNT", "spsns", op_mount},
    {"BIND", "ppn", op_bind},
    {"PROPAGATE", "pn", op_propagate},
    {"MKNOD", "pnnnnn", op_mknod},
    {"SYMLINK", "sp", op_symlink},
    {"PIVOT_ROOT", "", op_pivot_root},
    {"MASK", "p", op_mask},
    {"READONLY", "p", op_readonly},
    {"ROOT_READONLY", "", op_root_readonly},
    {"SYSCTL", "ss", op_sysctl},
    {"HOSTNAME", "s", op_hostname},
    {"DOMAINNAME", "s", op_domainname},
    {"RLIMIT", "nnn", op_rlimit},
    {"OOM_SCORE_ADJ", "i", op_oom_score_adj},
    {"PERSONALITY", "n", op_personality},
    {"IOPRIO", "n", op_ioprio},
    {"APPARMOR_EXEC", "s", op_apparmor_exec},
    {"SELINUX_EXEC", "s", op_selinux_exec},
    {"SECCOMP_INIT", "nn", op_seccomp_init},
    {"SECCOMP_ARCH", "s", op_seccomp_arch},
    {"SECCOMP_ARG", "nnnn", op_seccomp_arg},
    {"SECCOMP_RULE", "sn", op_seccomp_rule},
    {"SECCOMP_LOAD", "n", op_seccomp_load},
    {"CREDS", "nngmmmmm", op_creds},
    {"NO_NEW_PRIVS", "", op_no_new_privs},
    {"UMASK", "o", op_umask},
    {"CWD", "p", op_cwd},
    {"ENV", "e", op_env},
    {"ARG", "s", op_arg},
    {"EXEC", "", op_exec},
    {"TERMINAL", "nnnn", op_terminal},
    {"HOOKS_SYNC", "", op_hooks_sync},
    {"HOOK_ARG", "s", op_hook_arg},
    {"HOOK_ENV", "e", op_hook_env},
    {"HOOK", "sspns", op_hook},
    {"MOVE_MOUNT", "npn", op_move_mount},
    {"MOUNT_SETATTR", "pnn", op_mount_setattr},
    {"TMPCOPYUP", "spsns", op_tmpcopyup},
    {"EXEC_NOW", "", op_exec_now},
    {"WAIT", "n", op_wait},
    {"SETNS", "nn", op_setns},
    {"UNSHARE", "n", op_unshare},
    {"TIMENS_OFFSET", "nin", op_timens_offset},
    {"FORK", "", op_fork},
};

static int is_exec(const struct op_def *def) { return def->fn == op_exec || def->fn == op_exec_now; }

const struct op_def *op_lookup(const char *name) {
  for (size_t i = 0; i < sizeof OP_DEFS / sizeof OP_DEFS[0]; i++) {
    if (strcmp(OP_DEFS[i].name, name) == 0) return &OP_DEFS[i];
  }
  return NULL;
}

static int is_u64(const char *s) {
  if (*s == '\0' || strspn(s, "0123456789") != strlen(s)) return 0;
  errno = 0;
  (void)strtoull(s, NULL, 10);
  return errno == 0;
}

static int is_i64(const char *s) {
  if (*s == '-') s++;
  if (*s == '\0' || strspn(s, "0123456789") != strlen(s)) return 0;
  errno = 0;
  (void)strtoll(s, NULL, 10);
  return errno == 0;
}

static int is_groups(const char *s) {
  if (strcmp(s, "-") == 0) return 1;
  if (*s == '\0' || strspn(s, "0123456789,") != strlen(s)) return 0;
  return s[strlen(s) - 1] != ',' && *s != ',' && strstr(s, ",,") == NULL;
}

static int check_arg(char type, const char *a) {
  switch (type) {
    case 's': return 1;
    case 'p': return a[0] == '/';
    case 'n': return is_u64(a);
    case 'i': return is_i64(a);
    case 'm': return strcmp(a, "-") == 0 || is_u64(a);
    case 'g': return is_groups(a);
    case 'o': return *a != '\0' && strlen(a) <= 4 && strspn(a, "01234567") == strlen(a);
    case 'e': return a[0] != '=' && strchr(a, '=') != NULL;
    default: return 0;
  }
}

uint64_t plan_u64(const char *s) { return strtoull(s, NULL, 10); }
int64_t plan_i64(const char *s) { return strtoll(s, NULL, 10); }

/* Takes the next NUL-terminated token, or NULL at the end of the buffer. */
static char *next_token(char **p, char *end) {
  if (*p >= end) return NULL;
  char *tok = *p;
  *p += strlen(tok) + 1;
  return tok;
}

static char what_buf[160];

static int bad(const char **what, const char *op, const char *msg) {
  snprintf(what_buf, sizeof what_buf, "%s%s%s", op ? op : "", op ? ": " : "", msg);
  *what = what_buf;
  errno = EINVAL;
  return -1;
}

/* One record after its name: the argument count, then the arguments, checked by type and
 * appended to *argv (op->args points at the first). */
static int parse_record(char **p, char *end, struct plan_op *op, char ***argv, const char **what) {
  const char *name = op->def->name, *types = op->def->types;
  char *argc = next_token(p, end);
  if (argc == NULL) return bad(what, name, "truncated");
  if (!is_u64(argc) || plan_u64(argc) != strlen(types)) return bad(what, name, "wrong argument count");
  op->args = *argv;
  for (size_t i = 0; types[i] != '\0'; i++) {
    char *a = next_token(p, end);
    if (a == NULL) return bad(what, name, "truncated");
    if (!check_arg(types[i], a)) {
      snprintf(what_buf, sizeof what_buf, "%s: bad argument %zu", name, i + 1);
      *what = what_buf;
      errno = EINVAL;
      return -1;
    }
    *(*argv)++ = a;
  }
  return 0;
}

int plan_parse(char *buf, size_t len, struct plan *out, const char **what) {
  if (len == 0 || buf[len - 1] != '\0') return bad(what, NULL, "not NUL-terminated");
  char *p = buf, *end = buf + len;
  char *magic = next_token(&p, end), *version = next_token(&p, end);
  if (magic == NULL || strcmp(magic, PLAN_MAGIC) != 0) return bad(what, NULL, "bad magic");
  if (version == NULL || strcmp(version, PLAN_VERSION) != 0) return bad(what, NULL, "unsupported version");
  size_t ntok = 0;
  for (char *q = p; q < end; q++) ntok += *q == '\0';
  out->ops = calloc(ntok / 2 + 1, sizeof *out->ops);
  char **argv = calloc(ntok + 1, sizeof *argv);
  if (out->ops == NULL || argv == NULL) return bad(what, NULL, "out of memory");
  out->nops = out->nargs = out->nenv = 0;
  for (;;) {
    char *name = next_token(&p, end);
    if (name == NULL) return bad(what, NULL, "missing END");
    if (strcmp(name, "END") == 0) break;
    struct plan_op *op = &out->ops[out->nops];
    op->def = op_lookup(name);
    if (op->def == NULL) return bad(what, name, "unknown operation");
    if (out->nops > 0 && is_exec(out->ops[out->nops - 1].def)) return bad(what, NULL, "EXEC is not last");
    if (parse_record(&p, end, op, &argv, what) < 0) return -1;
    out->nargs += op->def->fn == op_arg;
    out->nenv += op->def->fn == op_env;
    out->nops++;
  }
  char *zero = next_token(&p, end);
  if (zero == NULL || strcmp(zero, "0") != 0 || p != end) return bad(what, NULL, "bad END record");
  if (out->nops == 0 || !is_exec(out->ops[out->nops - 1].def)) return bad(what, NULL, "no EXEC");
  if (out->nargs == 0) return bad(what, NULL, "no ARG");
  return 0;
}
