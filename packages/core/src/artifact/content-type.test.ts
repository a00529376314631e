import { describe, expect, it } from "vitest";
import { artifactResponse, artifactType } from "./content-type.ts";

// Every artifact: no sniffing, no script on Gyre's origin, no referrer (URLs may carry a token).
const NOSNIFF = {
  "X-Content-Type-Options": "nosniff",
  "Content-Security-Policy": "sandbox",
  "Referrer-Policy": "no-referrer",
};

describe("artifactResponse — safe types are served as themselves", () => {
  it.each([
    ["build/output.txt", "text/plain"],
    ["report.json", "application/json"],
    ["shot.png", "image/png"],
    ["shot.jpg", "image/jpeg"],
    ["shot.JPEG", "image/jpeg"],
    ["anim.gif", "image/gif"],
    ["old.bmp", "image/bmp"],
    ["screen.webm", "video/webm"],
    ["screen.ogv", "video/ogg"],
    ["screen.mp4", "video/mp4"],
    ["sound.weba", "audio/webm"],
    ["sound.aac", "audio/aac"],
    ["sound.m4a", "audio/mp4"],
    ["sound.mp3", "audio/mpeg"],
    ["sound.ogg", "audio/ogg"],
    ["sound.wav", "audio/wav"],
  ])("%s → %s", (path, type) => {
    for (const allowUnsafe of [false, true]) {
      const response = artifactResponse({ path, allowUnsafe });
      expect(response.contentType).toBe(type);
      expect(response.disposition).toBe("safe");
      expect(response.headers).toEqual({ "Content-Type": type, ...NOSNIFF });
    }
  });
});

describe("artifactResponse — html, css, javascript, ecmascript and xml are rendered as text/plain", () => {
  it.each([
    ["coverage/index.html", undefined],
    ["page.htm", undefined],
    ["style.css", undefined],
    ["bundle.js", undefined],
    ["module.mjs", undefined],
    ["junit.xml", undefined],
    ["x", "text/html"],
    ["x", "text/css"],
    ["x", "text/javascript"],
    ["x", "text/ecmascript"],
    ["x", "application/javascript"],
    ["x", "application/ecmascript"],
    ["x", "text/xml"],
  ])("%s (stored %s) → text/plain", (path, storedContentType) => {
    const response = artifactResponse({ path, storedContentType, allowUnsafe: false });
    expect(response.contentType).toBe("text/plain");
    expect(response.disposition).toBe("as-text");
    expect(response.headers).toEqual({ "Content-Type": "text/plain", ...NOSNIFF });
  });

  it("keeps the charset of a rendered-as-text type", () => {
    const response = artifactResponse({
      path: "a.html",
      storedContentType: "text/html; charset=ISO-8859-1",
      allowUnsafe: false,
    });
    expect(response.contentType).toBe("text/plain; charset=iso-8859-1");
  });
});

describe("artifactResponse — everything else is downloaded unless unsafe types are allowed", () => {
  it.each([
    ["icon.svg", "image/svg+xml"],
    ["doc.pdf", "application/pdf"],
    ["app.jar", "application/java-archive"],
    ["page.xhtml", "application/xhtml+xml"],
    ["no-extension", "application/octet-stream"],
    ["weird.unknownext", "application/octet-stream"],
    [".hidden", "application/octet-stream"],
  ])("%s (%s) → application/octet-stream as an attachment", (path, ownType) => {
    const response = artifactResponse({ path, allowUnsafe: false });
    expect(response.contentType).toBe("application/octet-stream");
    expect(response.disposition).toBe("download");
    expect(response.headers["Content-Disposition"]).toMatch(/^attachment; filename="/);
    expect(response.headers["X-Content-Type-Options"]).toBe("nosniff");
    expect(response.headers["Content-Security-Policy"]).toBe("sandbox");
    expect(artifactType(path).type).toBe(ownType);
  });

  it.each([
    ["icon.svg", undefined, "image/svg+xml"],
    ["index.html", undefined, "text/html"],
    ["x.js", undefined, "text/javascript"],
    ["data", "application/x-custom", "application/x-custom"],
  ])("with allowUnsafe, %s is served as %s itself", (path, storedContentType, type) => {
    const response = artifactResponse({ path, storedContentType, allowUnsafe: true });
    expect(response.contentType).toBe(type);
    expect(response.disposition).toBe("unsafe-allowed");
    expect(response.headers).toEqual({ "Content-Type": type, ...NOSNIFF });
  });

  it("names the file in the attachment, safely quoted, with the exact UTF-8 name", () => {
    const response = artifactResponse({ path: 'out/ré"port\\.bin', allowUnsafe: false });
    expect(response.headers["Content-Disposition"]).toBe(
      "attachment; filename=\"r__port_.bin\"; filename*=UTF-8''r%C3%A9%22port%5C.bin",
    );
  });
});

describe("artifactType — stored content type versus extension", () => {
  it("prefers a recorded content type over the extension", () => {
    expect(artifactType("report.txt", "application/json")).toEqual({ type: "application/json" });
  });

  it("falls back to the extension when the stored type is generic or malformed", () => {
    expect(artifactType("shot.png", "application/octet-stream")).toEqual({ type: "image/png" });
    expect(artifactType("shot.png", "binary/octet-stream")).toEqual({ type: "image/png" });
    expect(artifactType("shot.png", "not a type")).toEqual({ type: "image/png" });
    expect(artifactType("shot.png", "")).toEqual({ type: "image/png" });
  });

  it("normalises case, parameters and the image/jpg alias", () => {
    expect(artifactType("x", "Image/JPG")).toEqual({ type: "image/jpeg" });
    expect(artifactType("x", 'text/plain; format=flowed; charset="UTF-8"')).toEqual({
      type: "text/plain",
      charset: "utf-8",
    });
  });

  it("applies the policy to a recorded type whatever the extension says", () => {
    const response = artifactResponse({ path: "x.png", storedContentType: "text/html", allowUnsafe: false });
    expect(response.contentType).toBe("text/plain");
    const svg = artifactResponse({ path: "x.png", storedContentType: "image/svg+xml", allowUnsafe: false });
    expect(svg.disposition).toBe("download");
  });

  it("drops a charset parameter that is not a plain token", () => {
    expect(artifactType("x", "text/plain; charset=utf-8\r\nSet-Cookie: a=b")).toEqual({ type: "text/plain" });
  });
});
