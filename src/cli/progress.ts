/**
 * Progress of a training run on stderr, shared by `mpe train` and `mpe compare` (the longest
 * command: several methods, each with its search and retraining phases): a cli-progress bar
 * (rows/s, loss, ETA) per epoch on a terminal, and on a pipe or with --json one line per epoch
 * plus a batch line every ~10 s. cli-progress rather than hand-written \r lines: it handles
 * terminal width, ETA smoothing and redraw throttling.
 */
import cliProgress from 'cli-progress';
import type { TrainEvent } from '../train/loop.js';

/** Renders trainer events: a progress bar on a TTY, one line every ~10 s otherwise. */
export function createReporter(json: boolean): { onEvent: (e: TrainEvent) => void; stop: () => void } {
  const err = process.stderr;
  const tty = err.isTTY === true && !json;
  let bar: cliProgress.SingleBar | null = null;
  let lastLine = 0;
  const stop = () => {
    bar?.stop();
    bar = null;
  };
  const onEvent = (e: TrainEvent): void => {
    switch (e.type) {
      case 'epoch-start':
        if (tty) {
          bar = new cliProgress.SingleBar(
            { format: `${e.phase} ${e.epoch}/${e.epochs} |{bar}| {percentage}% | {value}/{total} rows | {rate} rows/s | loss {loss} | ETA {eta_formatted}`, etaBuffer: 50, stream: err },
            cliProgress.Presets.shades_classic,
          );
          bar.start(e.rows, 0, { rate: '-', loss: '-' });
        } else err.write(`${e.phase}: epoch ${e.epoch}/${e.epochs}, ${e.rows} training rows\n`);
        break;
      case 'batch':
        if (bar) bar.update(e.rowsDone, { rate: Math.round(e.samplesPerSecond), loss: e.loss.toFixed(5) });
        else if (Date.now() - lastLine > 10_000) {
          lastLine = Date.now();
          err.write(`  ${e.phase} epoch ${e.epoch}: ${e.rowsDone}/${e.rows} rows, ${Math.round(e.samplesPerSecond)} rows/s, loss ${e.loss.toFixed(5)}\n`);
        }
        break;
      case 'epoch-end':
        stop();
        err.write(
          `${e.phase} epoch ${e.epoch}: train loss ${e.trainLoss.toFixed(5)}, valid AUC ${e.valid.auc.toFixed(5)}, LogLoss ${e.valid.logLoss.toFixed(5)}` +
            ` (${e.seconds.toFixed(1)} s, ${Math.round(e.samplesPerSecond)} samples/s)${e.best ? ' *best' : ''}\n`,
        );
        break;
      case 'log':
        if (!bar && !e.message.startsWith('read ')) err.write(`${e.message}\n`);
        break;
    }
  };
  return { onEvent, stop };
}
