/**
 * An expanded (2.0-style) job to its plan: the executor (docker with service images and
 * auth, machine, macos, windows), resource class, parallelism, environment, working
 * directory, shell and steps.
 */
import { type Diagnostics, describeType } from "./diagnostics.ts";
import { stepSite } from "./expand.ts";
import type { DockerImage, Executor, JobPlan, Step } from "./plan.ts";
import { compileStep, stringMap } from "./steps.ts";
import { isMapping, type Mapping } from "./yaml.ts";

const DOCKER_IMAGE_KEYS = new Set([
  "image",
  "name",
  "entrypoint",
  "command",
  "user",
  "environment",
  "auth",
  "aws_auth",
]);
const MACHINE_KEYS = new Set(["image", "docker_layer_caching", "resource_class", "shell", "enabled"]);

/** Resource classes CircleCI documents; others are accepted with a warning (self-hosted runners `ns/name` silently). */
export const KNOWN_RESOURCE_CLASSES = new Set([
  "small",
  "medium",
  "medium+",
  "large",
  "xlarge",
  "2xlarge",
  "2xlarge+",
  "arm.medium",
  "arm.large",
  "arm.xlarge",
  "arm.2xlarge",
  "gpu.nvidia.small",
  "gpu.nvidia.medium",
  "gpu.nvidia.large",
  "gpu.nvidia.small.gen2",
  "gpu.nvidia.small.multi",
  "gpu.nvidia.medium.multi",
  "windows.medium",
  "windows.large",
  "windows.xlarge",
  "windows.2xlarge",
  "windows.gpu.nvidia.medium",
  "macos.x86.medium.gen2",
  "macos.m1.medium.gen1",
  "macos.m1.large.gen1",
  "m2pro.medium",
  "m2pro.large",
  "m4pro.medium",
  "m4pro.large",
]);

function str(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return undefined;
}

function commandList(v: unknown, diags: Diagnostics, container: Mapping, key: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string") return [v];
  if (Array.isArray(v) && v.every((x) => str(x) !== undefined)) return v.map((x) => str(x)!);
  diags.error(container, key, `"${key}" must be a string or a list of strings`, "value");
  return undefined;
}

function dockerImages(raw: unknown, diags: Diagnostics, job: Mapping): DockerImage[] {
  if (!Array.isArray(raw) || raw.length === 0) {
    diags.error(
      job,
      "docker",
      `"docker" must be a list of images (the first is the primary container)`,
      "value",
    );
    return [];
  }
  const out: DockerImage[] = [];
  raw.forEach((item, i) => {
    if (!isMapping(item)) {
      diags.error(raw, i, `a docker image must be a map with "image", not ${describeType(item)}`, "value");
      return;
    }
    for (const k of Object.keys(item))
      if (!DOCKER_IMAGE_KEYS.has(k)) diags.error(item, k, `unknown key "${k}" in docker image`);
    const image = str(item.image);
    if (!image) {
      diags.error(raw, i, `a docker image needs "image"`);
      return;
    }
    const img: DockerImage = { image, environment: stringMap(item.environment, diags, item, "environment") };
    const name = str(item.name);
    if (name !== undefined) img.name = name;
    const user = str(item.user);
    if (user !== undefined) img.user = user;
    const entrypoint = commandList(item.entrypoint, diags, item, "entrypoint");
    if (entrypoint) img.entrypoint = entrypoint;
    const command = commandList(item.command, diags, item, "command");
    if (command) img.command = command;
    if (item.auth !== undefined) {
      const a = item.auth;
      if (isMapping(a) && str(a.username) !== undefined && str(a.password) !== undefined) {
        img.auth = { username: str(a.username)!, password: str(a.password)! };
        for (const k of Object.keys(a))
          if (k !== "username" && k !== "password") diags.error(a, k, `unknown key "${k}" in auth`);
      } else diags.error(item, "auth", `"auth" needs "username" and "password"`, "value");
    }
    if (item.aws_auth !== undefined) {
      const a = item.aws_auth;
      if (!isMapping(a)) diags.error(item, "aws_auth", `"aws_auth" must be a map`, "value");
      else {
        const aws: NonNullable<DockerImage["awsAuth"]> = {};
        for (const [k, v] of Object.entries(a)) {
          const s = str(v);
          if (k === "aws_access_key_id" && s !== undefined) aws.awsAccessKeyId = s;
          else if (k === "aws_secret_access_key" && s !== undefined) aws.awsSecretAccessKey = s;
          else if (k === "oidc_role_arn" && s !== undefined) aws.oidcRoleArn = s;
          else diags.error(a, k, `unknown key "${k}" in aws_auth`);
        }
        img.awsAuth = aws;
      }
    }
    out.push(img);
  });
  return out;
}

