'use strict';
// The Node.js runtime client: loads the handler once, then serves invocations
// (docs/runtimes.md, docs/container-protocol.md).
//
// The agent starts it as `node --max-semi-space-size=1 bootstrap.js` in the task root,
// with the descriptors it gives our Python runtime: a socketpair to its Runtime API
// (FAAS_RUNTIME_FD), a second one for requests made while the first waits on /next
// (FAAS_CONTROL_FD), the output bell (FAAS_OUTPUT_BELL_FD) and the listening direct
// socket (FAAS_DIRECT_FD). After init it serves the platform's POST /invoke on that
// socket itself, answering as runtimes/protocol/invocation.py answers (./invocation.js),
// and keeps a /next parked on the agent for invokes sent there. With --wait-for-env (a
// generic container) it waits for the function's environment on stdin first.
//
// Node's built-in modules only, and few of them: this process stays beside the handler.

const fs = require('fs');
const net = require('net');
const util = require('util');
const { MessageReader, encodeRequest, jsonAnswer } = require('./http');
const invocation = require('./invocation');
const { RuntimeError, errorOf, loadHandler } = require('./handler');

const API = '/2018-06-01/runtime';
const DIRECT_SOCKET = 'runtime.sock';

// --- what the agent started us with, out of the function's environment

const given = {};
for (const name of ['FAAS_RUNTIME_FD', 'FAAS_CONTROL_FD', 'FAAS_OUTPUT_BELL_FD', 'FAAS_DIRECT_FD']) {
  given[name] = process.env[name];
  delete process.env[name];
}

function receiveEnvironment() {
  const chunks = [];
  const buf = Buffer.alloc(1 << 16);
  for (;;) {
    const n = fs.readSync(0, buf, 0, buf.length, null);
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  const env = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  for (const name of Object.keys(process.env)) delete process.env[name];
  Object.assign(process.env, env); // TZ assigned here resets Node's time zone
  try {
    process.chdir(env.LAMBDA_TASK_ROOT || '/var/task');
  } catch (e) {
    // no task root: the handler's load reports it
  }
  const Module = require('module');
  if (typeof Module._initPaths === 'function') Module._initPaths(); // NODE_PATH as at start
  process.argv.splice(2);
}

// --- the function's output: console lines as Lambda frames them

const state = { requestId: undefined, wrote: false };

function watchWrites(stream) {
  const write = stream.write;
  stream.write = function (...args) {
    state.wrote = true;
    return write.apply(this, args);
  };
}

function frameConsole() {
  const line = (level) =>
    function (...args) {
      process.stdout.write(`${new Date().toISOString()}\t${state.requestId}\t${level}\t${util.format(...args)}\n`);
    };
  console.log = line('INFO');
  console.info = line('INFO');
  console.warn = line('WARN');
  console.error = line('ERROR');
  console.debug = line('DEBUG');
  const trace = line('TRACE');
  console.trace = function (...args) {
    const error = new Error(util.format(...args));
    error.name = 'Trace';
    trace(error.stack);
  };
}

// An error line as Lambda logs it: "Invoke Error" for an invocation's, "Uncaught
// Exception" for one of init or outside any handler.
function logError(error, what = 'Invoke Error') {
  process.stdout.write(
    `${new Date().toISOString()}\t${state.requestId}\tERROR\t${what} \t${JSON.stringify(error)}\n`,
  );
}

// --- response streaming: Lambda's awslambda global

// The mark Lambda's runtime puts on a handler wrapped by streamifyResponse.
const STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HTTP_INTEGRATION = 'application/vnd.awslambda.http-integration-response';

globalThis.awslambda = {
  streamifyResponse(handler) {
    handler[STREAMING] = 'response';
    return handler;
  },
  HttpResponseStream: {
    // The function URL's status, headers and cookies, then 8 NUL bytes, then the body.
    from(stream, metadata) {
      stream.setContentType(HTTP_INTEGRATION);
      stream.write(JSON.stringify(metadata || {}));
      stream.write(Buffer.alloc(8));
      return stream;
    },
  },
};

// The responseStream a streaming handler writes to: each write leaves as a chunk of the
// platform's answer (docs/container-protocol.md, "Streamed answers"), the head with
// the first; onChunk(buffer) writes it and calls back when the socket drained.
function responseStream(onChunk) {
  const { Writable } = require('stream');
  const stream = new Writable({
    write(chunk, encoding, done) {
      const data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, encoding);
      if (data.length) onChunk(data, done);
      else done();
    },
  });
  stream.contentType = 'application/octet-stream';
  stream.setContentType = (type) => {
    stream.contentType = String(type);
  };
  return stream;
}

