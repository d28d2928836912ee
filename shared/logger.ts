/**
 * The logging port. Powertools' Logger satisfies it in Lambda (structured JSON); the local
 * server uses `consoleLogger` (one readable line per entry). Never pass tokens here.
 */
export interface Logger {
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
  error(message: string, extra?: Record<string, unknown>): void;
}

export function consoleLogger(stream: NodeJS.WritableStream = process.stderr): Logger {
  const line = (level: string) => (message: string, extra?: Record<string, unknown>) => {
    const time = new Date().toISOString().slice(11, 23);
    const fields = extra && Object.keys(extra).length > 0 ? ` ${JSON.stringify(extra)}` : '';
    stream.write(`${time} ${level} ${message}${fields}\n`);
  };
  return { info: line('INFO '), warn: line('WARN '), error: line('ERROR') };
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
