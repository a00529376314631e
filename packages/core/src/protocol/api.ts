/**
 * The requests of Gyre's HTTP API, declared once: path parameters, query strings and bodies of
 * the CircleCI-shaped API (v2 and v1.1), the GitHub webhook and Gyre's admin API. Routes parse
 * what they take with `parseInput` (a 400 naming each field and what it must be) before
 * anything is read or written, so every identifier that reaches DynamoDB or S3 is bounded
 * (key limits: 2,048 bytes for a partition key, 1,024 for a sort key; items ≤ 400 KB).
 *
 * Limits follow CircleCI's where it documents them (pipeline parameters: "100 max entries,
 * 128 maximum key length, 512 maximum value length", circleci-docs pipeline-variables), git's
 * and GitHub's otherwise, and are named in the messages.
 */
import { Ids, z } from "./schema.ts";

export const Limits = {
  /** A branch or tag name, in bytes: a loose ref is a file, and file names are ≤ 255 bytes. */
  refNameBytes: 255,
  /** CircleCI's pipeline parameter limits (API v2 trigger). */
  parameters: 100,
  parameterKey: 128,
  parameterValue: 512,
  /** What a pipeline keeps of a commit message (the rest is cut, with TRUNCATED after it). */
  commitSubject: 1000,
  commitBody: 16 * 1024,
  /** `org` and `repo` of a slug (GitHub: logins ≤ 39, repositories ≤ 100 characters). */
  slugPart: 100,
  envVarName: 256,
  /** CircleCI's limit on a variable's value. */
  envVarValueBytes: 32 * 1024,
  /** A context's name. */
  contextName: 256,
  /** X-GitHub-Delivery (a GUID from GitHub). */
  deliveryId: 128,
  /** A clone URL or a local path. */
  repoUrl: 2048,
  /** An SSH private key in PEM/OpenSSH form (a 16,384-bit RSA key is ~12.5 KB). */
  privateKey: 32 * 1024,
  /** A page token (see page-token.ts). */
  pageToken: 4096,
} as const;

/** The mark left where a commit message was cut. */
export const TRUNCATED = "\n… [truncated by Gyre]";

const bytes = (s: string) => Buffer.byteLength(s, "utf8");

/** `text` cut to at most `max` characters (never inside a surrogate pair), marked when cut. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return `${text.slice(0, end)}${TRUNCATED}`;
}

/** A key shown in a message: long or hostile keys must not make the answer long too. */
const shown = (key: string) => (key.length > 40 ? `${key.slice(0, 40)}…` : key);

// ---------------------------------------------------------------------------------------------
// Identifiers

const SLUG_PART = /^[A-Za-z0-9_.-]+$/;
const slugPart = z
  .string()
  .min(1, "must not be empty")
  .max(Limits.slugPart, `at most ${Limits.slugPart} characters`)
  .regex(SLUG_PART, "letters, digits, _ . and - only")
  .refine((part) => part !== "." && part !== "..", "not . or .. (a URL path would resolve it away)");

export const Vcs = z.enum(["gh", "github", "bb", "bitbucket", "local"], {
  error: "expected gh, github, bb, bitbucket or local",
});

/** `{vcs, org, repo}` as a project route's path carries them → the slug `vcs/org/repo`. */
export const ProjectPath = z
  .object({ vcs: Vcs, org: slugPart, repo: slugPart })
  .transform((p) => `${p.vcs}/${p.org}/${p.repo}`)
  .pipe(Ids.slug);

/** A whole slug, `<vcs>/<org>/<repo>` (admin API bodies). */
export const ProjectSlug = z
  .string()
  .max(300, "at most 300 characters")
  .transform((s, ctx) => {
    const [vcs, org, repo, ...rest] = s.split("/");
    const parsed = ProjectPath.safeParse({ vcs, org, repo });
    if (parsed.success && rest.length === 0) return parsed.data;
    ctx.addIssue({ code: "custom", message: "expected <vcs>/<org>/<repo>, e.g. gh/acme/api" });
    return z.NEVER;
  });

/** An organization (context owner) slug, `<vcs>/<org>`. */
export const OwnerSlug = z
  .string()
  .max(Limits.slugPart + 10, `at most ${Limits.slugPart + 10} characters`)
  .regex(/^(gh|github|bb|bitbucket|local)\/[A-Za-z0-9_.-]+$/, "expected <vcs>/<org>, e.g. gh/acme");

