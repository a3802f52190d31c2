// Loaded into a real portal process with `--import` by process-policy.test.ts: a bug outside
// any request, once the test creates DATA_DIR/throw-now (the server answers by then):
// THROW_LATER=rejection, an unhandled promise rejection; THROW_LATER=exception, an uncaught
// exception thrown by a timer.
import fs from 'node:fs';
import path from 'node:path';

const trigger = path.join(process.env.DATA_DIR ?? '.', 'throw-now');
const poll = setInterval(() => {
  if (!fs.existsSync(trigger)) return;
  clearInterval(poll);
  if (process.env.THROW_LATER === 'rejection') void Promise.reject(new Error('drill: a background task failed'));
  else throw new Error('drill: a timer threw');
}, 20);
poll.unref();
