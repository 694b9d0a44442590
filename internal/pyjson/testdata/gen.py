# Regenerates golden.json: each case's input, and what Python's own json
# module writes for the value json.loads makes of it, in the two styles
# nano-graphrag uses. Run: python3 gen.py > golden.json
import json

inputs = [
    '{}', '[]', '""', '0', '-0', '-0.0', '1', '1.0', '1.50', '1e5', '1E-5', '0.0001', '0.00001',
    '123456789012345678901234567890', '1e16', '9999999999999998.0', '1e15', '123456789012345.6',
    '1e400', '-1e400', '1e-400', '5e-324', '1.7976931348623157e308', '0.1', '2.5e-7', '3.14159265358979',
    '"plain"', '"tab\\there\\nnew \\"q\\" back\\\\slash \\/ slash"', '"\\u0000\\u001f\\u007f\\u0080"',
    '"caf\u00e9 \u4e2d\u6587 \U0001f600 \u2028"', '"\\ud83d\\ude00"', '"<SEP>"',
    '{"a":1,"b":[1,2,{"c":null}],"d":{"e":true,"f":false}}',
    '{"a":1,"b":2,"a":3}',
    '{"entity_name":"\\"ALICE\\"","source_id":"chunk-1<SEP>chunk-2<SEP>chunk-3","description":"' + 'long \u00e9 ' * 2000 + '"}',
    '{"0":{"level":0,"title":"C\u00f6mmunity","edges":[["A","B"],["B","C"]],"nodes":["A","B"],"chunk_ids":["c1"],"occurrence":0.5,"sub_communities":[]}}',
    '  [ 1 , [ ] , { } , [ [ ] ] , "x" ]  ',
    '{"tokens":1200,"chunk_order_index":0,"full_doc_id":"doc-\u00fc","content":"line1\\r\\nline2\\u000b"}',
]
cases = []
for text in inputs:
    v = json.loads(text)
    cases.append({"in": text, "dumps": json.dumps(v, default=str), "file": json.dumps(v, indent=2, ensure_ascii=False)})
print(json.dumps(cases, indent=1))
