/** `gyre <command> --help`: the usage, as `gyre --help` gives it, not an unknown-option error. */
import { afterEach, describe, expect, it, vi } from "vitest";
import { main } from "./main.ts";

describe("gyre --help", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it.each([
    ["start", "--help"],
    ["usage", "-h"],
    ["nomad", "node", "status", "--help"],
  ])("prints the usage for %s … and exits 0", async (...argv) => {
    const printed: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: string) => printed.push(line));
    expect(await main(argv)).toBe(0);
    const [usage] = printed;
    expect(printed).toHaveLength(1);
    expect(usage).toContain("gyre start");
    expect(await main(["--help"])).toBe(0);
    expect(printed[1]).toBe(usage);
  });
});
