"""Allocation-heavy Python workload for test/integration/python_test.sh.

Run with PYTHONMALLOC=malloc, every Python object is a malloc'd block: this builds and drops
millions of dicts, lists, strings and floats, round-trips them through json, grows buffers
(realloc), makes big objects, and allocates and frees from several threads.  Each phase
checks its own result and prints a digest; the last line is "OK".  The output depends only
on the argument (the size), so it must be the same with and without hmalloc.
"""
import hashlib
import json
import sys
import threading

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200000


def check(cond, what):
    if not cond:
        print("CHECK FAILED:", what, flush=True)
        sys.exit(1)


def digest(data):
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()[:16]


def record(i):
    return {
        "id": i,
        "name": "n" * (i % 37) + str(i),
        "tags": [i % 7, i % 11, str(i % 13)],
        "v": i * 0.5,
        "nested": {"a": i % 3, "b": [i, -i]} if i % 5 == 0 else None,
    }


# 1. A big dict of small objects.
d = {"k%d" % i: record(i) for i in range(N)}
check(len(d) == N, "dict size")
check(sum(r["id"] for r in d.values()) == N * (N - 1) // 2, "sum of ids")
name_len = sum(len(r["name"]) for r in d.values())
check(name_len == sum(i % 37 + len(str(i)) for i in range(N)), "name lengths")
print("dict", N, name_len)

# 2. json round trip: one huge string, then the whole structure built again.
text = json.dumps(d, sort_keys=True, separators=(",", ":"))
print("json", len(text), digest(text))
d2 = json.loads(text)
check(d2 == d, "json round trip")
text2 = json.dumps(d2, sort_keys=True, separators=(",", ":"))
check(text2 == text, "json re-encoding")
d3 = json.loads(json.dumps(list(d2.values())))
check(d3 == [d[k] for k in d2], "json list round trip")
del text, text2, d2, d3

# 3. Churn: free every other entry, insert values of other sizes, rebuild keys.
for i in range(0, N, 2):
    del d["k%d" % i]
check(len(d) == N - (N + 1) // 2, "after delete")
for i in range(0, N, 2):
    d["k%d" % i] = ["x" * (i % 300)] * (i % 4) + [str(i)] * 2
total = 0
for k in sorted(d):
    v = d[k]
    total += len(v) if isinstance(v, list) else v["id"]
print("churn", len(d), total)
del d

# 4. Growing buffers (realloc): a list, a bytearray and a str built piece by piece.
lst = []
ba = bytearray()
for i in range(N * 3):
    lst.append(i)
    if i % 3 == 0:
        ba += (i % 251).to_bytes(1, "little") * (i % 7)
check(sum(lst) == (3 * N) * (3 * N - 1) // 2, "list sum")
parts = [str(i) for i in range(N)]
s = ",".join(parts)
check(s.split(",") == parts, "join/split")
print("grow", len(lst), len(ba), digest(bytes(ba)), len(s), digest(s))
del lst, ba, parts, s

# 5. Big objects, from a page to many megabytes, kept and freed out of order.
big = {}
for i in range(200):
    size = 4096 * ((i * 37) % 97 + 1) if i % 10 else (1 << 20) * (i % 7 + 1)
    big[i] = bytes([i % 256]) * size
    if i % 3 == 0 and i - 3 in big:
        del big[i - 3]
check(all(b[0] == b[-1] == i % 256 for i, b in big.items()), "big object contents")
print("big", len(big), sum(len(b) for b in big.values()))
del big

# 6. Threads: each builds, sorts and checks its own data; the main thread frees it all,
# so blocks are freed by a thread other than the one that allocated them.
results = [None] * 4


def worker(t):
    items = [("t%d-%d" % (t, (i * 7919) % (N // 2)), i) for i in range(N // 2)]
    items.sort()
    index = {k: v for k, v in items}
    results[t] = (items, index, sum(v for _, v in items))


threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
for th in threads:
    th.start()
for th in threads:
    th.join()
for t, (items, index, sm) in enumerate(results):
    check(len(index) == N // 2 and sm == (N // 2) * (N // 2 - 1) // 2, "thread %d" % t)
print("threads", sum(len(r[1]) for r in results))
del results

print("OK")
