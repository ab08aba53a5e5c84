import { resolve } from 'node:path';
import type { CriuFlags } from '../checkpointOptions.js';
import type { ManageCgroupsMode } from '../machines/events.js';
import { bool, positionals, str, type FlagSpec } from './args.js';
import type { Command, CommandContext } from './commands.js';

/**
 * `berth checkpoint` and `berth restore`, spelled as runc's (podman and containerd call exactly
 * these). Paths are relative to the working directory; the image path defaults to
 * `./checkpoint`, as runc's does.
 */
const criuFlags: FlagSpec[] = [
  { name: 'image-path', help: 'directory of the criu images (default ./checkpoint)' },
  { name: 'work-path', help: 'directory for criu\'s log and work files (default: the image path)' },
  { name: 'tcp-established', boolean: true, help: 'allow open tcp connections' },
  { name: 'ext-unix-sk', boolean: true, help: 'allow external unix sockets' },
  { name: 'shell-job', boolean: true, help: 'allow shell jobs (a terminal shared with the host)' },
  { name: 'file-locks', boolean: true, help: 'handle file locks' },
  { name: 'manage-cgroups-mode', help: 'cgroups mode: soft (default), full, strict or ignore' },
  { name: 'empty-ns', help: 'create a namespace but do not restore its properties (network)' },
  { name: 'lazy-pages', boolean: true, help: 'use userfaultfd to lazily restore memory pages' },
  { name: 'auto-dedup', boolean: true, ignored: true, help: 'accepted for compatibility' },
];

function criu(ctx: CommandContext): CriuFlags {
  const a = ctx.args;
  const path = (name: string) => {
    const v = str(a, name);
    return v === undefined ? undefined : resolve(ctx.cwd, v);
  };
  const emptyNs = str(a, 'empty-ns');
  const mode = str(a, 'manage-cgroups-mode');
  const out: CriuFlags = {
    imagePath: path('image-path') ?? resolve(ctx.cwd, 'checkpoint'),
    tcpEstablished: bool(a, 'tcp-established'),
    extUnixSk: bool(a, 'ext-unix-sk'),
    shellJob: bool(a, 'shell-job'),
    fileLocks: bool(a, 'file-locks'),
    lazyPages: bool(a, 'lazy-pages'),
    emptyNs: emptyNs ? emptyNs.split(',') : [],
  };
  const work = path('work-path');
  if (work !== undefined) out.workPath = work;
  if (mode !== undefined) out.manageCgroupsMode = mode as ManageCgroupsMode;
  return out;
}

export function checkpointCommands(): Command[] {
  return [
    {
      name: 'checkpoint',
      summary: 'checkpoint a running container with criu (it stops unless --leave-running)',
      usage: 'berth checkpoint [--image-path DIR] [--work-path DIR] [--leave-running] [--pre-dump] [--parent-path DIR] ... <id>',
      flags: [
        ...criuFlags,
        { name: 'leave-running', boolean: true, help: 'leave the container running after the checkpoint' },
        { name: 'pre-dump', boolean: true, help: 'dump memory only and leave the container running' },
        { name: 'parent-path', help: 'images of a previous pre-dump, relative to the image path' },
        { name: 'page-server', help: 'with --lazy-pages: address:port where criu serves the memory pages' },
        { name: 'status-fd', ignored: true, help: 'accepted for compatibility' },
      ],
      async run(ctx) {
        const [id] = positionals(ctx.args, 'checkpoint', ['container-id']);
        const parent = str(ctx.args, 'parent-path');
        await (await ctx.runtime()).checkpoint(id!, {
          ...criu(ctx),
          leaveRunning: bool(ctx.args, 'leave-running'),
          preDump: bool(ctx.args, 'pre-dump'),
          ...(parent !== undefined ? { parentPath: parent } : {}),
          ...(str(ctx.args, 'page-server') !== undefined ? { pageServer: str(ctx.args, 'page-server')! } : {}),
        });
        return 0;
      },
    },
    {
      name: 'restore',
      summary: 'restore a container from criu images; waits for it unless --detach',
      usage: 'berth restore [--detach] [--bundle DIR] [--image-path DIR] [--pid-file FILE] ... <id>',
      flags: [
        ...criuFlags,
        { name: 'bundle', short: 'b', help: 'path to the bundle directory (default: current directory)' },
        { name: 'pid-file', help: 'write the restored init\'s host pid to this file' },
        { name: 'detach', short: 'd', boolean: true, help: 'return once restored' },
        { name: 'console-socket', help: 'unix socket that receives the pty master (for process.terminal)' },
        { name: 'no-subreaper', boolean: true, ignored: true, help: 'accepted for compatibility' },
        { name: 'no-pivot', boolean: true, ignored: true, help: 'accepted for compatibility' },
      ],
      async run(ctx) {
        const [id] = positionals(ctx.args, 'restore', ['container-id']);
        const detach = bool(ctx.args, 'detach');
        const rt = await ctx.runtime({ serve: !detach });
        const pidFile = str(ctx.args, 'pid-file');
        // runc's bundle defaults to the working directory; a checkpointed berth container
        // restored in place keeps its own unless --bundle says otherwise.
        const given = str(ctx.args, 'bundle');
        const own = given === undefined && (await rt.state(id!).then((s) => s.state === 'checkpointed', () => false));
        const c = await rt.restore(id!, {
          ...criu(ctx),
          ...(own ? {} : { bundle: resolve(ctx.cwd, given ?? '.') }),
          ...(pidFile ? { pidFile: resolve(ctx.cwd, pidFile) } : {}),
        });
        if (detach) return 0;
        // In the foreground, as runc restore: wait for the restored container, then remove it.
        const exit = await c.wait();
        await c.delete({ force: true });
        return exit.signal !== null ? 128 + exit.signal : exit.code ?? 0;
      },
    },
  ];
}