// --- the Runtime API, over the agent's socketpair (or TCP for AWS_LAMBDA_RUNTIME_API)

class RuntimeClient {
  constructor(fd) {
    if (fd) {
      this.sock = new net.Socket({ fd: Number(fd), readable: true, writable: true });
    } else {
      const [host, port] = (process.env.AWS_LAMBDA_RUNTIME_API || '127.0.0.1:9001').split(':');
      this.sock = net.connect(Number(port), host);
    }
    this.waiting = [];
    const reader = new MessageReader(
      Infinity,
      (message) => {
        const take = this.waiting.shift();
        if (take) take(message);
      },
      () => this.sock.destroy(),
    );
    this.sock.on('data', (chunk) => reader.push(chunk));
    this.sock.on('error', () => {});
    this.sock.on('close', () => process.exit(0)); // the agent is gone: so is the sandbox
  }

  // Send requests in one write; a promise of each answer, in order.
  send(...requests) {
    this.sock.write(requests.length === 1 ? requests[0] : Buffer.concat(requests));
    return requests.map(() => new Promise((resolve) => this.waiting.push(resolve)));
  }

  call(method, path, headers, body) {
    return this.send(encodeRequest(method, API + path, headers || {}, body))[0];
  }
}

// --- one invocation

function marshal(value) {
  if (value === undefined) return Buffer.from('null');
  let text;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    throw new RuntimeError('Runtime.MarshalError', `Unable to stringify response body: ${e.message}`);
  }
  return Buffer.from(text === undefined ? 'null' : text);
}

function makeContext(h) {
  const env = process.env;
  const deadline = h.deadlineMs;
  const context = {
    awsRequestId: h.requestId,
    invokedFunctionArn: h.invokedFunctionArn,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    clientContext: h.clientContext,
    identity: undefined,
    callbackWaitsForEmptyEventLoop: true,
    // Not Lambda's: which attempt of an async event this is (1 for a sync call).
    attempt: h.attempt,
    getRemainingTimeInMillis: () => Math.max(deadline - Date.now(), 0),
  };
  return context;
}

// Our handles, let go while a callback handler waits for the event loop to empty.
const handles = new Set();

function whenLoopEmpty(then) {
  for (const handle of handles) handle.unref();
  process.once('beforeExit', () => {
    for (const handle of handles) handle.ref();
    then();
  });
}

const current = { finish: null };

