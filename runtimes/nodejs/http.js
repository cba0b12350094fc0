'use strict';
// HTTP/1.1 as the container protocol uses it (docs/container-protocol.md): requests and
// answers with a Content-Length, on keep-alive Unix sockets and socketpairs. Node's own
// http module would cost every instance ~3 MB and a few ms of start for what is, here,
// a head, a length and a body: the same small parts runtimes/protocol/http1.py serves
// the agent's side with.

const HEAD_END = Buffer.from('\r\n\r\n');
const MAX_HEAD = 64 * 1024;

// Reads messages off a stream of bytes; calls onMessage({first, headers, body,
// oversize}) for each. `first` is the start line split on spaces; header names are
// lower case. A body past `maxBody` is read and dropped: `oversize` is its length.
class MessageReader {
  constructor(maxBody, onMessage, onError) {
    this.maxBody = maxBody;
    this.onMessage = onMessage;
    this.onError = onError;
    this.chunks = [];
    this.size = 0;
    this.head = null;
    this.need = 0;
  }

  push(chunk) {
    this.chunks.push(chunk);
    this.size += chunk.length;
    for (;;) {
      if (this.head === null) {
        const buf = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
        const end = buf.indexOf(HEAD_END);
        if (end < 0) {
          this.chunks = [buf];
          if (buf.length > MAX_HEAD) this.onError(new Error('message head too large'));
          return;
        }
        const lines = buf.toString('latin1', 0, end).split('\r\n');
        const headers = {};
        for (let i = 1; i < lines.length; i++) {
          const at = lines[i].indexOf(':');
          if (at > 0) headers[lines[i].slice(0, at).trim().toLowerCase()] = lines[i].slice(at + 1).trim();
        }
        const length = Number(headers['content-length'] || 0);
        if (!Number.isSafeInteger(length) || length < 0) {
          this.onError(new Error('bad Content-Length'));
          return;
        }
        this.head = { first: lines[0].split(' '), headers };
        this.need = length;
        const rest = buf.subarray(end + 4);
        this.chunks = rest.length ? [rest] : [];
        this.size = rest.length;
      }
      if (this.size < this.need) {
        if (this.need > this.maxBody && this.size > 0) {
          this.need -= this.size; // drop what came: only its length matters
          this.head.dropped = (this.head.dropped || 0) + this.size;
          this.chunks = [];
          this.size = 0;
        }
        return;
      }
      const buf = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
      const message = this.head;
      const dropped = message.dropped || 0;
      message.body = dropped ? Buffer.alloc(0) : buf.subarray(0, this.need);
      message.oversize = dropped ? dropped + this.need : 0;
      const rest = buf.subarray(this.need);
      this.chunks = rest.length ? [rest] : [];
      this.size = rest.length;
      this.head = null;
      this.need = 0;
      this.onMessage(message);
      if (this.size === 0) return;
    }
  }
}

const REASONS = { 200: 'OK', 202: 'Accepted', 400: 'Bad Request', 404: 'Not Found', 413: 'Payload Too Large' };

// One answer's bytes: status line, headers, Content-Length, body.
function encodeAnswer(status, headers, body) {
  let head = `HTTP/1.1 ${status} ${REASONS[status] || 'Status'}\r\n`;
  for (const name in headers) head += `${name}: ${headers[name]}\r\n`;
  head += `Content-Length: ${body.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

// One request's bytes.
function encodeRequest(method, path, headers, body) {
  let head = `${method} ${path} HTTP/1.1\r\nHost: runtime\r\n`;
  for (const name in headers) head += `${name}: ${headers[name]}\r\n`;
  if (body) head += `Content-Length: ${body.length}\r\n`;
  head += '\r\n';
  return body ? Buffer.concat([Buffer.from(head, 'latin1'), body]) : Buffer.from(head, 'latin1');
}

function jsonAnswer(status, value, headers) {
  return encodeAnswer(status, { 'Content-Type': 'application/json', ...headers }, Buffer.from(JSON.stringify(value)));
}

module.exports = { MessageReader, encodeAnswer, encodeRequest, jsonAnswer };
