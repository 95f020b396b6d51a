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
