#!/usr/bin/env python3
"""Look at an mtfqi report in a real browser (make report-check; not part of make test).

    python3 tools/report_check.py build/run/report.html --out build/run/report-check

Takes a headless chromium screenshot of the page at 1280 px width (page.png) and of every
inline SVG figure on its own (figure-NN.png), and fails when the page or a figure is blank
(fewer than 0.5% of its pixels differ from the background). Standard library only: the PNGs
are decoded here with zlib.
"""
import argparse
import html
import os
import re
import shutil
import struct
import subprocess
import sys
import time
import zlib


def browser():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("report-check: chromium not found (apt-get install chromium)")


def screenshot(chrome, url, png, width, height):
    if os.path.exists(png):
        os.remove(png)
    command = [chrome, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--force-device-scale-factor=1", f"--window-size={width},{height}", f"--screenshot={png}", url]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if run.returncode != 0 or not os.path.exists(png):
        sys.exit(f"report-check: chromium failed on {url} (exit {run.returncode}):\n{run.stderr[-2000:]}")


def decode_png(path):
    """(width, height, rows of (r, g, b) tuples) of an 8-bit RGB/RGBA non-interlaced PNG."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    offset, idat, header = 8, b"", None
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        chunk = data[offset + 8:offset + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        offset += 12 + length
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError(f"{path}: unsupported PNG (depth {depth}, colour type {colour}, interlace {interlace})")
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        rows.append(line)
        previous = line
    return width, height, channels, rows


def ink(path):
    """The share of pixels that differ from the most common colour (the background), and the
    number of distinct colours."""
    width, height, channels, rows = decode_png(path)
    counts = {}
    for line in rows:
        for x in range(0, width * channels, channels * 2):  # every other pixel: enough, and fast
            key = bytes(line[x:x + 3])
            counts[key] = counts.get(key, 0) + 1
    total = sum(counts.values())
    background = max(counts.values())
    return (total - background) / total, len(counts)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report")
    parser.add_argument("--out", required=True)
    parser.add_argument("--height", type=int, default=0, help="page screenshot height (default: estimated)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    chrome = browser()
    with open(args.report, encoding="utf-8") as f:
        page = f.read()
    size = len(page.encode())
    svgs = re.findall(r"<svg .*?</svg>", page, flags=re.S)
    heights = [float(m) for m in re.findall(r'<svg [^>]*height="([0-9.]+)"', page)]
    height = args.height or int(min(30000, 900 + sum(heights) + 26 * page.count("<tr>")))
    failures = []
    shot = os.path.join(args.out, "page.png")
    # Render time, roughly: the page's screenshot against an empty page's (browser start-up cancels).
    blank = os.path.join(args.out, "blank.html")
    with open(blank, "w") as f:
        f.write("<!DOCTYPE html><html><body></body></html>")
    started = time.monotonic()
    screenshot(chrome, "file://" + os.path.abspath(blank), os.path.join(args.out, "blank.png"), 1280, height)
    empty_seconds = time.monotonic() - started
    started = time.monotonic()
    screenshot(chrome, "file://" + os.path.abspath(args.report), shot, 1280, height)
    render = time.monotonic() - started - empty_seconds
    share, colours = ink(shot)
    print(f"{shot}: 1280 x {height}, {100 * share:.1f}% ink, {colours} colours (page {size / 1e6:.2f} MB, "
          f"{len(svgs)} figures, about {max(render, 0):.2f} s to render beyond an empty page)")
    if share < 0.005:
        failures.append(f"{shot}: blank ({100 * share:.2f}% ink)")
    if size > 2_000_000:
        failures.append(f"{args.report}: {size} bytes, over 2 MB")
    for index, svg in enumerate(svgs):
        width = float(re.search(r'width="([0-9.]+)"', svg).group(1))
        fig_height = float(re.search(r'height="([0-9.]+)"', svg).group(1))
        title = re.search(r"<title>(.*?)</title>", svg, flags=re.S)
        standalone = os.path.join(args.out, f"figure-{index:02d}.svg")
        with open(standalone, "w", encoding="utf-8") as f:
            f.write(svg)
        png = os.path.join(args.out, f"figure-{index:02d}.png")
        screenshot(chrome, "file://" + os.path.abspath(standalone), png, int(width + 0.999), int(fig_height + 0.999))
        share, colours = ink(png)
        print(f"{png}: {html.unescape(title.group(1)) if title else ''}: {100 * share:.1f}% ink, {colours} colours")
        if share < 0.005 or colours < 3:
            failures.append(f"{png}: blank figure ({100 * share:.2f}% ink, {colours} colours)")
    if failures:
        sys.exit("report-check failed:\n  " + "\n  ".join(failures))
    print(f"report-check: the page and {len(svgs)} figures render and are not blank ({args.out})")


if __name__ == "__main__":
    main()
