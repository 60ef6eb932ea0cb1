// Preload (node --require): prints the process's peak resident set size on exit, for tests that
// bound what a child process ever held in memory (`maxRssKiB=N` on stderr).
process.on('exit', () => {
  process.stderr.write(`maxRssKiB=${process.resourceUsage().maxRSS}\n`);
});
