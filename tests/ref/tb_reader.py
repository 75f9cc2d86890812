"""Reads an event file with TensorBoard's own reader (EventAccumulator) and
prints what it found as one JSON object, for tests/test_visualization.c:

  {"file_version": ..., "scalars": {tag: [[step, value], ...]},
   "images": {tag: [[step, width, height, png_bytes], ...]},
   "histograms": {tag: [[step, num, sum, n_buckets], ...]}}

usage: tb_reader.py EVENT_FILE. Exit code 3: tensorboard is not importable
here (the C side skips visibly).
"""
import json
import sys

try:
    from tensorboard.backend.event_processing import event_accumulator as ea
except ImportError:
    sys.exit(3)


def main():
    acc = ea.EventAccumulator(sys.argv[1], size_guidance={ea.SCALARS: 0, ea.IMAGES: 0, ea.HISTOGRAMS: 0})
    acc.Reload()
    tags = acc.Tags()
    out = {"file_version": getattr(acc, "file_version", None), "scalars": {}, "images": {}, "histograms": {}}
    for tag in tags.get(ea.SCALARS, []):
        out["scalars"][tag] = [[e.step, e.value] for e in acc.Scalars(tag)]
    for tag in tags.get(ea.IMAGES, []):
        out["images"][tag] = [[e.step, e.width, e.height, len(e.encoded_image_string)] for e in acc.Images(tag)]
    for tag in tags.get(ea.HISTOGRAMS, []):
        out["histograms"][tag] = [[e.step, e.histogram_value.num, e.histogram_value.sum,
                                   len(e.histogram_value.bucket)] for e in acc.Histograms(tag)]
    print(json.dumps(out))


main()
