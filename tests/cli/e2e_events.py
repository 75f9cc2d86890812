"""Reads what ./train writes for TensorBoard and the charts, with the Python
standard library only and independently of the C code that wrote it:

  e2e_events.py events FILE
      checks every TFRecord's length and data CRC-32C (masked), decodes
      the Event protos, and prints one line per finding:
        file_version VERSION      (only when the first event holds it)
        records N
        KIND TAG COUNT FIRST_STEP LAST_STEP CONTIGUOUS VALUES
      KIND is scalar, image or histogram; CONTIGUOUS is 1 when the steps are
      FIRST..LAST without gaps; VALUES lists scalar values (comma-separated),
      WIDTHxHEIGHT of each image, or each histogram's sample count.
  e2e_events.py png FILE
      checks the signature, every chunk's CRC and that the pixel data
      inflates to the size IHDR promises; prints WIDTHxHEIGHT.
Exits 1 with a message on any malformed input.
"""
import struct
import sys
import zlib


def fail(msg):
    print("FAILED: " + msg)
    sys.exit(1)


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def records(path):
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos < len(data):
        if pos + 12 > len(data):
            fail("%s: offset %d: truncated record header" % (path, pos))
        header = data[pos:pos + 8]
        (n,) = struct.unpack("<Q", header)
        (len_crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        if masked(header) != len_crc:
            fail("%s: offset %d: length CRC mismatch" % (path, pos))
        body = data[pos + 12:pos + 12 + n]
        if len(body) != n or pos + 16 + n > len(data):
            fail("%s: offset %d: truncated record" % (path, pos))
        (data_crc,) = struct.unpack("<I", data[pos + 12 + n:pos + 16 + n])
        if masked(body) != data_crc:
            fail("%s: offset %d: data CRC mismatch" % (path, pos))
        yield body
        pos += 16 + n


def varint(buf, pos):
    shift = value = 0
    while True:
        if pos >= len(buf):
            fail("truncated varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def fields(buf):
    """(field number, wire type, value) of a message: ints for varints, bytes otherwise."""
    pos = 0
    while pos < len(buf):
        key, pos = varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        elif wire == 2:
            n, pos = varint(buf, pos)
            value, pos = buf[pos:pos + n], pos + n
        else:
            fail("unexpected wire type %d" % wire)
        if pos > len(buf):
            fail("field %d runs past its message" % num)
        yield num, wire, value


def decode_value(buf):
    tag, kind, shown = None, None, None
    for num, wire, value in fields(buf):
        if num == 1 and wire == 2:
            tag = value.decode()
        elif num == 2 and wire == 5:
            kind, shown = "scalar", "%.9g" % struct.unpack("<f", value)[0]
        elif num == 4 and wire == 2:
            dims = {n: v for n, w, v in fields(value) if w == 0}
            kind, shown = "image", "%dx%d" % (dims.get(2, 0), dims.get(1, 0))
        elif num == 5 and wire == 2:
            h = {n: v for n, w, v in fields(value)}
            num_values = struct.unpack("<d", h[3])[0] if 3 in h else 0
            if len(h.get(6, b"")) != len(h.get(7, b"")) or len(h.get(6, b"")) % 8:
                fail("%s: bucket_limit and bucket differ in length" % tag)
            kind, shown = "histogram", "%d" % num_values
        elif num in (2, 4, 5):
            fail("%s: field %d has wire type %d" % (tag, num, wire))
    return tag, kind, shown


def events(path):
    found = {}
    first_version, n = None, 0
    for body in records(path):
        step, wall, version, values = 0, None, None, []
        for num, wire, value in fields(body):
            if num == 1 and wire == 1:
                wall = struct.unpack("<d", value)[0]
            elif num == 2 and wire == 0:
                step = value - (1 << 64) if value >= 1 << 63 else value
            elif num == 3 and wire == 2:
                version = value.decode()
            elif num == 5 and wire == 2:
                values += [decode_value(v) for k, w, v in fields(value) if k == 1 and w == 2]
        if wall is None:
            fail("record %d has no wall_time" % n)
        if n == 0:
            first_version = version
        n += 1
        for tag, kind, shown in values:
            found.setdefault((kind, tag), []).append((step, shown))
    if first_version:
        print("file_version %s" % first_version)
    print("records %d" % n)
    for (kind, tag), items in sorted(found.items(), key=lambda kv: (kv[0][0] or "", kv[0][1] or "")):
        steps = [s for s, _ in items]
        contiguous = int(steps == list(range(steps[0], steps[0] + len(steps))))
        print("%s %s %d %d %d %d %s" % (kind, tag, len(items), steps[0], steps[-1], contiguous,
                                        ",".join(v for _, v in items)))


def png(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail("%s: not a PNG" % path)
    pos, idat, width, height, depth, color = 8, b"", 0, 0, 0, 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            fail("%s: chunk %s CRC mismatch" % (path, kind))
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    channels = {0: 1, 2: 3, 6: 4}.get(color)
    if depth != 8 or not channels:
        fail("%s: unexpected bit depth %d / colour type %d" % (path, depth, color))
    if len(zlib.decompress(idat)) != height * (1 + width * channels):
        fail("%s: pixel data does not match %dx%d" % (path, width, height))
    print("%dx%d" % (width, height))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("events", "png"):
        fail("usage: e2e_events.py events|png FILE")
    (events if sys.argv[1] == "events" else png)(sys.argv[2])
