# Regenerates the nano-graphrag-shaped dataset in nano/ and redis.json.
#
# nano/kv_store_<ns>.json are written as nano-graphrag's JsonKVStorage writes
# them (nano_graphrag/_utils.py write_json: json.dump(obj, f, indent=2,
# ensure_ascii=False)); redis.json maps each namespace's ids to the exact
# value RedisKVStorage stores (nano_graphrag/_storage/kv_redis.py _serialize:
# json.dumps(data, default=str)).
# Ids are inserted in sorted order, since Redis keeps none. Run: python3 gen.py
import hashlib, json, random

rnd = random.Random(17)
words = ["graph", "Ölfeld", "北京", "naïve", "emoji 🧠", "quote \"q\"", "back\\slash", "tab\there", "line\nbreak",
         "ctrl \u0001", "del \u007f", "nbsp\u00a0", "\u2028sep", "Καλημέρα", "مرحبا", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢"]

def text(n):
    return " ".join(rnd.choice(words) for _ in range(n))

def mdhash(s, prefix):
    return prefix + hashlib.md5(s.encode()).hexdigest()

docs, chunks, cache, reports = {}, {}, {}, {}
for i in range(40):
    content = text(rnd.randint(5, 400 if i else 4000))
    d = mdhash(content, "doc-")
    docs[d] = {"content": content}
    for j in range(3):
        c = text(rnd.randint(5, 80))
        chunks[mdhash(c + d, "chunk-")] = {"tokens": rnd.randint(1, 1200), "content": c, "chunk_order_index": j, "full_doc_id": d}
for i in range(30):
    prompt = text(20)
    cache[mdhash(prompt, "")] = {"return": text(rnd.randint(1, 60)), "model": "gpt-4o-mini"}
for i in range(10):
    reports[str(i)] = {
        "report_string": "# " + text(10) + "\n\n" + text(300),
        "report_json": {"title": text(3), "summary": text(30), "rating": rnd.choice([7.5, 8.0, 1e-05, 1e16, 0.1]),
                        "rating_explanation": text(10), "findings": [{"summary": text(4), "explanation": text(20)}]},
        "data": {"level": i % 3, "title": "Cluster " + str(i),
                 "edges": [["\"A\"", "\"B\""], ["\"B\"", "\"C\""]], "nodes": ["\"A\"", "\"B\"", "\"C\""],
                 "chunk_ids": ["chunk-1<SEP>chunk-2"], "occurrence": rnd.random(), "sub_communities": [str(i + 1)]},
        "source_id": "<SEP>".join(mdhash(str(k), "chunk-") for k in range(5)),
    }

stores = {"full_docs": docs, "text_chunks": chunks, "llm_response_cache": cache, "community_reports": reports, "empty": {}}
redis = {}
for ns, data in stores.items():
    data = dict(sorted(data.items()))
    with open(f"nano/kv_store_{ns}.json", "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, ensure_ascii=False)
    redis[ns] = {k: json.dumps(v, default=str) for k, v in data.items()}
with open("redis.json", "w", encoding="utf-8") as f:
    json.dump(redis, f, indent=1)

# The vector stores, by nano-vectordb itself (pip install nano-vectordb
# xxhash): vdb_<ns>.json as NanoVectorDBStorage saves them, with
# nano-graphrag's meta fields, and qdrant.json, what QdrantVectorStorage
# upserts for the same records: point id xxh64(id), payload {"id", "content"
# (the id when the record has none), the other fields}, the stored
# (normalized) float32 vector.
import base64, numpy as np, os, xxhash
from nano_vectordb import NanoVectorDB

dim = 1536
nrnd = np.random.default_rng(17)
qdrant = {}
for ns, n, meta in [("test_entities", 24, lambda i: {"entity_name": '"' + text(2).upper() + '"', "entity_type": '"PERSON"'}),
                    ("test_chunks", 16, lambda i: {"doc_id": mdhash(str(i), "doc-")})]:
    path = f"nano/vdb_{ns}.json"
    if os.path.exists(path):
        os.remove(path)
    db = NanoVectorDB(dim, storage_file=path)
    ids = sorted(mdhash(ns + str(i), "ent-" if "entities" in ns else "chunk-") for i in range(n))
    db.upsert([{"__id__": k, **meta(i), "__vector__": nrnd.standard_normal(dim).astype(np.float32)} for i, k in enumerate(ids)])
    db.save()
    with open(path, encoding="utf-8") as f:
        saved = json.load(f)
    matrix = np.frombuffer(base64.b64decode(saved["matrix"]), dtype=np.float32).reshape(-1, dim)
    points = {}
    for rec, row in zip(saved["data"], matrix):
        k = rec["__id__"]
        payload = {"id": k, "content": rec.get("content", k), **{f: v for f, v in rec.items() if f not in ("__id__", "content")}}
        points[str(xxhash.xxh64_intdigest(k.encode()))] = {"payload": payload, "vector": base64.b64encode(row.tobytes()).decode()}
    qdrant[ns] = points
with open("qdrant.json", "w", encoding="utf-8") as f:
    json.dump(qdrant, f, indent=1)

# The graph, by NetworkX itself (pip install networkx):
# nano/graph_chunk_entity_relation.graphml as NetworkXStorage writes it
# (nx.write_graphml), and neo4j.json, what Neo4jStorage writes for the same
# graph (upsert_nodes_batch, upsert_edges_batch): every node under the
# label and its sanitized entity type, its attributes and id; every edge a
# RELATED relationship with its attributes, weight a float and
# relation_type sanitized. Values are [type, repr] to keep int from float.
import re
import networkx as nx

def sanitize(label):
    if not label:
        return "UNKNOWN"
    s = re.sub(r'[^A-Za-z0-9_]', '_', label)
    if s and not s[0].isalpha() and s[0] != '_':
        s = '_' + s
    return s or "UNKNOWN"

def gtext(n):  # XML 1.0 has no place for control characters
    return " ".join(rnd.choice([w for w in words if "\u0001" not in w]) for _ in range(n))

# Nodes, their attributes and edges (each from its smaller end) are added
# in sorted order, as the conversion back from Neo4j writes them, since
# Neo4j keeps no order: the file comes back byte for byte, but for the edges
# Neo4jStorage changes (a missing weight or relation_type, a relation_type
# it sanitizes), which graph_back.graphml has as Neo4j holds them.
types = ['"PERSON"', '"ORGANIZATION"', '"GEO"', '"EVENT"', '"1ST-TYPE"', '"Ölfeld typ"']
names = [f'"{gtext(1).upper()} {i}"' for i in range(30)]
nodes = {}
for i, n in enumerate(names):
    attrs = {"entity_type": types[i % len(types)], "description": "<SEP>".join(gtext(rnd.randint(3, 60 if i else 3000)) for _ in range(2)),
             "source_id": "<SEP>".join(mdhash(str(k), "chunk-") for k in range(i % 4 + 1))}
    if i % 3 == 0:
        attrs["clusters"] = json.dumps([{"level": 0, "cluster": i % 5}, {"level": 1, "cluster": i % 2}])
    if i % 5 == 0:
        attrs["has_vector"] = i % 2 == 0  # as _extraction.py writes it, a boolean
    if i == 5:
        del attrs["entity_type"]  # UNKNOWN
    nodes[n] = dict(sorted(attrs.items()))
edges = {}
for i in range(46):
    a, b = sorted(rnd.sample(names, 2)) if i < 45 else (names[3], names[3])  # and a self-loop
    if (a, b) in edges:
        continue
    attrs = {"weight": rnd.choice([1.0, 2.5, 1e-05, 9.0, 1e16]), "description": gtext(rnd.randint(2, 40)), "source_id": mdhash(str(i), "chunk-"), "order": i % 3 + 1}
    if i % 10 == 0:
        attrs["relation_type"] = rnd.choice(["works for", "9lives"])  # sanitized by Neo4jStorage
    elif i % 10 != 5:  # else none: RELATED
        attrs["relation_type"] = rnd.choice(["RELATED", "WORKS_FOR", "LOCATED_IN"])
    if i % 15 == 7:
        del attrs["weight"]  # 0.0
    edges[a, b] = dict(sorted(attrs.items()))
g = nx.Graph()
for n in sorted(nodes):
    g.add_node(n, **nodes[n])
for a, b in sorted(edges):
    g.add_edge(a, b, **edges[a, b])
nx.write_graphml(g, "nano/graph_chunk_entity_relation.graphml")

def typed(v):
    return [type(v).__name__, repr(v) if not isinstance(v, str) else v]

def typed_value(tv):
    return {"str": str, "int": int, "float": float, "bool": lambda s: s == "True"}[tv[0]](tv[1])

h = nx.read_graphml("nano/graph_chunk_entity_relation.graphml")
nodes_neo = {}
for n, d in h.nodes(data=True):
    et = sanitize(d.get("entity_type", "UNKNOWN").strip('"'))
    nodes_neo[n] = {"labels": sorted(["LABEL", et]), "props": {"id": typed(n), **{k: typed(v) for k, v in d.items()}}}
rels = []
for s, t, d in h.edges(data=True):
    d = dict(d)
    d["weight"] = float(d["weight"]) if "weight" in d else 0.0
    d["relation_type"] = sanitize(d.get("relation_type", "RELATED"))
    rels.append({"s": s, "t": t, "props": {k: typed(v) for k, v in d.items()}})
rels.sort(key=lambda r: (r["s"], r["t"]))
with open("neo4j.json", "w", encoding="utf-8") as f:
    json.dump({"nodes": nodes_neo, "relationships": rels}, f, indent=1)

# graph_back.graphml: what NetworkXStorage writes (nx.write_graphml, the
# writer of the standard library's xml.etree: nano-graphrag pulls no lxml)
# for the graph neo4j.json holds, in sorted order.
back = nx.Graph()
for n in sorted(nodes):
    back.add_node(n, **{k: typed_value(v) for k, v in sorted(nodes_neo[n]["props"].items()) if k != "id"})
for r in rels:
    back.add_edge(r["s"], r["t"], **{k: typed_value(v) for k, v in sorted(r["props"].items())})
nx.write_graphml(back, "graph_back.graphml")