function executorOf(name: string, job: Mapping, diags: Diagnostics): Executor | undefined {
  const kinds = (["docker", "machine", "macos", "windows"] as const).filter(
    (k) => job[k] !== undefined && job[k] !== null,
  );
  if (kinds.length === 0) {
    diags.error(
      job,
      undefined,
      `job "${name}" needs an executor: docker, machine or macos (or "executor" with version 2.1)`,
    );
    return undefined;
  }
  if (kinds.length > 1)
    diags.error(job, kinds[1], `job "${name}" has more than one executor (${kinds.join(", ")}); keep one`);
  const kind = kinds[0]!;
  const raw = job[kind];
  switch (kind) {
    case "docker":
      return { type: "docker", images: dockerImages(raw, diags, job) };
    case "machine": {
      if (raw === true) return { type: "machine" };
      if (raw === false) {
        diags.error(job, "machine", `"machine: false" does not choose an executor`, "value");
        return undefined;
      }
      if (!isMapping(raw)) {
        diags.error(job, "machine", `"machine" must be true or a map with "image"`, "value");
        return undefined;
      }
      for (const k of Object.keys(raw))
        if (!MACHINE_KEYS.has(k)) diags.error(raw, k, `unknown key "${k}" in machine`);
      if (raw.enabled === false) {
        diags.error(raw, "enabled", `"machine: enabled: false" does not choose an executor`, "value");
        return undefined;
      }
      const m: Executor = { type: "machine" };
      const image = str(raw.image);
      if (image !== undefined) m.image = image;
      if (raw.docker_layer_caching !== undefined) {
        if (typeof raw.docker_layer_caching === "boolean") m.dockerLayerCaching = raw.docker_layer_caching;
        else
          diags.error(raw, "docker_layer_caching", `"docker_layer_caching" must be true or false`, "value");
      }
      return m;
    }
    case "macos": {
      if (!isMapping(raw) || str(raw.xcode) === undefined) {
        diags.error(job, "macos", `"macos" needs "xcode" (the Xcode version)`, "value");
        return undefined;
      }
      for (const k of Object.keys(raw)) if (k !== "xcode") diags.error(raw, k, `unknown key "${k}" in macos`);
      return { type: "macos", xcode: str(raw.xcode)! };
    }
    default: {
      const w: Executor = { type: "windows" };
      if (isMapping(raw)) {
        const image = str(raw.image);
        if (image !== undefined) w.image = image;
        const shell = str(raw.shell);
        if (shell !== undefined) w.shell = shell;
      }
      return w;
    }
  }
}

/** Compile one expanded job. Problems are reported to `diags`; the plan is best effort. */
export function compileJob(name: string, job: Mapping, diags: Diagnostics): JobPlan | undefined {
  const executor = executorOf(name, job, diags);
  let resourceClass = "medium";
  const machineRc = isMapping(job.machine) ? str(job.machine.resource_class) : undefined;
  const rcRaw = job.resource_class ?? machineRc;
  if (rcRaw !== undefined && rcRaw !== null) {
    const rc = str(rcRaw);
    if (!rc) diags.error(job, "resource_class", `"resource_class" must be a name`, "value");
    else {
      resourceClass = rc;
      if (!KNOWN_RESOURCE_CLASSES.has(rc) && !rc.includes("/"))
        diags.warn(
          job,
          "resource_class",
          `resource class "${rc}" is not one the schema knows; CircleCI may still accept it`,
          "value",
        );
    }
  }
  let parallelism = 1;
  if (job.parallelism !== undefined && job.parallelism !== null) {
    const n = typeof job.parallelism === "string" ? Number(job.parallelism) : job.parallelism;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 1)
      diags.error(
        job,
        "parallelism",
        `"parallelism" must be a whole number of at least 1, not ${JSON.stringify(job.parallelism)}`,
        "value",
      );
    else parallelism = n;
  }
  const environment = stringMap(job.environment, diags, job, "environment");
  let workingDirectory = "~/project";
  if (job.working_directory !== undefined && job.working_directory !== null) {
    const wd = str(job.working_directory);
    if (wd === undefined)
      diags.error(job, "working_directory", `"working_directory" must be a path`, "value");
    else workingDirectory = wd;
  }
  const steps: Step[] = [];
  const rawSteps = job.steps;
  if (!Array.isArray(rawSteps)) {
    diags.error(
      job,
      rawSteps === undefined ? undefined : "steps",
      `job "${name}" needs "steps": a list of steps`,
    );
  } else {
    if (rawSteps.length === 0) diags.error(job, "steps", `job "${name}" has no steps`);
    for (let i = 0; i < rawSteps.length; i++) {
      const site = stepSite(rawSteps, i);
      const s = compileStep(rawSteps[i], diags, site.container, site.key);
      if (s) steps.push(s);
    }
  }
  if (!executor) return undefined;
  const plan: JobPlan = { name, executor, resourceClass, parallelism, environment, workingDirectory, steps };
  const shell = str(job.shell) ?? (isMapping(job.machine) ? str(job.machine.shell) : undefined);
  if (shell !== undefined) plan.shell = shell;
  return plan;
}