/** GitHub's `repository.full_name`, `owner/name`. */
export const RepositoryFullName = z
  .string()
  .min(3)
  .max(2 * Limits.slugPart + 1, `at most ${2 * Limits.slugPart + 1} characters`)
  .regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, "expected owner/name");

/** Pipeline and workflow ids are UUIDs; a route answers 404 for anything else. */
export const Uuid = Ids.uuid;

/** A per-project number (pipeline, job), as a path segment: padded to 12 digits in keys. */
export const NumberParam = z
  .string()
  .regex(/^[1-9][0-9]{0,11}$/, "a positive integer of at most 12 digits")
  .transform(Number);

/** A non-negative index (step, node) as a path segment. */
export const IndexParam = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,8})$/, "a non-negative integer")
  .transform(Number);

export const EnvVarName = z
  .string()
  .min(1, "must not be empty")
  .max(Limits.envVarName, `at most ${Limits.envVarName} characters`)
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "letters, digits and underscores, not starting with a digit");

export const EnvVarValue = z
  .string()
  .refine((v) => bytes(v) <= Limits.envVarValueBytes, `at most ${Limits.envVarValueBytes} bytes`);

/** A git ref name as `git check-ref-format` accepts it (for a branch or a tag), ≤ 255 bytes. */
export function isRefName(name: string): boolean {
  return (
    name.length > 0 &&
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
    !/[\x00-\x20\x7f~^:?*[\\]/.test(name) &&
    !name.includes("..") &&
    !name.includes("@{") &&
    !name.includes("//") &&
    name !== "@" &&
    !/^[-/]/.test(name) &&
    !/(\/|\.|\.lock)$/.test(name) &&
    !/(^|\/)\./.test(name)
  );
}

export const RefName = z
  .string()
  .min(1, "must not be empty")
  .refine((s) => bytes(s) <= Limits.refNameBytes, `at most ${Limits.refNameBytes} bytes`)
  .refine(isRefName, "a valid git ref name (no spaces, control characters, ~ ^ : ? * [ \\ or ..)");

/** A full commit SHA (SHA-1, or SHA-256 for repositories that use it). */
export const Revision = z.string().regex(/^([0-9a-f]{40}|[0-9a-f]{64})$/, "a full commit SHA");

export const DeliveryId = z
  .string()
  .regex(
    new RegExp(`^[A-Za-z0-9_.:-]{1,${Limits.deliveryId}}$`),
    `1-${Limits.deliveryId} characters of A-Z a-z 0-9 _ . : -`,
  );

export const GitHubEvent = z.string().regex(/^[a-z_]{1,64}$/, "a GitHub event name such as push");

export const PageToken = z.string().max(Limits.pageToken, `at most ${Limits.pageToken} characters`);

// ---------------------------------------------------------------------------------------------
// Pipeline parameters and the commit a pipeline keeps

const Scalar = z.union([z.string(), z.number(), z.boolean()], {
  error: "expected a string, an integer or a boolean",
});

/** Pipeline parameters with CircleCI's limits: 100 entries, keys ≤ 128 and values ≤ 512 characters. */
export const PipelineParameters = z.record(z.string(), Scalar).superRefine((parameters, ctx) => {
  const keys = Object.keys(parameters);
  if (keys.length > Limits.parameters)
    ctx.addIssue({ code: "custom", message: `at most ${Limits.parameters} parameters (CircleCI's limit)` });
  for (const key of keys.slice(0, Limits.parameters + 1)) {
    const value = parameters[key];
    if (key.length === 0 || key.length > Limits.parameterKey)
      ctx.addIssue({
        code: "custom",
        path: [shown(key)],
        message: `parameter names are 1 to ${Limits.parameterKey} characters (CircleCI's limit)`,
      });
    else if (typeof value === "string" && value.length > Limits.parameterValue)
      ctx.addIssue({
        code: "custom",
        path: [key],
        message: `at most ${Limits.parameterValue} characters (CircleCI's limit)`,
      });
    else if (typeof value === "number" && !Number.isSafeInteger(value))
      ctx.addIssue({ code: "custom", path: [key], message: "an integer" });
  }
});

/** A commit's message as a pipeline keeps it: subject ≤ 1,000 characters, body ≤ 16 KiB characters. */
export const CommitMessage = z.object({
  subject: z.string().transform((s) => truncate(s, Limits.commitSubject)),
  body: z.string().transform((s) => truncate(s, Limits.commitBody)),
});

/** Splits a commit message into subject (first line) and body, each bounded. */
export function commitMessage(message: string): { subject: string; body: string } {
  const newline = message.indexOf("\n");
  const subject = newline < 0 ? message : message.slice(0, newline);
  const body = newline < 0 ? "" : message.slice(newline + 1).trim();
  return CommitMessage.parse({ subject, body });
}

// ---------------------------------------------------------------------------------------------
// CircleCI API v2

export const PipelineListQuery = z.object({
  branch: RefName.optional(),
  "page-token": PageToken.optional(),
});

export const EnvVarBody = z.object({ name: EnvVarName, value: EnvVarValue });

/** `POST /api/v2/pipeline/continue`. */
export const ContinuePipelineBody = z.object({
  "continuation-key": z.string().min(1, "must not be empty").max(256, "at most 256 characters"),
  configuration: z.string().min(1, "must not be empty"),
  parameters: PipelineParameters.optional(),
});

/** `POST /api/v2/compile-config-with-defaults`. */
const PipelineValues = z.record(z.string().max(Limits.parameterKey), Scalar).nullish();
export const CompileConfigBody = z.object({
  config_yaml: z.string({ error: "expected a string: the config" }),
  pipeline_values: PipelineValues,
  pipeline_parameters: PipelineParameters.nullish(),
  options: z
    .object({ pipeline_values: PipelineValues, pipeline_parameters: PipelineParameters.nullish() })
    .optional(),
});

export const ContextListQuery = z.object({
  "owner-slug": z.string().max(200, "at most 200 characters").optional(),
  "owner-id": z.string().max(200, "at most 200 characters").optional(),
  "owner-type": z.string().max(50, "at most 50 characters").optional(),
  "page-token": PageToken.optional(),
});

const Owner = z.object({
  slug: z.string().max(200, "at most 200 characters").optional(),
  id: z.string().max(200, "at most 200 characters").optional(),
  type: z.string().max(50, "at most 50 characters").optional(),
});

export const CreateContextBody = z.object({
  name: z
    .string()
    .min(1, "must not be empty")
    .max(Limits.contextName, `at most ${Limits.contextName} characters`),
  owner: Owner,
});

export const ContextVariableBody = z.object({ value: EnvVarValue });

export const Fingerprint = z
  .string()
  .regex(/^[A-Za-z0-9:+/=._-]{1,128}$/, "an MD5 (aa:bb:…) or SHA256 fingerprint");

const Hostname = z.string().max(253, "at most 253 characters");

export const CheckoutKeyBody = z.object({
  type: z.enum(["deploy-key", "user-key"], { error: 'expected "deploy-key" or "user-key"' }),
});

export const AddSshKeyBody = z.object({
  hostname: Hostname.nullish(),
  private_key: z
    .string()
    .min(1, "must not be empty")
    .max(Limits.privateKey, `at most ${Limits.privateKey} characters`),
});

export const DeleteSshKeyBody = z.object({
  fingerprint: Fingerprint.optional(),
  hostname: Hostname.optional(),
});

// ---------------------------------------------------------------------------------------------
// CircleCI API v1.1 and artifacts

/** `GET /api/v1.1/project/{slug}/{build}/output/{step}/{node index}`. */
export const StepOutputPath = z.object({ step: IndexParam, index: IndexParam });

/** `GET /artifacts/{job id}/{attempt}/{node index}/{path}`: anything else is 404. */
export const ArtifactPath = z.object({
  number: NumberParam,
  attempt: NumberParam,
  index: IndexParam,
});

// ---------------------------------------------------------------------------------------------
// Gyre's admin API

/**
 * Whether a repository URL carries a credential: a user or password in an http(s) URL, or a
 * password in any other (`ssh://git@host/...` names a login, which is fine). Every viewer of the
 * project sees its URL.
 */
function carriesCredential(url: string): boolean {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return false;
  try {
    const parsed = new URL(url);
    return parsed.password !== "" || (/^https?:$/.test(parsed.protocol) && parsed.username !== "");
  } catch {
    return false;
  }
}

/** What is wrong with the shape of a repository URL, if anything (git clones what it takes). */
function repoUrlProblem(url: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return "is not a URL git can clone";
    }
    if (!["http:", "https:", "ssh:", "git:", "file:"].includes(parsed.protocol))
      return `uses ${parsed.protocol.slice(0, 20)}, which git does not clone from: give https://, ssh://, git:// or file://`;
    if (parsed.pathname.replace(/\/+/g, "") === "")
      return "names no repository: add its path (https://github.com/acme/api.git)";
    return undefined;
  }
  // scp-like (`git@github.com:acme/api.git`) or an absolute path on the server's machine.
  if (/^[^/\s@]+@[^:/\s]+:\S+$/.test(url) || url.startsWith("/")) return undefined;
  return "expected a git URL (https://…, ssh://…, git@host:org/repo.git) or an absolute path to a repository on the server";
}

