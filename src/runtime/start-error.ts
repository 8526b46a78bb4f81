/**
 * The exit status `docker run` gives when the container process could not be started, decided
 * from the runtime's error text exactly as the docker CLI does: 127 when the command doesn't
 * exist, 126 when it can't be invoked, 125 for any other daemon-side failure. dockerd records
 * the same 127/126 as the container's ExitCode and answers 400 for them (500 otherwise).
 */
export function classifyStartError(message: string): 125 | 126 | 127 {
  const text = message.toLowerCase();
  if (
    text.includes('executable file not found') ||
    text.includes('no such file or directory') ||
    text.includes('system cannot find the file specified')
  ) {
    return 127;
  }
  if (text.includes('permission denied') || text.includes('is a directory')) return 126;
  return 125;
}

/**
 * runc reports failures as logrus lines (time="..." level=error msg="..."); the message is
 * the useful part. Falls back to the trimmed text when it isn't in that form.
 */
export function runtimeErrorMessage(output: string): string {
  const messages: string[] = [];
  for (const line of output.split('\n')) {
    const match = /\bmsg="((?:[^"\\]|\\.)*)"/.exec(line);
    if (match) messages.push(match[1]!.replace(/\\(.)/g, '$1'));
  }
  return messages.length > 0 ? messages.join('; ') : output.trim();
}
