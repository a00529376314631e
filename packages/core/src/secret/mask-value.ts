/**
 * How a stored secret is shown by the API (`GET .../envvar`): CircleCI's shape, four `x` then
 * the value's last four characters (`xxxxabcd`), so a person can tell which value is set.
 *
 * Short values: CircleCI's API reference shows a 3-character value (`bar`) answered as plain
 * `xxxx`. Gyre answers `xxxx` for every value of 4 characters or fewer, since showing the
 * last four characters of such a value would show all of it (CircleCI's rule, applied
 * literally, would print a 4-character value whole). Characters are code points, so an emoji
 * is never cut in half.
 */
export const MASK_PREFIX = "xxxx";
const SHOWN = 4;

export function maskValue(value: string): string {
  const characters = Array.from(value);
  if (characters.length <= SHOWN) return MASK_PREFIX;
  return MASK_PREFIX + characters.slice(-SHOWN).join("");
}