export const CreateProjectBody = z.object({
  repo_url: z
    .string({ error: "expected a string: a git URL or a local path" })
    .trim()
    .min(1, "must not be empty")
    .max(Limits.repoUrl, `at most ${Limits.repoUrl} characters`)
    .superRefine((url, ctx) => {
      const problem = repoUrlProblem(url);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    })
    .refine(
      (url) => !carriesCredential(url),
      "must not carry a credential (user:password@): everyone who may see the project sees its URL. Give a GitHub token (github.token) or add a checkout key instead",
    ),
  slug: ProjectSlug.optional(),
  default_branch: RefName.optional(),
});

export const OrbPath = z.object({
  namespace: z.string().max(100, "at most 100 characters"),
  orb: z.string().max(100, "at most 100 characters"),
  version: z.string().max(64, "at most 64 characters"),
});

export const OrbSourceBody = z.object({ source: z.string({ error: "expected a string: the orb's YAML" }) });

/** `POST /api/gyre/nodes/{id}/drain`: Nomad's `node drain -enable` (true) or `-disable` (false). */
export const NodeDrainBody = z.strictObject({
  enable: z.boolean(),
  /** What still runs on the node this many seconds after the drain began is stopped and retried elsewhere. */
  deadline_seconds: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 3600)
    .optional(),
});

