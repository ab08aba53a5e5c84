/**
 * Failures the lifecycle fuzz found, kept as fixed command lists (lifecycle.fuzz.test.ts runs
 * them through the same checks as a campaign's runs): a seed and path replay only as long as
 * the registry stays the same, these stay.
 */
import { CreateCommand, DeleteCommand, ReopenCommand, StartCommand, UpdateCommand, type LifecycleCommand, type Target } from './commands.js';
import { CrashCommand } from './crash.js';
import { CheckpointCommand, RestoreCommand } from './criuCommands.js';
import { ExecCommand } from './execCommand.js';

const first: Target = { legal: true, n: 0 };
const MB = 1024 * 1024;

export interface Regression {
  name: string;
  criu: boolean;
  commands(): LifecycleCommand[];
}

export const REGRESSIONS: Regression[] = [
  {
    // The model was wrong: reconciliation counts a group the cgroup already shows as applied.
    name: 'an update interrupted after its intent: its memory -1 is what the cgroup already shows',
    criu: false,
    commands: () => [new CreateCommand(first, 'cli', 'service', {}), new CrashCommand(new UpdateCommand(first, 'lib', { memory: -1, shares: 2 }), 'intent')],
  },
  {
    name: 'a runtime reopened in the same process reaps the exec\'d processes the closed one started (delete --force hung)',
    criu: false,
    commands: () => [
      new CreateCommand(first, 'lib', 'service', {}), new StartCommand(first, 'lib'), new ExecCommand(first, 'lib', null),
      new ReopenCommand(), new DeleteCommand(first, 'lib', true),
    ],
  },
  {
    name: 'a checkpoint of a container with a process `exec --detach` left to the shim (the test reaps while commands run)',
    criu: true,
    commands: () => [
      new CreateCommand(first, 'lib', 'service', {}), new StartCommand(first, 'lib'), new ExecCommand(first, 'cli', null),
      new CheckpointCommand(first, 'lib', false),
    ],
  },
  {
    name: 'an in-place restore keeps the limits in force at the dump, not its bundle\'s',
    criu: true,
    commands: () => [
      new CreateCommand(first, 'lib', 'service', { memory: 64 * MB }), new StartCommand(first, 'lib'),
      new UpdateCommand(first, 'lib', { memory: 128 * MB, pids: 50 }), new CheckpointCommand(first, 'lib', false), new RestoreCommand(first, 'lib'),
    ],
  },
];
