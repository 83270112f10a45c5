/**
 * The baseline in a process of its own, so its CPU figure is not disturbed by the garbage the
 * daemon left in the bench process (that made it swing between 0.3 and 0.7 ms per key run).
 */
import { runBaseline, type BaselineOptions } from './baseline.js';

process.once('message', (o: BaselineOptions) => {
  void runBaseline(o).then((r) => process.send?.({ type: 'result', result: r }, () => process.exit(0)));
});
