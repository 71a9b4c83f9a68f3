// CRC-32 as zip uses it (ISO-HDLC: reflected polynomial 0xEDB88320, initial and final xor
// 0xFFFFFFFF; PKWARE APPNOTE.TXT 4.4.7). Used to check the small records we read whole (data.pkl,
// version, byteorder) and by the zip writer. Our own table version because `zlib.crc32` only exists
// from Node 20.15 and the package supports every Node 20.

/** Reflected CRC-32 polynomial of zip, gzip and PNG. */
const CRC32_POLYNOMIAL = 0xedb88320;

const TABLE = ((): Uint32Array => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? CRC32_POLYNOMIAL ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * The CRC-32 of `bytes`, continuing from `previous` (the CRC of the bytes before them, 0 to start).
 * @example crc32(new TextEncoder().encode("123456789")) === 0xcbf43926
 */
export function crc32(bytes: Uint8Array, previous = 0): number {
  let c = ~previous >>> 0;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
