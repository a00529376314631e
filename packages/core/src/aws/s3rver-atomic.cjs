/**
 * s3rver (the local S3 stand-in) writes an object in place, and answers the PUT when its bytes
 * have passed its hashing stream, before the file is written whole: a GET meanwhile, or just
 * after, reads part of the object (a steps document half written, and a JSON parse error).
 * Real S3 never shows a partial object. This makes the store's puts whole: the bytes go to a
 * temporary file beside the object, which replaces it (a rename) once written and closed,
 * before the PUT is answered. Listings ignore the temporary file (s3rver lists only its
 * `._S3rver_object` files). Its reads are whole too: s3rver took an object's size from one
 * look at the file and its bytes from a second, so a read across a replace got the old size
 * filled with the new bytes; a read now opens the file once and takes both from that open file.
 * Applied once per process to the store class s3rver uses.
 */
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");
const { Transform } = require("node:stream");
const { pipeline } = require("node:stream/promises");

/** Patches the s3rver that `requireFrom` (a `require` of the caller's) resolves. */
function atomicS3rverPuts(requireFrom) {
  const Store = requireFrom("s3rver/lib/stores/filesystem");
  if (Store.prototype.putsWhole) return;
  Store.prototype.putsWhole = true;
  Store.prototype.putObject = async function putObject(object) {
    const objectPath = this.getResourcePath(object.bucket, object.key, "object");
    await fs.promises.mkdir(path.dirname(objectPath), { recursive: true });
    const temporary = `${objectPath}.${crypto.randomUUID()}.partial`;
    const md5 = crypto.createHash("md5");
    let size = 0;
    try {
      if (Buffer.isBuffer(object.content)) {
        md5.update(object.content);
        size = object.content.length;
        await fs.promises.writeFile(temporary, object.content);
      } else {
        const count = new Transform({
          transform(chunk, _encoding, done) {
            md5.update(chunk);
            size += chunk.length;
            done(null, chunk);
          },
        });
        await pipeline(object.content, count, fs.createWriteStream(temporary));
      }
      await fs.promises.rename(temporary, objectPath);
    } catch (error) {
      await fs.promises.rm(temporary, { force: true });
      throw error;
    }
    const digest = md5.digest("hex");
    await this.putMetadata(object.bucket, object.key, object.metadata, digest);
    return { size, md5: digest };
  };
  const S3Object = requireFrom("s3rver/lib/models/object");
  Store.prototype.getObject = async function getObject(bucket, key, options) {
    let file;
    try {
      file = await fs.promises.open(this.getResourcePath(bucket, key, "object"), "r");
    } catch (error) {
      if (error.code === "ENOENT") return null;
      throw error;
    }
    try {
      const stat = await file.stat();
      const metadata = {
        ...(await this.getMetadata(bucket, key)),
        "last-modified": stat.mtime.toUTCString(),
        "content-length": stat.size,
      };
      const lastByte = Math.max(0, stat.size - 1);
      const ranged = options && (options.start !== undefined || options.end);
      const range = {
        start: options?.start || 0,
        end: Math.min(options?.end || Number.POSITIVE_INFINITY, lastByte),
      };
      const satisfiable = range.start >= 0 && range.end >= range.start;
      const content = satisfiable ? file.createReadStream({ ...range, autoClose: true }) : null;
      if (!satisfiable) await file.close();
      const object = new S3Object(bucket, key, content, metadata);
      if (ranged) object.range = range;
      return object;
    } catch (error) {
      await file.close().catch(() => {});
      if (error.code === "ENOENT") return null;
      throw error;
    }
  };
}

module.exports = { atomicS3rverPuts };