// Run the handler on one event: resolves to {payload, error, broken}.
function run(handler, h, body, callbackStyle) {
  state.requestId = h.requestId;
  process.env._X_AMZN_TRACE_ID = h.traceId || '';
  return new Promise((resolve) => {
    let done = false;
    const finish = (err, value, broken = false) => {
      if (done) return;
      done = true;
      current.finish = null;
      if (err !== null && err !== undefined) {
        const error = errorOf(err);
        logError(error);
        resolve({ payload: Buffer.from(JSON.stringify(error)), error: true, broken });
        return;
      }
      try {
        resolve({ payload: marshal(value), error: false, broken });
      } catch (e) {
        const error = errorOf(e);
        logError(error);
        resolve({ payload: Buffer.from(JSON.stringify(error)), error: true, broken });
      }
    };
    current.finish = finish;
    let event;
    try {
      event = JSON.parse(body.toString('utf8'));
    } catch (e) {
      finish(new RuntimeError('Runtime.UnmarshalError', `Unable to parse event: ${e.message}`));
      return;
    }
    const context = makeContext(h);
    if (handler[STREAMING] === 'response') {
      // Sent to the agent's own socket: the stream collected, answered buffered.
      const chunks = [];
      const stream = responseStream((data, done) => {
        chunks.push(data);
        done();
      });
      const ended = new Promise((ok) => stream.on('finish', ok));
      Promise.resolve()
        .then(() => handler(event, stream, context))
        .then(() => {
          if (!stream.writableEnded) stream.end();
          return ended;
        })
        .then(
          () => {
            done = true;
            current.finish = null;
            resolve({ payload: Buffer.concat(chunks), error: false, broken: false });
          },
          (err) => finish(err),
        );
      return;
    }
    const settle = (err, value) => {
      if (context.callbackWaitsForEmptyEventLoop) whenLoopEmpty(() => finish(err, value));
      else finish(err, value);
    };
    const callback = (err, value) => settle(err, value);
    context.done = callback;
    context.succeed = (value) => settle(null, value);
    context.fail = (err) => settle(err === undefined || err === null ? new Error('handled') : err);
    let returned;
    try {
      returned = handler(event, context, callback);
    } catch (e) {
      finish(e);
      return;
    }
    if (returned && typeof returned.then === 'function') {
      returned.then(
        (value) => finish(null, value),
        (err) => finish(err === undefined || err === null ? new Error(String(err)) : err),
      );
    } else if (callbackStyle) {
      // No callback yet: Lambda answers null once nothing is left to run.
      whenLoopEmpty(() => finish(null, null));
    } else {
      finish(null, returned);
    }
  });
}

// A failure outside any handler's promise: the invocation in flight fails with it and
// the sandbox is not used again (the process exits once it has answered), as on Lambda.
function fatal(error, code) {
  if (current.finish !== null) {
    exitAfterAnswer = code;
    current.finish(error, undefined, true);
  } else {
    logError(errorOf(error), 'Uncaught Exception');
    process.exit(code);
  }
}

let exitAfterAnswer = null;

function rejectionError(reason) {
  const text = reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason);
  const trace = reason instanceof Error && reason.stack ? reason.stack.split('\n') : [];
  return new RuntimeError('Runtime.UnhandledPromiseRejection', text, trace);
}

// --- the direct socket and the agent's channel

class Server {
  constructor(client) {
    this.handler = null; // set once init has loaded it, before the first /next
    this.client = client;
    this.callbackStyle = false;
    this.queue = [];
    this.busy = false;
    this.throttle = new invocation.ThrottleCounter();
    this.control = given.FAAS_CONTROL_FD ? new RuntimeClient(given.FAAS_CONTROL_FD) : null;
    this.bell = null;
    if (given.FAAS_OUTPUT_BELL_FD) {
      // Reopened non-blocking (and close-on-exec), the inherited one closed.
      const flags = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK;
      this.bell = fs.openSync(`/proc/self/fd/${given.FAAS_OUTPUT_BELL_FD}`, flags);
      fs.closeSync(Number(given.FAAS_OUTPUT_BELL_FD));
    }
    this.bellBuf = Buffer.alloc(4096);
    handles.add(client.sock);
    if (this.control) handles.add(this.control.sock);
  }

  // Serve the agent's listening socket; false if there is none.
  listen(fd) {
    if (!fd) return false;
    const server = net.createServer((conn) => {
      handles.add(conn);
      const reader = new MessageReader(
        invocation.MAX_EVENT,
        (request) => this.enqueue(() => this.direct(conn, request)),
        () => conn.destroy(),
      );
      conn.on('data', (chunk) => reader.push(chunk));
      conn.on('error', () => {});
      conn.on('close', () => handles.delete(conn));
    });
    server.listen({ fd: Number(fd) });
    handles.add(server);
    return true;
  }

  enqueue(task) {
    this.queue.push(task);
    if (!this.busy) this.next();
  }

  async next() {
    this.busy = true;
    while (this.queue.length) await this.queue.shift()();
    this.busy = false;
  }

