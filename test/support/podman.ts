/**
 * A real Docker-compatible engine for tests, without a registry or network: podman (CI
 * installs it, see .ci/run) serving the Docker Engine API on a unix socket, with its own
 * storage in a temporary directory, and a tiny image `gyre-test/base:1` imported from a
 * rootfs made of this host's own files (bash, coreutils, git, curl, perl and their shared
 * libraries). The rootfs tarball is cached under /var/tmp across runs.
 */
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { type PodmanEngine, startPodmanEngine } from "../../packages/agent/src/executor/engine.ts";
import { tempDir } from "../support.ts";

export const TEST_IMAGE = "gyre-test/base:1";
/** A file only the test image has. */
export const IMAGE_MARKER = "/etc/gyre-test-image";

const TOOLS = [
  "bash",
  "sh",
  "cat",
  "ls",
  "mkdir",
  "rm",
  "sleep",
  "env",
  "id",
  "touch",
  "tr",
  "head",
  "tail",
  "chmod",
  "chown",
  "cp",
  "mv",
  "hostname",
  "grep",
  "sed",
  "git",
  "uname",
  "mktemp",
  "wc",
  "sort",
  "true",
  "false",
  "kill",
  "timeout",
  "basename",
  "dirname",
  "readlink",
  "curl",
  "perl",
  "getent",
];
const VERSION = "2";

/** Why podman cannot be used here, or undefined when it can. */
export function podmanMissing(): string | undefined {
  try {
    execFileSync("podman", ["--version"], { stdio: "pipe" });
    execFileSync("runc", ["--version"], { stdio: "pipe" });
    return undefined;
  } catch (error) {
    return `podman and runc are needed (apt-get install podman runc): ${(error as Error).message}`;
  }
}

const which = (name: string) => execFileSync("bash", ["-c", `type -P ${name}`], { encoding: "utf8" }).trim();

/** The libraries `file` loads, as ldd lists them. */
function libraries(file: string): string[] {
  const out = execFileSync("ldd", [file], { encoding: "utf8" });
  return [...out.matchAll(/(\/\S+)/g)].map((m) => m[1]!);
}

/** The image's rootfs tarball, built once per machine from the host's files. */
export function testImageTarball(): string {
  const tarball = `/var/tmp/gyre-test-image-${VERSION}.tar`;
  if (existsSync(tarball)) return tarball;
  const root = tempDir("rootfs");
  const dirs = [
    "usr/bin",
    "usr/sbin",
    "usr/lib",
    "usr/lib64",
    "usr/share/git-core/templates",
    "etc",
    "tmp",
    "root",
  ];
  for (const dir of dirs) mkdirSync(join(root, dir), { recursive: true });
  for (const link of ["bin", "sbin", "lib", "lib64"]) symlinkSync(`usr/${link}`, join(root, link));
  chmodSync(join(root, "tmp"), 0o1777);
  const files = new Set<string>();
  for (const tool of TOOLS) {
    const path = which(tool);
    files.add(path);
    for (const lib of libraries(path)) files.add(lib);
  }
  files.add("/usr/lib/git-core/git-upload-pack");
  // perl's own modules for a tiny TCP server (IO::Socket::INET), and the resolver's config.
  // Into the merged /usr layout the links above make (Debian 12's own).
  const copy = (from: string) => {
    const to = join(root, from.replace(/^\/(bin|sbin|lib|lib64)(?=\/)/, "/usr/$1"));
    mkdirSync(dirname(to), { recursive: true });
    execFileSync("cp", ["-rL", from, to]);
  };
  for (const file of files) copy(file);
  const inet = execFileSync("perl", ["-MIO::Socket::INET", "-e", 'print $INC{"IO/Socket/INET.pm"}'], {
    encoding: "utf8",
  });
  copy(dirname(dirname(dirname(inet))));
  for (const lib of libraries(which("getent"))) copy(lib);
  for (const nss of ["libnss_dns.so.2", "libnss_files.so.2", "libresolv.so.2"]) {
    const path = `/lib/x86_64-linux-gnu/${nss}`;
    if (existsSync(path)) copy(path);
  }
  writeFileSync(
    join(root, "etc/passwd"),
    "root:x:0:0:root:/root:/bin/bash\ncircleci:x:3434:3434::/home/circleci:/bin/bash\n",
  );
  writeFileSync(join(root, "etc/group"), "root:x:0:\ncircleci:x:3434:\n");
  writeFileSync(join(root, "etc/nsswitch.conf"), "hosts: files dns\npasswd: files\ngroup: files\n");
  writeFileSync(join(root, IMAGE_MARKER), `${TEST_IMAGE}\n`);
  copyFileSync("/etc/ld.so.cache", join(root, "etc/ld.so.cache"));
  const partial = `${tarball}.${process.pid}`;
  execFileSync("tar", ["-C", root, "-cf", partial, "."]);
  renameSync(partial, tarball);
  rmSync(root, { recursive: true, force: true });
  return tarball;
}

export interface TestEngine extends PodmanEngine {
  dir: string;
  /** The podman CLI on this engine. */
  podman(...args: string[]): string;
}

/** A podman engine with the test image, serving the Docker API on `<tmp>/docker.sock`. */
export async function startTestEngine(): Promise<TestEngine> {
  const missing = podmanMissing();
  if (missing) throw new Error(missing);
  const tarball = testImageTarball();
  const dir = tempDir("podman");
  const engine = await startPodmanEngine({ dir, network: { name: "gyre-test", subnet: "10.213.0.0/24" } });
  const podman = (...args: string[]) =>
    execFileSync("podman", args, { env: { ...process.env, ...engine.env }, encoding: "utf8" }).trim();
  podman("import", "--quiet", tarball, TEST_IMAGE);
  mkdirSync(dirname(engine.socket), { recursive: true });
  return { ...engine, dir, podman };
}
