'use strict';
// The function's handler, found as Lambda's Node.js runtime finds it: `_HANDLER` is
// `path/to/file.export[.nested]`, the file `file.js`, `file.mjs` or `file.cjs` under
// the task root (an ES module for .mjs, or .js under a package.json whose "type" is
// "module"), else a package of that name on NODE_PATH. Init errors carry Lambda's names.

const fs = require('fs');
const path = require('path');

class RuntimeError extends Error {
  constructor(errorType, message, trace) {
    super(message);
    this.errorType = errorType;
    this.trace = trace || [];
  }
}

// The error JSON Lambda's Node.js runtime reports for a thrown value.
function errorOf(value) {
  if (value instanceof RuntimeError) {
    return { errorType: value.errorType, errorMessage: value.message, trace: value.trace };
  }
  if (value instanceof Error) {
    const type = String(value.name || 'Error');
    const trace = typeof value.stack === 'string' ? value.stack.split('\n') : [];
    return { errorType: type, errorMessage: String(value.message), trace };
  }
  if (value === undefined || value === null) {
    return { errorType: 'Error', errorMessage: String(value), trace: [] };
  }
  if (typeof value === 'object') {
    try {
      return { errorType: 'object', errorMessage: JSON.stringify(value), trace: [] };
    } catch (e) {
      return { errorType: 'object', errorMessage: String(value), trace: [] };
    }
  }
  return { errorType: typeof value, errorMessage: String(value), trace: [] };
}

function isFile(file) {
  try {
    return fs.statSync(file).isFile();
  } catch (e) {
    return false;
  }
}

// Whether a .js file is an ES module: the nearest package.json says "type": "module".
function isModuleJs(file, root) {
  let dir = path.dirname(file);
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (isFile(pkg)) {
      try {
        return JSON.parse(fs.readFileSync(pkg, 'utf8')).type === 'module';
      } catch (e) {
        return false;
      }
    }
    const up = path.dirname(dir);
    if (up === dir || !dir.startsWith(root)) return false;
    dir = up;
  }
}

async function importFile(file) {
  const { pathToFileURL } = require('url');
  return import(pathToFileURL(file).href);
}

// The module a handler names, loaded; RuntimeError with Lambda's names if it cannot be.
async function loadModule(root, moduleRoot, name) {
  const base = path.resolve(root, moduleRoot, name);
  try {
    if (isFile(`${base}.js`)) {
      return isModuleJs(`${base}.js`, root) ? await importFile(`${base}.js`) : require(`${base}.js`);
    }
    if (isFile(`${base}.mjs`)) return await importFile(`${base}.mjs`);
    if (isFile(`${base}.cjs`)) return require(`${base}.cjs`);
    return require(require.resolve(name, { paths: [path.resolve(root, moduleRoot), ...nodePath()] }));
  } catch (e) {
    if (e instanceof SyntaxError) {
      throw new RuntimeError('Runtime.UserCodeSyntaxError', `${e.name}: ${e.message}`, String(e.stack || '').split('\n'));
    }
    if (e && (e.code === 'MODULE_NOT_FOUND' || e.code === 'ERR_MODULE_NOT_FOUND')) {
      throw new RuntimeError('Runtime.ImportModuleError', `Error: ${e.message}`, String(e.stack || '').split('\n'));
    }
    throw e; // the module threw while loading: its own error
  }
}

function nodePath() {
  return (process.env.NODE_PATH || '').split(':').filter(Boolean);
}

// The handler function `handler` (_HANDLER) names, under the task root `root`.
async function loadHandler(root, handler) {
  const slash = handler.lastIndexOf('/');
  const moduleRoot = slash >= 0 ? handler.slice(0, slash) : '';
  const spec = handler.slice(slash + 1);
  const dot = spec.indexOf('.');
  if (!handler || dot <= 0 || dot === spec.length - 1) {
    throw new RuntimeError('Runtime.MalformedHandlerName', `Bad handler ${handler}`);
  }
  const name = spec.slice(0, dot);
  const mod = await loadModule(root, moduleRoot, name);
  let fn = mod;
  for (const part of spec.slice(dot + 1).split('.')) {
    fn = fn === undefined || fn === null ? undefined : fn[part];
  }
  if (typeof fn !== 'function') {
    throw new RuntimeError('Runtime.HandlerNotFound', `${spec} is undefined or not exported`);
  }
  return fn;
}

module.exports = { RuntimeError, errorOf, loadHandler };
