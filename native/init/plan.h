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
 *   6        reserved (the control socket)
 *   7...     fds that operations name by number: namespace files to join (create, SETNS
 *            with one CLONE_NEW* type each, from 7 in SETNS order) or the container init's
 *            pidfd (exec, SETNS 7 with every namespace of the container). EXEC closes them.
 *
 * The helper is already in the new namespaces (clone3 flags) when it starts, unless the plan
 * joins namespaces by path or sets time offsets: then it starts in the runtime's namespaces and
 * the plan begins with SETNS / UNSHARE / TIMENS_OFFSET / FORK (runc's nsexec order).
 *
 * A plan with FORK makes the status pipe carry two lines: "PID <n>\n" from the helper, which
 * then exits 0, and the child's READY / ERR line. <n> is the pid of the process that goes on
 * (the container's init, or the exec'd process), in the runtime's pid namespace; the runtime
 * is its parent (CLONE_PARENT) and reaps both. An ERR before FORK comes alone.
 *
 * Operations, in the order initPlan.ts emits them:
 *   WAIT <fd>                                exec plans only, first: block until the runtime
 *                                            writes one byte into the pipe at <fd> (it has joined
 *                                            the helper to the container's v1 cgroups); EOF fails
 *                                            with ECANCELED
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
 *   PROPAGATE <dest> <flags>                 mount(NULL, dest, NULL, flags) (MS_SHARED, MS_PRIVATE ...)
 *   MKNOD <dest> <mode> <major> <minor> <uid> <gid>
 *                                            mode includes S_IFCHR/S_IFBLK/S_IFIFO; on EPERM falls
 *                                            back to bind-mounting the same-named host /dev node
 *   SYMLINK <target> <dest>                  symlink inside the rootfs (EEXIST is success)
 *   PIVOT_ROOT                               pivot_root into the rootfs, detach the old root
 *   SYSCTL <key> <value>                     write /proc/sys/<key with '.' as '/'> through the
 *                                            container's own /proc (verified procfs); must come
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
 *   CREDS <uid> <gid> <groups> <bnd> <eff> <prm> <inh> <amb>
 *                                            groups: comma-separated gids or "-" (none);
 *                                            masks: decimal u64 or "-" (leave that set as is).
 *                                            Order (as runc): drop bounding set, PR_SET_KEEPCAPS,
 *                                            setgroups, setresgid, setresuid, clear KEEPCAPS,
 *                                            capset(eff, prm, inh), raise ambient
 *   NO_NEW_PRIVS                             prctl(PR_SET_NO_NEW_PRIVS)
 *   UMASK <octal>
 *   CWD <path>                               chdir, then verify getcwd() resolves inside the root
 *                                            (CVE-2024-21626)
 *   ENV <K=V>                                appended to the process environment (repeatable)
 *   ARG <value>                              appended to argv (repeatable; at least one)
 *   EXEC                                     resolve argv[0] through PATH of ENV (as execvp) and
 *                                            check it is executable, close every fd but 0-2, 4, 5,
 *                                            write READY, block opening the exec fifo for writing,
 *                                            write one byte "0", execve. An execve failure writes
 *                                            "ERR EXEC <errno> <path>" to stderr and exits 127.
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
#define PLAN_MAX_BYTES (4 * 1024 * 1024)

#endif
