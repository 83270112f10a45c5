/**
 * How keywatch's daemon is meant to be started: the node flags the Docker image's entrypoint and
 * `npm start` pass (a test checks both carry them), and that the benchmark measures by default.
 *
 * `--optimize-for-size` makes V8 keep a smaller heap at some CPU cost. Measured by `npm run bench`
 * with 10,000 keys every 60 s: 282 MB peak RSS at 20.7% of one core, against 367 MB at 12.4% with
 * node's defaults (docs/performance.md). A monitor is a sidecar: memory is the scarcer budget. It is
 * not a heap cap, so a larger fleet only uses more memory, it does not crash. Node refuses it in
 * NODE_OPTIONS, hence the explicit flag.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--optimize-for-size'];
