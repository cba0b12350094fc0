'use strict';
// One invocation as the platform sends it to our direct socket and reads its answer:
// the wire rules of runtimes/protocol/invocation.py, which the agent and the Python
// runtime answer with, spoken here in JavaScript (docs/container-protocol.md, "The
// direct socket"). tests/unit/test_runtime_conformance.py sends the same
// requests to both runtimes and requires the same answers.

const fs = require('fs');
const { encodeAnswer, jsonAnswer } = require('./http');

const MAX_EVENT = 32 * 1024 * 1024;
const MAX_RESPONSE = 6 * 1024 * 1024;
const DEFAULT_DEADLINE_MS = 900000;
const CPU_STAT_FILES = ['/sys/fs/cgroup/cpu.stat', '/sys/fs/cgroup/cpu/cpu.stat'];

function errorBody(errorType, errorMessage, trace) {
  return Buffer.from(JSON.stringify({ errorType, errorMessage, trace: trace || [] }));
}

function tooLarge(size) {
  return errorBody(
    'Function.ResponseSizeTooLarge',
    `Response payload size (${size} bytes) exceeded maximum allowed payload size (${MAX_RESPONSE} bytes).`,
  );
}

// The Runtime API's view of a POST /invoke's headers, or a string saying why it is bad.
function accept(headers) {
  const requestId = headers['x-request-id'] || '';
  if (!requestId) return 'X-Request-Id is required';
  const deadline = headers['x-deadline-ms'] || String(Date.now() + DEFAULT_DEADLINE_MS);
  if (!/^[0-9]+$/.test(deadline)) return 'X-Deadline-Ms must be epoch milliseconds';
  let clientContext;
  if (headers['x-client-context']) {
    const text = headers['x-client-context'];
    try {
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4) throw new Error('not base64');
      clientContext = JSON.parse(Buffer.from(text, 'base64').toString('utf8'));
    } catch (e) {
      return 'X-Client-Context must be base64 JSON';
    }
  }
  return {
    requestId,
    deadlineMs: Number(deadline),
    invokedFunctionArn: headers['x-invoked-function-arn'] || '',
    traceId: headers['x-amzn-trace-id'] || '',
    clientContext,
    attempt: Number(headers['x-faas-attempt'] || 1),
  };
}

// The refusal of a request accept() or the size limit turned down.
function refusal(request, why) {
  if (request.oversize) return jsonAnswer(413, { error: 'event too large' });
  return jsonAnswer(400, { error: why });
}

// How an invocation ended, as the platform reads it: always 200.
function answer(result, error, { broken = false, throttled = 0, output = null } = {}) {
  if (result.length > MAX_RESPONSE) {
    result = tooLarge(result.length);
    error = true;
  }
  const headers = { 'Content-Type': 'application/json' };
  if (error) headers['X-Function-Error'] = 'Unhandled';
  if (broken) headers['X-Sandbox-Broken'] = '1';
  if (throttled) headers['X-Faas-Cpu-Throttled'] = String(throttled);
  if (output !== null) {
    headers['X-Faas-Log-Length'] = String(output.length);
    if (output.length) result = Buffer.concat([output, result]);
  }
  return encodeAnswer(200, headers, result);
}

// How often the container hit its CPU quota since the last look (nr_throttled of the
// cgroup's cpu.stat, read with one pread per invocation).
class ThrottleCounter {
  constructor() {
    this.fd = null;
    this.last = 0;
    this.buf = Buffer.alloc(512);
    for (const path of CPU_STAT_FILES) {
      try {
        this.fd = fs.openSync(path, 'r');
        break;
      } catch (e) {
        // not this cgroup version
      }
    }
    this.sinceLast();
  }

  sinceLast() {
    if (this.fd === null) return 0;
    let now;
    try {
      const n = fs.readSync(this.fd, this.buf, 0, this.buf.length, 0);
      const match = /nr_throttled (\d+)/.exec(this.buf.toString('latin1', 0, n));
      now = match ? Number(match[1]) : null;
    } catch (e) {
      now = null;
    }
    if (now === null) return 0;
    const seen = this.last;
    this.last = now;
    return Math.max(0, now - seen);
  }
}

module.exports = { MAX_EVENT, MAX_RESPONSE, accept, answer, errorBody, refusal, ThrottleCounter };
