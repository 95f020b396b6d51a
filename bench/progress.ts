/**
 * One progress line on stderr while the benchmark runs: rewritten in place on a terminal,
 * one line per update (throttled) in CI logs.
 */
export class Progress {
  private readonly tty = Boolean(process.stderr.isTTY);
  private lastPrint = 0;
  private phase = '';
  private readonly started = Date.now();

  constructor(private readonly quiet = false) {}

  /** A new phase always prints. */
  start(phase: string, detail = ''): void {
    this.phase = phase;
    this.lastPrint = 0;
    this.update(detail);
  }

  update(detail: string): void {
    if (this.quiet) return;
    const now = Date.now();
    if (!this.tty && now - this.lastPrint < 2000) return;
    this.lastPrint = now;
    const line = `[bench ${((now - this.started) / 1000).toFixed(0).padStart(4)} s] ${this.phase}${detail ? `: ${detail}` : ''}`;
    if (this.tty) process.stderr.write(`\r\x1b[2K${line.slice(0, (process.stderr.columns ?? 120) - 1)}`);
    else process.stderr.write(`${line}\n`);
  }

  /** Ends the in-place line so the next output starts on its own line. */
  done(message: string): void {
    if (this.quiet) return;
    if (this.tty) process.stderr.write('\r\x1b[2K');
    process.stderr.write(`[bench] ${message}\n`);
  }
}