  async direct(conn, request) {
    const [method, path] = request.first;
    if (method !== 'POST' || path !== '/invoke') {
      conn.write(jsonAnswer(404, { error: 'not found' }));
      return;
    }
    const h = invocation.accept(request.headers);
    if (typeof h === 'string' || request.oversize) {
      conn.write(invocation.refusal(request, h));
      return;
    }
    if (this.handler[STREAMING] === 'response') {
      await this.directStream(conn, request, h);
      return;
    }
    const { payload, error, broken } = await run(this.handler, h, request.body, this.callbackStyle);
    const throttled = this.throttle.sinceLast();
    const output = await this.takeOutput();
    state.requestId = undefined;
    const answer = invocation.answer(payload, error, { broken, throttled, output });
    conn.write(answer, () => this.exitIfBroken());
  }

  exitIfBroken() {
    if (exitAfterAnswer !== null) process.exit(exitAfterAnswer);
  }

  // A streaming handler's invocation: a buffered answer until its first write, then a
  // chunked one whose trailers say how it ended.
  async directStream(conn, request, h) {
    state.requestId = h.requestId;
    process.env._X_AMZN_TRACE_ID = h.traceId || '';
    let headSent = false;
    const sendHead = (type) => {
      if (headSent) return;
      headSent = true;
      conn.write(
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Faas-Stream: 1\r\n' +
          `Content-Type: ${type}\r\nTrailer: X-Function-Error, X-Faas-Error, X-Faas-Output\r\n\r\n`,
      );
    };
    const stream = responseStream((data, done) => {
      sendHead(stream.contentType);
      const flushed = conn.write(Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from('\r\n')]));
      if (flushed) done();
      else conn.once('drain', () => done());
    });
    const ended = new Promise((resolve) => stream.on('finish', resolve));
    let failure = null;
    try {
      const event = JSON.parse(request.body.toString('utf8'));
      await this.handler(event, stream, makeContext(h));
      if (!stream.writableEnded) stream.end();
      await ended;
    } catch (e) {
      failure = e instanceof SyntaxError && !headSent ? new RuntimeError('Runtime.UnmarshalError', `Unable to parse event: ${e.message}`) : e;
    }
    const throttled = this.throttle.sinceLast();
    const output = await this.takeOutput();
    state.requestId = undefined;
    if (failure !== null) logError(errorOf(failure));
    if (!headSent) {
      const payload = failure === null ? Buffer.alloc(0) : Buffer.from(JSON.stringify(errorOf(failure)));
      if (failure === null) sendHead(stream.contentType);
      else {
        conn.write(invocation.answer(payload, true, { throttled, output }));
        return;
      }
    }
    let trailers = '0\r\n';
    if (failure !== null) {
      const error = Buffer.from(JSON.stringify(errorOf(failure))).toString('base64');
      trailers += `X-Function-Error: Unhandled\r\nX-Faas-Error: ${error}\r\n`;
    }
    if (request.headers['x-faas-capture-log'] === '1') trailers += `X-Faas-Output: ${output.toString('base64')}\r\n`;
    if (throttled) trailers += `X-Faas-Cpu-Throttled: ${throttled}\r\n`;
    conn.write(`${trailers}\r\n`);
  }

  // What this invocation wrote, from the agent (which reads the pipe), asked for only
  // if it wrote anything: through our streams, or (the bell rang) through another
  // process's.
  async takeOutput() {
    let rang = false;
    if (this.bell !== null) {
      try {
        while (fs.readSync(this.bell, this.bellBuf, 0, this.bellBuf.length, null) > 0) rang = true;
      } catch (e) {
        // EAGAIN: drained
      }
    }
    if (!(state.wrote || rang) || this.control === null) return Buffer.alloc(0);
    state.wrote = false;
    const reply = await this.control.call('GET', '/faas/output');
    return reply.first[1] === '200' ? reply.body : Buffer.alloc(0);
  }

  // Events sent to the agent's own socket reach us on its Runtime API.
  async agentEvents(first) {
    let pending = first;
    for (;;) {
      const reply = await pending;
      if (reply.first[1] !== '200') {
        process.stderr.write(`Runtime API /next answered ${reply.first[1]}\n`);
        process.exit(1);
      }
      const done = new Promise((resolve) => {
        this.enqueue(async () => {
          const h = fromRuntimeApi(reply.headers);
          const { payload, error } = await run(this.handler, h, reply.body, this.callbackStyle);
          state.wrote = false; // the agent answers with the pipe's output itself
          const kind = error ? 'error' : 'response';
          const path = `${API}/invocation/${encodeURIComponent(h.requestId)}/${kind}`;
          const headers = error ? { 'Content-Type': 'application/json' } : {};
          const [, next] = this.client.send(
            encodeRequest('POST', path, headers, payload),
            encodeRequest('GET', `${API}/invocation/next`, {}),
          );
          state.requestId = undefined;
          resolve(next);
          this.exitIfBroken();
        });
      });
      pending = await done;
    }
  }
}