/** A job as `gyre doctor` names it: `<vcs>/<org>/<repo>/<job number>`, or the job's id. */
export const JobReference = z
  .string()
  .max(320, "at most 320 characters")
  .transform((s, ctx): { id: string } | { slug: string; number: number } => {
    if (Ids.uuid.safeParse(s).success) return { id: s.toLowerCase() };
    const m = /^(.+)\/([^/]+)$/.exec(s);
    const slug = m ? ProjectSlug.safeParse(m[1]) : undefined;
    const number = m ? NumberParam.safeParse(m[2]) : undefined;
    if (slug?.success && number?.success) return { slug: slug.data, number: number.data };
    ctx.addIssue({
      code: "custom",
      message: "expected <vcs>/<org>/<repo>/<job number> (e.g. gh/acme/api/12) or a job id (a UUID)",
    });
    return z.NEVER;
  });

/** `GET /api/gyre/doctor`: the whole installation, or one job (`?job=`). */
export const DoctorQuery = z.object({ job: JobReference.optional() });

// ---------------------------------------------------------------------------------------------
// Workflow actions

/**
 * `POST /workflow/{id}/rerun` (RerunWorkflowParameters): the whole workflow (no field), from
 * its failed jobs, or the jobs named, each with what requires it. The spec lets the body be
 * absent or null.
 */
export const RerunBodySchema = z
  .object({
    enable_ssh: z.boolean().optional(),
    from_failed: z.boolean().optional(),
    jobs: z.array(Ids.uuid).min(1).max(1000).optional(),
    sparse_tree: z.boolean().optional(),
  })
  .strict()
  .superRefine((body, ctx) => {
    const issue = (message: string) => ctx.addIssue({ code: "custom", message });
    if (body.from_failed && body.jobs) issue("from_failed and jobs are mutually exclusive");
    if (body.enable_ssh && !body.jobs) issue("enable_ssh requires jobs (the jobs to rerun with SSH)");
    if (body.sparse_tree && !body.jobs) issue("sparse_tree requires jobs");
  });
export type RerunBody = z.infer<typeof RerunBodySchema>;

/** `GET /api/gyre/projects/{slug}/jobs/{number}/output/{node}[/{step}]`: the web app's output reads. */
export const JobOutputPath = z.object({ number: NumberParam, node: IndexParam, step: IndexParam.optional() });
export const JobOutputQuery = z
  .object({
    from: IndexParam.default(0),
    /** At most this many chunks (1-64): a viewer's first read asks for few, to show them sooner. */
    limit: z
      .string()
      .regex(/^([1-9]|[1-5][0-9]|6[0-4])$/, "an integer from 1 to 64")
      .transform(Number)
      .optional(),
    format: z.enum(["json", "raw"]).default("json"),
  })
  .strict();
