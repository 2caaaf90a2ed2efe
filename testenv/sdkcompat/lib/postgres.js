// A throw-away PostgreSQL for the local-authorization scenarios, like
// testenv/pgtest: initdb in a temporary directory, postgres on a free
// 127.0.0.1 port, trust authentication, no fsync; close() stops it and
// removes the directory. Server binaries: OUTPOST_PG_BIN or the newest
// /usr/lib/postgresql/<version>/bin (`make postgres` installs Debian's
// package). As root, both run as the postgres user (or nobody): they refuse
// to run as root.

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";

import { eventually, freePort } from "./harness.js";

function binDir() {
  if (process.env.OUTPOST_PG_BIN) return process.env.OUTPOST_PG_BIN;
  const base = "/usr/lib/postgresql";
  const versions = fs.existsSync(base) ? fs.readdirSync(base).filter((v) => fs.existsSync(path.join(base, v, "bin", "postgres"))) : [];
  if (versions.length === 0) throw new Error("no PostgreSQL server binaries: run `make postgres` or set OUTPOST_PG_BIN");
  versions.sort((a, b) => Number(b) - Number(a));
  return path.join(base, versions[0], "bin");
}

function account() {
  if (process.getuid() !== 0) return {};
  const passwd = fs.readFileSync("/etc/passwd", "utf8").split("\n");
  for (const name of ["postgres", "nobody"]) {
    const line = passwd.find((l) => l.startsWith(name + ":"));
    if (line) {
      const f = line.split(":");
      return { uid: Number(f[2]), gid: Number(f[3]) };
    }
  }
  throw new Error("running as root and neither the postgres nor the nobody user exists");
}

export class Postgres {
  static async start() {
    const p = new Postgres();
    const bin = binDir();
    const who = account();
    p.dir = fs.mkdtempSync(path.join(os.tmpdir(), "sdkcompat-pg-"));
    if (who.uid !== undefined) fs.chownSync(p.dir, who.uid, who.gid);
    const data = path.join(p.dir, "data");
    const init = spawnSync(path.join(bin, "initdb"), ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"],
      { cwd: p.dir, ...who, encoding: "utf8" });
    if (init.status !== 0) throw new Error(`initdb failed: ${init.stdout}${init.stderr}`);
    p.port = await freePort();
    p.output = "";
    p.child = spawn(path.join(bin, "postgres"), ["-D", data, "-p", String(p.port), "-c", "listen_addresses=127.0.0.1",
      "-c", "unix_socket_directories=", "-c", "fsync=off", "-c", "synchronous_commit=off"], { cwd: p.dir, ...who, stdio: ["ignore", "pipe", "pipe"] });
    p.exited = new Promise((r) => p.child.on("exit", r));
    p.child.stdout.setEncoding("utf8").on("data", (c) => (p.output += c));
    p.child.stderr.setEncoding("utf8").on("data", (c) => (p.output += c));
    await eventually("postgres ready", () => p.output.includes("ready to accept connections"), 60000);
    p.client = new pg.Client({ host: "127.0.0.1", port: p.port, user: "postgres", database: "postgres" });
    await p.client.connect();
    return p;
  }

  /** Runs sql and returns its rows (objects keyed by column name). */
  async rows(sql) {
    return (await this.client.query(sql)).rows;
  }

  async close() {
    if (this.client) await this.client.end().catch(() => {});
    if (this.child && this.child.exitCode === null) {
      this.child.kill("SIGINT");
      const t = setTimeout(() => this.child.kill("SIGKILL"), 10000);
      await this.exited;
      clearTimeout(t);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