function fromRuntimeApi(headers) {
  let clientContext;
  if (headers['lambda-runtime-client-context']) {
    try {
      clientContext = JSON.parse(headers['lambda-runtime-client-context']);
    } catch (e) {
      clientContext = undefined;
    }
  }
  return {
    requestId: headers['lambda-runtime-aws-request-id'] || '',
    deadlineMs: Number(headers['lambda-runtime-deadline-ms'] || 0),
    invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'] || '',
    traceId: headers['lambda-runtime-trace-id'] || '',
    clientContext,
    attempt: Number(headers['faas-attempt'] || 1),
  };
}

// --- init

// Pre-started: one invocation's path run once on a no-op, so that V8 has compiled it
// before a function's first event arrives (on a quarter of a CPU, that is most of it).
async function warmUp() {
  const deadline = String(Date.now() + 60000);
  const sample = encodeRequest('POST', '/invoke', { 'X-Request-Id': 'warm-up', 'X-Deadline-Ms': deadline }, Buffer.from('{}'));
  let request = null;
  new MessageReader(invocation.MAX_EVENT, (message) => (request = message), () => {}).push(sample);
  const h = invocation.accept(request.headers);
  const { payload, error } = await run(async () => null, h, request.body, false);
  invocation.answer(payload, error, { throttled: 0, output: Buffer.alloc(0) });
  state.requestId = undefined;
  state.wrote = false;
}

async function main() {
  watchWrites(process.stdout);
  watchWrites(process.stderr);
  frameConsole();
  process.on('unhandledRejection', (reason) => fatal(rejectionError(reason), 128));
  process.on('uncaughtException', (error) => fatal(error, 129));
  // All that needs no function first: a pre-started runtime does it while it waits.
  const client = new RuntimeClient(given.FAAS_RUNTIME_FD);
  const server = new Server(client);
  const direct = server.listen(given.FAAS_DIRECT_FD); // nobody connects before our /next
  if (process.argv.includes('--wait-for-env')) {
    await warmUp();
    receiveEnvironment();
  }
  const root = process.env.LAMBDA_TASK_ROOT || '/var/task';
  let handler;
  try {
    handler = await loadHandler(root, process.env._HANDLER || '');
    const runtime = process.env.AWS_EXECUTION_ENV || '';
    if (handler.length >= 3 && /nodejs(2[4-9]|[3-9][0-9])/.test(runtime)) {
      throw new RuntimeError(
        'Runtime.CallbackHandlerDeprecated',
        'Callback-based function handlers are not supported from Node.js 24 on: ' +
          'make the handler async (or return a promise) and take (event, context)',
      );
    }
  } catch (e) {
    const error = errorOf(e);
    logError(error, 'Uncaught Exception');
    const headers = { 'Lambda-Runtime-Function-Error-Type': error.errorType };
    await client.call('POST', '/init/error', headers, Buffer.from(JSON.stringify(error)));
    process.exit(1);
  }
  server.handler = handler;
  server.callbackStyle = handler.length >= 3;
  // The first /next tells the agent whether we listen on the direct socket.
  const headers = direct ? { 'Faas-Direct-Socket': DIRECT_SOCKET } : {};
  await server.agentEvents(client.call('GET', '/invocation/next', headers));
}

main();
