/*
 * The plan: what berth-init does, decided by TypeScript (src/effects/initPlan.ts mirrors this
 * file) and interpreted here one operation at a time. No JSON in C.
 *
 * Wire format (read from fd 3, a memfd, from offset 0):
 *   "BERTH-PLAN" NUL "1" NUL                  magic and version
 *   then records:  NAME NUL  ARGC NUL  ARG_1 NUL ... ARG_ARGC NUL
 *   ending with:   "END" NUL "0" NUL
 * Numbers are decimal ASCII (flags and capability masks too; masks fit in 64 bits); "-" means
 * "not given" where an argument is optional. Paths inside the container are absolute.
 *
 * File descriptors on entry:
 *   0, 1, 2  the container's stdio
 *   3        the plan (closed once read)
 *   4        status pipe (write end): the helper writes exactly one line,
 *              "READY\n"                           setup done, now waiting on the exec fifo
 *              "ERR <op> <errno> <detail>\n"       the step that failed (errno 0 if none)
 *            <op> is the operation's name, PLAN for a malformed plan (errno 22), or INIT for the
 *            helper's own setup (opening the host procfs); <detail> is "<step> <object>", e.g.
 *            "ERR MOUNT 19 mount /proc", "ERR EXEC 2 resolve nosuch", "ERR PLAN 22 bad magic"
 *   5        exec fifo, opened O_PATH by the parent; reopened O_WRONLY through a procfs
 *            handle taken before pivot_root, so the wait works with or without /proc mounted.
 *            In an exec plan (berth exec: EXEC_NOW, no fifo) fd 5 is instead the read end of
 *            the go-ahead pipe that WAIT reads
 *   6        the control socket (optional: only if the runtime placed one; src/effects/control.ts):
 *            one end of an AF_UNIX SOCK_SEQPACKET pair. The helper sends fds to the runtime on
 *            it, one message each: the data is the fd's name, the fd travels as SCM_RIGHTS
 *            (chan.c chan_send_fd). Names: "console" (TERMINAL's pty master),
 *            "seccompFd" (SECCOMP_LOAD 2's notification listener). EXEC and EXEC_NOW
 *            close it before READY, so the runtime reads every message after READY, up to end
 *            of stream. berth exec always places one (TERMINAL of `exec --tty` uses it)
 *   7        create, only with HOOKS_SYNC or WAIT: the read end of the runtime's go-ahead pipe.
 *            exec: the container init's pidfd (SETNS 7 with every namespace of the container)
 *   8...     create: detached mounts for MOVE_MOUNT (idmapped binds the runtime prepared), each
 *            closed once attached; then the namespace files to join (SETNS with one CLONE_NEW*
 *            type each, in SETNS order). EXEC closes what is left.
 *
 * Before its last line the status pipe may carry "HOOKS\n" (HOOKS_SYNC): the runtime runs its
 * prestart and createRuntime hooks, then writes one byte "C" on fd 7 (or closes it to abort).
 *
 * The helper is already in the new namespaces (clone3 flags) when it starts, unless the plan
 * joins namespaces by path or sets time offsets: then it starts in the runtime's namespaces and
 * the plan begins with SETNS / UNSHARE / TIMENS_OFFSET / FORK (runc's nsexec order). With a new
 * user namespace, its uid_map and gid_map were written by the runtime before the helper was
 * exec'd.
 *
 * A plan with FORK makes the status pipe carry two lines: "PID <n>\n" from the helper, which
 * then exits 0, and the child's READY / ERR line. <n> is the pid of the process that goes on
 * (the container's init, or the exec'd process), in the runtime's pid namespace; the runtime
 * is its parent (CLONE_PARENT) and reaps both. An ERR before FORK comes alone.
 *
 * Operations, in the order initPlan.ts emits them:
 *   WAIT <fd>                                block until the runtime writes one byte into the
 *                                            pipe at <fd> (it has joined the helper to the
 *                                            container's v1 cgroups); EOF fails with ECANCELED.
 *                                            exec plans: first. create on a v1 or hybrid host
 *                                            with a new cgroup namespace: WAIT 7 then UNSHARE
 *                                            CLONE_NEWCGROUP, after FORK if any, so the
 *                                            namespace is rooted at the container's cgroups
 *   SETNS <fd> <flags>                       setns(fd, flags): a namespace file with its one
 *                                            CLONE_NEW* type (the kernel checks the type), or a
 *                                            pidfd with every type to join. A user namespace is
 *                                            always joined first (runc's nsexec order), so the
 *                                            others are joined, and new ones owned, under it
 *   UNSHARE <flags>                          unshare(flags): the namespaces not joined by path,
 *                                            made after the joins (only when a plan joins any)
 *   TIMENS_OFFSET <clock> <secs> <nanosecs>  write "<clock> <secs> <nanosecs>" to
 *                                            /proc/self/timens_offsets (host procfs handle):
 *                                            clock 1 monotonic, 7 boottime; after UNSHARE
 *                                            CLONE_NEWTIME, before FORK (the kernel freezes the
 *                                            offsets once a process is in the namespace)
 *   FORK                                     clone3(CLONE_PARENT): the helper writes
 *                                            "PID <child>" and exits 0, the child waits for the
 *                                            helper to be gone and continues the plan; needed
 *                                            after joining or creating a pid or time namespace
 *                                            (they apply to children only)
 *   SETSID                                   setsid(); runc does the same for every init
 *   PROPAGATION <flags>                      mount(NULL, "/", NULL, flags) e.g. MS_REC|MS_SLAVE
 *   ROOTFS <host path>                       bind the rootfs onto itself (MS_BIND|MS_REC) and keep
 *                                            a dirfd to it; later dests are resolved inside it
 *                                            (openat2 RESOLVE_IN_ROOT), never by string
 *   MOUNT <source> <dest> <fstype> <flags> <data>
 *                                            a new filesystem instance (proc, tmpfs, sysfs, devpts,
 *                                            mqueue, cgroup, cgroup2); dest dirs are created inside
 *                                            the rootfs; <data> "-" for none
 *   BIND <host source> <dest> <flags>        bind mount (flags holds MS_REC when recursive); dest is
 *                                            created as a dir or an empty file matching the source;
 *                                            then, if flags has bits beyond MS_BIND|MS_REC, a
 *                                            remount MS_BIND|MS_REMOUNT|flags applies ro/nosuid/...
 *   MOVE_MOUNT <fd> <dest> <flags>           move_mount the detached mount fd (>= 8) onto dest (created
 *                                            as a dir or an empty file like the mount's root), close
 *                                            fd, then remount with flags beyond MS_BIND|MS_REC, as BIND
 *   TMPCOPYUP <source> <dest> <fstype> <flags> <data>
 *                                            MOUNT, after opening dest; the covered directory's
 *                                            content (dirs, files, symlinks, nodes, with mode and
 *                                            owner) is then copied into the new mount
 *   MOUNT_SETATTR <dest> <attr_set> <attr_clr>
 *                                            mount_setattr(AT_RECURSIVE) with MOUNT_ATTR_* bits, after
 *                                            that mount's MOUNT/BIND/MOVE_MOUNT (rro, rnosuid, ...)
 *   PROPAGATE <dest> <flags>                 mount(NULL, dest, NULL, flags) (MS_SHARED, MS_PRIVATE ...)
 *   MKNOD <dest> <mode> <major> <minor> <uid> <gid>
 *                                            mode includes S_IFCHR/S_IFBLK/S_IFIFO; on EPERM falls
 *                                            back to bind-mounting the same-named host /dev node
 *   SYMLINK <target> <dest>                  symlink inside the rootfs (EEXIST is success)
 *   HOOKS_SYNC                               (just before PIVOT_ROOT, when the config has prestart
 *                                            or createRuntime hooks) write "HOOKS\n" on fd 4, block
 *                                            reading fd 7 for the byte "C", close fd 7; EOF fails
 *                                            with ECANCELED
 *   HOOK_ARG <value>                         appended to the next HOOK's argv (repeatable; none:
 *                                            argv is just the path)
 *   HOOK_ENV <K=V>                           appended to the next HOOK's environment (repeatable;
 *                                            nothing else is in it)
 *   HOOK <stage> <name> <path> <timeout> <state>
 *                                            stage createContainer (before PIVOT_ROOT, after
 *                                            HOOKS_SYNC): fork and execve path now, cwd the rootfs;
 *                                            stage startContainer (anywhere before EXEC): kept and run
 *                                            by EXEC. <name> ("hooks.createContainer[0]") names it in
 *                                            reports; <timeout> in seconds, 0 for none (SIGKILL at
 *                                            the deadline); <state> is the OCI state JSON without its
 *                                            opening '{': the hook's stdin is '{"pid":<host pid>,'
 *                                            followed by it. Fails with "ERR HOOK <errno> <name>
 *                                            <what>[: <stderr tail>]": errno of a failed exec,
 *                                            ETIMEDOUT, or 0 for a non-zero exit or a signal
 *   PIVOT_ROOT                               pivot_root into the rootfs, detach the old root
 *   TERMINAL <uid> <rows> <cols> <console>   process.terminal (terminal.c), once "/" is the container's
 *                                            root (after PIVOT_ROOT; for an exec, after joining the
 *                                            mount namespace), after SETSID, before CREDS. Opens
 *                                            /dev/pts/ptmx resolved in the root without symlinks,
 *                                            verified char 5:2 on devpts, unlockpt, the peer by
 *                                            TIOCGPTPEER (verified a pts of the same devpts);
 *                                            TIOCSWINSZ if rows and cols are both non-zero; if
 *                                            console is 1, binds the peer on /dev/console (made
 *                                            as an empty file; must be a file or char device);
 *                                            sends the master on fd 6 as "console" and closes it;
 *                                            TIOCSCTTY, dup2 onto 0, 1, 2, fchown(peer, uid, -1)
 *   SYSCTL <key> <value>                     write /proc/sys/<key with '.' as '/'> through the
 *                                            container's own /proc (verified procfs, and no mount
 *                                            crossed beneath /proc/sys: EXDEV); must come
 *                                            before READONLY /proc/sys (runc writes sysctls
 *                                            before readonly and masked paths too)
 *   MASK <path>                              after pivot: bind the container's /dev/null (opened
 *                                            without following symlinks, verified char 1:3; the
 *                                            host's is unmounted by then) over a file, a
 *                                            read-only empty tmpfs over a dir; ENOENT is success
 *   READONLY <path>                          after pivot: bind onto itself, remount read-only;
 *                                            ENOENT is success
 *   ROOT_READONLY                            remount "/" MS_BIND|MS_REMOUNT|MS_RDONLY
 *   HOSTNAME <name>                          sethostname
 *   DOMAINNAME <name>                        setdomainname
 *   RLIMIT <resource> <soft> <hard>          setrlimit; resource is the RLIMIT_* number;
 *                                            18446744073709551615 is RLIM_INFINITY
 *   OOM_SCORE_ADJ <n>                        write /proc/self/oom_score_adj
 *   PERSONALITY <persona>                    personality(2): PER_LINUX 0, PER_LINUX32 8
 *   IOPRIO <value>                           ioprio_set(IOPRIO_WHO_PROCESS, 0, class << 13 | level)
 *   APPARMOR_EXEC <profile>                  "exec <profile>" into attr/apparmor/exec (else attr/exec)
 *                                            of the host procfs handle's thread-self: the profile of
 *                                            the next execve. Before CREDS and NO_NEW_PRIVS (AppArmor
 *                                            refuses most transitions under no_new_privs)
 *   SELINUX_EXEC <label>                     the label into thread-self/attr/exec, likewise
 *   SECCOMP_INIT <action> <flags>            start a libseccomp filter (seccomp.c): the default action
 *                                            as an SCMP_ACT_* value (errno/trace data included), flags
 *                                            SECCOMP_FILTER_FLAG_* bits for seccomp(2)
 *   SECCOMP_ARCH <name>                      seccomp_arch_add of a libseccomp arch name ("x86_64")
 *   SECCOMP_ARG <index> <op> <value> <two>   one argument condition (op: enum scmp_compare) for the
 *                                            next SECCOMP_RULE (at most 6)
 *   SECCOMP_RULE <syscall> <action>          a rule with the pending conditions; a syscall name
 *                                            libseccomp does not know is skipped, as runc does
 *   SECCOMP_LOAD <mode>                      export the BPF program (errors are create errors), then
 *                                            0: install it now (without no_new_privs: before CREDS,
 *                                            the kernel wants CAP_SYS_ADMIN), 1: EXEC installs it
 *                                            after the exec-fifo handshake, right before execve, or
 *                                            2 (a SCMP_ACT_NOTIFY rule): install it now with
 *                                            SECCOMP_FILTER_FLAG_NEW_LISTENER and send the listener
 *                                            on fd 6 as "seccompFd" (before CREDS, or right before
 *                                            EXEC with no_new_privs)
 *   CREDS <uid> <gid> <groups> <bnd> <eff> <prm> <inh> <amb>
 *                                            groups: comma-separated gids or "-" (none);
 *                                            masks: decimal u64 or "-" (leave that set as is).
 *                                            Order (as runc): drop bounding set, PR_SET_KEEPCAPS,
 *                                            setgroups, setresgid, setresuid, clear KEEPCAPS,
 *                                            capset(eff, prm, inh), raise ambient
 *   NO_NEW_PRIVS                             prctl(PR_SET_NO_NEW_PRIVS)
 *   UMASK <octal>
 *   CWD <path>                               resolved inside the root without magic links
 *                                            (/proc/self/fd/<N> fails with ELOOP), fchdir, then
 *                                            verify getcwd() names a path inside it (CVE-2024-21626)
 *   ENV <K=V>                                appended to the process environment (repeatable)
 *   ARG <value>                              appended to argv (repeatable; at least one)
 *   EXEC                                     resolve argv[0] through PATH of ENV (as execvp) and
 *                                            check it is executable, close the control socket and
 *                                            every fd but 0-2, 4, 5 (the procfs handle moves to 6),
 *                                            write READY, block opening the exec fifo for writing,
 *                                            run the startContainer hooks, write one byte "0",
 *                                            install a deferred seccomp filter, execve. A failed
 *                                            startContainer hook writes its "ERR HOOK ..." line
 *                                            into the fifo instead and exits 1. An execve failure
 *                                            writes "ERR EXEC <errno> <path>" (a failed deferred
 *                                            install "ERR SECCOMP_LOAD <errno> ...") to stderr and
 *                                            exits 127.
 *   EXEC_NOW                                 exec plans: as EXEC without the fifo (READY, then
 *                                            execve at once); EXEC or EXEC_NOW ends every plan
 */
#ifndef BERTH_PLAN_H
#define BERTH_PLAN_H

#define PLAN_MAGIC "BERTH-PLAN"
#define PLAN_VERSION "1"
#define PLAN_FD 3
#define STATUS_FD 4
#define FIFO_FD 5
#define CTL_FD 6
#define CONTINUE_FD 7
#define FIRST_EXTRA_FD 8  /* MOVE_MOUNT fds start here (6: control socket, 7: hooks go-ahead pipe) */
#define PLAN_MAX_BYTES (4 * 1024 * 1024)

#endif
