/**
 * The HTTP connection cap (MPE_MAX_CONNECTIONS) with a clear answer: a connection past the cap
 * gets `503 MPE_ERR_OVERLOADED` with `Connection: close` and `Retry-After`, written once at
 * accept without parsing anything, instead of net.Server's silent close on accept (which a client
 * cannot tell from a network fault). What the client sends meanwhile is read and discarded for at
 * most {@link REFUSED_LINGER_MS}, so that it reads the 503 rather than a reset. At most
 * `maxConnections` refused connections linger at once; past that they are closed unanswered.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { MpeError } from '../errors.js';
import { toHttpError } from './http-errors.js';

/** Longest a refused connection is kept open to let the client read the 503 (milliseconds). */
export const REFUSED_LINGER_MS = 1000;

/** The whole response written to a connection past the cap. */
function refusal(maxConnections: number): Buffer {
  const m = toHttpError(new MpeError('MPE_ERR_OVERLOADED', `${maxConnections} open connections (MPE_MAX_CONNECTIONS); retry on a new connection later`));
  const body = JSON.stringify(m.body);
  const head = `HTTP/1.1 ${m.status} Service Unavailable\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\nretry-after: 1\r\n\r\n`;
  return Buffer.from(head + body);
}

/**
 * Puts the HTTP server's own connection handling behind a count of open connections: up to
 * `maxConnections` are handed to it, later ones are answered {@link refusal} and closed. Call on
 * a server that is not yet listening.
 */
export function capHttpConnections(server: Server, maxConnections: number): void {
  const bytes = refusal(maxConnections);
  const handlers = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  let open = 0;
  // Refused connections still lingering: at most maxConnections more (the fd budget stays 2x the
  // cap, docs/config.md); past that a connection is closed at once, unanswered.
  let refused = 0;
  server.on('connection', (socket: Socket) => {
    if (open >= maxConnections) {
      socket.on('error', () => {});
      if (refused >= maxConnections) {
        socket.destroy();
        return;
      }
      refused++;
      socket.once('close', () => {
        refused--;
      });
      socket.end(bytes);
      socket.resume();
      // HTTP server sockets allow half-open connections: close once the client has, or after the linger.
      socket.once('end', () => socket.destroy());
      socket.setTimeout(REFUSED_LINGER_MS, () => socket.destroy());
      return;
    }
    open++;
    socket.once('close', () => {
      open--;
    });
    for (const h of handlers) h.call(server, socket);
  });
}
