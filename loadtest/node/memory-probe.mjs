// Preloaded (`node --import`) into a server the soak spawns: reports process.memoryUsage() over
// the IPC channel every second, so the soak sees arrayBuffers (prom-client's default metrics do
// not export it). Measurement only: no effect on a process started without an IPC channel.
if (typeof process.send === 'function') {
  const timer = setInterval(() => {
    try {
      process.send({ mpeMemoryUsage: process.memoryUsage() });
    } catch {
      clearInterval(timer);
    }
  }, 1000);
  timer.unref();
  // Let the server exit on its own terms: the channel must not keep the event loop alive.
  process.channel?.unref();
}
