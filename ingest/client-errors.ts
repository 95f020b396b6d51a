import { randomUUID } from 'node:crypto';
import type { Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Requests Node's HTTP parser refuses before Express sees them (headers over the limit, malformed
 * requests, clients too slow to send their request) still get the common error shape.
 *
 * A client too slow with its body has a response in flight already (Express is reading the body):
 * like Node's own default (socketOnError in lib/_http_server.js), it is still answered as long as
 * none of that response has been written, instead of having its connection reset.
 */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse & { _headerSent?: boolean } })._httpMessage;
    if (!socket.writable || inFlight?._headerSent) {
      socket.destroy();
      return;
    }
    const [status, reason, code, message] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', 'validation_error', 'request headers are too large (limit 16 KiB)']
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'Request Timeout', 'validation_error', 'the request was not received in time']
          : [400, 'Bad Request', 'validation_error', 'malformed HTTP request'];
    // the id the app gave the request in flight (the client's own X-Request-Id, if it sent one)
    const requestId = String(inFlight?.getHeader('X-Request-Id') ?? randomUUID().replace(/-/g, ''));
    const body = JSON.stringify({ code, message, request_id: requestId });
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nX-Request-Id: ${requestId}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
