#!/usr/bin/env python3
"""Functions in Swift sources longer than a limit (issue 14: none over 150 lines).

usage: tools/long_functions.py [DIR] [LIMIT]   (default Sources 150); exit 1 when one is found.
Counts from the declaration line to its closing brace (string literals and // comments ignored).
"""
import re, sys, pathlib
pat = re.compile(r'^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|private|fileprivate|internal|static|mutating|override|nonisolated|final|@discardableResult)\s+)*(func\s+\w+|init\??|subscript|deinit)\b')
root = sys.argv[1] if len(sys.argv) > 1 else "Sources"
limit = int(sys.argv[2]) if len(sys.argv) > 2 else 150
found = 0
for path in sorted(pathlib.Path(root).rglob('*.swift')):
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = pat.match(lines[i])
        if m:
            depth = 0; started = False; j = i
            while j < len(lines):
                code = re.sub(r'"(?:\\.|[^"\\])*"', '""', lines[j].split('//')[0])
                depth += code.count('{') - code.count('}')
                if '{' in code: started = True
                if started and depth <= 0: break
                j += 1
            n = j - i + 1
            if n > limit: found += 1; print(f"{n:4d} {path}:{i+1} {m.group(1)}")
        i += 1
sys.exit(1 if found else 0)
