/**
 * Processes started by `npm start` run in their own process group (so Ctrl-C reaches only the
 * supervisor, which stops them in order). If the supervisor dies abruptly, they notice and shut
 * down gracefully instead of running on as orphans.
 */
export function exitWithParent(onParentGone: () => void, parentPid = Number(process.env.OBS_PARENT_PID ?? 0)): void {
  if (!parentPid) return;
  const timer = setInterval(() => {
    try {
      process.kill(parentPid, 0);
    } catch {
      clearInterval(timer);
      onParentGone();
    }
  }, 1000);
  timer.unref();
}

/**
 * Entry points: on SIGTERM, SIGINT or the supervisor's death, run `stop` once (stop taking work,
 * finish what is in flight, close connections), then exit 0, or 1 if stopping failed.
 */
export function stopOnSignals(log: { info: (o: object, m: string) => void; error: (o: object, m: string) => void }, stop: () => Promise<void>): void {
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: finishing in-flight work');
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  exitWithParent(() => shutdown('supervisor exited'));
}
