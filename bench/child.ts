/** A bench helper process (simulator, daemon) forked with an IPC channel: typed replies and a clean close. */
import { fork, type ChildProcess } from 'node:child_process';

export interface Child {
  /** The next message of this type (rejects if the process exits first). */
  next<T>(type: string): Promise<T>;
  /** Sends { type: send, ...extra } and waits for the reply of type `reply`. */
  ask<T>(send: string, reply: string, extra?: Record<string, unknown>): Promise<T>;
  /** Disconnects (the process stops on 'disconnect'); killed if still alive after killAfterMs. */
  close(killAfterMs: number): Promise<void>;
}

/** A variable's space-separated flags (BENCH_DAEMON_ARGS, BENCH_BASELINE_ARGS, BENCH_V8_FLAGS); unset or blank: none. */
export function flagList(value: string | undefined): string[] {
  return (value ?? '').split(' ').filter(Boolean);
}

export function forkChild(script: string, name: string, opts: { env: NodeJS.ProcessEnv; execArgv?: string[] }): Child {
  const child: ChildProcess = fork(script, [], {
    env: opts.env,
    ...(opts.execArgv !== undefined ? { execArgv: opts.execArgv } : {}),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = <T>(type: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const onMsg = (m: { type?: string }) => {
        if (m.type !== type) return;
        child.off('message', onMsg);
        child.off('exit', onExit);
        resolve(m as T);
      };
      const onExit = (code: number | null) => reject(new Error(`${name} process exited (${code}) before "${type}"`));
      child.on('message', onMsg);
      child.once('exit', onExit);
    });
  return {
    next,
    ask: (send, reply, extra = {}) => {
      const p = next<never>(reply);
      child.send({ type: send, ...extra });
      return p;
    },
    close: async (killAfterMs) => {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
