import { STATUS_CODES, type Server } from 'http';
import type { Socket } from 'net';
import { issue, IssueCode, operationOutcome } from '../errors';

/**
 * What Node's HTTP parser refuses before a request exists (its `clientError`), answered as Node
 * would (the same statuses) but with an OperationOutcome body: a search URL past Node's 16 KB
 * header limit got a bare 431 that FHIR clients could not read.
 */
const REFUSALS: Record<string, [number, IssueCode, string]> = {
  HPE_HEADER_OVERFLOW: [
    431,
    'too-costly',
    'the request line and headers are larger than this server accepts (16 KB); send a long search as POST [type]/_search with a form body',
  ],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: [413, 'too-costly', 'the chunk extensions of the request body are too large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'timeout', 'the request was not received in time'],
};
const MALFORMED: [number, IssueCode, string] = [400, 'structure', 'the request is not well-formed HTTP/1.1'];

/** Answers the parser's refusals as OperationOutcomes on the raw socket (there is no request or response object yet). */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // a reset connection, or a response already under way on it (pipelining): nothing can be said
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    const [status, code, text] = (err.code && REFUSALS[err.code]) || MALFORMED;
    const body = JSON.stringify(operationOutcome([issue(code, text)]));
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
        'Content-Type: application/fhir+json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Connection: close\r\n\r\n' +
        body,
    );
  });
}
