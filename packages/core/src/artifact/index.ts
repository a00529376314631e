/** Artifacts: the serving policy for stored build artifacts (safe, as-text, download). */
export {
  type ArtifactResponse,
  type ArtifactResponseInput,
  artifactResponse,
  artifactType,
  RENDERED_AS_TEXT,
  SAFE_TYPES,
} from "./content-type.ts";
