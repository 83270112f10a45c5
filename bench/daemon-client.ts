/** The bench side of the daemon process (daemon-process.ts): fork it, open and close measuring windows. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RenderFigures, WindowFigures } from './daemon-process.js';

export interface DaemonProcess {
  url: string;
  keys: number;
  openWindow(): Promise<void>;
  closeWindow(): Promise<WindowFigures>;
  render(): Promise<RenderFigures>;
  close(): Promise<void>;
}

export async function forkDaemon(configFile: string): Promise<DaemonProcess> {
  const script = fileURLToPath(new URL('./daemon-process.js', import.meta.url));
  const child: ChildProcess = fork(script, [], {
    env: { ...process.env, BENCH_CONFIG: configFile },
    // node flags for the daemon (none by default, as shipped): e.g. BENCH_DAEMON_ARGS="--cpu-prof
    // --cpu-prof-dir=/tmp/prof" to profile it. KEYWATCH_HEAP=default measures node's heap defaults.
    execArgv: daemonFlags(),
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
      const onExit = (code: number | null) => reject(new Error(`daemon process exited (${code}) before "${type}"`));
      child.on('message', onMsg);
      child.once('exit', onExit);
    });
  const ask = <T>(send: string, reply: string): Promise<T> => {
    const p = next<T>(reply);
    child.send({ type: send });
    return p;
  };
  const ready = await next<{ url: string; keys: number }>('ready');
  return {
    url: ready.url,
    keys: ready.keys,
    openWindow: async () => void (await ask('window', 'window-open')),
    closeWindow: () => ask<WindowFigures>('close-window', 'window'),
    render: async () => {
      const { type: _type, ...figures } = await ask<RenderFigures & { type: string }>('render', 'render');
      return figures;
    },
    close: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The daemon processes' node flags (BENCH_DAEMON_ARGS; none by default, as `keywatch run` is started). */
export function daemonFlags(): string[] {
  return (process.env.BENCH_DAEMON_ARGS ?? '').split(' ').filter(Boolean);
}
