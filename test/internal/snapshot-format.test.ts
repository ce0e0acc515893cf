/**
 * Index snapshot version 2 (format 3): namespace entries carry the value
 * encoding; version 1 snapshots (written by 0.2.0) still decode; a snapshot
 * announcing a section this build does not know is ignored, so open falls
 * back to a replay. Bits 0 (sorted index), 1 (expiry deadlines), 2 (page
 * CRCs) and 3 (an encrypted log's unit directory) are known.
 */
import { crc32 } from '@node-rs/crc32';
import { describe, expect, it } from 'vitest';
import { SNAPSHOT, SnapshotSection } from '../../dist/src/format/constants.js';
import { decodeCatalogue, decodeSnapshotHeader, encodeCatalogue, encodeSnapshotHeader } from '../../dist/src/format/snapshot.js';
import { decodeUnitDirectorySection, encodeUnitDirectorySection } from '../../dist/src/format/unit-directory-section.js';

const header = {
  fileId: new Uint8Array(16).fill(7),
  tail: 12288 + 100,
  prefixCrc: 0x1234,
  indexCapacity: 1024,
  indexLive: 3,
  indexDeleted: 1,
  liveBytes: 300,
  deadBytes: 40,
  nextNamespaceId: 3,
  namespaces: 2,
  counts: 2,
  bodyBytes: 10,
  bodyCrc: 0xabcd,
};

describe('index snapshot format', () => {
  it('version 2 round-trips namespace encodings', () => {
    const bytes = encodeCatalogue({
      namespaces: [
        [1, 'docs', 3],
        [2, 'blobs', 0],
      ],
      counts: [[1, 5]],
    });
    expect(decodeCatalogue(bytes, 2, 1, 2)).toEqual({
      namespaces: [
        [1, 'docs', 3],
        [2, 'blobs', 0],
      ],
      counts: [[1, 5]],
    });
    expect(decodeSnapshotHeader(encodeSnapshotHeader(header))).toMatchObject({ version: 2, tail: header.tail });
  });

  it('version 1 catalogues (id, name length, name) still decode, with no encoding recorded', () => {
    const name = Buffer.from('users');
    const v1 = Buffer.alloc(8 + name.length + 12);
    v1.writeUInt32LE(4, 0);
    v1.writeUInt32LE(name.length, 4);
    name.copy(v1, 8);
    v1.writeUInt32LE(4, 8 + name.length);
    v1.writeBigUInt64LE(9n, 12 + name.length);
    expect(decodeCatalogue(v1, 1, 1, 1)).toEqual({ namespaces: [[4, 'users', 0]], counts: [[4, 9]] });
    const h = Buffer.from(encodeSnapshotHeader(header));
    h.writeUInt32LE(1, SNAPSHOT.VERSION);
    h.writeUInt32LE(crc32(h.subarray(0, SNAPSHOT.CRC)), SNAPSHOT.CRC);
    expect(decodeSnapshotHeader(h)?.version).toBe(1);
  });

  it('a snapshot with a section this build does not know is not used', () => {
    const sorted = Buffer.from(encodeSnapshotHeader({ ...header, sections: SnapshotSection.SORTED_INDEX }));
    expect(decodeSnapshotHeader(sorted)?.sections).toBe(SnapshotSection.SORTED_INDEX);
    const both = SnapshotSection.SORTED_INDEX | SnapshotSection.EXPIRY;
    expect(decodeSnapshotHeader(Buffer.from(encodeSnapshotHeader({ ...header, sections: both })))?.sections).toBe(both);
    for (const bit of [1 << 4, 1 << 31]) {
      const h = Buffer.from(encodeSnapshotHeader(header));
      h.writeUInt32LE(bit >>> 0, SNAPSHOT.SECTIONS);
      h.writeUInt32LE(crc32(h.subarray(0, SNAPSHOT.CRC)), SNAPSHOT.CRC);
      expect(decodeSnapshotHeader(h), `section bit ${bit}`).toBeUndefined();
    }
  });

  it('the unit directory section round-trips after the body it ends, and entries that no directory holds are refused', () => {
    const items = Float64Array.from([12288, 60000, 130000, 196608, 262000]);
    const body = Buffer.concat([Buffer.from('catalogue and deadlines'), encodeUnitDirectorySection({ pageShift: 16, items })]);
    const got = decodeUnitDirectorySection(body, 12288);
    expect(got?.pageShift).toBe(16);
    expect(Array.from(got!.items)).toEqual(Array.from(items));
    expect(body.length - got!.size).toBe('catalogue and deadlines'.length);
    // Descending, an entry past its page's first byte, an entry before the first record, no footer.
    for (const bad of [[12288, 60000, 50000], [12288, 65537], [100]]) {
      expect(decodeUnitDirectorySection(encodeUnitDirectorySection({ pageShift: 16, items: Float64Array.from(bad) }), 12288), bad.join()).toBeUndefined();
    }
    expect(decodeUnitDirectorySection(body.subarray(0, body.length - 1), 12288)).toBeUndefined();
  });
});
