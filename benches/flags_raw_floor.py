#!/usr/bin/env python3
"""Raw SQLite floor under the full flag recompute (docs/BENCHMARKS.md, "Flag engine").

Inserts 210,000 flag records and their 210,000 history rows, shaped like the ones the
recompute writes for 100,000 households (same columns, JSON of the same size, same HLC form,
UUID-shaped ids from a digest), into a fresh database of fangzha's SQLite schema (the migrations'
up.sql) with the server's pragmas, through Python's sqlite3 `executemany`: one prepared
statement, C-level binding, nothing computed by fangzha. The time is what storing those rows
costs at the least with this schema on this machine. Run: `python3 benches/flags_raw_floor.py`.
"""
import glob, hashlib, json, os, sqlite3, sys, tempfile, time, uuid

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
path = os.path.join(tempfile.mkdtemp(), 'floor.db')
for suffix in ('', '-wal', '-shm'):
    try: os.remove(path + suffix)
    except FileNotFoundError: pass
db = sqlite3.connect(path, isolation_level=None)
db.execute('PRAGMA journal_mode=WAL'); db.execute('PRAGMA synchronous=NORMAL')
db.execute('PRAGMA cache_size=-32768'); db.execute('PRAGMA temp_store=MEMORY'); db.execute('PRAGMA foreign_keys=ON')
for d in sorted(glob.glob(os.path.join(root, 'migrations/sqlite/*/up.sql'))):
    db.executescript(open(d).read())
N_GRID = 100; PER = 2100
db.execute('BEGIN')
for g in range(N_GRID):
    db.execute("INSERT INTO areas (id,name,level,parent_id,created_at_ms,updated_at_ms) VALUES (?,?,?,?,0,0)", (f'g{g}', f'g{g}', 'grid', None))
db.execute('COMMIT')
now = 1764660000000
recs = []; hist = []
n = 0
for g in range(N_GRID):
    for i in range(PER):
        n += 1
        subj = str(uuid.uuid4())
        kind = 'not_visited' if i % 2 else 'unregistered_household'
        fid = str(uuid.UUID(bytes=hashlib.sha256(f'flag:{subj}:{kind}'.encode()).digest()[:16]))
        hlc = f'{now:015d}-{n % 100000:05d}-server'
        fields = {"active": True, "kind": kind, "level": "info" if i % 2 else "red",
                  "reasons": [{"code": kind, "detail": "在家成员 2 人：智能手机 2 人，已注册 0 人，亲属覆盖 0 人", "points": 0}],
                  "state": "new", "subject_entity": "household", "subject_id": subj}
        if i % 2 == 0: fields["status"] = "unregistered"
        f = json.dumps(fields, ensure_ascii=False, separators=(',', ':'))
        h = json.dumps({k: hlc for k in fields}, separators=(',', ':'))
        recs.append((fid, 'flag', f'g{g}', i + 1, f, h, None, None, 0, hlc, None, now, now))
        v = json.dumps([[k, fields[k], True] for k in fields], ensure_ascii=False, separators=(',', ':'))
        hist.append((fid, 'flag', f'g{g}', '*', v, hlc, 1, None, 'server', None, now))
t = time.perf_counter(); c0 = time.process_time()
db.execute('BEGIN IMMEDIATE')
db.executemany('INSERT INTO records (id,entity,scope,seq,fields,hlcs,delete_hlc,restore_hlc,deleted,version,parent_id,created_at_ms,updated_at_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)', recs)
t1 = time.perf_counter()
db.executemany('INSERT INTO record_history (record_id,entity,scope,field,value,hlc,won,user_id,client_id,mid,at_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?)', hist)
t2 = time.perf_counter()
db.execute('COMMIT')
t3 = time.perf_counter()
print(f'SQLite {sqlite3.sqlite_version}, raw sqlite3 executemany: {len(recs)} records {t1-t:.2f} s, {len(hist)} history {t2-t1:.2f} s, commit {t3-t2:.2f} s, total {t3-t:.2f} s wall, {time.process_time()-c0:.2f} s CPU; avg record {sum(len(r[4])+len(r[5]) for r in recs)/len(recs):.0f} B json')
for suffix in ('', '-wal', '-shm'):
    if os.path.exists(path + suffix):
        os.remove(path + suffix)
