import { connect, type Socket } from 'node:net';
import type { HttpResult } from './http-load.js';

/**
 * The end-to-end load generator's HTTP client: keep-alive sockets that write requests encoded
 * once (request line, headers and body in one buffer) and read just the status and a
 * Content-Length body back. It shares the machine's two cores with the pipeline it measures, and
 * node:http's client spent ~0.6 ms of CPU per 500-record request on objects and events that a
 * producer elsewhere would spend on its own machine (docs/performance.md).
 */
export function encodeRequest(url: URL, body: Buffer, headers: Record<string, string>): Buffer {
  const lines = [`POST ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`, 'Content-Type: application/json', `Content-Length: ${body.length}`];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
}

const HEADER_END = Buffer.from('\r\n\r\n');

/** The socket ended before any byte of the response came back. */
class ClosedUnanswered extends Error {}

/** One request at a time per socket; at most `maxSockets` sockets, the idle ones reused. */
export class RawHttpClient {
  private readonly idle: Socket[] = [];
  private readonly all = new Set<Socket>();

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  post(request: Buffer): Promise<HttpResult> {
    const sentAt = Date.now();
    const reused = this.idle.pop();
    return this.send(request, reused ?? this.open(), sentAt).catch((err: unknown) => {
      // The server closes a keep-alive socket idle for its keepAliveTimeout; one it closed just as
      // this request was written never saw the request, so that one is retried on a new socket.
      if (reused && err instanceof ClosedUnanswered) return this.send(request, this.open(), sentAt);
      throw err;
    });
  }

  private send(request: Buffer, socket: Socket, sentAt: number): Promise<HttpResult> {
    return new Promise<HttpResult>((resolve, reject) => {
      let buffered: Buffer = Buffer.alloc(0);
      let need = -1; // total bytes of the response once its headers are read
      let status = 0;
      let headerBytes = 0;
      let keepAlive = true;
      let serverTiming: string | undefined;
      const done = (err?: Error) => {
        socket.off('data', onData);
        socket.off('error', onError);
        socket.off('close', onClose);
        if (err) {
          this.drop(socket);
          reject(err);
          return;
        }
        const body = buffered.subarray(headerBytes, need).toString('utf8');
        if (keepAlive) this.idle.push(socket);
        else this.drop(socket);
        resolve({ status, sentAt, doneAt: Date.now(), body, ...(serverTiming ? { serverTiming } : {}) });
      };
      const onData = (chunk: Buffer) => {
        buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
        if (need < 0) {
          const end = buffered.indexOf(HEADER_END);
          if (end < 0) return;
          const head = buffered.subarray(0, end).toString('latin1');
          status = Number(head.slice(9, 12));
          const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
          if (!length) return done(new Error(`response without Content-Length: ${head.split('\r\n')[0]}`));
          keepAlive = !/\r\nconnection:\s*close/i.test(head);
          serverTiming = /\r\nserver-timing:\s*([^\r]*)/i.exec(head)?.[1];
          headerBytes = end + HEADER_END.length;
          need = headerBytes + Number(length[1]);
        }
        if (buffered.length >= need) done();
      };
      const onError = (err: Error) => done(buffered.length === 0 ? new ClosedUnanswered(err.message) : err);
      const onClose = () => done(buffered.length === 0 ? new ClosedUnanswered('socket closed before the response') : new Error('socket closed mid-response'));
      socket.on('data', onData);
      socket.on('error', onError);
      socket.on('close', onClose);
      socket.write(request);
    });
  }

  close(): void {
    for (const s of this.all) s.destroy();
    this.all.clear();
    this.idle.length = 0;
  }

  private open(): Socket {
    const socket = connect({ host: this.host, port: this.port, noDelay: true });
    // a socket the server closes while idle is dropped; its error must not crash the generator
    socket.on('error', () => {});
    socket.on('close', () => this.drop(socket));
    this.all.add(socket);
    return socket;
  }

  private drop(socket: Socket): void {
    const i = this.idle.indexOf(socket);
    if (i >= 0) this.idle.splice(i, 1);
    this.all.delete(socket);
    socket.destroy();
  }
}
