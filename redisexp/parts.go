package redisexp

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/ngbak/ngbak"
)

// partSize is the size at which a namespace's part is written, as
// ngbak.PartWriter cuts them.
const partSize = 2 << 20

// partsMemory bounds what the parts being filled hold together: a backup
// that reads every namespace in one pass fills a part per namespace at
// once, and a store may have many namespaces.
const partsMemory = 8 << 20

// namespaceParts fills a part per namespace, <namespace>/NNNNNN.jsonl,
// and writes one when it reaches partSize, or the fullest when together
// they would hold more than partsMemory; ngbak.PartWriter fills one stream
// at a time and cannot be told to write a part early.
type namespaceParts struct {
	w     *ngbak.Writer
	parts map[string]*nsPart
	held  int // the buffers' capacities
}

type nsPart struct {
	n   int // parts written
	buf []byte
}

func newNamespaceParts(w *ngbak.Writer) *namespaceParts {
	return &namespaceParts{w: w, parts: map[string]*nsPart{}}
}

// append adds the record add appends to the namespace's part.
func (p *namespaceParts) append(ns string, add func(dst []byte) []byte) error {
	part := p.parts[ns]
	if part == nil {
		part = &nsPart{}
		p.parts[ns] = part
	}
	c := cap(part.buf)
	part.buf = add(part.buf)
	p.held += cap(part.buf) - c
	if len(part.buf) >= partSize {
		return p.flush(ns, part)
	}
	for p.held > partsMemory {
		var fullest string
		for name, q := range p.parts {
			if fullest == "" || len(q.buf) > len(p.parts[fullest].buf) {
				fullest = name
			}
		}
		part := p.parts[fullest]
		if len(part.buf) == 0 {
			// Every part is empty: what is held is kept capacity.
			p.held -= cap(part.buf)
			part.buf = nil
			continue
		}
		if err := p.flush(fullest, part); err != nil {
			return err
		}
	}
	return nil
}

// flush writes the namespace's part. The buffer is kept for the next part
// while the parts together hold less than partsMemory, and let go
// otherwise.
func (p *namespaceParts) flush(ns string, part *nsPart) error {
	part.n++
	name := fmt.Sprintf("%s/%06d.jsonl", ns, part.n)
	if err := p.w.WriteFile(name, int64(len(part.buf)), bytes.NewReader(part.buf)); err != nil {
		return fmt.Errorf("redisexp: %w", err)
	}
	if p.held > partsMemory {
		p.held -= cap(part.buf)
		part.buf = nil
	} else {
		part.buf = part.buf[:0]
	}
	return nil
}

// close writes the last part of every namespace, and an empty one for each
// namespace of also that has no part, in the order of their names: a
// namespace in scope is in the backup even when it is empty, so that a
// restore deletes it.
func (p *namespaceParts) close(also []string) error {
	for _, ns := range also {
		if p.parts[ns] == nil {
			p.parts[ns] = &nsPart{}
		}
	}
	names := make([]string, 0, len(p.parts))
	for ns := range p.parts {
		names = append(names, ns)
	}
	slices.Sort(names)
	for _, ns := range names {
		if part := p.parts[ns]; len(part.buf) > 0 || part.n == 0 {
			if err := p.flush(ns, part); err != nil {
				return err
			}
		}
	}
	return nil
}
