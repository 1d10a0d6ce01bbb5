/** An Avro long (zigzag varint), exact for any 64-bit value, so tests can write what avsc cannot (counts of 2^62, negative block counts). */
export function avroLong(n: number | bigint): Buffer {
  let z = BigInt.asUintN(64, (BigInt(n) << 1n) ^ (BigInt(n) >> 63n));
  const bytes: number[] = [];
  do {
    let b = Number(z & 0x7fn);
    z >>= 7n;
    if (z > 0n) b |= 0x80;
    bytes.push(b);
  } while (z > 0n);
  return Buffer.from(bytes);
}

/** An Avro string: its UTF-8 length as a long, then the bytes. */
export function avroString(s: string): Buffer {
  return Buffer.concat([avroLong(Buffer.byteLength(s)), Buffer.from(s)]);
}
