// JSON as Go's encoding/json writes it, where upstream's bytes matter: the hash input, the applied
// Secret and the attributes sent to providers. Go sorts map keys by their bytes, writes no white
// space, and escapes `<`, `>`, `&`, U+2028 and U+2029 (its HTML-safe default); []byte values are
// standard base64 with padding, and a nil []byte is `null`.

const HTML_UNSAFE = /[<>&\u2028\u2029]/g;

/** A Go JSON string: JSON.stringify's escapes (the same as Go's for valid text) plus the HTML ones. */
export function goString(value: string): string {
  return JSON.stringify(value).replace(
    HTML_UNSAFE,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Keys in Go's order: by their UTF-8 bytes (UTF-16 order differs past the BMP). */
export function goSortedKeys(keys: Iterable<string>): string[] {
  return [...keys].sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
}

/** `map[string]string`. */
export function goStringMap(map: Readonly<Record<string, string>>): string {
  const entries = goSortedKeys(Object.keys(map)).map((k) => `${goString(k)}:${goString(map[k] as string)}`);
  return `{${entries.join(',')}}`;
}

/** `map[string][]byte`: values in standard base64, `null` for a nil value. */
export function goBytesMap(map: ReadonlyMap<string, Buffer | null>): string {
  const entries = goSortedKeys(map.keys()).map((k) => {
    const value = map.get(k);
    return `${goString(k)}:${value ? `"${value.toString('base64')}"` : 'null'}`;
  });
  return `{${entries.join(',')}}`;
}
