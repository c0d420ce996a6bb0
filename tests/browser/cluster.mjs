// A real cluster for the browser tests: a ZooKeeper server (Debian's package) on a free loopback
// port in a temp dir, and `shardjob run` processes of the build under test. Every process is
// stopped by its own pid when the test ends; every wait is bounded.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

// Polls `probe` until it returns a truthy value, and returns that value; throws naming `what`
// after `timeoutMs`.
export async function waitFor(what, probe, timeoutMs = 20000, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}` +
                      (lastError ? ` (last error: ${lastError.message})` : ''));
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// "imok" from ZooKeeper's four-letter `ruok`, or an error.
function askRuok(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    socket.setTimeout(1000, () => socket.destroy());
    socket.on('connect', () => socket.write('ruok'));
    socket.on('data', (chunk) => { reply += chunk; });
    socket.on('close', () => resolve(reply === 'imok'));
    socket.on('error', () => resolve(false));
  });
}

// A child process whose output goes to a log file, and which is killed by its pid at the end.
class Child {
  constructor(name, command, args, logPath) {
    this.name = name;
    this.logPath = logPath;
    const log = fs.openSync(logPath, 'w');
    this.process = spawn(command, args, { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.exitCode = null;
    // 'exit' for a process that ran; 'error' for one that could not start (no such program).
    this.exited = new Promise((resolve) => {
      this.process.once('exit', (code, signal) => {
        this.exitCode = code ?? signal;
        resolve();
      });
      this.process.once('error', (error) => {
        this.exitCode = error.code;
        fs.appendFileSync(logPath, `cannot start ${command}: ${error.message}\n`);
        resolve();
      });
    });
  }

  get pid() { return this.process.pid; }
  get running() { return this.exitCode === null; }
  log() { return fs.readFileSync(this.logPath, 'utf8'); }

  async stop(signal = 'SIGTERM', graceMs = 15000) {
    if (!this.running) return;
    process.kill(this.pid, signal);
    let grace;
    const stopped = await Promise.race([
      this.exited.then(() => true),
      new Promise((resolve) => { grace = setTimeout(() => resolve(false), graceMs); }),
    ]);
    clearTimeout(grace); // else it keeps node alive for the rest of graceMs
    if (!stopped) {
      process.kill(this.pid, 'SIGKILL');
      await this.exited;
    }
  }
}

export class Cluster {
  // `build`: the CMake build directory holding bin/shardjob and plugins/.
  constructor(build) {
    this.build = path.resolve(build);
    this.binary = path.join(this.build, 'bin', 'shardjob');
    this.plugins = path.join(this.build, 'plugins');
    for (const needed of [this.binary, this.plugins]) {
      if (!fs.existsSync(needed)) throw new Error(`${needed} does not exist: build first`);
    }
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shardjob-console-test-'));
    this.namespace = `console-test-${process.pid}`;
    this.traceDb = path.join(this.dir, 'trace.db');
    this.children = [];
  }

  async startZooKeeper() {
    this.zkPort = await freePort();
    const data = path.join(this.dir, 'zookeeper');
    fs.mkdirSync(data);
    const config = path.join(this.dir, 'zookeeper.cfg');
    fs.writeFileSync(config, [
      'tickTime=500', `dataDir=${data}`, `clientPort=${this.zkPort}`,
      'clientPortAddress=127.0.0.1', 'admin.enableServer=false', '4lw.commands.whitelist=ruok',
      '',
    ].join('\n'));
    let classpath = '/usr/share/java/zookeeper.jar';
    if (fs.existsSync('/usr/share/java/slf4j-simple.jar')) {
      classpath += ':/usr/share/java/slf4j-simple.jar';
    }
    const zk = new Child('zookeeper', 'java',
                         ['-Xmx128m', '-cp', classpath,
                          'org.apache.zookeeper.server.ZooKeeperServerMain', config],
                         path.join(this.dir, 'zookeeper.log'));
    this.children.push(zk);
    await waitFor('ZooKeeper to answer ruok', async () => {
      if (!zk.running) throw new Error(`ZooKeeper exited: see ${zk.logPath}`);
      return askRuok(this.zkPort);
    }, 60000, 200);
  }

  // Starts `shardjob run` with no jobs of its own: it runs what is created in the registry.
  // Resolves to { child, address } once it serves HTTP.
  async startInstance(name, { token } = {}) {
    const config = path.join(this.dir, `${name}.yaml`);
    const http = token ? `{listen: "127.0.0.1:0", token: "${token}"}` : '{listen: "127.0.0.1:0"}';
    fs.writeFileSync(config, [
      'registry:',
      '  type: zookeeper',
      '  zookeeper:',
      `    servers: "127.0.0.1:${this.zkPort}"`,
      `    namespace: ${this.namespace}`,
      '    session_timeout: 3s',
      `plugins: {dirs: ["${this.plugins}"], rescan_interval: 0s}`,
      `http: ${http}`,
      `tracing: {type: SQLITE, props: {path: "${this.traceDb}"}}`,
      'shutdown_grace: 2s',
      '',
    ].join('\n'));
    const child = new Child(name, this.binary, ['run', '-c', config],
                            path.join(this.dir, `${name}.log`));
    this.children.push(child);
    const marker = /\/api on http:\/\/(127\.0\.0\.1:\d+)/;
    const address = await waitFor(`instance ${name} to serve HTTP`, () => {
      if (!child.running) throw new Error(`instance ${name} exited: ${child.log()}`);
      return child.log().match(marker)?.[1];
    }, 30000);
    return { child, address };
  }

  // Stops everything started, one after the other and newest first (the instances leave
  // ZooKeeper before it stops), and removes the temp dir unless `keep`.
  async stop({ keep = false } = {}) {
    let firstError = null;
    try {
      for (const child of [...this.children].reverse()) {
        try {
          await child.stop();
        } catch (error) {
          firstError ??= error;
        }
      }
      if (firstError) throw firstError;
    } finally {
      if (!keep) fs.rmSync(this.dir, { recursive: true, force: true });
    }
  }

  // The instance processes' logs, for a failure message.
  logs() {
    return this.children.filter((child) => child.name !== 'zookeeper')
      .map((child) => `---- ${child.name} (${child.logPath})\n${child.log().slice(-4000)}`)
      .join('\n');
  }
}
