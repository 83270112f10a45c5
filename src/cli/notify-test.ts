import { writeLine, type Command } from './io.js';

// Placeholder until the command lands in this commit series.
const cmd: Command = async (_args, io) => {
  writeLine(io.stderr, 'keywatch notify-test: not available in this build yet');
  return 3;
};
export default cmd;
